"""Evaluation: every metric of metrics.METRICS (accuracy, balanced accuracy,
macro-F1, MCC, ROC-AUC, PR-AUC, log loss, Brier, ECE), per-class
precision/recall/F1, the confusion matrix, the misclassified images, and for the
class that matters its operating point (a threshold table, ROC and PR curves).

`evaluate_checkpoint` evaluates images the model did not train on: a folder's
val/ part, or else the held-out split the checkpoint's sidecar records (seed and
fraction, or fold), redrawn exactly as training drew it; `all_images` for every
image. It scores the decision rule in force (`convzoo calibrate`'s, or the one
asked for) and says which; a rule chosen on the scored images is marked optimistic.
"""
from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..deploy.optimize import RuntimeOptions
from .metrics import classification_metrics


@torch.inference_mode()
def collect_logits(model, dataset, batch_size: int = 64, device: torch.device | str = "cpu", workers: int = 0,
                   progress: bool = True, desc: str = "eval") -> tuple[torch.Tensor, torch.Tensor]:
    """(logits [N, C] float32 on the CPU, labels [N]) of every image of `dataset`, in
    its order. `model`: a module, or any callable from a batch to logits (an
    OptimizedModel)."""
    from tqdm.auto import tqdm

    was_training = isinstance(model, nn.Module) and model.training
    if isinstance(model, nn.Module):
        model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    logits, labels = [], []
    for x, y in tqdm(loader, desc=desc, disable=not progress, leave=False, dynamic_ncols=True):
        logits.append(model(x.to(device)).float().cpu())
        labels.append(y)
    if was_training:
        model.train()
    return torch.cat(logits), torch.cat(labels)


def evaluate_model(model, dataset, classes: list[str], batch_size: int = 64,
                   device: torch.device | str = "cpu", workers: int = 0, progress: bool = True,
                   desc: str = "eval", *, positive: str | None = None) -> dict:
    """Every metric of metrics.METRICS on `dataset`, with the misclassified images;
    `model` as for collect_logits. The decisions are the argmax."""
    logits, labels = collect_logits(model, dataset, batch_size, device, workers, progress, desc)
    probs = logits.softmax(1)
    metrics = classification_metrics(labels.numpy(), probs.numpy(), classes, positive)
    metrics["misclassified"] = misclassified(dataset, labels, probs, probs.argmax(1), classes)
    return metrics


def misclassified(dataset, labels: torch.Tensor, probs: torch.Tensor, decisions: torch.Tensor,
                  classes: list[str]) -> list[dict]:
    """The images decided wrongly (path, true class, decided class, its
    probability), the most confident first: label errors in the data tend to be there."""
    paths = [str(s.path) for s in dataset.samples] if hasattr(dataset, "samples") else None
    confidence = probs.gather(1, decisions[:, None])[:, 0]
    wrong = [{"path": paths[j] if paths else f"#{j}", "true": classes[labels[j]], "predicted": classes[decisions[j]],
              "confidence": round(confidence[j].item(), 4)} for j in (decisions != labels).nonzero()[:, 0].tolist()]
    return sorted(wrong, key=lambda m: -m["confidence"])


