"""Models shared on the Hugging Face Hub, against a fake Hub on 127.0.0.1 (hub_cases.py),
each case run in a child pytest (tests/child_pytest.py): huggingface_hub reads
HF_ENDPOINT once, when it is first imported, and in the main run timm and
transformers import it long before these tests point it at the fake Hub."""
from pathlib import Path

import pytest

from child_pytest import ChildRun, run_cases_apart

CASES = Path(__file__).with_name("hub_cases.py")


@pytest.fixture(scope="module")
def child(request, tmp_path_factory) -> ChildRun:
    return run_cases_apart(request, tmp_path_factory, CASES, globals())


def test_push_uploads_weights_config_and_card(child, request):
    child.check(request.node.name)


def test_the_card_has_the_hub_metadata_and_its_sections(child, request):
    child.check(request.node.name)


def test_pulled_into_an_empty_cache_it_gives_the_same_logits(child, request):
    child.check(request.node.name)


def test_offline_with_an_empty_cache_is_one_line_naming_the_cache(child, request):
    child.check(request.node.name)


def test_a_repo_of_pickles_is_refused_in_one_line(child, request):
    child.check(request.node.name)


def test_a_repo_without_config_or_a_missing_repo_is_one_line(child, request):
    child.check(request.node.name)


def test_push_refuses_what_is_not_a_training_checkpoint(child, request):
    child.check(request.node.name)


def test_a_missing_hub_extra_is_one_line(child, request):
    child.check(request.node.name)
