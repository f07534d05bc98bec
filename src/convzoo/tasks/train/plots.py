"""PNG plots of a training run: learning curves and the confusion matrix."""
from __future__ import annotations

from pathlib import Path

from ..shared.plots import pyplot


def plot_curves(history: list[dict], path: Path, best_epoch: int | None = None, n_stages: int | None = None,
                monitor: str | None = None) -> None:
    from ...utils.atomic import atomic_path

    plt = pyplot()
    fig = curves_figure(history, best_epoch, n_stages, monitor)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def curves_figure(history: list[dict], best_epoch: int | None = None, n_stages: int | None = None,
                  monitor: str | None = None):
    """Loss and accuracy per epoch (train, val), on whole-epoch ticks, with the
    best epoch starred and each change of the frozen stages (end of the linear
    probe, gradual unfreezing) marked between the epochs where it happened.
    A `monitor`ed metric other than accuracy and loss (balanced accuracy, macro-F1, ...)
    is drawn beside val accuracy, since it is what chose the best epoch."""
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in ((ax_loss, "loss"), (ax_acc, "acc")):
        for split in ("train", "val"):
            ax.plot(epochs, [h.get(f"{split}_{metric}") for h in history], marker="o", label=split)
        if metric == "acc" and monitor not in (None, "accuracy", "log_loss"):
            values = [h.get(f"val_{monitor}") for h in history]
            ax.plot(epochs, [float("nan") if v is None else v for v in values], marker="s", linestyle="--",
                    label=f"val {monitor}")
        best = next((h for h in history if h["epoch"] == best_epoch), None)
        if best is not None and best.get(f"val_{metric}") is not None:
            ax.plot([best_epoch], [best[f"val_{metric}"]], marker="*", markersize=16, color="gold",
                    markeredgecolor="black", linestyle="none", label=f"best (epoch {best_epoch})")
        for before, after in zip(history, history[1:]):
            if before.get("frozen_stages") != after.get("frozen_stages"):
                ax.axvline(after["epoch"] - 0.5, color="grey", linestyle="--", linewidth=1)
                ax.text(after["epoch"] - 0.5, 0.98, " " + _freeze_change(before["frozen_stages"], after["frozen_stages"],
                                                                           n_stages),
                        transform=ax.get_xaxis_transform(), rotation=90, va="top", ha="right", fontsize=8,
                        color="dimgrey")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
        ax.legend()
        ax.grid(alpha=0.3)
    ax_loss.set(title="loss", xlabel="epoch")
    ax_loss.set_ylim(bottom=0)
    # Headroom above 1.0, so a curve at 100% is seen, not hidden in the frame.
    low = min([0.0] + [h.get(f"val_{monitor}") or 0.0 for h in history]) if monitor else 0.0  # MCC reaches -1
    ax_acc.set(title="accuracy" if monitor in (None, "accuracy", "log_loss") else f"accuracy and {monitor}",
               xlabel="epoch", ylim=(low, 1.05))
    fig.tight_layout()
    return fig


def _freeze_change(before: int, after: int, n_stages: int | None) -> str:
    if n_stages is not None and before == n_stages:
        return "probe → fine-tune" if after == 0 else f"probe → fine-tune ({after} stages frozen)"
    return f"unfreeze: {after} stages frozen" if after < before else f"freeze: {after} stages frozen"


def plot_confusion_matrix(matrix: list[list[int]], classes: list[str], path: Path) -> None:
    from ...utils.atomic import atomic_path

    plt = pyplot()
    n = len(classes)
    size = min(4 + 0.5 * n, 20)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set(xticks=range(n), yticks=range(n), xlabel="predicted", ylabel="true", title="confusion matrix")
    ax.set_xticklabels(classes, rotation=90)
    ax.set_yticklabels(classes)
    if n <= 30:
        peak = max(max(row) for row in matrix) or 1
        for i in range(n):
            for j in range(n):
                ax.text(j, i, matrix[i][j], ha="center", va="center",
                        color="white" if matrix[i][j] > peak / 2 else "black", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
