"""Labelled image datasets from the two layouts users bring: a folder of class
sub-folders (optionally with train/ and val/), or a CSV of `path,label` rows.

Every file is checked once when the dataset is built: unreadable images are
left out and listed in one warning (a dataset of 50,000 scraped images with
three broken files should still train), while structural problems (an empty
class folder, a single class, CSV rows naming missing files) are errors,
because training on them would silently learn the wrong task.
"""
from __future__ import annotations

import csv
import hashlib
import os
import random
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from PIL import Image

from .images import ImageError, load_image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


class DatasetError(ValueError):
    """The dataset's layout cannot be trained on; the message says how to fix it."""


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int


class ImageDataset:
    """(image, label) pairs; images are decoded as RGB and passed through `transform`."""

    def __init__(self, samples: Sequence[Sample], classes: Sequence[str], transform: Callable | None = None):
        self.samples = list(samples)
        self.classes = list(classes)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        sample = self.samples[index]
        image = load_image(sample.path)
        return (self.transform(image) if self.transform else image), sample.label

    def with_transform(self, transform: Callable | None) -> "ImageDataset":
        return ImageDataset(self.samples, self.classes, transform)

    @property
    def labels(self) -> list[int]:
        return [s.label for s in self.samples]

    def class_counts(self) -> dict[str, int]:
        """Images per class name, in class order (0 for a class with none here)."""
        counts = dict.fromkeys(self.classes, 0)
        for s in self.samples:
            counts[self.classes[s.label]] += 1
        return counts


@dataclass
class DatasetSplit:
    train: ImageDataset
    val: ImageDataset
    classes: list[str]
    skipped: list[tuple[str, str]]  # (path, reason) of unreadable images left out
    held_out: bool = False  # val drawn from the data by (val_fraction, seed), not a val/ folder
    base: Path | None = None  # what sample paths are recorded relative to (folder root, CSV's folder)

    excluded: tuple[str, ...] = ()  # paths (relative to base) left out by `train --exclude-duplicates`

    def without(self, paths) -> "DatasetSplit":
        """This split less the images at `paths` (what `train --exclude-duplicates` drops),
        remembered in `record()` so that `held_out_split` redraws the same val images."""
        drop = {Path(p).resolve() for p in paths}
        kept = [[s for s in part.samples if Path(s.path).resolve() not in drop] for part in (self.train, self.val)]
        gone = sorted(_relative(s.path, self.base) for part in (self.train, self.val) for s in part.samples
                      if Path(s.path).resolve() in drop)
        return DatasetSplit(ImageDataset(kept[0], self.classes), ImageDataset(kept[1], self.classes), self.classes,
                            self.skipped, self.held_out, self.base, tuple(sorted({*self.excluded, *gone})))

    def val_digest(self) -> str:
        """A fingerprint of which images are in val (relative paths and labels):
        `convzoo eval` recomputes it to tell the held-out split of the training
        data from that of another, or changed, dataset."""
        return samples_digest(self.val.samples, self.base)

    def record(self, val_fraction: float, seed: int, folds: int = 0, fold: int = 0) -> dict:
        """Which images validated a run (the sidecar's "split"), for `convzoo eval` to
        score the same held-out images, never the training ones: `held_out_split`
        redraws them from it. The arguments are those this split was loaded with."""
        if not self.held_out:
            return {"held_out": False, "val_images": len(self.val)}
        drawn = {"folds": folds, "fold": fold} if folds else {"val_fraction": val_fraction}
        excluded = {"excluded": list(self.excluded)} if self.excluded else {}
        return {"held_out": True, **drawn, "seed": seed, "val_images": len(self.val), "val_digest": self.val_digest(),
                **excluded}


def _relative(path: Path, base: Path | None) -> str:
    return Path(os.path.relpath(path, base) if base is not None else str(path)).as_posix()


def samples_digest(samples: Sequence[Sample], base: Path | None) -> str:
    digest = hashlib.sha256()
    for s in samples:
        digest.update(f"{_relative(s.path, base)}\t{s.label}\n".encode())
    return digest.hexdigest()[:16]


