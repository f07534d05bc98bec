"""The job side stays readable: tasks/ has a room per job (its import contract is in
test_layering.py), small modules and short signatures, and the paths users imported
before the rooms existed still give them the same modules."""
import ast
import importlib
import re
from pathlib import Path

import pytest

import convzoo
from convzoo.tasks import MOVED, moved_to
from paths import ROOT

PACKAGE = Path(convzoo.__file__).parent
JOB_SIDE = ("tasks", "cli", "serve")
MAX_MODULE_LINES = 400
MAX_PARAMETERS = 8


def _sources(*rooms: str) -> list[Path]:
    return sorted(path for room in rooms for path in (PACKAGE / room).rglob("*.py"))


def test_no_module_in_tasks_is_over_400_lines():
    long = {str(p.relative_to(PACKAGE)): n for p in _sources("tasks")
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def _too_many_parameters(path: Path, root: Path = PACKAGE) -> list[str]:
    """Private functions over 8 parameters; public ones over 8 positional (keyword-only are fine)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        positional = [a.arg for a in node.args.posonlyargs + node.args.args if a.arg not in ("self", "cls")]
        private = node.name.startswith("_") and not node.name.startswith("__")
        count = len(positional) + len(node.args.kwonlyargs) if private else len(positional)
        if count > MAX_PARAMETERS:
            found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({count})")
    return found


def test_signatures_on_the_job_side_stay_short():
    assert [hit for path in _sources(*JOB_SIDE) for hit in _too_many_parameters(path)] == []


def test_the_parameter_check_counts_what_it_should(tmp_path):
    source = tmp_path / "sample.py"
    source.write_text("def _private(a, b, c, d, e, f, g, h, *, i): pass\n"
                      "def public(a, b, c, d, e, f, g, h, *, i, j, k): pass\n"
                      "def wide(a, b, c, d, e, f, g, h, i): pass\n")
    assert [hit.split()[1] for hit in _too_many_parameters(source, tmp_path)] == ["_private", "wide"]


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_module_path_gives_the_new_module(old):
    before = importlib.import_module(f"convzoo.tasks.{old}")
    after = importlib.import_module(moved_to(f"convzoo.tasks.{old}"))
    assert before is after
    assert after.__name__ == moved_to(f"convzoo.tasks.{old}")  # the module keeps its own name


def test_old_paths_of_submodules_and_names_still_import():
    from convzoo.tasks.classify import Classifier  # noqa: F401
    from convzoo.tasks.export.formats import FORMATS
    from convzoo.tasks.optimize.runners import build_runner  # noqa: F401
    from convzoo.tasks.train import TrainConfig, train  # the old module is the room now

    assert "onnx" in FORMATS and TrainConfig.__module__ == "convzoo.tasks.train.loop" and callable(train)
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("convzoo.tasks.no_such_job")


def test_every_tasks_path_in_the_docs_imports():
    """README.md and the docs pages (design.md among them) name functions by dotted path: each one must resolve."""
    text = "".join(path.read_text() for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
    paths = sorted(set(re.findall(r"convzoo\.tasks(?:\.\w+)+", text)))
    assert paths, "the docs name no tasks path: this test would check nothing"
    for dotted in paths:
        module, _, attribute = dotted.rpartition(".")
        try:
            importlib.import_module(dotted)
        except ModuleNotFoundError:
            assert hasattr(importlib.import_module(module), attribute), dotted
