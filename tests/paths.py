"""Where the tests find the repository: its root, its example photos, this folder.

A module (not a fixture) because test files use these at import time, in
module-level constants and parametrize lists; pyproject.toml's
`pythonpath = ["tests"]` makes it importable from every tests/ subfolder."""
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
EXAMPLES = ROOT / "examples"
