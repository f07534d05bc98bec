"""Classification metrics that stay honest when the class that matters is rare.

On a set with 5% defects, a model that always answers "good" scores 95%
accuracy; balanced accuracy (the mean recall over classes), macro-F1 and the
Matthews correlation say 50%, 0.49 and 0. ROC-AUC and PR-AUC (average
precision) score the ranking, whatever threshold is used; log loss, the Brier
score and the expected calibration error say whether a probability of 0.7
means 70%.

scikit-learn computes them all but the ECE (Guo et al. 2017: the gap between
confidence and accuracy, averaged over 15 equal-width confidence bins, weighted
by the images in each), which it does not offer.

Binary tasks score the positive class (the rarer one unless named); more than
two classes score one-vs-rest, averaged over classes (macro). A split that
lacks a class leaves the AUCs undefined: they are None, and
`metrics["undefined"]` says why, instead of a crash.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Metric:
    higher_is_better: bool
    description: str


METRICS = {
    "accuracy": Metric(True, "share of images classified right"),
    "balanced_accuracy": Metric(True, "mean recall over classes: 0.5 for always answering the common class"),
    "macro_f1": Metric(True, "F1 averaged over classes, each class counting the same"),
    "mcc": Metric(True, "Matthews correlation of decisions and truth: 0 for chance, 1 for perfect"),
    "roc_auc": Metric(True, "area under the ROC curve: the chance a positive ranks above a negative"),
    "pr_auc": Metric(True, "average precision: area under the precision-recall curve"),
    "log_loss": Metric(False, "cross-entropy of the probabilities (the validation loss)"),
    "brier": Metric(False, "mean squared error of the probabilities"),
    "ece": Metric(False, "expected calibration error: confidence minus accuracy, over 15 bins"),
}
# Old names, still accepted by --monitor.
ALIASES = {"acc": "accuracy", "loss": "log_loss", "balanced_acc": "balanced_accuracy", "f1": "macro_f1",
           "auc": "roc_auc", "ap": "pr_auc"}
# What the text report leads with; --json carries every metric.
HEADLINE = ("accuracy", "balanced_accuracy", "macro_f1", "mcc", "roc_auc", "pr_auc")


def metric_name(name: str) -> str:
    """The metric --monitor NAME means (aliases resolved); one line listing them when it is none."""
    name = ALIASES.get(name, name)
    if name not in METRICS:
        raise ValueError(f"--monitor {name!r}: not a metric; use one of {', '.join(METRICS)} "
                         f"(or auto: balanced_accuracy when the classes are skewed, else accuracy)")
    return name


def is_better(name: str, new: float | None, old: float | None) -> bool:
    """Whether `new` beats `old` on metric `name` (an undefined value never does)."""
    if new is None or (isinstance(new, float) and math.isnan(new)):
        return False
    if old is None or (isinstance(old, float) and math.isnan(old)):
        return True
    return new > old if METRICS[metric_name(name)].higher_is_better else new < old


def classification_metrics(labels, probs, classes, positive: str | None = None, decisions=None) -> dict:
    """Every metric of METRICS, per-class precision/recall/F1, and the confusion matrix.

    labels: true class indices [N]; probs: class probabilities [N, C];
    positive: the class binary scores are about (default: the second of two);
    decisions: the class decided for each image [N] (default: the argmax of probs)."""
    from sklearn import metrics as skm

    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(probs, dtype=np.float64)
    n_classes = len(classes)
    ids = list(range(n_classes))
    pred = p.argmax(1) if decisions is None else np.asarray(decisions, dtype=np.int64)
    result: dict = {"count": int(len(y)), "classes": list(classes)}
    if len(y) == 0:
        raise ValueError("no images to score")
    with warnings.catch_warnings():
        # One class absent from a small split makes sklearn warn for each metric; the report says it once.
        warnings.simplefilter("ignore")
        result["accuracy"] = float(skm.accuracy_score(y, pred))
        result["balanced_accuracy"] = float(skm.balanced_accuracy_score(y, pred))
        result["macro_f1"] = float(skm.f1_score(y, pred, labels=ids, average="macro", zero_division=0))
        result["mcc"] = float(skm.matthews_corrcoef(y, pred))
        result["log_loss"] = float(skm.log_loss(y, np.clip(p, 1e-12, 1.0), labels=ids))
        result["brier"] = float(skm.brier_score_loss(y, p, labels=ids)) if n_classes > 2 else float(
            skm.brier_score_loss(y == _positive_index(classes, positive), p[:, _positive_index(classes, positive)]))
        precision, recall, f1, support = skm.precision_recall_fscore_support(y, pred, labels=ids, zero_division=0)
    result["ece"] = expected_calibration_error(y, p)
    result["loss"] = result["log_loss"]  # the name training's history has always used
    result.update(_aucs(y, p, classes, positive))
    result["per_class"] = {c: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                               "support": int(support[i])} for i, c in enumerate(classes)}
    result["confusion_matrix"] = skm.confusion_matrix(y, pred, labels=ids).tolist()
    result["never_predicted"] = [c for i, c in enumerate(classes) if not (pred == i).any()]
    return result


def _positive_index(classes, positive: str | None) -> int:
    return list(classes).index(positive) if positive is not None else 1


def _aucs(y: np.ndarray, p: np.ndarray, classes, positive: str | None) -> dict:
    """ROC-AUC and PR-AUC: of the positive class for two classes, one-vs-rest
    macro for more; None with the reason when the split lacks a class."""
    from sklearn import metrics as skm

    missing = [c for i, c in enumerate(classes) if not (y == i).any()]
    if missing:
        why = (f"undefined: the images hold no {', '.join(missing)} (every class is needed to rank one against "
               f"the rest)")
        return {"roc_auc": None, "pr_auc": None, "undefined": {"roc_auc": why, "pr_auc": why}}
    if len(classes) == 2:
        k = _positive_index(classes, positive)
        return {"roc_auc": float(skm.roc_auc_score(y == k, p[:, k])),
                "pr_auc": float(skm.average_precision_score(y == k, p[:, k]))}
    onehot = np.eye(len(classes))[y]
    # Probabilities renormalised only against rounding: sklearn checks that rows sum to 1.
    rows = p / p.sum(1, keepdims=True)
    return {"roc_auc": float(skm.roc_auc_score(y, rows, multi_class="ovr", average="macro",
                                               labels=list(range(len(classes))))),
            "pr_auc": float(skm.average_precision_score(onehot, p, average="macro"))}


def reliability_bins(labels, probs, bins: int = 15) -> dict:
    """Per bin of top-label confidence: its edges, images, mean confidence and accuracy
    (NaN when empty): what the ECE sums and the reliability diagram draws."""
    y = np.asarray(labels)
    p = np.asarray(probs, dtype=np.float64)
    confidence, correct = p.max(1), (p.argmax(1) == y).astype(np.float64)
    # Bin b holds confidences in (b/bins, (b+1)/bins]; a confidence of exactly 0 cannot be a top label.
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(which, confidence, bins) / counts
        accuracy = np.bincount(which, correct, bins) / counts
    return {"edges": np.linspace(0, 1, bins + 1), "count": counts, "confidence": mean_confidence,
            "accuracy": accuracy}


def expected_calibration_error(labels, probs, bins: int = 15) -> float:
    """Guo et al.'s ECE of the top-label confidence over `bins` equal-width bins."""
    b = reliability_bins(labels, probs, bins)
    filled = b["count"] > 0
    weights = b["count"][filled] / b["count"].sum()
    return float(np.sum(weights * np.abs(b["accuracy"][filled] - b["confidence"][filled])))


