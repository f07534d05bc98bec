"""Training on skewed classes: what --balance and --monitor auto choose, and the class weights.

A folder of 450 good parts and 50 defects is "skewed": its largest class is at
least SKEW_RATIO times its smallest. There, plain cross-entropy learns that
"good" is nearly always right, and the epoch with the best accuracy is often
the one that finds the fewest defects. So on skewed data `auto` balances the
training (AUTO_BALANCE) and keeps the epoch with the best AUTO_MONITOR; on
balanced data it does nothing, and the run is the one convzoo always trained.

weights: cross-entropy weighted per class by scikit-learn's "balanced" weights,
n_images / (n_classes x class count) of the training split. Their mean over the
training images is 1, so the loss keeps its scale and the learning rate its meaning.
sampler: each epoch draws its images class-balanced, with replacement
(data/sampling.py); the loss is unweighted.
"""
from __future__ import annotations

import math

import torch

from .metrics import metric_name

BALANCES = ("none", "weights", "sampler", "auto")
SKEW_RATIO = 1.5  # largest / smallest training class count at or above which the classes are skewed
# What --balance auto uses on skewed classes. benchmarks/imbalance.py, 4 real skewed sets x seeds 0, 1: sampler and
# weights raised balanced accuracy alike (+0.078), but sampler lost less accuracy (-0.009 against -0.014) and kept
# more precision; it beat none on 3 of the 4 sets, weights on 1.
AUTO_BALANCE = "sampler"
AUTO_MONITOR = "balanced_accuracy"  # what --monitor auto keeps the best epoch by on skewed classes


def check_balance(balance: str) -> str:
    if balance not in BALANCES:
        raise ValueError(f"--balance {balance!r}: use none, weights (class-weighted loss), sampler (class-balanced "
                         f"sampling) or auto ({AUTO_BALANCE} when the classes are skewed, else none)")
    return balance


def check_monitor(monitor: str) -> str:
    """--monitor NAME with its alias resolved, or "auto"; one line listing the metrics when it is neither."""
    return monitor if monitor == "auto" else metric_name(monitor)


def skew(counts: dict[str, int]) -> float:
    """Largest over smallest class count (inf when a class has no images)."""
    values = list(counts.values())
    return max(values) / min(values) if min(values) > 0 else math.inf


def is_skewed(counts: dict[str, int]) -> bool:
    return skew(counts) >= SKEW_RATIO


def resolve_balance(balance: str, counts: dict[str, int]) -> tuple[str, str]:
    """(none | weights | sampler, why): `auto` made concrete for these training counts."""
    if balance != "auto":
        return balance, "as asked"
    if is_skewed(counts):
        return AUTO_BALANCE, "auto: classes skewed"
    return "none", "auto: classes balanced"


def resolve_monitor(monitor: str, counts: dict[str, int], state: dict | None = None) -> str:
    """The metric that makes the best epoch: `auto` is AUTO_MONITOR on skewed classes, else accuracy.
    Resumed (`state`) with `auto`, the run's own: the one its state names, or accuracy for states from
    before --monitor took every metric (their runs monitored accuracy unless told `--monitor loss`)."""
    if monitor != "auto":
        return metric_name(monitor)
    if state is not None:
        return state.get("best_metric") or "accuracy"
    return AUTO_MONITOR if is_skewed(counts) else "accuracy"


def describe(counts: dict[str, int], balance: str, why: str, max_classes: int = 10) -> str:
    """The line training starts with, e.g.
    `classes (train): good 450, defect 50 (9.0:1); balancing: weights (auto: classes skewed)`."""
    items = list(counts.items())
    shown = ", ".join(f"{name} {n}" for name, n in items[:max_classes])
    if len(items) > max_classes:
        smallest = min(items, key=lambda kv: kv[1])
        shown += f", ... (+{len(items) - max_classes} more; the smallest: {smallest[0]} {smallest[1]})"
    ratio = skew(counts)
    return (f"classes (train): {shown} ({ratio:.1f}:1); balancing: {balance} ({why})" if math.isfinite(ratio)
            else f"classes (train): {shown}; balancing: {balance} ({why})")


def check_counts(counts: dict[str, int], balance: str) -> None:
    """Balancing needs an image of every class to weight or draw; one line naming those without."""
    empty = [name for name, n in counts.items() if n == 0]
    if empty and balance != "none":
        raise ValueError(f"--balance {balance}: no training images of {', '.join(empty)} (all unreadable?), so "
                         f"there is nothing to balance with: fix the data, or pass --balance none")


def class_weights(counts: dict[str, int]) -> torch.Tensor:
    """scikit-learn's "balanced" class weights of these training counts, as a float32 tensor in class order."""
    import numpy as np
    from sklearn.utils.class_weight import compute_class_weight

    ids = np.arange(len(counts))
    y = np.repeat(ids, list(counts.values()))
    return torch.as_tensor(compute_class_weight("balanced", classes=ids, y=y), dtype=torch.float32)


def criterion(balance: str, counts: dict[str, int], label_smoothing: float = 0.0,
              device: torch.device | str = "cpu") -> torch.nn.CrossEntropyLoss:
    """The training loss: cross-entropy, class-weighted for `weights`. It takes
    class indices or soft targets (mixup, cutmix); with soft targets torch weights
    each class's term by its weight and averages over the images."""
    weight = class_weights(counts).to(device) if balance == "weights" else None
    return torch.nn.CrossEntropyLoss(weight=weight, label_smoothing=label_smoothing)


__all__ = ["AUTO_BALANCE", "AUTO_MONITOR", "BALANCES", "SKEW_RATIO", "check_balance", "check_counts",
           "check_monitor", "class_weights", "criterion", "describe", "is_skewed", "resolve_balance",
           "resolve_monitor", "skew"]
