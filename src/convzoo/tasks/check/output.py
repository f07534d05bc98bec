"""A DataReport as a table for people or one JSON object for scripts."""
from __future__ import annotations

import math
import os
from pathlib import Path

from .findings import KINDS, LEVELS, DataReport, Finding
from .scan import HASH_BITS

SHOWN_PER_KIND = 20  # findings of one kind in the table; --json lists every one
SHOWN_PATHS = 6  # paths of one group in the table


def _shown(path: Path, root: Path | None) -> str:
    """`path` relative to the dataset's root when it is inside it, else as given."""
    if root is not None:
        relative = os.path.relpath(path, root)
        if not relative.startswith(".."):
            return Path(relative).as_posix()
    return str(path)


def _ratio(value: float) -> float | str | None:
    if math.isnan(value):
        return None
    return "inf" if math.isinf(value) else round(value, 3)


def finding_dict(finding: Finding, root: Path | None = None) -> dict:
    return {"level": finding.level, "kind": finding.kind, "message": finding.message,
            "paths": [_shown(p, root) for p in finding.paths]}


def report_to_dict(report: DataReport) -> dict:
    """Everything in the report, JSON-ready: paths relative to the dataset's root."""
    return {
        "data": str(report.root) if report.root is not None else None,
        "images": report.images,
        "classes": report.class_counts(),
        "splits": report.counts,
        "imbalance": _ratio(report.imbalance),
        "image_size": report.image_size,
        "near_threshold_bits": report.near_threshold,
        "hash_bits": HASH_BITS,
        **{f"{level}s": [finding_dict(f, report.root) for f in report.at(level)] for level in LEVELS},
        "excluded_by_exclude_duplicates": sorted(_shown(p, report.root) for p in report.excluded),
        "summary": report.summary_line(),
        "seconds": round(report.seconds, 3),
    }


def _count_table(report: DataReport) -> list[str]:
    splits = list(report.counts)
    header = ["class"] + (splits + ["total"] if len(splits) > 1 else ["images"])
    rows = [[c] + ([str(report.counts[s][c]) for s in splits] if len(splits) > 1 else [])
            + [str(report.class_counts()[c])] for c in report.classes]
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in [header] + rows]
    ratio = _ratio(report.imbalance)
    lines.append(f"imbalance: {ratio if ratio is not None else 'n/a'} (largest class / smallest)")
    return lines


def _finding_lines(finding: Finding, root: Path | None) -> list[str]:
    head = f"{finding.level:<8} {finding.kind:<19}"
    paths = [_shown(p, root) for p in finding.paths]
    if len(paths) == 1:
        return [f"{head} {paths[0]}: {finding.message}"]
    lines = [f"{head} {finding.message}"]
    lines += [f"{'':28} {p}" for p in paths[:SHOWN_PATHS]]
    if len(paths) > SHOWN_PATHS:
        lines.append(f"{'':28} (+{len(paths) - SHOWN_PATHS} more)")
    return lines


def format_report(report: DataReport) -> str:
    """Counts per class, then every finding (at most SHOWN_PER_KIND of a kind), then the summary."""
    where = _shown(report.root, None) if report.root is not None else "the images"
    head = (f"{where}: {report.images:,} images in {len(report.classes)} classes, checked in {report.seconds:.1f} s "
            f"(input {report.image_size} px; near-duplicates within {report.near_threshold} of {HASH_BITS} bits)")
    lines = [head, ""]
    lines += _count_table(report)
    for level in LEVELS:
        if report.at(level):
            lines.append("")
        for kind in (k for k, lv in KINDS.items() if lv == level):
            found = [f for f in report.findings if f.kind == kind]
            for finding in found[:SHOWN_PER_KIND]:
                lines += _finding_lines(finding, report.root)
            if len(found) > SHOWN_PER_KIND:
                lines.append(f"{'':28} ... and {len(found) - SHOWN_PER_KIND} more {kind} (--json lists every one)")
    lines += ["", report.summary_line()]
    return "\n".join(lines)
