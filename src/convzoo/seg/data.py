"""Segmentation data from a folder:

    root/images/<name>.png|jpg|jpeg     the images
    root/masks/<name>.png               one per image, same stem: each pixel is its
                                        class index (0, 1, ...; 255 = don't care),
                                        a single-channel (L or P mode) PNG

`SegmentationFolder` pairs them (a missing mask is an error naming the image)
and applies the same geometric transform to image and mask: a resize to a
square `image_size` (bilinear for the image, nearest for the mask, so no
in-between class appears), a random horizontal flip when training, and the
encoder weights' normalisation for the image.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..data.preprocessing import IMAGENET_MEAN, IMAGENET_STD

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
IGNORE_INDEX = 255


def find_pairs(root: str | Path) -> list[tuple[Path, Path]]:
    """(image, mask) paths of root/images and root/masks, sorted by name."""
    root = Path(root)
    images_dir, masks_dir = root / "images", root / "masks"
    if not images_dir.is_dir() or not masks_dir.is_dir():
        raise ValueError(f"{root}: a segmentation folder holds images/ and masks/ (root/images/x.jpg with "
                         f"root/masks/x.png); missing {images_dir if not images_dir.is_dir() else masks_dir}")
    images = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise ValueError(f"{images_dir}: no images ({', '.join(IMAGE_SUFFIXES)})")
    pairs = []
    for image in images:
        mask = masks_dir / f"{image.stem}.png"
        if not mask.is_file():
            raise ValueError(f"no mask for image {image}: expected {mask} (class index per pixel, single-channel PNG)")
        pairs.append((image, mask))
    return pairs


def read_mask(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        if im.mode not in ("L", "P", "I", "I;16"):
            raise ValueError(f"mask {path} is a {im.mode} image: save each pixel's class index in a single-channel "
                             f"(L or P mode) PNG")
        return np.asarray(im).astype(np.int64)


def largest_class(pairs: Sequence[tuple[Path, Path]]) -> tuple[int, Path | None]:
    """The largest class index in the masks (don't-care pixels aside), and the
    first mask holding it (None when every mask is all class 0 or don't-care)."""
    largest, where = 0, None
    for _, mask_path in pairs:
        mask = read_mask(mask_path)
        mask = mask[mask != IGNORE_INDEX]
        if mask.size and int(mask.max()) > largest:
            largest, where = int(mask.max()), mask_path
    return largest, where


class SegmentationFolder(Dataset):
    """(image tensor (3, S, S) normalised, mask tensor (S, S) int64) pairs.

    pairs: from `find_pairs`; image_size: S; train: random horizontal flips
    (when `hflip`); mean/std: the encoder weights' normalisation.
    """

    def __init__(self, pairs: Sequence[tuple[Path, Path]], image_size: int, train: bool = False,
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD, hflip: bool = True):
        if image_size < 1:
            raise ValueError(f"image_size {image_size}: must be a positive number of pixels")
        self.pairs = list(pairs)
        self.image_size = int(image_size)
        self.train = train
        self.hflip = hflip
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        from PIL import Image

        image_path, mask_path = self.pairs[index]
        size = (self.image_size, self.image_size)
        with Image.open(image_path) as im:
            image = im.convert("RGB")
        mask = read_mask(mask_path)
        if mask.shape != (image.height, image.width):
            raise ValueError(f"mask {mask_path} is {mask.shape[1]}x{mask.shape[0]}, its image {image_path} is "
                             f"{image.width}x{image.height}: a mask must match its image's size")
        image = image.resize(size, Image.BILINEAR)
        # Nearest: a class index is a label, averaging two would invent a third class.
        mask = np.asarray(Image.fromarray(mask.astype(np.int32), mode="I").resize(size, Image.NEAREST))
        image = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)
        mask = torch.from_numpy(mask.astype(np.int64))
        if self.train and self.hflip and random.random() < 0.5:
            image, mask = image.flip(-1), mask.flip(-1)
        return (image - self.mean) / self.std, mask


def split_pairs(pairs: Sequence[tuple[Path, Path]], val_fraction: float, seed: int = 0):
    """A seeded random split into (train, val); at least one of each when possible."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction {val_fraction}: must lie strictly between 0 and 1 (or pass val_data)")
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    n_val = min(len(pairs) - 1, max(1, round(len(pairs) * val_fraction)))
    if n_val < 1:
        raise ValueError(f"{len(pairs)} image: too few to split off a validation set; pass val_data")
    val = sorted(order[:n_val])
    train = sorted(order[n_val:])
    return [pairs[i] for i in train], [pairs[i] for i in val]
