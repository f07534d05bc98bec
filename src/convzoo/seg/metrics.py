"""Segmentation metrics from a confusion matrix accumulated over batches:
per-class intersection over union, IoU_c = TP / (TP + FP + FN), and their mean
over the classes that occur (in the targets or the predictions)."""
from __future__ import annotations

import math

import torch


class ConfusionMatrix:
    """counts[t, p]: pixels of true class t predicted as p. Pixels whose target is
    `ignore_index` (a "don't care" label, 255 by convention) are left out."""

    def __init__(self, num_classes: int, ignore_index: int | None = 255):
        if num_classes < 1:
            raise ValueError(f"num_classes {num_classes}: must be at least 1")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.counts = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def update(self, predicted: torch.Tensor, target: torch.Tensor) -> None:
        """predicted: class indices (N, H, W), or logits (N, C, H, W); target: (N, H, W)."""
        if predicted.dim() == target.dim() + 1:
            predicted = predicted.argmax(1)
        if predicted.shape != target.shape:
            raise ValueError(f"predictions {tuple(predicted.shape)} and targets {tuple(target.shape)} differ in shape")
        predicted, target = predicted.reshape(-1).long().cpu(), target.reshape(-1).long().cpu()
        keep = target != self.ignore_index if self.ignore_index is not None else torch.ones_like(target, dtype=torch.bool)
        predicted, target = predicted[keep], target[keep]
        bad = target[(target < 0) | (target >= self.num_classes)]
        if bad.numel():
            raise ValueError(f"target class {int(bad[0])} outside 0..{self.num_classes - 1}: num_classes is too small "
                             f"for these masks (or mark don't-care pixels {self.ignore_index})")
        k = self.num_classes
        self.counts += torch.bincount(target * k + predicted, minlength=k * k).reshape(k, k)

    def iou(self) -> list[float]:
        """Per-class IoU; NaN for a class in neither the targets nor the predictions."""
        counts = self.counts.double()
        tp = counts.diag()
        union = counts.sum(0) + counts.sum(1) - tp
        return [float(t / u) if u > 0 else math.nan for t, u in zip(tp, union)]

    def mean_iou(self) -> float:
        present = [v for v in self.iou() if not math.isnan(v)]
        return sum(present) / len(present) if present else math.nan

    def pixel_accuracy(self) -> float:
        total = int(self.counts.sum())
        return float(self.counts.diag().sum()) / total if total else math.nan


def mean_iou(predicted: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int | None = 255) -> float:
    """Mean IoU of one batch (or one image): see ConfusionMatrix."""
    matrix = ConfusionMatrix(num_classes, ignore_index)
    matrix.update(predicted, target)
    return matrix.mean_iou()