# ---- the operating point of one positive class -------------------------------------------

def operating_point(is_positive, scores, threshold: float) -> dict:
    """Precision, recall, false-positive rate and images flagged at `threshold` (score >= threshold)."""
    from sklearn.metrics import confusion_matrix

    y = np.asarray(is_positive, dtype=bool)
    flagged = np.asarray(scores) >= threshold
    tn, fp, fn, tp = confusion_matrix(y, flagged, labels=[False, True]).ravel()
    return {"threshold": float(threshold), "precision": float(tp / (tp + fp)) if tp + fp else None,
            "recall": float(tp / (tp + fn)) if tp + fn else None, "fpr": float(fp / (fp + tn)) if fp + tn else None,
            "flagged": int(tp + fp), "missed": int(fn)}


def threshold_table(is_positive, scores, chosen: float | None = None,
                    recalls=(0.8, 0.9, 0.95, 0.99)) -> list[dict]:
    """Rows of `operating_point`: the thresholds that reach each of `recalls` on
    these images, the fixed grid 0.1 ... 0.9, and `chosen`; by threshold."""
    y = np.asarray(is_positive, dtype=bool)
    candidates = [round(t, 2) for t in np.arange(0.1, 0.95, 0.1)]
    if y.any():
        candidates += [choose_threshold(y, scores, target_recall=r)["threshold"] for r in recalls]
    # One row per threshold as printed: a recall target's threshold can be the chosen one up to rounding
    # (float32 probabilities at calibration, float64 here); the chosen value is kept exactly.
    thresholds = {round(float(t), 4): float(t) for t in candidates}
    if chosen is not None:
        thresholds[round(float(chosen), 4)] = float(chosen)
    return [operating_point(y, scores, t) for t in sorted(thresholds.values())]


