"""The package's layering (docs/design.md), enforced by import-linter.

The contracts live in pyproject.toml: each layer imports only from the ones
below it (cli > tasks > factory > models > registry | weights > net >
layers | data > utils | version), and no two sibling modules import each
other at any depth. Function-level imports count: a cycle hidden inside a
function is still a cycle.
"""
import pytest

from paths import ROOT

lint = pytest.importorskip("importlinter.cli", reason="import-linter is a test dependency: pip install -e '.[test]'")


def test_package_keeps_its_layers_and_has_no_cycles():
    assert lint.lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True) == 0


def test_the_contract_catches_an_upward_import(tmp_path):
    """The check is real: the same package fails a contract that puts the
    registry above the models (the models do import the registry)."""
    config = tmp_path / "upside_down.ini"
    config.write_text(
        "[importlinter]\nroot_package = convzoo\n\n"
        "[importlinter:contract:upside-down]\nname = registry above models\ntype = layers\n"
        "layers =\n    convzoo.registry\n    convzoo.models\n"
    )
    assert lint.lint_imports(config_filename=str(config), no_cache=True) == 1
