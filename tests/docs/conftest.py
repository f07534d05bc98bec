"""The documentation site, built once per test session and shared by the tests that read
it (the strict build's own test, the browser test).

The site needs the [docs] extra (MkDocs, Material, mkdocstrings, mkdocs-jupyter). Without
it these tests are skipped, saying so; where CONVZOO_REQUIRE_DOCS is set (CI's .ci/run,
after installing the extra) a missing extra fails them instead."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from paths import ROOT

DOCS_PACKAGES = ["mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python", "mkdocs_jupyter"]


@dataclass
class BuiltSite:
    path: Path  # the site folder (index.html, api/, tutorials/, ...)
    returncode: int
    output: str  # what mkdocs printed
    seconds: float


def _missing_docs_packages() -> list[str]:
    missing = []
    for name in DOCS_PACKAGES:
        try:
            if importlib.util.find_spec(name) is None:
                missing.append(name)
        except ModuleNotFoundError:
            missing.append(name)
    return missing


def build_site(config: Path, site_dir: Path) -> BuiltSite:
    """`mkdocs build --strict` of CONFIG into SITE_DIR, in a child process (as CI runs it)."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's notice about its successor, not ours
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
                           "--site-dir", str(site_dir)], cwd=config.parent, env=env, capture_output=True,
                          text=True, timeout=900)
    return BuiltSite(site_dir, done.returncode, done.stdout + done.stderr, time.perf_counter() - start)


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> BuiltSite:
    """The repository's site, built strict once for the session (about 15 s on 2 idle cores)."""
    missing = _missing_docs_packages()
    if missing:
        reason = f"the site needs the [docs] extra ({', '.join(missing)} missing): pip install -e '.[docs]'"
        if os.environ.get("CONVZOO_REQUIRE_DOCS"):
            pytest.fail(reason)
        pytest.skip(reason)
    return build_site(ROOT / "mkdocs.yml", tmp_path_factory.mktemp("site") / "site")
