"""`convzoo train --folds K`: K-fold cross-validation for small sets.

With 40 defects, one held-out split of 8 says little: one image more or less
found moves recall by 12 points. K stratified folds (scikit-learn's
StratifiedKFold, shuffled by --seed, over every image of DATA) validate on
every image once. Fold k trains into OUT/fold{k}/ as any run does (its sidecar
records the fold, so `convzoo eval` scores that fold's held-out images), and
OUT/folds.json gets each fold's best-epoch validation metrics with their mean
and standard deviation. The fold checkpoints, given together to predict or
eval, are an ensemble.
"""
from __future__ import annotations

import json
import math
import statistics
from dataclasses import replace
from pathlib import Path

from ...utils.atomic import write_text_atomic
from ..shared.distributed import init_distributed
from .loop import TrainConfig, check_config, train
from .metrics import HEADLINE, METRICS

FOLDS_FILE = "folds.json"


def fold_configs(cfg: TrainConfig) -> list[TrainConfig]:
    """One run's settings per fold: fold k (0-based) trains into OUT/fold{k+1}."""
    return [replace(cfg, fold=k, out=str(Path(cfg.out) / f"fold{k + 1}")) for k in range(cfg.folds)]


def check_folds(cfg: TrainConfig) -> None:
    """Every fold's settings, and OUT, checked before the first fold trains: a
    reused OUT is refused now, not after fold 1's hour of training."""
    if cfg.folds < 2:
        raise ValueError(f"--folds {cfg.folds}: use 2 or more (K stratified folds)")
    for fold_cfg in fold_configs(cfg):
        check_config(fold_cfg)
    summary = Path(cfg.out) / FOLDS_FILE
    if summary.exists() and not cfg.overwrite:
        raise ValueError(f"--out {cfg.out} already holds a cross-validation ({FOLDS_FILE}): pass --overwrite to "
                         f"replace it, or another --out")


def train_folds(cfg: TrainConfig) -> dict:
    """Train every fold of cfg.folds; returns (and writes to OUT/folds.json) each
    fold's best-epoch validation metrics, their "mean" and "std" (sample
    standard deviation over the folds where the metric is defined), and "rank"
    as `train` does (under torchrun only rank 0's is the run's)."""
    check_folds(cfg)
    ctx = init_distributed(cfg.device)
    if ctx.is_main and cfg.overwrite:
        (Path(cfg.out) / FOLDS_FILE).unlink(missing_ok=True)  # not mistaken for this run's should a fold fail
    try:
        results = []
        for fold_cfg in fold_configs(cfg):
            results.append(train(fold_cfg, ctx))
    finally:
        ctx.close()
    summary = summarize_folds(results, cfg)
    if ctx.is_main:
        write_text_atomic(Path(cfg.out) / FOLDS_FILE, json.dumps(summary, indent=2))
    return {"rank": ctx.rank, **summary}


def summarize_folds(results: list[dict], cfg: TrainConfig) -> dict:
    """Per-fold best-epoch metrics (val_<name> of the best epoch's record), and
    their mean and std over the folds, each metric of METRICS."""
    per_fold = []
    for k, result in enumerate(results):
        record = next((h for h in result["history"] if h["epoch"] == result["best_epoch"]), {})
        per_fold.append({"fold": k + 1, "out": result["out"], "best_epoch": result["best_epoch"],
                         "metrics": {name: record.get(f"val_{name}") for name in METRICS}})
    mean, std, defined = {}, {}, {}
    for name in METRICS:
        values = [f["metrics"][name] for f in per_fold if _defined(f["metrics"][name])]
        mean[name] = statistics.fmean(values) if values else None
        std[name] = statistics.stdev(values) if len(values) > 1 else (0.0 if values else None)
        defined[name] = len(values)
    return {"folds": len(results), "seed": cfg.seed, "monitor": results[0]["monitor"] if results else None,
            "mean": mean, "std": std, "defined": defined, "per_fold": per_fold, "out": str(cfg.out)}


def format_folds(summary: dict) -> list[str]:
    """One line per headline metric, e.g. `balanced_accuracy 0.912 ± 0.031 (5 folds)`."""
    lines = []
    for name in HEADLINE:
        mean, std, k = summary["mean"].get(name), summary["std"].get(name), summary["folds"]
        n = summary.get("defined", {}).get(name, k)
        if mean is None:
            lines.append(f"{name} undefined on every fold")
        else:
            lines.append(f"{name} {mean:.3f} ± {std:.3f} ({k} folds{'' if n == k else f'; defined on {n}'})")
    return lines


def _defined(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


__all__ = ["FOLDS_FILE", "check_folds", "fold_configs", "format_folds", "summarize_folds", "train_folds"]
