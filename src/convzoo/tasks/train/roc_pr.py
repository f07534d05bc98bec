"""The operating point of one positive class (a defect), as `convzoo eval`
reports it: a threshold / precision / recall / FPR table, and ROC and
precision-recall curves as PNGs. Each marks the operating point of the
decision rule in force, so the user sees what moving the threshold would buy
and cost.

The curves are scikit-learn's (`roc_curve`, `precision_recall_curve`); both
need positive images, and the ROC curve negative ones too.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..shared.plots import pyplot

FILES = {"roc": "roc_curve.png", "pr": "pr_curve.png"}


def operating_section(is_positive, scores, decided_positive, positive: str, threshold: float | None) -> dict:
    """The positive class's operating point: that of the rule in force (from its
    decisions: a threshold, or the argmax), and a threshold table of `scores`
    (the positive class's probabilities) with the rule's threshold among its rows."""
    from .metrics import operating_point, threshold_table

    y = np.asarray(is_positive, dtype=bool)
    point = operating_point(y, np.asarray(decided_positive, dtype=np.float64), 0.5)
    return {"positive": positive, "positives": int(y.sum()), "rule": {**point, "threshold": threshold},
            "table": threshold_table(y, scores, threshold)}


def format_operating_point(section: dict) -> list[str]:
    """The threshold table of the positive class, the rule's row starred."""
    rule = section["rule"]
    lines = [(f"operating point of {section['positive']} ({section['positives']} of the images are "
              f"{section['positive']}): flagged when its probability >= threshold"),
             f"  {'threshold':>9} {'precision':>9} {'recall':>7} {'FPR':>7} {'flagged':>8} {'missed':>7}"]
    for row in section["table"]:
        mark = "*" if rule["threshold"] is not None and row["threshold"] == rule["threshold"] else " "
        lines.append(f"{mark} {row['threshold']:>9.4f} {_cell(row['precision'], 9)} {_cell(row['recall'], 7)} "
                     f"{_cell(row['fpr'], 7)} {row['flagged']:>8} {row['missed']:>7}")
    where = "the row starred" if rule["threshold"] is not None else "argmax"
    lines.append(f"the rule ({where}): precision {_cell(rule['precision'], 0)}, recall {_cell(rule['recall'], 0)}, "
                 f"FPR {_cell(rule['fpr'], 0)}, {rule['flagged']} flagged, {rule['missed']} missed")
    return lines


def _cell(v, width: int) -> str:
    return f"{'-':>{width}}" if v is None else f"{v:>{width}.3f}"




def write_curves(is_positive, scores, out_dir: str | Path, positive: str, point: dict | None = None) -> dict:
    """roc_curve.png and pr_curve.png of `scores` (the positive class's
    probabilities) in `out_dir`, `point` (an operating_point) marked on both.
    Returns {"roc": path, "pr": path}; {} with a "skipped" reason when the images
    lack the positive or the negative class."""
    y = np.asarray(is_positive, dtype=bool)
    if y.all() or not y.any():
        lacking = f"images other than {positive}" if y.all() else f"{positive} images"
        return {"skipped": f"no ROC or PR curve: the images hold no {lacking}"}
    out_dir = Path(out_dir)
    paths = {"roc": out_dir / FILES["roc"], "pr": out_dir / FILES["pr"]}
    _save(roc_figure(y, scores, positive, point), paths["roc"])
    _save(pr_figure(y, scores, positive, point), paths["pr"])
    return {name: str(path) for name, path in paths.items()}


def eval_curves(is_positive, scores, positive: str, point: dict, plots_dir, beside) -> dict:
    """write_curves to `plots_dir`, else `beside` the checkpoint; there, a folder
    that cannot be written to is a warning, not an error (the metrics are the job)."""
    import warnings

    try:
        return write_curves(is_positive, scores, plots_dir or beside, positive, point)
    except OSError as exc:
        if plots_dir:
            raise
        warnings.warn(f"no ROC or PR curve: cannot write to {beside} ({exc.strerror}); pass --plots DIR", stacklevel=3)
        return {"skipped": f"no ROC or PR curve: cannot write to {beside}"}


def roc_figure(is_positive, scores, positive: str, point: dict | None = None):
    """True-positive rate (recall) against false-positive rate, with the chance diagonal."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(is_positive, scores)
    auc = roc_auc_score(is_positive, scores)
    fig, ax = _axes()
    ax.plot(fpr, tpr, label=f"{positive}: ROC-AUC {auc:.3f}")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance")
    _mark(ax, point, "fpr", "recall")
    ax.set(title=f"ROC curve ({positive} against the rest)", xlabel="false-positive rate",
           ylabel="recall (true-positive rate)")
    return _finish(fig, ax)


def pr_figure(is_positive, scores, positive: str, point: dict | None = None):
    """Precision against recall, with the share of positives (what a random ranking scores)."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    precision, recall, _ = precision_recall_curve(is_positive, scores)
    ap = average_precision_score(is_positive, scores)
    base = float(np.mean(is_positive))
    fig, ax = _axes()
    ax.step(recall, precision, where="post", label=f"{positive}: PR-AUC (AP) {ap:.3f}")
    ax.axhline(base, linestyle=":", color="grey", label=f"chance ({base:.2f} positives)")
    _mark(ax, point, "recall", "precision")
    ax.set(title=f"precision-recall curve ({positive})", xlabel="recall", ylabel="precision")
    return _finish(fig, ax)


def _axes():
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    return fig, ax


def _mark(ax, point: dict | None, x: str, y: str) -> None:
    """The rule's operating point, a star labelled with its threshold."""
    if not point or point.get(x) is None or point.get(y) is None:
        return
    label = "argmax" if point.get("threshold") is None else f"threshold {point['threshold']:.3g}"
    ax.plot([point[x]], [point[y]], marker="*", markersize=16, color="gold", markeredgecolor="black",
            linestyle="none", label=f"the rule: {label}")


def _finish(fig, ax):
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right" if ax.get_xlabel() == "false-positive rate" else "lower left")
    fig.tight_layout()
    return fig


def _save(fig, path: Path) -> None:
    from ...utils.atomic import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    pyplot().close(fig)
