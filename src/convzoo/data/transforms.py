"""Training augmentation, built from torchvision.transforms.v2 (not rewritten here).

Two ways to crop:
- "scale" (the transfer default): resize as evaluation does, then a random crop
  of the evaluation crop size. Objects, defects and textures keep the scale
  they have at test time (train/test resolution agree, Touvron et al. 2019,
  "Fixing the train-test resolution discrepancy"); only their position moves.
  BiT's fine-tuning rule (Kolesnikov et al. 2020) crops the same way.
- "resized": the random-resized crop of ImageNet training from scratch
  (area fraction `scale` to 1, aspect 3/4 to 4/3), which zooms by up to 3.5x
  at the default 0.08: right for learning ImageNet, wrong for a small defect
  that the zoom crops out or a texture whose scale is its class.
The other options are those of "ResNet strikes back" and ConvNeXt's recipe:
RandAugment, Random Erasing; Mixup and CutMix act on whole batches, so they
are returned separately (`batch_mixer`).
"""
from __future__ import annotations

import torch
from torchvision.transforms import v2

from .preprocessing import Preprocessing


CROPS = ("scale", "resized")


def train_transforms(pre: Preprocessing, randaugment: int = 0, random_erasing: float = 0.0, hflip: bool = True,
                     scale: tuple[float, float] = (0.08, 1.0), crop: str = "scale") -> v2.Compose:
    """A random crop of the eval crop size (`crop`: "scale" keeps the eval
    scale, "resized" is the random-resized crop over area fractions `scale`),
    optional flip, RandAugment (`randaugment` = magnitude, 0: off), then the
    weights' normalisation and optional Random Erasing (probability)."""
    interpolation = v2.InterpolationMode(pre.interpolation)
    if crop == "scale":
        steps = [v2.ToImage(), v2.Resize(pre.resize_size, interpolation=interpolation, antialias=True),
                 v2.RandomCrop(pre.crop_size, pad_if_needed=True, padding_mode="reflect")]
    elif crop == "resized":
        steps = [v2.ToImage(), v2.RandomResizedCrop(pre.crop_size, scale=scale, interpolation=interpolation,
                                                    antialias=True)]
    else:
        raise ValueError(f"unknown crop {crop!r}: use one of {', '.join(CROPS)}")
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
