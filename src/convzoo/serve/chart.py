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


def _bench_point(name: str, row: dict | None, served: bool) -> dict | None:
    """The point `convzoo bench` results give `name`, or None where they time it not."""
    latency = _number(row.get("latency_ms")) if row else None
    if latency is None:
        return None
    return {"name": name, "acc1": _number(row.get("acc1")), "latency_ms": latency,
            "source": f"convzoo bench, batch {row.get('latency_batch') or 1}", "served": served}


def chart_points(models: list[dict], bench: dict[str, dict]) -> list[dict]:
    """`models`: ModelPool.describe() rows. A point needs an accuracy and a latency;
    a model with a latency from neither source is listed with latency None.
    Benchmarked models that are not served are points too (`served` False), for comparison."""
    points = []
    for model in models:
        point = _bench_point(model["name"], bench.get(model["name"]), served=True)
        if point is None:
            latency = model["served_ms"]
            point = {"name": model["name"], "acc1": None, "latency_ms": latency,
                     "source": "served here, one image" if latency is not None else None, "served": True}
        if point["acc1"] is None:  # the bench row's accuracy where it has one, else the weights' own
            point["acc1"] = model["acc1"]
        points.append(point)
    served = {model["name"] for model in models}
    for name, row in bench.items():
        point = None if name in served else _bench_point(name, row, served=False)
        if point is not None:
            points.append(point)
    return points