def load_dataset(root: str | Path, val_fraction: float = 0.2, seed: int = 0, csv_root: str | Path | None = None,
                 folds: int = 0, fold: int = 0) -> DatasetSplit:
    """Read a dataset from an image folder or a CSV file.

    Folder: ROOT/CLASS/*.png, or ROOT/train/CLASS/* + ROOT/val/CLASS/*. Without
    train/ and val/, a stratified `val_fraction` of each class is held out,
    chosen by `seed` (the same seed gives the same split).
    CSV: rows of `path,label` (a header row is skipped); relative paths are
    resolved against `csv_root` (default: the CSV's folder).
    folds: K >= 2 for stratified K-fold cross-validation over every image
    (scikit-learn's StratifiedKFold, shuffled by `seed`): fold `fold` (0-based)
    is validation, the other K - 1 train; `val_fraction` is then unused. A
    folder with train/ and val/ is refused: its split is already fixed.
    """
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"dataset not found: {root}")
    held_out, base = True, root
    if root.is_file():
        base = Path(csv_root) if csv_root else root.parent
        samples, classes = _read_csv(root, base)
        train, val = _split(samples, classes, val_fraction, seed, folds, fold)
    elif (root / "train").is_dir() and (root / "val").is_dir():
        if folds:
            raise DatasetError(f"--folds {folds}: {root} is already split into train/ and val/; for folds pass a "
                               f"folder of class sub-folders or a CSV of path,label rows holding every image")
        train, classes = _read_folder(root / "train")
        val, _ = _read_folder(root / "val", classes)
        held_out = False
    else:
        samples, classes = _read_folder(root)
        train, val = _split(samples, classes, val_fraction, seed, folds, fold)
    train, skipped_train = _drop_unreadable(train)
    val, skipped_val = _drop_unreadable(val)
    skipped = skipped_train + skipped_val
    _warn_skipped(skipped)
    if not train or not val:
        raise DatasetError(f"{root}: no readable images left for {'training' if not train else 'validation'}")
    return DatasetSplit(ImageDataset(train, classes), ImageDataset(val, classes), classes, skipped, held_out, base)


def held_out_split(root: str | Path, record: dict) -> DatasetSplit:
    """The split a training run drew from DATA, redrawn from the "split" record of
    its checkpoint's sidecar, so that `convzoo eval` and `calibrate` score the
    images that run validated on (and never those it trained on).

    record: {"held_out": true, "val_fraction": f, "seed": s, ...} for a run's
    held-out fraction, or {"held_out": true, "folds": K, "fold": k, "seed": s, ...}
    for fold k (0-based) of `convzoo train --folds K`. A DatasetError when the
    record holds no held-out split (the run validated on a val/ folder).

    The caller compares `split.val_digest()` with the record's "val_digest" to
    tell whether ROOT is still the data the run was trained on (same images,
    same labels): if it is not, the redrawn split is some other set of images.
    """
    if not record.get("held_out"):
        raise DatasetError(f"{root}: the checkpoint's run validated on a val/ folder, not on a split it drew from "
                           f"the data, so there is no held-out split to redraw")
    if record.get("folds"):
        split = load_dataset(root, seed=record["seed"], folds=record["folds"], fold=record["fold"])
    else:
        split = load_dataset(root, record["val_fraction"], record["seed"])
    excluded = record.get("excluded") or ()  # what the run left out with --exclude-duplicates
    return split.without(split.base / rel for rel in excluded) if excluded and split.base is not None else split


def load_eval_dataset(root: str | Path, classes: Sequence[str], everything: bool = False) -> ImageDataset:
    """The images of a labelled folder or CSV, labelled with a trained model's
    `classes` (every class found must be one of them): a folder's val/ part when
    it has one, else all of it; with `everything`, its train/ part too."""
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"dataset not found: {root}")
    if root.is_file():
        samples, found = _read_csv(root, root.parent, require_two=False)
        samples = [(s, found) for s in samples]
    else:
        folders = [root / "val"] if (root / "val").is_dir() else [root]
        if everything and (root / "val").is_dir() and (root / "train").is_dir():
            folders.insert(0, root / "train")
        samples = []
        for folder in folders:
            found = sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
            samples += [(s, found) for s in _read_folder(folder, found)[0]]
    unknown = sorted({found[s.label] for s, found in samples} - set(classes))
    if unknown:
        raise DatasetError(f"{root}: classes {unknown} are not among the model's classes {list(classes)}")
    index = {c: i for i, c in enumerate(classes)}
    samples = [Sample(s.path, index[found[s.label]]) for s, found in samples]
    samples, skipped = _drop_unreadable(samples)
    _warn_skipped(skipped)
    return ImageDataset(samples, classes)