@torch.inference_mode()
def collect_probabilities(clf, dataset, batch_size: int = 64, workers: int = 0,
                          progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(probabilities [N, C] on the CPU, labels [N]) of a Classifier on `dataset`
    (made with `clf.transform`): calibrated, and averaged over the views (tta)
    and members (an ensemble), as `predict` computes them."""
    return collect_logits(clf.probabilities, dataset, batch_size, clf.device, workers, progress, desc="eval")


def evaluate_checkpoint(checkpoint, data, batch_size: int = 64, device: str = "auto", workers: int = 0,
                        progress: bool = True, all_images: bool = False, *, tta: str | None = None,
                        threshold: str | float | None = None, positive: str | None = None,
                        target_recall: float | None = None, target_precision: float | None = None,
                        plots_dir: str | Path | None = None, runtime_options: RuntimeOptions | None = None,
                        report=None, **runtime) -> dict:
    """Metrics of a `convzoo train` checkpoint, or of an ensemble (a list of
    them), on a labelled folder or CSV (class names, preprocessing and decision
    rule come from the checkpoint): on DATA/val/ if there is one, else on the
    held-out split recorded at training (so that a score is never taken on
    training images); with `all_images`, on every image. `metrics["evaluated"]`
    says which.

    The decisions are the rule's (`metrics["rule"]`): the saved one of `convzoo
    calibrate`, or threshold/positive as for Classifier.from_checkpoint; or, with
    target_recall/target_precision, a threshold chosen on these very images,
    which makes the result optimistic (`metrics["optimistic"]`), as it is when
    calibrate chose the rule on any of them. For one positive class,
    `metrics["operating_point"]` holds a threshold table and ROC and PR curve
    PNGs are written to `plots_dir` (default: the first checkpoint's folder).
    tta: as for Classifier. runtime_options, or its fields by name: as for
    Classifier (the default calibration images are the evaluated ones);
    `metrics["runtime"]` says what ran the model. report: called with (metrics,
    classifier, dataset, probabilities, labels, decisions) once scored, e.g.
    report.HtmlReport(DIR); what it returns is `metrics["report"]`."""
    from ..predict.classifier import Classifier

    target = asked_target(threshold, target_recall, target_precision)
    options = RuntimeOptions.of(runtime_options, **runtime)
    # The calibration images are given to prepare() below, once the evaluated images are known.
    clf = Classifier.from_checkpoint(checkpoint, device=device, batch_size=batch_size, progress=progress, tta=tta,
                                     threshold="none" if target else threshold, positive=positive,
                                     runtime_options=dataclasses.replace(options, calibration=None))
    chosen_positive = positive_of(clf.meta, clf.categories, positive, clf.rule, target)
    dataset, evaluated = _images_of_members(clf, data, all_images)
    dataset = dataset.with_transform(clf.transform)
    paths = [s.path for s in dataset.samples]
    if not clf.ready:  # auto/int8: calibrate on the given images, else on the evaluated ones, with their labels
        if options.calibration is not None:
            clf.prepare(options.calibration)
        else:
            clf.prepare(paths, labels=[s.label for s in dataset.samples])
    probs, labels = collect_probabilities(clf, dataset, batch_size, workers, progress)
    rule, optimistic = _rule_in_force(clf, labels, probs, chosen_positive, target, paths)
    for warning in (optimistic, _other_views(rule, tta)):
        if warning:
            warnings.warn(warning, stacklevel=2)
    metrics = score(probs, labels, rule, chosen_positive, dataset)
    metrics["optimistic"] = bool(optimistic)
    if optimistic:
        metrics["optimistic_why"] = optimistic
    if "operating_point" in metrics:
        from .roc_pr import eval_curves

        k = clf.categories.index(chosen_positive)
        metrics["plots"] = eval_curves((labels == k).numpy(), probs[:, k].numpy(), chosen_positive,
                                       metrics["operating_point"]["rule"], plots_dir, _paths(checkpoint)[0].parent)
    note = clf.optimized.note if clf.optimized is not None else ""
    result = {"evaluated": evaluated, "runtime": f"{clf.runtime} {clf.precision or 'fp32'}", "runtime_note": note,
              "tta": tta, "checkpoints": [str(p) for p in _paths(checkpoint)], **metrics}
    if report is not None:
        result["report"] = str(report(result, clf, dataset, probs, labels, rule.decide(probs)))
    return result


THRESHOLD_FREE = ("roc_auc", "pr_auc", "log_loss", "brier", "ece")


def score(probs: torch.Tensor, labels: torch.Tensor, rule, positive: str | None, dataset) -> dict:
    """classification_metrics of `rule`'s decisions, the misclassified images, the
    rule, the threshold-free metrics apart, and for a `positive` class its
    operating point: the rule's and a threshold table."""
    from .roc_pr import operating_section

    classes = list(rule.classes)
    decisions = rule.decide(probs)
    metrics = classification_metrics(labels.numpy(), probs.numpy(), classes, positive, decisions.numpy())
    metrics["misclassified"] = misclassified(dataset, labels, probs, decisions, classes)
    chosen_on = {k: v for k, v in rule.chosen_on.items() if k != "fingerprints"}
    metrics["rule"] = {"text": rule.describe(), **rule.to_dict(), "chosen_on": chosen_on}
    metrics["threshold_free"] = {name: metrics[name] for name in THRESHOLD_FREE}
    if positive is not None:
        k = classes.index(positive)
        metrics["operating_point"] = operating_section((labels == k).numpy(), probs[:, k].numpy(),
                                                       (decisions == k).numpy(), positive,
                                                       rule.threshold if rule.positive == positive else None)
    return metrics


def positive_of(meta: dict, classes, positive: str | None = None, rule=None, target: dict | None = None) -> str | None:
    """The class thresholds and binary scores are about: --positive, else the
    rule's, else the one training named, else the rarer of two classes (none
    for more than two, where a `target` needs it named: one line saying so)."""
    from ..shared.decision import check_positive, default_positive

    chosen = (check_positive(positive, classes) or (rule.positive if rule is not None else None)
              or meta.get("positive") or default_positive(classes, meta.get("class_counts")))
    if target and chosen is None:
        raise ValueError(f"--target-{next(iter(target))}: a model with {len(classes)} classes needs --positive NAME, "
                         f"the class the threshold is for (the classes are {', '.join(classes)})")
    return chosen


def asked_target(threshold, target_recall: float | None, target_precision: float | None) -> dict:
    """{"recall": R} or {"precision": P} asked for, or {}; one line for a contradiction."""
    from .metrics import check_fraction

    if target_recall is not None and target_precision is not None:
        raise ValueError("--target-recall and --target-precision both choose the threshold: give one of them")
    target = {"recall": target_recall} if target_recall is not None else (
        {"precision": target_precision} if target_precision is not None else {})
    if target and threshold is not None:
        raise ValueError(f"--threshold {threshold} and --target-{next(iter(target))} both set the threshold: give "
                         f"one of them")
    for name, value in target.items():
        check_fraction(f"--target-{name}", value)
    return target


def _rule_in_force(clf, labels, probs, positive: str | None, target: dict, paths) -> tuple:
    """(the rule scored, why its score is optimistic or ""): the Classifier's, or
    one whose threshold is chosen on these very images to meet `target`."""
    if target:
        return _rule_for_target(clf, labels, probs, positive, target), (
            "threshold chosen on the images it is scored on: optimistic; choose it with `convzoo calibrate` on a "
            "validation split")
    return clf.rule, _calibrated_on(clf, paths)


def _rule_for_target(clf, labels, probs, positive: str, target: dict):
    """A rule whose threshold meets `target` on these images (eval --target-recall/precision)."""
    from ..shared.decision import DecisionRule
    from .metrics import choose_threshold

    k = clf.categories.index(positive)
    chosen = choose_threshold((labels == k).numpy(), probs[:, k].numpy(),
                              **{f"target_{name}": value for name, value in target.items()})
    return DecisionRule(tuple(clf.categories), positive, chosen["threshold"], clf.rule.temperature,
                        {"target": target, "images": len(labels), "on_scored_images": True})


def _calibrated_on(clf, paths) -> str:
    """Why the score is optimistic when `convzoo calibrate` fitted a member's rule
    on some of these images (recognised by their bytes), else ""."""
    from ..shared.fingerprints import image_fingerprints

    seen = set()
    for member in clf.members:
        seen.update(((member.meta.get("decision") or {}).get("chosen_on") or {}).get("fingerprints") or [])
    if not seen:
        return ""
    overlap = sum(fingerprint in seen for fingerprint in image_fingerprints(paths))
    if not overlap:
        return ""
    return (f"{overlap} of the {len(paths)} scored images are ones `convzoo calibrate` chose the temperature and "
            f"threshold on: the scores are optimistic; score a separate test set (eval TEST --all)")


def _other_views(rule, tta: str | None) -> str:
    """Why a saved threshold may miss its target: calibrate chose it on other views than these."""
    if rule.threshold is None or "fingerprints" not in rule.chosen_on or rule.chosen_on.get("tta") == tta:
        return ""
    return (f"the threshold was chosen with --tta {rule.chosen_on.get('tta') or 'unset'}, and is used with --tta "
            f"{tta or 'unset'}: its precision and recall may differ; calibrate with the same --tta")


def _paths(checkpoint) -> list[Path]:
    return [Path(checkpoint)] if isinstance(checkpoint, (str, Path)) else [Path(p) for p in checkpoint]


def _images_of_members(clf, data, all_images: bool):
    """images_to_evaluate for one checkpoint or an ensemble: an ensemble's
    members must hold out the same images for those to be scored (folds do not:
    each fold's images trained the other members)."""
    root = Path(data)
    records = [split_record(member.meta) for member in clf.members]
    if any(r != records[0] for r in records) and root.exists() and not all_images and not (root / "val").is_dir():
        raise ValueError(f"the {len(records)} checkpoints held out different images of {root} (e.g. the folds of "
                         f"train --folds), so none is held out from all of them: score the ensemble on a separate "
                         f"test set with --all")
    return images_to_evaluate(data, clf.meta, all_images)


def images_to_evaluate(data, meta: dict, all_images: bool = False,
                       elsewhere: str = "for a separate test set pass --all"):
    """(dataset, description) of the images `convzoo eval` scores; see
    evaluate_checkpoint. `elsewhere`: what to do for another dataset, said when DATA is not the training data."""
    from ...data.datasets import DatasetError, held_out_split, load_eval_dataset

    root, classes = Path(data), meta["classes"]
    record = split_record(meta)
    held_out = root.exists() and not (root / "val").is_dir() and not all_images and record.get("held_out")
    if not held_out:
        if record.get("held_out") is None and not all_images and not (root / "val").is_dir():
            warnings.warn(f"the checkpoint records no held-out split: evaluating every image of {root}, training "
                          f"images included if it is the training data (--all says that is intended)", stacklevel=2)
        dataset = load_eval_dataset(root, classes, everything=all_images)
        part = "all" if all_images or not (root / "val").is_dir() else "val/"
        return dataset, {"data": str(root), "images": part, "count": len(dataset)}
    split = held_out_split(root, record)
    if split.classes != list(classes):
        raise DatasetError(f"{root}: classes {split.classes} are not the checkpoint's {list(classes)}, so it is not the "
                           f"data it was trained on and has no held-out split: {elsewhere}")
    if record.get("val_digest") and split.val_digest() != record["val_digest"]:
        warnings.warn(f"{root}: its held-out split ({_split_words(record)}) is not the one this checkpoint was "
                      f"validated on (different or changed images); {elsewhere}", stacklevel=2)
    drawn = {"folds": record["folds"], "fold": record["fold"]} if record.get("folds") else {
        "val_fraction": record["val_fraction"]}
    return split.val, {"data": str(root), "images": "held-out", "seed": record["seed"], **drawn,
                       "count": len(split.val)}


def split_record(meta: dict) -> dict:
    """The sidecar's "split" record of how training drew its validation images;
    checkpoints from before it have the config's (seed, val_fraction), which drew
    the held-out split whenever DATA had no val/ folder."""
    if meta.get("split"):
        return meta["split"]
    config = meta.get("config", {})
    if "val_fraction" in config and "seed" in config:
        return {"held_out": True, "val_fraction": config["val_fraction"], "seed": config["seed"]}
    return {}


def _split_words(record: dict) -> str:
    if record.get("folds"):
        return f"fold {record['fold'] + 1} of {record['folds']}, seed {record['seed']}"
    return f"seed {record['seed']}, fraction {record['val_fraction']}"


NAMES = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "macro_f1": "macro-F1", "mcc": "MCC",
         "roc_auc": "ROC-AUC", "pr_auc": "PR-AUC", "log_loss": "log loss", "brier": "Brier", "ece": "ECE"}


def format_report(metrics: dict, max_misclassified: int = 20) -> str:
    """The text `convzoo eval` prints: the headline metrics, the rule and the
    threshold-free metrics, the operating point, per-class scores, the confusion
    matrix and the mistakes (--json carries everything)."""
    lines = []
    if "evaluated" in metrics:
        lines.append(describe_evaluated(metrics["evaluated"]))
    if metrics.get("runtime_note"):
        lines.append(f"runtime: {metrics['runtime_note']}")
    if "rule" in metrics:
        lines.append(f"decision: {metrics['rule']['text']}")
    if metrics.get("optimistic"):
        lines.append(f"OPTIMISTIC: {metrics['optimistic_why']}")
    lines += ["" if lines else None, _metric_line(metrics, ("accuracy", "balanced_accuracy", "macro_f1", "mcc",
                                                            "roc_auc", "pr_auc"))]
    lines = [line for line in lines if line is not None]
    if any(name in metrics for name in ("brier", "ece")):
        lines.append("threshold-free: " + _metric_line(metrics, ("log_loss", "brier", "ece"))
                     + "   (ROC-AUC and PR-AUC too: they do not depend on the decision)")
    lines += [f"{', '.join(NAMES[n] for n in names)} undefined: {why}" for why, names in _undefined(metrics).items()]
    if metrics.get("never_predicted"):
        lines.append(f"never predicted: {', '.join(metrics['never_predicted'])} (recall 0: check the decision rule)")
    if metrics.get("operating_point"):
        from .roc_pr import format_operating_point

        lines += ["", *format_operating_point(metrics["operating_point"])]
    lines += ["", f"{'class':<24} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}"]
    for name, m in metrics["per_class"].items():
        lines.append(f"{name:<24} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>7.3f} {m['support']:>8}")
    lines += ["", "confusion matrix (rows: true, columns: predicted)"]
    lines += format_confusion_matrix(metrics["confusion_matrix"], metrics["classes"])
    lines += _format_misclassified(metrics.get("misclassified", []), max_misclassified)
    plots = metrics.get("plots") or {}
    if plots:
        lines += ["", plots["skipped"] if "skipped" in plots else f"curves: {plots['roc']}  {plots['pr']}"]
    return "\n".join(lines)


def _metric_line(metrics: dict, names) -> str:
    return "   ".join(f"{NAMES[n]} {_value(metrics[n])}" for n in names if n in metrics)


def _value(v) -> str:
    return "undefined" if v is None else f"{v:.4f}"


def _undefined(metrics: dict) -> dict:
    """{reason: [metric names]}: one line per reason."""
    reasons: dict = {}
    for name, why in (metrics.get("undefined") or {}).items():
        reasons.setdefault(why.removeprefix("undefined: "), []).append(name)
    return reasons


def _format_misclassified(wrong: list[dict], limit: int) -> list[str]:
    if not wrong:
        return []
    lines = ["", f"misclassified ({len(wrong)}, most confident first)",
             f"{'true':<16} {'predicted':<16} {'confidence':>10}  path"]
    lines += [f"{m['true']:<16} {m['predicted']:<16} {m['confidence']:>10.3f}  {m['path']}" for m in wrong[:limit]]
    if len(wrong) > limit:
        lines.append(f"... and {len(wrong) - limit} more (--json lists them all)")
    return lines


def describe_evaluated(evaluated: dict) -> str:
    if evaluated["images"] == "held-out" and evaluated.get("folds"):
        held = (f"the held-out fold {evaluated['fold'] + 1} of {evaluated['folds']} (seed {evaluated['seed']}, as in "
                f"training; --all for every image)")
    else:
        held = (f"the held-out split (seed {evaluated.get('seed')}, val fraction {evaluated.get('val_fraction')}, as "
                f"in training; --all for every image)")
    what = {"held-out": held, "val/": "its val/ folder", "all": "every image"}[evaluated["images"]]
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
