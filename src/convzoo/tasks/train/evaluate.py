"""Evaluation: accuracy, per-class precision/recall/F1, confusion matrix, and
the misclassified images (path, true class, predicted class, confidence).

`evaluate_checkpoint` evaluates images the model did not train on: a folder's
val/ part, or else the held-out split the checkpoint's sidecar records (seed,
fraction), redrawn exactly as training drew it; `all_images` for every image.
"""
from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..deploy.optimize import RuntimeOptions


@torch.inference_mode()
def evaluate_model(model, dataset, classes: list[str], batch_size: int = 64,
                   device: torch.device | str = "cpu", workers: int = 0, progress: bool = True,
                   desc: str = "eval") -> dict:
    """`model`: a module, or any callable from a batch to logits (an OptimizedModel)."""
    from tqdm.auto import tqdm

    was_training = isinstance(model, nn.Module) and model.training
    if isinstance(model, nn.Module):
        model.eval()
    n = len(classes)
    confusion = torch.zeros(n, n, dtype=torch.long)
    total_loss, seen, misclassified = 0.0, 0, []
    # In loader order (no shuffling), so the k-th prediction is the k-th sample.
    paths = [str(s.path) for s in dataset.samples] if hasattr(dataset, "samples") else None
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    for x, y in tqdm(loader, desc=desc, disable=not progress, leave=False, dynamic_ncols=True):
        x = x.to(device)
        logits = model(x).float().cpu()
        total_loss += nn.functional.cross_entropy(logits, y, reduction="sum").item()
        pred = logits.argmax(1)
        confidence = logits.softmax(1).gather(1, pred[:, None])[:, 0]
        confusion += torch.bincount(y * n + pred, minlength=n * n).reshape(n, n)
        for j in (pred != y).nonzero()[:, 0].tolist():
            misclassified.append({"path": paths[seen + j] if paths else f"#{seen + j}", "true": classes[y[j]],
                                  "predicted": classes[pred[j]], "confidence": round(confidence[j].item(), 4)})
        seen += y.shape[0]
    if was_training:
        model.train()
    metrics = summarize(confusion, classes, total_loss / max(seen, 1))
    # Most confident mistakes first: label errors in the data tend to be there.
    metrics["misclassified"] = sorted(misclassified, key=lambda m: -m["confidence"])
    return metrics


def evaluate_checkpoint(checkpoint, data, batch_size: int = 64, device: str = "auto", workers: int = 0,
                        progress: bool = True, all_images: bool = False, *,
                        runtime_options: RuntimeOptions | None = None, **runtime) -> dict:
    """Metrics of a `convzoo train` checkpoint on a labelled folder or CSV
    (its class names and preprocessing come from the checkpoint): on DATA/val/
    if there is one, else on the held-out split recorded at training (so that a
    score is never taken on training images); with `all_images`, on every image.
    `metrics["evaluated"]` says which. runtime_options, or its fields by name: as
    for `Classifier` (the default calibration images are the evaluated ones);
    `metrics["runtime"]` says what ran the model."""
    from ..predict.classifier import Classifier

    options = RuntimeOptions.of(runtime_options, **runtime)
    calibration = options.calibration
    # The calibration images are given to prepare() below, once the evaluated images are known.
    clf = Classifier.from_checkpoint(checkpoint, device=device, batch_size=batch_size, progress=progress,
                                     runtime_options=dataclasses.replace(options, calibration=None))
    dataset, evaluated = images_to_evaluate(data, clf.meta, all_images)
    dataset = dataset.with_transform(clf.transform)
    if not clf.ready:  # auto/int8: calibrate on the given images, else on the evaluated ones
        clf.prepare(calibration if calibration is not None else [s.path for s in dataset.samples])
    metrics = evaluate_model(clf.forward, dataset, clf.categories, batch_size, clf.device, workers, progress)
    note = clf.optimized.note if clf.optimized is not None else ""
    return {"evaluated": evaluated, "runtime": f"{clf.runtime} {clf.precision or 'fp32'}", "runtime_note": note,
            **metrics}