def _read_folder(root: Path, classes: Sequence[str] | None = None) -> tuple[list[Sample], list[str]]:
    found = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if classes is None:
        classes = found
        if len(classes) < 2:
            raise DatasetError(
                f"{root}: found {len(classes)} class folder(s) ({', '.join(classes) or 'none'}); "
                f"a classifier needs at least 2 — put each class's images in its own sub-folder"
            )
    elif set(found) != set(classes):
        raise DatasetError(f"{root}: class folders {sorted(found)} differ from the training classes {sorted(classes)}")
    samples = []
    for label, name in enumerate(classes):
        files = sorted(p for p in (root / name).rglob("*") if p.is_file() and not p.name.startswith("."))
        if not files:
            raise DatasetError(f"{root / name}: class folder is empty — add images or remove the folder")
        samples += [Sample(p, label) for p in files]
    return samples, list(classes)


def _read_csv(path: Path, base: Path, require_two: bool = True) -> tuple[list[Sample], list[str]]:
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r and any(cell.strip() for cell in r)]
    if rows and rows[0][0].strip().lower() in ("path", "file", "filename", "image", "image_path", "id"):
        rows = rows[1:]
    bad = [i for i, r in enumerate(rows) if len(r) < 2]
    if bad:
        raise DatasetError(f"{path}: rows {bad[:5]} do not have the form path,label")
    entries = [((base / r[0].strip()) if not Path(r[0].strip()).is_absolute() else Path(r[0].strip()), r[1].strip()) for r in rows]
    missing = [str(p) for p, _ in entries if not p.is_file()]
    if missing:
        more = f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""
        raise DatasetError(f"{path}: {len(missing)} rows name missing files: {', '.join(missing[:5])}{more}")
    classes = sorted({label for _, label in entries}, key=_label_key)
    if require_two and len(classes) < 2:
        raise DatasetError(f"{path}: a single class ({', '.join(classes) or 'none'}); a classifier needs at least 2")
    index = {c: i for i, c in enumerate(classes)}
    return [Sample(p, index[label]) for p, label in entries], classes


def _label_key(label: str):
    return (0, int(label), "") if label.isdigit() else (1, 0, label)


def _split(samples: list[Sample], classes: list[str], val_fraction: float, seed: int, folds: int,
           fold: int) -> tuple[list[Sample], list[Sample]]:
    if folds:
        return _fold_split(samples, classes, folds, fold, seed)
    return _stratified_split(samples, val_fraction, seed)


def check_folds(folds: int, fold: int = 0) -> None:
    """--folds K and a fold index that can be split, else one line saying what can."""
    if folds < 2:
        raise DatasetError(f"--folds {folds}: use 2 or more (K stratified folds), or 0 for one held-out split")
    if not 0 <= fold < folds:
        raise DatasetError(f"fold {fold} is not one of the {folds} folds (0 to {folds - 1})")


