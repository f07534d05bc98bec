"""`convzoo select`: which pretrained model suits *your* images, within a budget.

Published ImageNet accuracy says little about a user's own classes (digits,
parts, faces). For each candidate with pretrained weights, this measures:

- how well its frozen features fit the user's labelled images: a linear probe
  (probe.py), cross-validated over stratified folds (mean and std), and also
  fitted on the training split and scored on the validation split that
  `convzoo train` holds out with the same --val-fraction and --seed;
- its batch-1 latency on this machine (timing.py), as deployed: backbone plus
  a classifier for the user's classes; and its parameter count.

Candidates are ranked by probe accuracy; the recommendation is the most
accurate one within the budget (--max-latency-ms, --max-params), or a message
saying that none fits and what came closest.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from ...data.datasets import ImageDataset, load_dataset
from ...data.preprocessing import Preprocessing
from ...factory import default_weights, get_model, match_models
from ...weights.download import DownloadError
from ..shared.device import resolve_device
from ..shared.text import format_count
from ..shared.timing import median_iqr, timed_rounds
from .probe import cross_validated_accuracy, extract_features, heldout_accuracy, require_sklearn, usable_folds


@dataclass(frozen=True)
class Budget:
    """What the chosen model may cost; None: no limit."""

    max_latency_ms: float | None = None
    max_params: int | None = None

    def fits(self, row: dict) -> bool:
        return ((self.max_latency_ms is None or row["latency_ms"] <= self.max_latency_ms)
                and (self.max_params is None or row["params"] <= self.max_params))

    @property
    def is_set(self) -> bool:
        return self.max_latency_ms is not None or self.max_params is not None

    def describe(self) -> str:
        limits = []
        if self.max_latency_ms is not None:
            limits.append(f"latency <= {self.max_latency_ms:g} ms")
        if self.max_params is not None:
            limits.append(f"params <= {format_count(self.max_params)}")
        return ", ".join(limits) or "no budget"


@dataclass(frozen=True)
class MeasureSettings:
    """How each candidate is measured: the same for all of them, so that their rows compare.

    folds: the probe's cross-validation folds; seed: their shuffling and the probe's random state.
    image_size: square crop side; None: each weights' own crop size.
    batch_size/workers: the feature extraction's loader; rounds: the latency's timing rounds."""

    folds: int
    image_size: int | None
    seed: int
    batch_size: int
    workers: int
    device: torch.device
    rounds: int
    progress: bool


@dataclass
class SelectionResult:
    """rows: the measured candidates, best probe accuracy first (rank 1);
    skipped: {"name", "reason"} of the candidates that could not be probed;
    recommendation: the row chosen, or None when no candidate fits the budget;
    message: the recommendation (or why there is none) in one sentence."""

    rows: list[dict]
    skipped: list[dict]
    recommendation: dict | None
    message: str
    budget: Budget
    dataset: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def select(data: str | Path, models: str | Iterable[str] = "efficientnet_lite*", *,
           max_latency_ms: float | None = None, max_params: int | None = None, folds: int = 5,
           image_size: int | None = None, val_fraction: float = 0.2, seed: int = 0, batch_size: int = 32,
           workers: int = 0, device: str = "auto", threads: int | None = None, rounds: int = 5,
           progress: bool = True) -> SelectionResult:
    """Probe and time every model matching `models` (fnmatch patterns) on the
    labelled images `data` (a folder of class sub-folders, or a CSV of
    path,label rows: what `convzoo train` reads); see the module doc.

    image_size: square crop side; default: each weights' own crop size.
    val_fraction/seed: the held-out split, as `convzoo train` draws it (the
        folds are shuffled by `seed` too).
    threads: torch CPU threads for the run (restored afterwards).
    """
    if folds < 2:
        raise ValueError(f"--folds {folds}: cross-validation needs at least 2 folds")
    if rounds < 1:
        raise ValueError(f"--rounds {rounds}: must be at least 1")
    for flag, value in (("--max-latency-ms", max_latency_ms), ("--max-params", max_params)):
        if value is not None and value <= 0:
            raise ValueError(f"{flag} {value}: a budget must be positive")
    budget = Budget(max_latency_ms, max_params)
    require_sklearn()
    names = match_models(models)
    candidates, skipped = weights_here(names, progress)
    if not candidates:
        reasons = "; ".join(f"{s['name']}: {s['reason']}" for s in skipped)
        raise ValueError(f"no candidate has pretrained weights here ({reasons}): `convzoo list --pretrained` "
                         f"shows the models that have some, and whether they are offline")
    split = load_dataset(data, val_fraction, seed)
    samples = split.train.samples + split.val.samples
    labels = np.array([s.label for s in samples])
    is_val = np.arange(len(samples)) >= len(split.train)
    folds = usable_folds(labels, split.classes, folds)
    settings = MeasureSettings(folds=folds, image_size=image_size, seed=seed, batch_size=batch_size, workers=workers,
                               device=resolve_device(device), rounds=rounds, progress=progress)
    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    rows = []
    try:
        for i, name in enumerate(candidates, 1):
            rows.append(_measure(name, ImageDataset(samples, split.classes), labels, is_val, settings,
                                 desc=f"{i}/{len(candidates)} {name}"))
    finally:
        torch.set_num_threads(previous_threads)
    dataset = {"data": str(data), "images": len(samples), "classes": len(split.classes),
               "train_images": len(split.train), "val_images": len(split.val), "held_out": split.held_out,
               "val_fraction": val_fraction, "seed": seed, "folds": folds,
               # The fingerprint `convzoo train` records in best.json: the same digest, the same held-out images.
               "val_digest": split.val_digest()}
    ranked, recommendation, message = rank_and_recommend(rows, budget)
    return SelectionResult(ranked, skipped, recommendation, message, budget, dataset)


def weights_here(names: list[str], progress: bool = True) -> tuple[list[str], list[dict]]:
    """The names whose DEFAULT weights are here (packaged, cached, or
    downloadable now), and {"name", "reason"} for the others."""
    candidates, skipped = [], []
    for name in names:
        spec = default_weights(name)
        if spec is None:
            skipped.append({"name": name, "reason": "no published weights"})
            continue
        try:
            spec.path(progress=progress)
        except DownloadError as exc:
            reason = str(exc).split(". ")[0]
            skipped.append({"name": name, "reason": f"weights not here ({reason}); `convzoo download {name}`"})
            continue
        candidates.append(name)
    return candidates, skipped


def _preprocessing(base: Preprocessing, image_size: int | None) -> Preprocessing:
    # The rule `convzoo train --image-size` follows, so that a probe and a
    # training run at the same size see the same crops.
    if not image_size:
        return base
    return Preprocessing(image_size, round(image_size / 0.875), base.interpolation, base.mean, base.std)


def _measure(name: str, images: ImageDataset, labels: np.ndarray, is_val: np.ndarray, settings: MeasureSettings, *,
             desc: str) -> dict:
    device = settings.device
    model = get_model(name, weights="DEFAULT")
    spec = model.pretrained_weights
    pre = _preprocessing(spec.preprocessing, settings.image_size)
    model.reset_classifier(0)  # the head returns its pooled, pre-classifier features
    model.eval().to(device)
    start = time.perf_counter()
    features = extract_features(model, images.with_transform(pre.transforms()), batch_size=settings.batch_size,
                                device=device, workers=settings.workers, progress=settings.progress, desc=desc)
    extract_s = time.perf_counter() - start
    notes: list[str] = []
    mean, std = cross_validated_accuracy(features, labels, settings.folds, settings.seed, notes)
    held = heldout_accuracy(features, labels, is_val, settings.seed, notes)

    n_classes = len(images.classes)
    model.reset_classifier(n_classes)  # timed and counted as deployed: with a classifier for these classes
    x = torch.randn(1, 3, pre.crop_size, pre.crop_size, device=device)

    def infer():
        with torch.inference_mode():
            return model(x)

    latency_ms, iqr_ms = (1000 * v for v in median_iqr(timed_rounds({"model": infer}, rounds=settings.rounds,
                                                                    device=device)["model"]))
    return {"name": name, "weights": spec.tag, "image_size": pre.crop_size, "feature_dim": int(features.shape[1]),
            "params": sum(p.numel() for p in model.parameters()), "latency_ms": latency_ms,
            "latency_iqr_ms": iqr_ms, "probe_acc": mean, "probe_acc_std": std, "folds": settings.folds,
            "heldout_acc": held, "extract_s": extract_s, "device": str(device), "threads": torch.get_num_threads(),
            "note": "; ".join(dict.fromkeys(notes))}


def rank_and_recommend(rows: list[dict], budget: Budget) -> tuple[list[dict], dict | None, str]:
    """Rows ranked by probe accuracy (ties: the faster first), each marked
    `fits_budget` and `recommended`; the recommended row (the first that fits)
    or None; and the sentence saying so."""
    ranked = [{"rank": rank, **row, "fits_budget": budget.fits(row), "recommended": False}  # rank: the first column
              for rank, row in enumerate(sorted(rows, key=lambda r: (-r["probe_acc"], r["latency_ms"])), 1)]
    fitting = [r for r in ranked if r["fits_budget"]]
    if not fitting:
        return ranked, None, _none_fits(ranked, budget)
    best = fitting[0]
    best["recommended"] = True
    within = f"the most accurate within the budget ({budget.describe()})" if budget.is_set \
        else "the most accurate (no budget set: --max-latency-ms, --max-params)"
    message = (f"recommended: {best['name']}: probe accuracy {best['probe_acc']:.3f} ± {best['probe_acc_std']:.3f}, "
               f"{best['latency_ms']:.1f} ms, {format_count(best['params'])} params: {within}")
    # A faster model whose accuracy is within the recommended one's fold-to-fold spread is worth a look.
    close = [r for r in fitting[1:] if r["latency_ms"] < best["latency_ms"]
             and r["probe_acc"] >= best["probe_acc"] - best["probe_acc_std"]]
    if close:
        fastest = min(close, key=lambda r: r["latency_ms"])
        message += (f"; {fastest['name']} is faster ({fastest['latency_ms']:.1f} ms) and within one std "
                    f"({fastest['probe_acc']:.3f})")
    return ranked, best, message


def _none_fits(ranked: list[dict], budget: Budget) -> str:
    fastest = min(ranked, key=lambda r: r["latency_ms"])
    smallest = min(ranked, key=lambda r: r["params"])
    return (f"no candidate fits the budget ({budget.describe()}): of the {len(ranked)} measured, the fastest is "
            f"{fastest['name']} ({fastest['latency_ms']:.1f} ms), the smallest {smallest['name']} "
            f"({format_count(smallest['params'])} params); loosen the budget or add candidates")


__all__ = ["Budget", "SelectionResult", "rank_and_recommend", "select", "weights_here"]
