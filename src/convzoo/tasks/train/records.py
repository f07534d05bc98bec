"""What a training run keeps track of and writes in its --out folder besides the
checkpoints: the best epoch so far, metrics.json with the curves plot, metrics.csv
(one row per epoch, for spreadsheets and plotting tools), and the best epoch's
validation report with its confusion matrix. (TensorBoard and MLflow: tracking.py.)"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

from ...utils.atomic import write_text_atomic
from .metrics import METRICS, metric_name
from .plots import plot_confusion_matrix, plot_curves

# What a run writes in its --out folder; one of them there means a run is there.
RUN_FILES = ("best.safetensors", "best.json", "last.safetensors", "last.json", "last.state.pt", "metrics.json",
             "metrics.csv", "curves.png", "confusion_matrix.png", "val_report.json", "excluded_images.txt")
# metrics.csv's columns, in this order (then any other key of the epoch records).
CSV_COLUMNS = ("epoch", "frozen_stages", "train_loss", "train_acc", "val_loss", "val_acc",
               *(f"val_{name}" for name in METRICS), "lr", "seconds", "images_per_s")


def clear_previous_run(out: Path) -> None:
    """--overwrite: the old run's files go first, so none of them (a better old
    best.safetensors, its report) is mistaken for the new run's."""
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)


@dataclass
class BestEpoch:
    """The best validation epoch so far, by the monitored metric (metrics.METRICS).

    Ties are broken by lower val loss: on a small validation set accuracy ties
    often (20 images allow 21 values), and keeping the first of equals would
    keep, say, the linear-probe epoch over the better fine-tuned ones. By log
    loss, ties are broken by higher balanced accuracy. An epoch where the
    metric is undefined (an AUC on a split lacking a class) ranks below any
    where it is defined, and among such epochs the tie-break decides, so a best
    checkpoint is always kept."""
    monitor: str = "accuracy"
    value: float | None = None  # the monitored metric at the best epoch
    loss: float = math.inf  # its val loss
    acc: float = -1.0  # its val accuracy
    balanced: float | None = None  # its val balanced accuracy (log loss's tie-break)
    epoch: int = 0  # 0: none yet

    def __post_init__(self):
        self.monitor = metric_name(self.monitor)

    @classmethod
    def of(cls, monitor: str, val: dict, epoch: int) -> "BestEpoch":
        """Epoch `epoch`, whose validation metrics are `val` (evaluate_model's)."""
        return cls(monitor, val.get(metric_name(monitor)), val["loss"], val["accuracy"], val.get("balanced_accuracy"),
                   epoch)

    def _rank(self, value, loss, balanced) -> tuple:
        defined = value is not None and not (isinstance(value, float) and math.isnan(value))
        primary = (1, value if METRICS[self.monitor].higher_is_better else -value) if defined else (0, 0.0)
        if self.monitor == "log_loss":
            return primary + (balanced if balanced is not None else -math.inf,)
        return primary + (-loss if loss is not None and not math.isnan(loss) else -math.inf,)

    def is_improved_by(self, val: dict) -> bool:
        """Whether an epoch with validation metrics `val` beats this one."""
        if self.epoch == 0:
            return True
        new = self._rank(val.get(self.monitor), val["loss"], val.get("balanced_accuracy"))
        return new > self._rank(self.value, self.loss, self.balanced)

    def state(self) -> dict:
        """For the training state; best_acc and best_loss as runs before every metric could be monitored kept them."""
        return {"best_acc": self.acc, "best_loss": self.loss, "best_epoch": self.epoch, "best_metric": self.monitor,
                "best_value": self.value, "best_balanced_accuracy": self.balanced}

    @classmethod
    def from_state(cls, state: dict, monitor: str) -> "BestEpoch":
        """The best epoch a resumed run had reached. A state from before --monitor
        took every metric kept only the best epoch's accuracy and loss."""
        monitor = metric_name(monitor)
        saved = state.get("best_metric")
        if saved is not None and saved != monitor:
            raise ValueError(f"--monitor {monitor}: the run being resumed kept its best epoch by {saved}; resume it "
                             f"with --monitor {saved} (or auto)")
        acc, loss = state.get("best_acc", -1.0), state.get("best_loss", math.inf)
        if saved is not None:
            value, balanced = state.get("best_value"), state.get("best_balanced_accuracy")
        else:
            value, balanced = {"accuracy": acc, "log_loss": loss}.get(monitor), None
        return cls(monitor, value, loss, acc, balanced, state.get("best_epoch", 0))


def monitored(monitor: str, val: dict) -> str:
    """The monitored metric for an epoch's log line, unless it is there already (acc, loss)."""
    if monitor in ("accuracy", "log_loss"):
        return ""
    value = val.get(monitor)
    return f" {monitor} {value:.4f}" if value is not None else f" {monitor} n/a"


def write_metrics(out: Path, history: list, best: BestEpoch, n_stages: int) -> None:
    """metrics.json: the best epoch's validation metrics (best_val_<name> for each
    of METRICS), the monitored metric, and every epoch's record; metrics.csv, the
    records as rows; and curves.png."""
    record = next((h for h in history if h["epoch"] == best.epoch), {})
    summary = {"best_val_acc": best.acc, "best_val_loss": best.loss, "best_epoch": best.epoch, "monitor": best.monitor,
               "best_value": best.value, **{f"best_val_{name}": record.get(f"val_{name}") for name in METRICS}}
    write_text_atomic(out / "metrics.json", json.dumps({**summary, "epochs": history}, indent=2))
    write_text_atomic(out / "metrics.csv", metrics_csv(history))
    plot_curves(history, out / "curves.png", best.epoch, n_stages, monitor=best.monitor)


def metrics_csv(history: list[dict]) -> str:
    """The epoch records as CSV: a header of CSV_COLUMNS (and any other key), one
    row per epoch; an undefined metric is an empty cell, floats keep every digit."""
    columns = list(CSV_COLUMNS) + sorted({k for h in history for k in h} - set(CSV_COLUMNS))
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    return text.getvalue()


def write_report(out: Path, val: dict, classes: list[str]) -> None:
    write_text_atomic(out / "val_report.json", json.dumps({k: v for k, v in val.items() if k != "predictions"}, indent=2))
    plot_confusion_matrix(val["confusion_matrix"], classes, out / "confusion_matrix.png")
