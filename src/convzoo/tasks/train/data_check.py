"""The data check at the start of `convzoo train` (tasks/check does the work).

Every run states in one line what `convzoo check` finds in its split: the class
counts and imbalance, unreadable files, copies within a class, an image filed
under two classes, the same image in train and val. With --exclude-duplicates
the leaked val copies and every copy of a conflicting image are left out before
training, and OUT/excluded_images.txt lists them; the split's record remembers
them, so `eval` and `calibrate` redraw the same val images."""
from __future__ import annotations

from pathlib import Path

from ...data.datasets import DatasetSplit
from ...utils.atomic import write_text_atomic
from ..check import check_samples
from ..shared.distributed import DistContext

EXCLUDED_LIST = "excluded_images.txt"


def check_training_data(split: DatasetSplit, ctx: DistContext, out: Path, *, image_size: int, exclude: bool,
                        check: bool = True, workers: int = 0, progress: bool = True) -> DatasetSplit:
    """The split to train on: `split`, less what the check excludes when `exclude`.

    Under torchrun every process runs the check when it excludes (the same files
    on every rank: the check is deterministic), and only rank 0 when it just reports."""
    if not (check or exclude) or not (exclude or ctx.is_main):
        return split
    report = check_samples(split.train.samples, split.val.samples, split.classes, image_size=image_size,
                           workers=workers, progress=progress and ctx.is_main, root=split.base)
    ctx.log(report.summary_line())
    excluded = report.excluded_paths()
    if not exclude:
        if excluded:
            ctx.log(f"{len(excluded)} images are leaked into val or filed under two classes: `convzoo check "
                    f"{split.base}` lists them; train --exclude-duplicates leaves them out")
        return split
    if not excluded:
        return split
    kept = split.without(excluded)
    ctx.log(f"--exclude-duplicates: left out {len(excluded)} images ({len(split.train) - len(kept.train)} train, "
            f"{len(split.val) - len(kept.val)} val), listed in {out / EXCLUDED_LIST}")
    if not kept.train.samples or not kept.val.samples:
        raise ValueError(f"--exclude-duplicates left no images for {'training' if not kept.train.samples else 'validation'}: "
                         f"fix the copies `convzoo check {split.base}` lists")
    return kept


def write_excluded(out: Path, split: DatasetSplit) -> None:
    """OUT/excluded_images.txt: what --exclude-duplicates left out, one path (relative
    to the data) a line; written once the run's folder is cleared for it."""
    if split.excluded:
        out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out / EXCLUDED_LIST, "".join(f"{rel}\n" for rel in split.excluded))
