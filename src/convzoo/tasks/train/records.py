"""What a training run keeps track of and writes in its --out folder besides the
checkpoints: the best epoch so far, metrics.json with the curves plot, and the
best epoch's validation report with its confusion matrix."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from ...utils.atomic import write_text_atomic
from .plots import plot_confusion_matrix, plot_curves

# What a run writes in its --out folder; one of them there means a run is there.
RUN_FILES = ("best.safetensors", "best.json", "last.safetensors", "last.json", "last.state.pt", "metrics.json",
             "curves.png", "confusion_matrix.png", "val_report.json")


def clear_previous_run(out: Path) -> None:
    """--overwrite: the old run's files go first, so none of them (a better old
    best.safetensors, its report) is mistaken for the new run's."""
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)


@dataclass
class BestEpoch:
    """The best validation epoch so far. By accuracy, ties broken by lower
    loss: on a small validation set accuracy ties often (20 images allow 21
    values), and keeping the first of equals would keep, say, the linear-probe
    epoch over the better fine-tuned ones. By loss, ties broken by higher accuracy."""
    monitor: str = "acc"
    acc: float = -1.0
    loss: float = math.inf
    epoch: int = 0

    def is_improved_by(self, acc: float, loss: float) -> bool:
        if self.monitor == "loss":
            return loss < self.loss or (loss == self.loss and acc > self.acc)
        return acc > self.acc or (acc == self.acc and loss < self.loss)

    def state(self) -> dict:
        return {"best_acc": self.acc, "best_loss": self.loss, "best_epoch": self.epoch}


def write_metrics(out: Path, history: list, best: BestEpoch, n_stages: int) -> None:
    summary = {"best_val_acc": best.acc, "best_val_loss": best.loss, "best_epoch": best.epoch, "monitor": best.monitor}
    write_text_atomic(out / "metrics.json", json.dumps({**summary, "epochs": history}, indent=2))
    plot_curves(history, out / "curves.png", best.epoch, n_stages)


def write_report(out: Path, val: dict, classes: list[str]) -> None:
    write_text_atomic(out / "val_report.json", json.dumps({k: v for k, v in val.items() if k != "predictions"}, indent=2))
    plot_confusion_matrix(val["confusion_matrix"], classes, out / "confusion_matrix.png")
