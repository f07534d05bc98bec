"""The page's accuracy-against-latency chart: one point per served model.

Latency comes from `convzoo bench` results when the server was given them
(`--bench results.csv|json`: measured properly, over rounds, on this machine);
otherwise from the predictions this server has timed itself (one image,
preprocessing included, the median so far). Each point says which it is.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path


def read_bench_results(path: str | Path) -> dict[str, dict]:
    """`convzoo bench --out` rows by model name (a .csv or a .json file)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no bench results at {path}: write them with `convzoo bench ... --out {path.name}`")
    text = path.read_text()
    if path.suffix.lower() == ".json":
        rows = json.loads(text)
    else:
        rows = list(csv.DictReader(text.splitlines()))
    if not rows or "latency_ms" not in rows[0] or "name" not in rows[0]:
        raise ValueError(f"{path} has no name/latency_ms columns: is it the output of `convzoo bench --out`?")
    return {row["name"]: row for row in rows}


def _number(value) -> float | None:
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def chart_points(models: list[dict], bench: dict[str, dict]) -> list[dict]:
    """`models`: ModelPool.describe() rows. A point needs an accuracy and a latency;
    a model with a latency from neither source is listed with latency None.
    Benchmarked models that are not served are points too (`served` False), for comparison."""
    points = []
    for model in models:
        row = bench.get(model["name"])
        bench_ms = _number(row.get("latency_ms")) if row else None
        if bench_ms is not None:
            latency, source = bench_ms, f"convzoo bench, batch {row.get('latency_batch') or 1}"
        else:
            latency, source = model["served_ms"], "served here, one image"
        acc1 = _number(row.get("acc1")) if row and _number(row.get("acc1")) is not None else model["acc1"]
        points.append({"name": model["name"], "acc1": acc1, "latency_ms": latency,
                       "source": source if latency is not None else None, "served": True})
    served = {model["name"] for model in models}
    for name, row in bench.items():
        if name not in served and _number(row.get("latency_ms")) is not None:
            points.append({"name": name, "acc1": _number(row.get("acc1")), "latency_ms": _number(row["latency_ms"]),
                           "source": f"convzoo bench, batch {row.get('latency_batch') or 1}", "served": False})
    return points
