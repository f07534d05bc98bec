"""check_dataset (any layout `convzoo train` reads) and check_samples (the split a
training run was given): scan every image once, then apply the rules."""
from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from ...data.datasets import Sample, list_samples
from .findings import DataReport, build_report
from .near import NEAR_THRESHOLD
from .scan import HASH_BITS, scan_images

DEFAULT_IMAGE_SIZE = 224


def check_samples(train_samples: Sequence[Sample], val_samples: Sequence[Sample], classes: Sequence[str],
                  image_size: int = DEFAULT_IMAGE_SIZE, workers: int = 0, progress: bool = False, *,
                  near_threshold: int = NEAR_THRESHOLD, root: str | Path | None = None) -> DataReport:
    """Check the images of a split as given (labels index `classes`): train/val leakage
    is looked for between `train_samples` and `val_samples`, whichever way they were
    drawn. `workers`: decoding processes (0: this one). `root`: what the report shows
    paths relative to."""
    _check_arguments(image_size, workers, near_threshold)
    entries = [(s, "train") for s in train_samples] + [(s, "val") for s in val_samples]
    start = time.perf_counter()
    scans = scan_images([s.path for s, _ in entries], workers=workers, progress=progress)
    report = build_report(entries, scans, classes, image_size=image_size, near_threshold=near_threshold,
                          root=Path(root) if root is not None else None)
    report.seconds = time.perf_counter() - start
    return report


def check_dataset(path: str | Path, image_size: int = DEFAULT_IMAGE_SIZE, workers: int = 0, progress: bool = True, *,
                  near_threshold: int = NEAR_THRESHOLD, csv_root: str | Path | None = None) -> DataReport:
    """Check a dataset in any layout `convzoo train` reads: ROOT/CLASS/*, ROOT/{train,val}/CLASS/*
    (leakage between its train/ and val/), or a CSV of path,label rows (paths relative to
    `csv_root`, default its folder). A layout that cannot be read is a DatasetError (a
    ValueError) naming the fix."""
    listing = list_samples(path, csv_root)
    return check_samples(listing.train, listing.val, listing.classes, image_size, workers, progress,
                         near_threshold=near_threshold, root=listing.base)


def _check_arguments(image_size: int, workers: int, near_threshold: int) -> None:
    if image_size < 1:
        raise ValueError(f"image_size {image_size}: give the model's input side in pixels (e.g. 224)")
    if workers < 0:
        raise ValueError(f"workers {workers}: give 0 (decode here) or a number of processes")
    if not 0 <= near_threshold < HASH_BITS:
        raise ValueError(f"near_threshold {near_threshold}: give a number of bits from 0 (identical hashes) to "
                         f"{HASH_BITS - 1}; the default, {NEAR_THRESHOLD}, is measured in tasks/check/near.py")
