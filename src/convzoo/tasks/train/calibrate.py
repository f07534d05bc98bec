"""`convzoo calibrate CHECKPOINT DATA`: fit the checkpoint's decision rule on
images it did not train on, and save it in its sidecar.

Two things are fitted, on DATA/val/ or the held-out split training recorded
(the images `convzoo eval` scores without --all; training images are refused,
since a rule fitted on them would look better than it is):

- a temperature (Guo et al. 2017): the logits are divided by it, so that a
  probability of 0.7 is right about 70% of the time; it changes no argmax;
- with --target-recall R or --target-precision P, a threshold on the positive
  class's calibrated probability that meets the target on these images.

The rule is written into the sidecar under "decision" (atomically; the weights
are not touched), with the fingerprints of the images it was fitted on, so that
`eval` can tell a score taken on them (optimistic) from one on new images.
`predict`, `eval`, `Classifier.from_checkpoint`, `serve` and `export` use it.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from .evaluate import collect_logits

VALIDATION_ELSEWHERE = "for a separate validation set, lay it out as DATA/val/CLASS/ and pass that DATA"


def calibrate_checkpoint(checkpoint, data, batch_size: int = 64, device: str = "auto", workers: int = 0,
                         progress: bool = True, *, tta: str | None = None, positive: str | None = None,
                         target_recall: float | None = None, target_precision: float | None = None) -> dict:
    """Fits the temperature (and, with a target, the threshold of the positive
    class) of `checkpoint` on the validation images of `data`, writes them into
    its sidecar as "decision", and returns what was fitted and how it scores:
    the temperature, log loss and ECE before and after, the threshold's
    precision/recall/FPR on these images. positive: the class a threshold is
    for (default: the saved one, else the one training named, else the rarer of
    two classes; more than two classes need it named). tta: fit on the
    probabilities `--tta` averages, for a rule used with that --tta."""
    from ..predict.classifier import Classifier
    from ..shared.checkpoint import update_sidecar
    from ..shared.decision import DecisionRule
    from ..shared.fingerprints import image_fingerprints
    from .evaluate import asked_target, positive_of

    if not isinstance(checkpoint, (str, Path)):
        raise ValueError("calibrate one checkpoint at a time: each member of an ensemble has its own temperature")
    target = asked_target(None, target_recall, target_precision)
    clf = Classifier.from_checkpoint(checkpoint, device=device, batch_size=batch_size, progress=progress, tta=tta,
                                     threshold="none", positive=positive)
    classes = clf.categories
    chosen = positive_of(clf.meta, classes, positive, clf.rule, target)
    dataset, evaluated = validation_images(checkpoint, data, clf.meta)
    logits, labels = collect_view_logits(clf, dataset.with_transform(clf.transform), batch_size, workers, progress)
    temperature = fit_view_temperature(logits, labels)
    before, after = view_probabilities(logits, 1.0), view_probabilities(logits, temperature)
    fit = {"images": len(labels), "data": str(Path(data).resolve()), "target": target, **_scores(labels, before, "before"),
           **_scores(labels, after, "after")}
    point = None
    if target:
        from .metrics import choose_threshold

        k = classes.index(chosen)
        point = choose_threshold((labels == k).numpy(), after[:, k].numpy(),
                                 **{f"target_{name}": value for name, value in target.items()})
    if tta:
        fit["tta"] = tta
    rule = DecisionRule(tuple(classes), chosen, point["threshold"] if point else None, temperature,
                        {**fit, "fingerprints": image_fingerprints(s.path for s in dataset.samples)})
    update_sidecar(checkpoint, {"decision": rule.to_dict()})
    return {"checkpoint": str(checkpoint), "evaluated": evaluated, "rule": rule.describe(), "positive": chosen,
            "temperature": temperature, "threshold": rule.threshold, "operating_point": point, **fit}


def validation_images(checkpoint, data, meta: dict):
    """(dataset, description) of the images to calibrate on: those `eval` scores
    without --all, and never a folder whose images may have trained the model."""
    from .evaluate import images_to_evaluate, split_record

    root = Path(data)
    if root.exists() and not (root / "val").is_dir() and not split_record(meta).get("held_out"):
        raise ValueError(f"{root} has no val/ folder and {checkpoint} records no held-out split of it, so its images "
                         f"may be ones the model trained on, and a rule fitted on them would be optimistic: "
                         f"{VALIDATION_ELSEWHERE}")
    return images_to_evaluate(data, meta, elsewhere=VALIDATION_ELSEWHERE)


@torch.inference_mode()
def collect_view_logits(clf, dataset, batch_size: int = 64, workers: int = 0,
                        progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits [N, V, C] on the CPU, labels [N]) of a one-checkpoint Classifier on
    `dataset` (made with `clf.transform`): V views per image with tta, else 1."""
    def view_logits(x: torch.Tensor) -> torch.Tensor:
        views = x.shape[1] if x.dim() == 5 else 1
        return clf.forward(x.flatten(0, 1) if x.dim() == 5 else x).view(x.shape[0], views, -1)

    return collect_logits(view_logits, dataset, batch_size, clf.device, workers, progress, desc="calibrate")


