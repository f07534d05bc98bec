"""Tests that must run in a pytest process apart, and their stand-ins in the main run.

In one pytest process, some native libraries leave it unable to fork safely:
after runtime="auto"'s candidates (issue 12) or TensorFlow Lite's converter
(litert-torch loads TensorFlow, which installs its own signal handlers), a later
test that forks (DataLoader workers, torchrun, matplotlib's font cache) crashed
the parent with SIGSEGV and no Python traceback. So those tests live in a
`*_cases.py` file that the main run does not collect, and each has a namesake in
a `test_*.py` file that passes only if the case passed in one child
`python -m pytest` (started once per module for the cases this run selected),
is skipped if the case was skipped, and fails, showing the child's output,
if it failed or did not run at all."""
import ast
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest


class ChildRun:
    """The child pytest's exit code, output and each test's outcomes (from its JUnit XML report)."""

    def __init__(self, command: list[str], proc: subprocess.CompletedProcess, report: Path):
        self.command, self.returncode = command, proc.returncode
        self.output = f"$ {' '.join(command)}\n(exit code {proc.returncode})\n{proc.stdout}{proc.stderr}"
        self.outcomes: dict[str, list[tuple[str, str]]] = {}
        if report.is_file():
            for case in ET.parse(report).getroot().iter("testcase"):
                results = [(r.tag, f"{r.get('message', '')}\n{r.text or ''}") for r in case
                           if r.tag in ("failure", "error", "skipped")]
                self.outcomes.setdefault(case.get("name"), []).extend(results or [("passed", "")])

    def check(self, name: str) -> None:
        """Passes if NAME passed in the child; skips if it was skipped there; fails otherwise."""
        outcomes = self.outcomes.get(name)
        if self.returncode not in (0, 1) or not outcomes:  # 1: some test failed; anything else: no honest run
            pytest.fail(f"{name} did not run in the child pytest:\n{self.output}", pytrace=False)
        bad = [f"{tag}: {text}" for tag, text in outcomes if tag in ("failure", "error")]
        if bad:
            pytest.fail(f"{name} failed in the child pytest:\n" + "\n".join(bad) + f"\n{self.output}",
                        pytrace=False)
        skipped = [text for tag, text in outcomes if tag == "skipped"]
        if skipped:
            pytest.skip(f"skipped in the child pytest: {skipped[0].strip()}")
        assert [tag for tag, _ in outcomes] == ["passed"], self.output


def run_cases_apart(request, tmp_path_factory, cases: Path, namespace: dict) -> ChildRun:
    """The child pytest of `cases` for the stand-ins in `namespace` (a test module's
    globals()) that this run selected; each case needs its stand-in there, and only those."""
    here = sorted(name for name in namespace if name.startswith("test_"))
    in_cases = sorted(node.name for node in ast.parse(cases.read_text()).body
                      if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"))
    assert here == in_cases, f"each test of {cases.name} needs its namesake here (and only those)"
    selected = [item.name for item in request.session.items if item.path == request.path]
    folder = tmp_path_factory.mktemp(cases.stem)
    report = folder / "report.xml"
    # -n 0: one process, which is what the child is for (addopts would start xdist workers in it)
    command = [sys.executable, "-m", "pytest", *(f"{cases}::{name}" for name in selected), "-p", "no:cacheprovider",
               "-n", "0", f"--junitxml={report}", f"--basetemp={folder / 'tmp'}"]
    proc = subprocess.run(command, cwd=request.config.rootpath, capture_output=True, text=True, timeout=1800)
    return ChildRun(command, proc, report)
