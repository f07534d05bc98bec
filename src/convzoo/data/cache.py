"""Decoded images kept in memory, so that a training run decodes and resizes
each image once, not once per epoch.

A transform is split in two (`split_fixed`): its first steps that give the same
result every time (to a uint8 tensor, resize, centre crop) and the rest (the
random crop, flips, normalisation). `CachedImages` runs the fixed part once per
image, up front, on as many threads as there are cores (PIL and torchvision's
resize release the GIL), and keeps the uint8 tensors; an item is then the rest
of the transform applied to its tensor. An item equals the uncached dataset's
item under the same random state: the fixed steps draw no random numbers.

A whole set is cached or none of it: `fits_in_memory` estimates its size from
the image headers (a resize to the short side `resize` px, 3 bytes a pixel)
and compares it with a share of the memory available now.
"""
from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from PIL import Image

from ..utils.cpu import available_cores, available_memory_bytes
from .datasets import ImageDataset
from .images import load_image

# The share of the memory available at the start that a cache may take: the model,
# its gradients and optimizer state, and DataLoader workers need the rest.
MEMORY_SHARE = 0.25
HEADERS_SAMPLED = 64  # images whose headers are read to estimate the decoded size


def split_fixed(transform) -> tuple[Callable, Callable] | None:
    """(fixed, rest) of a torchvision v2.Compose: its leading deterministic steps, and
    the others; None when it does not start with a resize (nothing worth caching)."""
    from torchvision.transforms import v2

    steps = list(getattr(transform, "transforms", []))
    fixed_kinds = (v2.ToImage, v2.Resize, v2.CenterCrop)
    n = 0
    while n < len(steps) and isinstance(steps[n], fixed_kinds):
        n += 1
    if not any(isinstance(step, v2.Resize) for step in steps[:n]):
        return None
    return v2.Compose(steps[:n]), v2.Compose(steps[n:])


def estimated_bytes(dataset: ImageDataset, resize: int, seed: int = 0) -> int:
    """The decoded size of `dataset` once its shorter sides are `resize` px, from the
    headers of a sample of its images (PIL reads the size without decoding)."""
    samples = dataset.samples
    chosen = random.Random(seed).sample(samples, min(len(samples), HEADERS_SAMPLED)) if samples else []
    per_image = []
    for sample in chosen:
        try:
            with Image.open(sample.path) as img:
                w, h = img.size
        except OSError:
            continue
        short = min(w, h) or 1
        per_image.append(3 * resize * resize * max(w, h) / short)
    mean = sum(per_image) / len(per_image) if per_image else 3 * resize * resize
    return int(mean * len(samples))


def fits_in_memory(needed: int, available: int | None = None) -> bool:
    """Whether `needed` bytes are within MEMORY_SHARE of the available memory
    (unknown memory: a cache under 1 GiB is taken to fit)."""
    available = available_memory_bytes() if available is None else available
    if available is None:
        return needed <= 2**30
    return needed <= MEMORY_SHARE * available


class CachedImages(ImageDataset):
    """`dataset`'s images through `fixed` once, kept as uint8 tensors; items are
    (`rest`(tensor), label), like the dataset's with fixed and rest composed."""

    def __init__(self, dataset: ImageDataset, fixed: Callable, rest: Callable, progress: bool = False,
                 desc: str = "decoding images once", threads: int | None = None):
        from tqdm.auto import tqdm

        super().__init__(dataset.samples, dataset.classes, transform=None)
        self.rest = rest

        def decode(index: int):
            return fixed(load_image(self.samples[index].path))

        with ThreadPoolExecutor(max(1, threads or available_cores())) as pool:
            self.images = list(tqdm(pool.map(decode, range(len(self.samples))), total=len(self.samples),
                                    desc=desc, disable=not progress, leave=False, dynamic_ncols=True))

    def __getitem__(self, index: int):
        return self.rest(self.images[index]), self.samples[index].label

    def with_transform(self, transform):
        raise TypeError("a cached dataset keeps its transform: cache the uncached dataset with the new one")


def cached(dataset: ImageDataset, transform, progress: bool = False, desc: str = "decoding images once",
           threads: int | None = None) -> CachedImages:
    """`dataset` with `transform`, its fixed steps run once now (split_fixed must not be None)."""
    parts = split_fixed(transform)
    if parts is None:
        raise ValueError("this transform does not start with a resize: there is nothing fixed to cache")
    return CachedImages(dataset, *parts, progress=progress, desc=desc, threads=threads)


__all__ = ["CachedImages", "MEMORY_SHARE", "cached", "estimated_bytes", "fits_in_memory", "split_fixed"]

