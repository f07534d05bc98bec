"""Calibration images: what `runtime="auto"` checks each candidate's answers
against fp32 on (up to MAX_CHECK_IMAGES), and what int8 quantization measures
activation ranges on (MAX_CALIBRATION_IMAGES of those, spread over them).

They are the user's own images, preprocessed as the model expects (the
Classifier decodes folders and files into them); any of these is accepted:
a batch tensor (N, C, H, W), one image (C, H, W), or an iterable of either,
or of (images, labels) pairs as a DataLoader yields them.
"""
from __future__ import annotations

from typing import Iterable

import torch

# The images `runtime="auto"` checks answers on: with a 99% rule one image is a third of the margin
# at 300, so judged on 300 a runtime that agreed on 99.4% of 505 confident images (mobilenet_v3_large,
# openvino bf16, benchmarks/results/runtimes_fine_tuned_amx.md) was refused for 3 changes in 296.
# 600 images of 224 px are 0.36 GB as float32.
MAX_CHECK_IMAGES = 600
MAX_CALIBRATION_IMAGES = 300  # int8's ranges: NNCF's own default subset size; more changes them very little
MIN_AGREEMENT_IMAGES = 20  # fewer cannot tell 99% agreement from luck (one image is 5%)


def spread_indices(count: int, limit: int = MAX_CALIBRATION_IMAGES) -> list[int]:
    """Which of `count` items calibrate: all of them, or `limit` spread evenly from the first
    to the last, so that a class-sorted folder gives every class a say."""
    if count <= limit:
        return list(range(count))
    return [round(k * (count - 1) / (limit - 1)) for k in range(limit)]


def int8_subset(images: torch.Tensor, limit: int = MAX_CALIBRATION_IMAGES) -> torch.Tensor:
    """The images int8 measures its activation ranges on: `limit` of them spread over the batch."""
    return images[spread_indices(len(images), limit)]


def calibration_tensor(calibration, limit: int = MAX_CHECK_IMAGES) -> torch.Tensor | None:
    """The calibration images as one float batch (at most `limit` images), or None."""
    if calibration is None:
        return None
    if isinstance(calibration, torch.Tensor):
        return _as_batch(calibration)[:limit].float()
    if not isinstance(calibration, Iterable):
        raise TypeError(f"calibration: expected image tensors, got {type(calibration).__name__}")
    batches, count = [], 0
    for item in calibration:
        if isinstance(item, (tuple, list)) and item and isinstance(item[0], torch.Tensor):
            item = item[0]  # (images, labels) from a DataLoader
        if not isinstance(item, torch.Tensor):
            raise TypeError(f"calibration: expected image tensors, got {type(item).__name__} "
                            f"(decode files first, e.g. Classifier(fast=True, calibration=folder))")
        batch = _as_batch(item)
        batches.append(batch)
        count += len(batch)
        if count >= limit:
            break
    if not batches:
        return None
    return torch.cat(batches)[:limit].float()


def _as_batch(x: torch.Tensor) -> torch.Tensor:
    if x.ndim == 3:
        return x.unsqueeze(0)
    if x.ndim != 4:
        raise ValueError(f"calibration: expected images (C, H, W) or batches (N, C, H, W), got shape {tuple(x.shape)}")
    return x


def batches(x: torch.Tensor, size: int) -> Iterable[torch.Tensor]:
    for start in range(0, len(x), size):
        yield x[start:start + size]
