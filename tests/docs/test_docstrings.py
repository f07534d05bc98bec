"""Every public name has a docstring: the API reference of the site (docs/api/) is
generated from them, so a name without one would be a heading with nothing under it.

Public means the names of `convzoo.__all__`, `convzoo.seg.__all__` and
`convzoo.keras.__all__`, and the public methods and properties that their classes
define themselves (what they inherit from torch is torch's to document). A
dataclass's generated docstring (its signature, `TrainConfig(data: str, ...)`)
does not count: it says nothing the signature does not."""
from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect

import pytest

PUBLIC_MODULES = ["convzoo", "convzoo.seg", "convzoo.keras"]


def _skip_without_keras(module_name: str) -> None:
    # Not importorskip("keras"): Keras alone picks TensorFlow; convzoo.keras sets the torch backend first.
    if module_name == "convzoo.keras" and importlib.util.find_spec("keras") is None:
        pytest.skip("convzoo.keras needs the [keras] extra")


def _own_docstring(obj) -> str:
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__") or ""
        if doc.startswith(f"{obj.__name__}("):  # the signature dataclasses write when there is no docstring
            return ""
        return doc.strip()
    return (getattr(obj, "__doc__", None) or "").strip()


def _members(cls) -> list[tuple[str, object]]:
    """The public methods and properties that CLS itself defines."""
    found = []
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if isinstance(value, functools.cached_property):
            value = value.func
        if isinstance(value, property) or inspect.isfunction(value):
            found.append((name, value))
    return found


def public_names() -> list[tuple[str, object]]:
    names = []
    for module_name in PUBLIC_MODULES:
        _skip_without_keras(module_name)
        module = importlib.import_module(module_name)
        assert _own_docstring(module), f"{module_name} has no docstring"
        for name in module.__all__:
            if name == "__version__":  # a str: its doc would be str's
                continue
            obj = getattr(module, name)
            names.append((f"{module_name}.{name}", obj))
            if inspect.isclass(obj) and obj.__module__.startswith("convzoo"):
                names += [(f"{module_name}.{name}.{member}", value) for member, value in _members(obj)]
    return names


def test_every_public_name_has_a_docstring():
    names = public_names()
    assert len(names) > 60, "fewer public names than expected: is __all__ read?"
    missing = [name for name, obj in names if not _own_docstring(obj)]
    assert not missing, "public names without a docstring:\n  " + "\n  ".join(missing)


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_all_lists_only_names_that_exist(module_name):
    _skip_without_keras(module_name)
    module = importlib.import_module(module_name)
    assert [n for n in module.__all__ if not hasattr(module, n)] == []