def _fold_split(samples: list[Sample], classes: list[str], folds: int, fold: int,
                seed: int) -> tuple[list[Sample], list[Sample]]:
    """Fold `fold` of StratifiedKFold(folds, shuffle, seed) as validation, the rest as training, each in file order."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    check_folds(folds, fold)
    labels = np.array([s.label for s in samples])
    counts = np.bincount(labels, minlength=len(classes))
    if counts.min() < folds:
        rare = int(counts.argmin())
        raise DatasetError(f"--folds {folds}: class {classes[rare]} has only {counts[rare]} images, and every fold's "
                           f"validation needs one of each class: use --folds {max(2, counts[rare])} or fewer")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    train_idx, val_idx = list(splitter.split(np.zeros(len(labels)), labels))[fold]
    return [samples[i] for i in sorted(train_idx)], [samples[i] for i in sorted(val_idx)]


def _stratified_split(samples: list[Sample], val_fraction: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    if not 0 < val_fraction < 1:
        raise DatasetError(f"val_fraction must be between 0 and 1, not {val_fraction}")
    rng = random.Random(seed)
    train, val = [], []
    by_label: dict[int, list[Sample]] = {}
    for s in samples:
        by_label.setdefault(s.label, []).append(s)
    for label in sorted(by_label):
        group = by_label[label][:]
        rng.shuffle(group)
        n_val = max(1, round(len(group) * val_fraction)) if len(group) > 1 else 0
        val += group[:n_val]
        train += group[n_val:]
    return train, val


def _drop_unreadable(samples: list[Sample]) -> tuple[list[Sample], list[tuple[str, str]]]:
    good, skipped = [], []
    for s in samples:
        try:
            with Image.open(s.path) as img:
                img.verify()  # header and structure, without a full decode
            good.append(s)
        except Exception as exc:  # noqa: BLE001  PIL raises many types for bad files
            reason = "not an image file" if "identify" in str(exc) else f"damaged image: {exc}"
            skipped.append((str(s.path), reason))
    return good, skipped


def _warn_skipped(skipped: list[tuple[str, str]]) -> None:
    """One warning listing the unreadable images left out (the first 20)."""
    if skipped:
        listing = "; ".join(f"{p} ({why})" for p, why in skipped[:20])
        more = f" (+{len(skipped) - 20} more)" if len(skipped) > 20 else ""
        warnings.warn(f"{len(skipped)} unreadable images left out: {listing}{more}", stacklevel=3)



@dataclass
class SampleListing:
    """What a dataset's layout says, with no image opened: every file, labelled, and
    where the layout has one (ROOT/train + ROOT/val), its train/val assignment."""
    train: list[Sample]  # every sample, when the layout has no val/ folder
    val: list[Sample]  # ROOT/val/'s samples; empty when the layout has no val/ folder
    classes: list[str]
    base: Path  # what sample paths are relative to: the folder, or the CSV's folder
    has_val: bool  # True for ROOT/{train,val}: the split is the layout's, not drawn


def list_samples(root: str | Path, csv_root: str | Path | None = None) -> SampleListing:
    """The samples of a dataset in any layout `load_dataset` reads (same detection,
    same readers), without decoding or verifying a single image: an unreadable file
    is listed like any other (`convzoo check` reports it). Structural problems are
    DatasetErrors that name the fix: a missing path, an image file given as DATA,
    a file where a folder should be, too few class folders, an empty class."""
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"dataset not found: {root}; give a folder of class sub-folders (ROOT/CLASS/*.png), "
                           f"one split into ROOT/train/CLASS and ROOT/val/CLASS, or a CSV of path,label rows")
    if root.is_file():
        if root.suffix.lower() in IMAGE_SUFFIXES:
            raise DatasetError(f"{root} is an image file, not a dataset: give the folder that holds the class "
                               f"sub-folders (ROOT/CLASS/*.png), or a CSV of path,label rows")
        base = Path(csv_root) if csv_root else root.parent
        try:
            samples, classes = _read_csv(root, base)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise DatasetError(f"{root} is not a CSV of path,label rows ({exc}): give such a CSV, or a folder of "
                               f"class sub-folders") from None
        return SampleListing(samples, [], classes, base, False)
    for name in ("train", "val"):
        if (root / name).is_file():
            raise DatasetError(f"{root / name} is a file where a folder should be: make {name}/ a folder of class "
                               f"sub-folders, or move the file out of {root}")
    try:
        if (root / "train").is_dir() and (root / "val").is_dir():
            train, classes = _read_folder(root / "train")
            val, _ = _read_folder(root / "val", classes)
            return SampleListing(train, val, classes, root, True)
        samples, classes = _read_folder(root)
    except DatasetError as exc:
        raise DatasetError(f"{exc}{_layout_hint(root)}") from None
    return SampleListing(samples, [], classes, root, False)


def _layout_hint(root: Path) -> str:
    """What else in ROOT explains a layout error: loose files, or train/ without val/."""
    loose = sorted(p.name for p in root.iterdir() if p.is_file() and not p.name.startswith("."))
    if loose:
        names = ", ".join(loose[:3]) + (f" (+{len(loose) - 3} more)" if len(loose) > 3 else "")
        return f"; {len(loose)} file(s) sit directly in {root} ({names}): move each into its class's sub-folder"
    for have, missing in (("train", "val"), ("val", "train")):
        if (root / have).is_dir() and not (root / missing).is_dir():
            return f"; {root} has {have}/ but no {missing}/: add {missing}/CLASS/ folders, or give {root / have}"
    return ""


__all__ = ["DatasetError", "DatasetSplit", "ImageDataset", "ImageError", "Sample", "SampleListing", "check_folds",
           "held_out_split", "list_samples", "load_dataset", "load_eval_dataset", "samples_digest"]
