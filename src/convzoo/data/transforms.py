"""Training augmentation, built from torchvision.transforms.v2 (not rewritten here).

The recipe options are those of "ResNet strikes back" and ConvNeXt's recipe:
random-resized crop + flip, RandAugment, Random Erasing; Mixup and CutMix act
on whole batches, so they are returned separately (`batch_mixer`).
"""
from __future__ import annotations

import torch
from torchvision.transforms import v2

from .preprocessing import Preprocessing


def train_transforms(pre: Preprocessing, randaugment: int = 0, random_erasing: float = 0.0, hflip: bool = True,
                     scale: tuple[float, float] = (0.08, 1.0)) -> v2.Compose:
    """Random-resized crop to the eval crop size, optional flip, RandAugment
    (`randaugment` = magnitude, 0: off), then the weights' normalisation and
    optional Random Erasing (probability)."""
    steps = [v2.ToImage(), v2.RandomResizedCrop(pre.crop_size, scale=scale, interpolation=v2.InterpolationMode(pre.interpolation), antialias=True)]
    if hflip:
        steps.append(v2.RandomHorizontalFlip())
    if randaugment:
        steps.append(v2.RandAugment(num_ops=2, magnitude=randaugment))
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(pre.mean, pre.std)]
    if random_erasing > 0:
        steps.append(v2.RandomErasing(p=random_erasing))
    return v2.Compose(steps)


def batch_mixer(num_classes: int, mixup: float = 0.0, cutmix: float = 0.0):
    """Mixup and/or CutMix on a batch (one of them at random per batch when both
    are on); None when both are off. Labels come out as soft targets."""
    choices = []
    if mixup > 0:
        choices.append(v2.MixUp(alpha=mixup, num_classes=num_classes))
    if cutmix > 0:
        choices.append(v2.CutMix(alpha=cutmix, num_classes=num_classes))
    if not choices:
        return None
    return choices[0] if len(choices) == 1 else v2.RandomChoice(choices)
