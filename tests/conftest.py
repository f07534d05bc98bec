"""Fixtures shared by several test files."""
import pytest


@pytest.fixture
def scratch_registries(monkeypatch):
    """Whatever a test registers (models, weights, converters) is gone after it."""
    from convzoo import registry
    from convzoo.weights import convert, specs

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(specs, "_SPECS", {k: dict(v) for k, v in specs._SPECS.items()})
    monkeypatch.setattr(convert, "_CONVERTERS", {k: dict(v) for k, v in convert._CONVERTERS.items()})


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """An empty weights cache, offline unless a test says otherwise, no mirror."""
    monkeypatch.setenv("CONVZOO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CONVZOO_OFFLINE", "1")
    monkeypatch.delenv("CONVZOO_WEIGHTS_URL", raising=False)
    return tmp_path / "home" / "weights"


@pytest.fixture
def one_thread():
    """One torch thread for the test: on a busy 2-core machine, two threads fighting a
    neighbour for the cores are slower than one (bench, compare and select time models)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
