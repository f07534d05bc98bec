"""TensorFlow Lite files compute what the model does (tflite_cases.py), each case
run in a child pytest: see tests/child_pytest.py for why."""
from pathlib import Path

import pytest

from child_pytest import ChildRun, run_cases_apart

CASES = Path(__file__).with_name("tflite_cases.py")


@pytest.fixture(scope="module")
def child(request, tmp_path_factory) -> ChildRun:
    return run_cases_apart(request, tmp_path_factory, CASES, globals())


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small"])
def test_tflite_file_computes_what_the_model_does(name, child, request):
    child.check(request.node.name)
