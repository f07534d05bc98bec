"""`convzoo select` results: the ranked table on screen, the rows on disk
(CSV or JSON, atomically, via bench_output), the Pareto PNG (via pareto)."""
from __future__ import annotations

from pathlib import Path

from ..shared.text import format_count
from .bench_output import write_results
from .pareto import plot_pareto
from .select import SelectionResult


def format_selection(result: SelectionResult) -> str:
    """Ranked lines, the skipped candidates with their reasons, what the
    columns mean, and the recommendation (or why there is none)."""
    d = result.dataset
    folds = f"{d.get('folds', '?')}-fold"
    header = (f"{'rank':<4} {'model':<22} {'size':>4} {'params':>7} {'lat ms':>8} {'IQR':>6} "
              f"{'probe acc (' + folds + ')':>20} {'held-out':>8}  budget")
    lines = [header, "-" * len(header)]
    for r in result.rows:
        probe = f"{r['probe_acc']:.3f} ± {r['probe_acc_std']:.3f}"
        lines.append(f"{r['rank']:<4} {r['name']:<22} {r['image_size']:>4} {format_count(r['params']):>7} "
                     f"{r['latency_ms']:>8.2f} {r['latency_iqr_ms']:>6.2f} {probe:>20} {r['heldout_acc']:>8.3f}  "
                     f"{'fits' if r['fits_budget'] else 'over'}")
    lines += [f"skipped: {s['name']}: {s['reason']}" for s in result.skipped]
    lines += [f"note: {r['name']}: {r['note']}" for r in result.rows if r.get("note")]
    if result.rows:
        first = result.rows[0]
        split = (f"the {d.get('val_images')} images `convzoo train --val-fraction {d.get('val_fraction')} "
                 f"--seed {d.get('seed')}` holds out" if d.get("held_out") else "the val/ folder")
        lines.append(f"probe: logistic regression on each frozen backbone's pooled features (standardised), "
                     f"{d.get('images')} images, {d.get('classes')} classes, stratified {folds} cross-validation "
                     f"(mean ± std); held-out: fitted on the rest, scored on {split}")
        lines.append(f"latency: batch 1 with a {d.get('classes')}-class head, median of the timed rounds (IQR: their "
                     f"spread), on {first['device']}, {first['threads']} thread(s)")
    lines.append(result.message)
    return "\n".join(lines)


def selection_records(result: SelectionResult) -> list[dict]:
    """The rows for a file: the ranked candidates, then one per skipped candidate
    (its reason as the note, no measurements), so the file says what was left out."""
    columns = list(dict.fromkeys(key for row in result.rows for key in row))
    skipped = [{**{c: None for c in columns}, "name": s["name"], "note": f"skipped: {s['reason']}"}
               for s in result.skipped]
    return [*result.rows, *skipped]


def write_selection(result: SelectionResult, path: str | Path) -> Path:
    return write_results(selection_records(result), path)


def plot_selection(result: SelectionResult, path: str | Path) -> None:
    """Probe accuracy (%, with its std over folds) against batch-1 latency; the
    recommended model starred, the latency budget drawn when there is one."""
    points = [{**r, "probe_acc_pct": 100 * r["probe_acc"], "probe_std_pct": 100 * r["probe_acc_std"]}
              for r in result.rows]
    d = result.dataset
    name = Path(str(d.get("data", "data"))).name
    plot_pareto(points, path, y="probe_acc_pct", yerr="probe_std_pct",
                ylabel=f"linear-probe accuracy on {name} (%, {d.get('folds')}-fold CV, ± std)",
                title=f"which model fits {name}: {d.get('images')} images, {d.get('classes')} classes, "
                      f"{len(points)} models",
                highlight=result.recommendation["name"] if result.recommendation else None,
                max_latency_ms=result.budget.max_latency_ms)
