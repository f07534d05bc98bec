"""`convzoo bench` results on screen (a table) and on disk (CSV or JSON, written atomically)."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ...utils.atomic import write_text_atomic
from ..shared.text import format_count


def _number(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _ratio(value) -> str:
    return "-" if value is None else f"{value:.2f}x"


def format_bench_table(rows: list[dict]) -> str:
    """One line per model; the ratio columns only when a library was compared with."""
    if not rows:
        return "no results"
    first = rows[0]
    vs = first.get("vs")
    batch = f"img/s@{first['throughput_batch']}"
    header = (f"{'model':<24} {'size':>4} {'params':>7} {'GFLOPs':>7} {'acc@1':>6} {'lat ms':>8} {'IQR':>6} "
              f"{batch:>10} {'train img/s':>11} {'mem MB':>7}")
    if vs:
        header += f" {'lat ' + vs[:5]:>10} {'img/s ' + vs[:5]:>12}"
    lines = [header, "-" * len(header)]
    for r in rows:
        line = (f"{r['name']:<24} {r['image_size']:>4} {format_count(r['params']):>7} {_number(r['gflops'], '.2f'):>7} "
                f"{_number(r['acc1'], '.1f'):>6} {r['latency_ms']:>8.2f} {r['latency_iqr_ms']:>6.2f} "
                f"{r['throughput']:>10.1f} {_number(r['train_throughput'], '.1f'):>11} "
                f"{_number(r['peak_memory_mb'], '.0f'):>7}")
        if vs:
            line += f" {_ratio(r['vs_latency_ratio']):>10} {_ratio(r['vs_throughput_ratio']):>12}"
        lines.append(line)
    lines.append(f"latency: batch {first['latency_batch']}, median of the timed rounds (IQR: their spread); "
                 f"{first['runtime']} {first['precision']} on {first['device']}, {first['threads']} thread(s); "
                 f"acc@1: DEFAULT weights' published ImageNet top-1")
    if vs:
        lines.append(f"vs {vs}: ours / theirs, ratios taken within each round (latency < 1x and img/s > 1x: "
                     f"ours is faster)")
    lines += [f"note: {r['name']}: {r['note']}" for r in rows if r.get("note")]
    return "\n".join(lines)


def write_results(rows: list[dict], path: str | Path) -> Path:
    """Rows as CSV (one line per model, empty cells for None) or JSON (a list
    of objects), by the file's suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        text = json.dumps(rows, indent=1) + "\n"
    elif suffix == ".csv":
        buffer = io.StringIO()
        columns = list(dict.fromkeys(key for row in rows for key in row))
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        text = buffer.getvalue()
    else:
        raise ValueError(f"cannot tell the format of {path.name}: name a .csv or a .json file")
    write_text_atomic(path, text)
    return path
