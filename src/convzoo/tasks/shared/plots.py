"""Matplotlib for the PNG files that the jobs write (curves, confusion matrices, pareto fronts)."""
from __future__ import annotations


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend: plots are written, never shown,
    so they work on a server without a display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