def choose_threshold(is_positive, scores, target_recall: float | None = None,
                     target_precision: float | None = None) -> dict:
    """The threshold meeting one target on these images, as `operating_point` describes it.

    target_recall R: the highest threshold whose recall is at least R, lowered
    halfway to the next score below it, so that a positive scored a little lower
    on new images is still caught; target_precision P: the lowest threshold
    (most recall) whose precision is at least P."""
    from sklearn.metrics import precision_recall_curve

    if (target_recall is None) == (target_precision is None):
        raise ValueError("give one target: --target-recall R or --target-precision P")
    y = np.asarray(is_positive, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    if not y.any():
        raise ValueError("no positive images to choose a threshold on: the split holds none of the positive class")
    precision, recall, thresholds = precision_recall_curve(y, s)
    # thresholds ascend; precision[i], recall[i] are those of thresholds[i].
    if target_recall is not None:
        check_fraction("--target-recall", target_recall)
        i = int(np.flatnonzero(recall[:-1] >= target_recall).max())
        lower = s[s < thresholds[i]]
        threshold = (thresholds[i] + lower.max()) / 2 if lower.size else thresholds[i]
    else:
        check_fraction("--target-precision", target_precision)
        reached = np.flatnonzero(precision[:-1] >= target_precision)
        if not reached.size:
            raise ValueError(f"--target-precision {target_precision}: no threshold reaches it on these images "
                             f"(the best is {precision[:-1].max():.3f}); ask for less, or improve the model")
        threshold = thresholds[reached.min()]
    target = {"recall": target_recall} if target_recall is not None else {"precision": target_precision}
    return {**operating_point(y, s, float(threshold)), "target": target}


def check_fraction(flag: str, value: float) -> float:
    if not 0.0 < value <= 1.0:
        raise ValueError(f"{flag} {value}: must be a fraction in (0, 1], e.g. 0.95")
    return value


def fit_temperature(logits, labels) -> float:
    """Temperature scaling (Guo et al. 2017): the T > 0 minimising the log loss
    of softmax(logits / T) on these images. It changes no decision of the argmax,
    only how confident the probabilities are."""
    import torch

    z = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)  # T = exp(log_t) stays positive
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp().clamp(0.05, 20.0))