def view_probabilities(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Probabilities [N, C] as the Classifier computes them: softmax(logits / T), averaged over the views."""
    return (logits.double() / temperature).softmax(dim=-1).mean(dim=1)


def fit_view_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The temperature minimising the log loss of `view_probabilities`: that of
    metrics.fit_temperature with one view; with several, a bounded search over
    log T of the loss of the averaged probabilities (what --tta answers with)."""
    from .metrics import fit_temperature

    if logits.shape[1] == 1:
        return fit_temperature(logits[:, 0].numpy(), labels.numpy())
    from scipy.optimize import minimize_scalar

    rows = torch.arange(len(labels))

    def loss(log_t: float) -> float:
        p = view_probabilities(logits, math.exp(log_t))[rows, labels]
        return float(-p.clamp_min(1e-12).log().mean())

    found = minimize_scalar(loss, bounds=(math.log(0.05), math.log(20.0)), method="bounded")
    return float(math.exp(found.x))


def _scores(labels: torch.Tensor, probs: torch.Tensor, when: str) -> dict:
    from sklearn.metrics import log_loss

    from .metrics import expected_calibration_error

    y, p = labels.numpy(), probs.numpy()
    return {f"log_loss_{when}": float(log_loss(y, np.clip(p, 1e-12, 1.0), labels=list(range(p.shape[1])))),
            f"ece_{when}": expected_calibration_error(y, p)}


def format_calibration(result: dict) -> str:
    """What `convzoo calibrate` prints: the temperature and what it did, the
    threshold and its operating point on these images, and where it was saved."""
    from .evaluate import describe_evaluated

    t = result["temperature"]
    lines = [f"calibrated on {describe_evaluated(result['evaluated']).removeprefix('evaluated ')}",
             (f"temperature {t:.3f}: log loss {result['log_loss_before']:.4f} -> {result['log_loss_after']:.4f}, "
              f"ECE {result['ece_before']:.4f} -> {result['ece_after']:.4f}")]
    point = result["operating_point"]
    if point:
        lines.append(f"threshold {point['threshold']:.4f} on the probability of {result['positive']}: precision "
                     f"{_share(point['precision'])}, recall {_share(point['recall'])}, FPR {_share(point['fpr'])} "
                     f"on these images ({point['flagged']} flagged, {point['missed']} missed)")
    else:
        lines.append("no --target-recall or --target-precision: no threshold, the decision stays the most probable "
                     "class")
    lines += [f"decision: {result['rule']}",
              f"saved in {Path(result['checkpoint']).with_suffix('.json')}: eval/predict/serve/export now use it",
              ("these figures are on the images the rule was fitted on; for honest ones score a separate test set: "
               "convzoo eval TEST --all --checkpoint ...")]
    return "\n".join(lines)


def _share(value) -> str:
    return "-" if value is None else f"{value:.3f}"
