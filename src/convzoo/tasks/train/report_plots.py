"""The plots of `convzoo eval --report` that eval itself does not draw: the
reliability diagram, and one-vs-rest ROC and PR curves of every class when no
single positive class is scored (with one, the report takes roc_pr.py's).

The reliability diagram bins the top-label confidence as the ECE does
(metrics.reliability_bins: 15 equal-width bins, bin b holding (b/15, (b+1)/15]) and draws
each bin's accuracy against its mean confidence: on the diagonal, a
probability of 0.7 is right 70% of the time.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..shared.plots import pyplot
from .metrics import reliability_bins

BINS = 15
MAX_CLASS_CURVES = 20  # more one-vs-rest curves than this are unreadable: the macro average alone


def reliability_diagram(labels, probs, ece: float | None = None, bins: int = BINS):
    """Accuracy per confidence bin against the diagonal, the gap shaded, and below it how many images each bin holds."""
    plt = pyplot()
    b = reliability_bins(labels, probs, bins)
    left, width = b["edges"][:-1], 1 / bins
    filled = b["count"] > 0
    fig, (ax, ax_count) = plt.subplots(2, 1, figsize=(5, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.bar(left[filled], b["accuracy"][filled], width=width, align="edge", edgecolor="black", color="#4c72b0",
           label="accuracy")
    gap_low = np.minimum(b["accuracy"], b["confidence"])[filled]
    ax.bar(left[filled], np.abs(b["confidence"] - b["accuracy"])[filled], bottom=gap_low, width=width,
           align="edge", color="#dd8452", alpha=0.45, hatch="//", edgecolor="#dd8452", label="gap to confidence")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfect calibration")
    title = "reliability diagram" + (f" (ECE {ece:.3f})" if ece is not None else "")
    ax.set(title=title, ylabel="accuracy", xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    ax_count.bar(left, b["count"], width=width, align="edge", edgecolor="black", color="grey")
    ax_count.set(xlabel="confidence of the decided class", ylabel="images")
    ax_count.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def class_curves(labels, probs, classes: list[str]) -> dict:
    """{"roc": figure, "pr": figure}: each class against the rest, with the macro
    AUC (only the macro AUC's line beyond MAX_CLASS_CURVES classes); {} when a class has no image."""
    from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

    y = np.asarray(labels)
    p = np.asarray(probs, dtype=np.float64)
    if any(not (y == k).any() for k in range(len(classes))):
        return {}
    plt = pyplot()
    figures = {name: plt.subplots(figsize=(5.5, 5)) for name in ("roc", "pr")}
    (roc_fig, roc_ax), (pr_fig, pr_ax) = figures["roc"], figures["pr"]
    draw = len(classes) <= MAX_CLASS_CURVES
    roc_aucs, aps = [], []
    for k, name in enumerate(classes):
        fpr, tpr, _ = roc_curve(y == k, p[:, k])
        precision, recall, _ = precision_recall_curve(y == k, p[:, k])
        roc_aucs.append(auc(fpr, tpr))
        aps.append(average_precision_score(y == k, p[:, k]))
        if draw:
            roc_ax.plot(fpr, tpr, linewidth=1.2, label=f"{name} ({roc_aucs[-1]:.3f})")
            pr_ax.step(recall, precision, where="post", linewidth=1.2, label=f"{name} ({aps[-1]:.3f})")
    roc_ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance")
    roc_ax.set(title=f"ROC, each class against the rest (macro AUC {np.mean(roc_aucs):.3f})",
               xlabel="false-positive rate", ylabel="recall (true-positive rate)")
    pr_ax.set(title=f"precision-recall, each class (macro AP {np.mean(aps):.3f})", xlabel="recall",
              ylabel="precision")
    for fig, ax in (figures["roc"], figures["pr"]):
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.05)
        ax.grid(alpha=0.3)
        if draw:
            ax.legend(loc="lower right" if ax is roc_ax else "lower left", fontsize=7,
                      ncols=2 if len(classes) > 10 else 1)
        ax.title.set_fontsize(10)
        fig.tight_layout()
    return {"roc": roc_fig, "pr": pr_fig}


def save_png(fig, path: Path) -> str:
    """Write `fig` as a PNG (in the report's temporary folder: no atomic write needed), close it; its file name."""
    fig.savefig(path, format="png", dpi=100)
    pyplot().close(fig)
    return Path(path).name
