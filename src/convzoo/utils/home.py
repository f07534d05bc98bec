"""Where convzoo keeps what it downloads and measures: $CONVZOO_HOME (default ~/.cache/convzoo)."""
from __future__ import annotations

import os
from pathlib import Path


def convzoo_home() -> Path:
    return Path(os.environ.get("CONVZOO_HOME") or os.path.join("~", ".cache", "convzoo")).expanduser()
