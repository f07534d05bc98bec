"""What every benchmark prints about the machine it ran on: speed figures are only
comparable as ratios measured in one run, on one named CPU."""
from __future__ import annotations

import platform
import subprocess


def cpu_model() -> str:
    """lscpu's model name (e.g. "AMD EPYC"), else what platform knows."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or "unknown CPU"
