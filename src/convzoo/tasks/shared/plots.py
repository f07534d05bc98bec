"""Matplotlib for the PNG files that the jobs write (curves, confusion matrices, pareto fronts)."""
from __future__ import annotations


def pyplot():
    """matplotlib.pyplot, on the file-only Agg backend unless the caller already
    imported pyplot (a notebook's inline backend, a script's own choice): plots are
    written, and work on a server without a display, without hiding a notebook's."""
    import sys

    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