def images_to_evaluate(data, meta: dict, all_images: bool = False):
    """(dataset, description) of the images `convzoo eval` scores; see evaluate_checkpoint."""
    from ...data.datasets import DatasetError, load_dataset, load_eval_dataset

    root, classes = Path(data), meta["classes"]
    record = meta.get("split") or _split_from_config(meta.get("config", {}))
    held_out = root.exists() and not (root / "val").is_dir() and not all_images and record.get("held_out")
    if not held_out:
        if record.get("held_out") is None and not all_images and not (root / "val").is_dir():
            warnings.warn(f"the checkpoint records no held-out split: evaluating every image of {root}, training "
                          f"images included if it is the training data (--all says that is intended)", stacklevel=2)
        dataset = load_eval_dataset(root, classes, everything=all_images)
        part = "all" if all_images or not (root / "val").is_dir() else "val/"
        return dataset, {"data": str(root), "images": part, "count": len(dataset)}
    fraction, seed = record["val_fraction"], record["seed"]
    split = load_dataset(root, fraction, seed)
    if split.classes != list(classes):
        raise DatasetError(f"{root}: classes {split.classes} are not the checkpoint's {list(classes)}, so it is not the "
                           f"data it was trained on and has no held-out split: pass --all to evaluate every image")
    if record.get("val_digest") and split.val_digest() != record["val_digest"]:
        warnings.warn(f"{root}: its held-out split (seed {seed}, fraction {fraction}) is not the one this checkpoint "
                      f"was validated on (different or changed images); for a separate test set pass --all", stacklevel=2)
    return split.val, {"data": str(root), "images": "held-out", "seed": seed, "val_fraction": fraction,
                       "count": len(split.val)}


def _split_from_config(config: dict) -> dict:
    """Checkpoints from before the sidecar's "split": the config's (seed,
    val_fraction) drew the held-out split whenever DATA had no val/ folder."""
    if "val_fraction" in config and "seed" in config:
        return {"held_out": True, "val_fraction": config["val_fraction"], "seed": config["seed"]}
    return {}


def summarize(confusion: torch.Tensor, classes: list[str], loss: float | None = None) -> dict:
    """Metrics from a confusion matrix (rows: true class, columns: predicted)."""
    tp = confusion.diag().double()
    predicted = confusion.sum(0).double()
    actual = confusion.sum(1).double()
    precision = torch.where(predicted > 0, tp / predicted.clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(actual > 0, tp / actual.clamp(min=1), torch.zeros_like(tp))
    f1 = torch.where(precision + recall > 0, 2 * precision * recall / (precision + recall).clamp(min=1e-12),
                     torch.zeros_like(tp))
    per_class = {c: {"precision": precision[i].item(), "recall": recall[i].item(), "f1": f1[i].item(),
                     "support": int(actual[i].item())} for i, c in enumerate(classes)}
    return {
        "accuracy": (tp.sum() / confusion.sum().clamp(min=1)).item(),
        "loss": loss,
        "macro_f1": f1.mean().item(),
        "per_class": per_class,
        "confusion_matrix": confusion.tolist(),
        "classes": list(classes),
    }


def format_report(metrics: dict, max_misclassified: int = 20) -> str:
    lines = []
    if "evaluated" in metrics:
        lines += [describe_evaluated(metrics["evaluated"]), ""]
    if metrics.get("runtime_note"):
        lines += [f"runtime: {metrics['runtime_note']}", ""]
    lines += [f"accuracy {metrics['accuracy']:.4f}   macro F1 {metrics['macro_f1']:.4f}", "",
              f"{'class':<24} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}"]
    for name, m in metrics["per_class"].items():
        lines.append(f"{name:<24} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>7.3f} {m['support']:>8}")
    lines += ["", "confusion matrix (rows: true, columns: predicted)"]
    lines += format_confusion_matrix(metrics["confusion_matrix"], metrics["classes"])
    wrong = metrics.get("misclassified", [])
    if wrong:
        lines += ["", f"misclassified ({len(wrong)}, most confident first)",
                  f"{'true':<16} {'predicted':<16} {'confidence':>10}  path"]
        lines += [f"{m['true']:<16} {m['predicted']:<16} {m['confidence']:>10.3f}  {m['path']}"
                  for m in wrong[:max_misclassified]]
        if len(wrong) > max_misclassified:
            lines.append(f"... and {len(wrong) - max_misclassified} more (--json lists them all)")
    return "\n".join(lines)


def describe_evaluated(evaluated: dict) -> str:
    what = {"held-out": f"the held-out split (seed {evaluated.get('seed')}, val fraction {evaluated.get('val_fraction')},"
                        f" as in training; --all for every image)",
            "val/": "its val/ folder", "all": "every image"}[evaluated["images"]]
    return f"evaluated {evaluated['count']} images of {evaluated['data']}: {what}"


def format_confusion_matrix(matrix: list[list[int]], classes: list[str], max_label: int = 12) -> list[str]:
    """Rows: true class, columns: predicted class, each labelled (names cut to `max_label`)."""
    labels = [c if len(c) <= max_label else c[:max_label - 1] + "~" for c in classes]
    corner = "true \\ pred"
    row_width = max(len(corner), *(len(label) for label in labels))
    width = max(5, *(len(label) for label in labels), *(len(str(v)) for row in matrix for v in row))
    lines = [f"{corner:<{row_width}} " + " ".join(f"{label:>{width}}" for label in labels)]
    lines += [f"{label:<{row_width}} " + " ".join(f"{v:>{width}}" for v in row) for label, row in zip(labels, matrix)]
    return lines
