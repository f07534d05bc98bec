"""Numbers as people read them in tables and summaries."""
from __future__ import annotations


def format_count(n: float) -> str:
    """11689512 -> '11.7M', 2850 -> '2.9K': parameter counts people can read."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.1f}{unit}"
    return str(int(n))
