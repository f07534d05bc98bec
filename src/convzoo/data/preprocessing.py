"""Evaluation preprocessing specs and the ImageNet constants they use.

A `Preprocessing` is data (sizes, interpolation, mean/std), so that weights
specs, checkpoints' sidecars and exports can carry it; `.transforms()` turns it
into torchvision transforms.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TTA_MODES = ("flip", "crops")  # Preprocessing.tta_transforms
_CLASSES_FILE = Path(__file__).with_name("imagenet_classes.txt")


@functools.lru_cache(maxsize=1)
def imagenet_categories() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names, in class-index order."""
    names = _CLASSES_FILE.read_text().splitlines()
    if len(names) != 1000:
        raise RuntimeError(f"{_CLASSES_FILE} is damaged: {len(names)} names instead of 1000; reinstall convzoo")
    return tuple(names)


@dataclass(frozen=True)
class Preprocessing:
    """Resize the shorter side to `resize_size`, center-crop `crop_size`,
    scale to [0, 1], normalise with `mean`/`std` (evaluation preprocessing)."""

    crop_size: int
    resize_size: int
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    @classmethod
    def for_input_size(cls, crop_size: int) -> "Preprocessing":
        """The usual ImageNet recipe at a model's input size: crop 87.5% of the resize."""
        return cls(crop_size, round(crop_size / 0.875))

    @classmethod
    def from_crop_pct(cls, crop_size: int, crop_pct: float, interpolation: str = "bilinear",
                      mean=IMAGENET_MEAN, std=IMAGENET_STD) -> "Preprocessing":
        """timm's way of saying it: resize the shorter side to floor(crop / crop_pct), then crop."""
        return cls(crop_size, int(crop_size / crop_pct), interpolation, tuple(mean), tuple(std))

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocessing":
        """The preprocessing `to_dict` wrote (a checkpoint's sidecar, an export's JSON)."""
        return cls(d["crop_size"], d["resize_size"], d["interpolation"], tuple(d["mean"]), tuple(d["std"]))

    def transforms(self, whole_image: bool = False):
        """The evaluation transform. `whole_image`: no crop, the shorter side
        resized to `crop_size` instead, so that every pixel of the picture
        reaches the network (a heat map over all of it: tasks/explain.py)."""
        import torch
        from torchvision.transforms import v2

        interpolation = v2.InterpolationMode(self.interpolation)
        sizing = ([v2.Resize(self.crop_size, interpolation=interpolation, antialias=True)] if whole_image else
                  [v2.Resize(self.resize_size, interpolation=interpolation, antialias=True),
                   v2.CenterCrop(self.crop_size)])
        return v2.Compose([
            v2.ToImage(),
            *sizing,
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(self.mean, self.std),
        ])

    def tta_transforms(self, mode: str):
        """Test-time augmentation: the evaluation transform giving several views
        of each image, stacked [V, C, H, W], whose probabilities are averaged.

        "flip": the centre crop and its mirror image (2 views);
        "crops": the four corner crops and the centre crop of the resized image,
        and their mirror images (10 views: AlexNet's test of 2012)."""
        import torch
        from torchvision.transforms import v2

        if mode not in TTA_MODES:
            raise ValueError(f"--tta {mode!r}: use one of {', '.join(TTA_MODES)}")
        interpolation = v2.InterpolationMode(self.interpolation)
        finish = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(self.mean, self.std)])
        resize = v2.Compose([v2.ToImage(), v2.Resize(self.resize_size, interpolation=interpolation, antialias=True)])
        crops = v2.FiveCrop(self.crop_size) if mode == "crops" else (lambda image: [v2.CenterCrop(self.crop_size)(image)])

        def views(image):
            kept = crops(resize(image))
            return torch.stack([finish(view) for crop in kept for view in (crop, v2.functional.horizontal_flip(crop))])

        return views

    def to_dict(self) -> dict:
        """Plain JSON values: crop_size, resize_size, interpolation, mean, std."""
        return {"crop_size": self.crop_size, "resize_size": self.resize_size, "interpolation": self.interpolation,
                "mean": list(self.mean), "std": list(self.std)}
