"""`convzoo compare`: several pretrained models classify the same image, side by side.

Each model uses its own weights' preprocessing (resize, crop, normalisation)
through `Classifier`; the image is decoded once, so the time reported is the
model's: preprocessing and inference, median of a few runs after a warm-up.
"""
from __future__ import annotations

import statistics
import time
import warnings
from typing import Iterable

from ...data.sources import describe, load_input
from ...factory import default_weights, match_models
from ...weights.download import DownloadError
from ..deploy.optimize import RuntimeOptions
from ..predict.classifier import Classifier


def compare(image, models: str | Iterable[str] = "efficientnet_lite*", *, topk: int = 5, device: str = "auto",
            repeats: int = 3, progress: bool = False, runtime_options: RuntimeOptions | None = None,
            **runtime) -> list[dict]:
    """One dict per model with pretrained weights: name, weights tag, top-k
    labels and probabilities, time_ms. Models matching `models` (fnmatch
    patterns) that have no published weights, or whose weights are neither
    here nor downloadable now (offline), are skipped with a warning.
    runtime_options, or its fields by name (runtime=, precision=, ...): what runs each model."""
    options = RuntimeOptions.of(runtime_options, **runtime)
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    picture = load_input(image, describe(image, 0))
    rows = []
    for name in match_models(models):
        spec = default_weights(name)
        if spec is None:
            warnings.warn(f"compare: skipping {name}: no published weights", stacklevel=2)
            continue
        try:
            spec.path(progress=progress)
        except DownloadError as exc:
            # A pattern like 'efficientnet_lite*' offline: compare the models that are here.
            reason = str(exc).split(". ")[0]
            warnings.warn(f"compare: skipping {name}: its weights are not here ({reason}); "
                          f"`convzoo download {name}` fetches them", stacklevel=2)
            continue
        clf = Classifier(name, device=device, runtime_options=options, progress=progress)
        clf.predict([picture], topk=topk)  # warm-up: allocator, primitive caches
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            prediction = clf.predict([picture], topk=topk)[0]
            seconds.append(time.perf_counter() - start)
        rows.append({"name": name, "weights": clf.weights_name, "labels": prediction.labels,
                     "probs": prediction.probs, "time_ms": 1000 * statistics.median(seconds),
                     "runtime": clf.runtime, "precision": clf.precision or "fp32"})
    if not rows:
        raise ValueError(f"none of the models matching {models!r} has published weights here: "
                         f"`convzoo list --pretrained` shows those that do, and whether they are offline")
    return rows


def top1_agreement(rows: list[dict]) -> str:
    """A line saying whether every model's best class is the same, and which differ."""
    firsts = {r["name"]: r["labels"][0] for r in rows}
    counts: dict[str, int] = {}
    for label in firsts.values():
        counts[label] = counts.get(label, 0) + 1
    majority = max(counts, key=counts.get)
    if len(counts) == 1:
        return f"top-1: all {len(rows)} models agree: {majority}"
    if counts[majority] == 1 or list(counts.values()).count(counts[majority]) > 1:  # no majority: name them all
        return "top-1: models disagree: " + ", ".join(f"{name} says {label}" for name, label in firsts.items())
    differ = ", ".join(f"{name} says {label}" for name, label in firsts.items() if label != majority)
    return f"top-1: models disagree: {counts[majority]} of {len(rows)} say {majority}; {differ}"


def format_comparison(rows: list[dict], width: int = 26) -> str:
    """The models as columns, ranks as lines ('espresso 0.83'), then time and the agreement line."""
    def cell(text: str) -> str:
        return (text if len(text) <= width else text[:width - 1] + "…").ljust(width)

    lines = ["rank  " + " ".join(cell(r["name"]) for r in rows)]
    lines.append("-" * len(lines[0].rstrip()))
    for k in range(max(len(r["labels"]) for r in rows)):
        cells = []
        for r in rows:
            text = f"{r['probs'][k]:.3f} {r['labels'][k]}" if k < len(r["labels"]) else ""
            cells.append(cell(text))
        lines.append(f"{k + 1:<5} " + " ".join(cells))
    lines.append("ms    " + " ".join(cell(f"{r['time_ms']:.1f} ({r['runtime']} {r['precision']})") for r in rows))
    lines.append(top1_agreement(rows))
    return "\n".join(line.rstrip() for line in lines)
