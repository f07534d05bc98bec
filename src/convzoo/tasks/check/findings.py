"""The rules: scanned images -> a DataReport of findings.

Errors (training on them learns the wrong thing, or scores itself wrongly):
unreadable files, one image filed under two classes, the same image in train
and val. Warnings: copies within a class, images much smaller than the model's
input, unusual modes (CMYK, 16-bit, palette, transparency). Notes: a set that
is all greyscale headed for an RGB model. Class counts and the imbalance ratio
are the report's, not findings.

"The same image" is one of two things: identical decoded pixels (scan's
digest), or perceptual hashes within `near_threshold` bits (near.py). Copies
are joined into groups (a picture with three copies is one finding, not
three), and a group is judged as a whole: several classes -> conflicting
labels; else train and val -> leakage; else a duplicate within its class.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ...data.datasets import Sample
from .near import NEAR_THRESHOLD, groups, near_pairs
from .scan import HASH_BITS, ImageScan, hash_words

LEVELS = ("error", "warning", "note")
# Every kind of finding, by level, in the order reports list them.
KINDS = {
    "unreadable": "error", "conflicting_labels": "error", "leakage": "error",
    "duplicate": "warning", "near_duplicate": "warning", "small": "warning", "cmyk": "warning",
    "high_bit_depth": "warning", "palette": "warning", "alpha": "warning", "unusual_mode": "warning",
    "grayscale": "note",
}
SPLITS = ("train", "val")

_MODE_KINDS = {"CMYK": "cmyk", "I;16": "high_bit_depth", "I;16B": "high_bit_depth", "I;16L": "high_bit_depth",
               "I;16N": "high_bit_depth", "I": "high_bit_depth", "F": "high_bit_depth", "P": "palette",
               "RGBA": "alpha", "LA": "alpha", "PA": "alpha", "RGBa": "alpha", "La": "alpha"}
_MODE_TEXT = {
    "cmyk": "CMYK: converted to RGB without a colour profile, so its colours shift; save it as RGB",
    "high_bit_depth": "{mode} (16-bit or more): scaled to 8 bits by its own brightest pixel, so brightness is "
                      "not comparable between images; convert the set to 8 bits with one scale",
    "palette": "{mode} (a palette of at most 256 colours: a GIF, a diagram?); check it belongs, or save it as RGB",
    "alpha": "{mode} (transparency): composited on white, as a viewer shows it; check that is the right background",
    "unusual_mode": "mode {mode}: converted to RGB by PIL; check its colours",
}
_GREY_MODES = {"L", "1"}


@dataclass(frozen=True)
class Finding:
    """One problem: its level (error, warning, note), kind (a key of KINDS), what it is
    and what to do, and the files involved (one, or every copy of a group)."""
    level: str
    kind: str
    message: str
    paths: tuple[Path, ...] = ()


@dataclass
class DataReport:
    """What `convzoo check` found in a dataset (or in the split a training run was given)."""
    classes: list[str]
    counts: dict[str, dict[str, int]]  # split ("train", "val") -> class -> readable images
    findings: list[Finding]
    images: int  # files scanned, readable or not
    image_size: int
    near_threshold: int = NEAR_THRESHOLD
    has_val: bool = False  # val images were given (a val/ folder, or the caller's split)
    excluded: frozenset[Path] = field(default_factory=frozenset)
    root: Path | None = None  # what paths are shown relative to
    seconds: float = 0.0

    def at(self, level: str) -> list[Finding]:
        return [f for f in self.findings if f.level == level]

    @property
    def errors(self) -> list[Finding]:
        return self.at("error")

    @property
    def warnings(self) -> list[Finding]:
        return self.at("warning")

    @property
    def notes(self) -> list[Finding]:
        return self.at("note")

    def class_counts(self) -> dict[str, int]:
        """Readable images per class, train and val together."""
        return {c: sum(split.get(c, 0) for split in self.counts.values()) for c in self.classes}

    @property
    def imbalance(self) -> float:
        """Largest class over smallest (inf when a class has no readable image)."""
        counts = list(self.class_counts().values())
        if not counts or not max(counts):
            return math.nan
        return max(counts) / min(counts) if min(counts) else math.inf

    def excluded_paths(self) -> set[Path]:
        """The files `train --exclude-duplicates` leaves out: the val copy of each image
        that is also in train, and every copy of an image filed under several classes."""
        return set(self.excluded)

    def tally(self, level: str) -> dict[str, int]:
        """Findings of `level` per kind, in KINDS order."""
        found = [f.kind for f in self.at(level)]
        return {kind: found.count(kind) for kind in KINDS if kind in found}

    def summary_line(self) -> str:
        """One line for a training log: images, classes, imbalance, and what was found."""
        ratio = self.imbalance
        shown = "n/a" if math.isnan(ratio) else ("inf" if math.isinf(ratio) else f"{ratio:.2f}")
        parts = [f"data check: {self.images:,} images, {len(self.classes)} classes (imbalance {shown})"]
        for level in LEVELS:
            tally = self.tally(level)
            if tally:
                n = sum(tally.values())
                kinds = ", ".join(f"{count:,} {kind.replace('_', ' ')}" for kind, count in tally.items())
                parts.append(f"{n:,} {level}{'s' if n != 1 else ''} ({kinds})")
        if not self.errors and not self.warnings:
            parts.append("no problems found")
        return "; ".join(parts)


def build_report(entries: Sequence[tuple[Sample, str]], scans: Sequence[ImageScan], classes: Sequence[str], *,
                 image_size: int, near_threshold: int = NEAR_THRESHOLD, root: Path | None = None) -> DataReport:
    """Apply every rule to `scans` (one per entry: a sample and its split, "train" or "val")."""
    findings: list[Finding] = []
    counts = {split: dict.fromkeys(classes, 0) for split in SPLITS if any(s == split for _, s in entries)}
    for (sample, split), scan in zip(entries, scans):
        if scan.readable:
            counts[split][classes[sample.label]] += 1
            findings += _image_findings(sample.path, scan, image_size)
        else:
            findings.append(Finding("error", "unreadable", f"{scan.error}: replace or delete the file",
                                    (sample.path,)))
    copies, excluded = _copy_findings(entries, scans, classes, near_threshold)
    findings += copies
    modes = {scan.mode for scan in scans if scan.readable}
    if modes and modes <= _GREY_MODES:
        n = sum(scan.readable for scan in scans)
        findings.append(Finding("note", "grayscale", f"all {n:,} images are greyscale ({'/'.join(sorted(modes))}): "
                                                     f"the RGB model sees each as three equal channels (fine with "
                                                     f"ImageNet weights; colour augmentation changes nothing)"))
    order = {kind: i for i, kind in enumerate(KINDS)}
    findings.sort(key=lambda f: (order[f.kind], [str(p) for p in f.paths]))
    return DataReport(list(classes), counts, findings, len(scans), image_size, near_threshold,
                      "val" in counts, frozenset(excluded), root)


def _image_findings(path: Path, scan: ImageScan, image_size: int) -> list[Finding]:
    """What one readable image shows on its own: its size against the input, its mode."""
    found = []
    width, height = scan.size
    half = image_size / 2
    if min(width, height) < half:
        found.append(Finding("warning", "small", f"{width}x{height} px: a side under {half:g} px, half the "
                                                 f"{image_size} px input, so it is enlarged "
                                                 f"{image_size / max(1, min(width, height)):.0f}x into blur",
                             (path,)))
    if scan.mode not in ("RGB", "L", "1"):
        kind = _MODE_KINDS.get(scan.mode, "unusual_mode")
        found.append(Finding("warning", kind, _MODE_TEXT[kind].format(mode=scan.mode), (path,)))
    return found


def _copy_findings(entries: Sequence[tuple[Sample, str]], scans: Sequence[ImageScan], classes: Sequence[str],
                   near_threshold: int) -> tuple[list[Finding], set[Path]]:
    """Groups of identical or near-identical images, judged as a whole; and the paths
    that training with --exclude-duplicates leaves out."""
    identical: dict[bytes, list[int]] = {}
    for i, scan in enumerate(scans):
        if scan.readable:
            identical.setdefault(scan.digest, []).append(i)
    pictures = list(identical.values())  # each: the entries holding one picture, pixel for pixel
    pairs = near_pairs(hash_words([scans[p[0]] for p in pictures]), near_threshold)
    joined = groups(len(pictures), pairs)
    in_group = {k for members, _ in joined for k in members}
    found_groups = [([i for k in members for i in pictures[k]], widest, len(members) == 1)
                    for members, widest in joined]
    found_groups += [(pictures[k], 0, True) for k in range(len(pictures)) if len(pictures[k]) > 1
                     and k not in in_group]
    findings, excluded = [], set()
    for members, widest, exact in found_groups:
        finding, leave_out = _judge(members, entries, classes, widest, exact)
        findings.append(finding)
        excluded |= leave_out
    return findings, excluded


def _judge(members: list[int], entries: Sequence[tuple[Sample, str]], classes: Sequence[str], widest: int,
           exact: bool) -> tuple[Finding, set[Path]]:
    """One group of copies -> its finding (conflicting labels, leakage or a duplicate)
    and the paths it excludes from training."""
    members = sorted(members, key=lambda i: (SPLITS.index(entries[i][1]), str(entries[i][0].path)))
    paths = tuple(entries[i][0].path for i in members)
    labels = sorted({entries[i][0].label for i in members})
    splits = {entries[i][1] for i in members}
    how = "identical pixels" if exact else f"near-identical: perceptual hashes {widest} of {HASH_BITS} bits apart"
    if len(labels) > 1:
        names = ", ".join(classes[label] for label in labels)
        return (Finding("error", "conflicting_labels", f"one image filed under {len(labels)} classes ({names}), "
                                                       f"{how}: keep it in its one right class", paths),
                set(paths))
    if len(splits) > 1:
        val = {entries[i][0].path for i in members if entries[i][1] == "val"}
        return (Finding("error", "leakage", f"the same image in train and val ({how}): validation scores images "
                                            f"the model trained on; remove the val copy (train "
                                            f"--exclude-duplicates leaves it out)", paths), val)
    where = f"class {classes[labels[0]]}" + (f", {next(iter(splits))}" if "val" in splits else "")
    kind = "duplicate" if exact else "near_duplicate"
    return (Finding("warning", kind, f"{len(paths)} copies of one image in {where} ({how}): it counts "
                                     f"{len(paths)} times in training; keep one", paths), set())
