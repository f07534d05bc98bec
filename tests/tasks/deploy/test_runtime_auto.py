"""runtime="auto" / fast=True / --fast (runtime_auto_cases.py), each test in a pytest process apart.

In one pytest process, after those tests, the DataLoader workers forked by
test_predict_distributed.py crashed the parent (SIGSEGV, no Python traceback;
issue 12's closing note). So each test below stands for its namesake in
runtime_auto_cases.py, run in a child pytest (tests/child_pytest.py)."""
from pathlib import Path

import pytest

from child_pytest import ChildRun, run_cases_apart

CASES = Path(__file__).with_name("runtime_auto_cases.py")


@pytest.fixture(scope="module")
def child(request, tmp_path_factory) -> ChildRun:
    return run_cases_apart(request, tmp_path_factory, CASES, globals())


def test_auto_chooses_the_fastest_that_agrees_and_says_why_not_a_faster_one(child, request):
    child.check(request.node.name)


def test_auto_without_calibration_images_tries_fp32_only_and_says_so(child, request):
    child.check(request.node.name)


def test_auto_with_a_precision_tries_that_one_beside_fp32_eager(child, request):
    child.check(request.node.name)


def test_a_failing_candidate_is_reported_and_the_others_still_run(child, request):
    child.check(request.node.name)


def test_classifier_fast_calibrates_on_the_images_it_predicts(child, request):
    child.check(request.node.name)


def test_predict_fast_on_the_command_line_says_what_it_chose(child, request):
    child.check(request.node.name)
