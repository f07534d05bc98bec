"""The decision rule a trained classifier answers with: calibrated probabilities
(softmax of the logits over a temperature, Guo et al. 2017) and, for one class
that matters (the "positive": a defect, an abnormal scan), a threshold on its
probability instead of the argmax.

`convzoo calibrate` fits both on a validation split and writes them into the
checkpoint's sidecar under "decision"; `predict`, `eval`, `Classifier`, `serve`
and `export` read them from there, so every answer is the same decision:

    "decision": {"positive": "defect", "threshold": 0.21, "temperature": 1.37,
                 "chosen_on": {"images": 180, "target": {"recall": 0.95}, "fingerprints": [...]}}

With a threshold, the positive class is the decision when its probability
reaches the threshold; otherwise the most probable of the other classes is. A
binary model at threshold 0.5 and temperature 1 decides as the argmax does.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


class NoThresholdError(ValueError):
    """`--threshold auto` on a checkpoint that `convzoo calibrate` has not given one."""


@dataclass(frozen=True)
class DecisionRule:
    """How a classifier turns logits into an answer: calibrated probabilities
    (softmax of logits / `temperature`) and, when `threshold` is set, the `positive`
    class whenever its probability reaches the threshold (else the argmax).

    Written by `convzoo calibrate` into a checkpoint's sidecar, read back with
    `from_meta`; `probabilities` and `decide` apply it to a batch."""

    classes: tuple[str, ...]
    positive: str | None = None  # the class that matters; None: no threshold (argmax)
    threshold: float | None = None  # on the positive's calibrated probability; None: argmax
    temperature: float = 1.0  # logits are divided by it before the softmax
    chosen_on: dict = field(default_factory=dict)  # how and on which images the rule was fitted

    def __post_init__(self):
        if self.positive is not None and self.positive not in self.classes:
            raise ValueError(f"--positive {self.positive!r} is not a class; the classes are {', '.join(self.classes)}")
        if self.threshold is not None and self.positive is None:
            raise ValueError("a threshold needs a positive class (--positive NAME)")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold {self.threshold}: a probability threshold must be between 0 and 1")
        if not self.temperature > 0:
            raise ValueError(f"temperature {self.temperature}: must be positive")

    @property
    def positive_index(self) -> int | None:
        """Index of the positive class in `classes`, or None when there is none."""
        return None if self.positive is None else self.classes.index(self.positive)

    @property
    def is_argmax(self) -> bool:
        """True when the decision is the most probable class (no threshold)."""
        return self.threshold is None

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Calibrated class probabilities of a batch of logits [N, C]."""
        return (logits.float() / self.temperature).softmax(dim=-1)

    def decide(self, probs: torch.Tensor) -> torch.Tensor:
        """Class index decided for each row of calibrated probabilities [N, C]."""
        if self.threshold is None:
            return probs.argmax(dim=-1)
        k = self.positive_index
        others = probs.clone()
        others[..., k] = -1.0
        return torch.where(probs[..., k] >= self.threshold, torch.full_like(probs[..., 0], k, dtype=torch.long),
                           others.argmax(dim=-1))

    def describe(self) -> str:
        """The rule in words, as `eval` and `predict` print it."""
        cal = f", temperature {self.temperature:.3g}" if self.temperature != 1.0 else ""
        if self.threshold is None:
            return f"argmax{cal}"
        target = self.chosen_on.get("target") or {}
        why = f" (chosen for {', '.join(f'{k} {v}' for k, v in target.items())})" if target else ""
        return f"{self.positive} when its probability >= {self.threshold:.4g}{why}{cal}"

    def to_dict(self) -> dict:
        """The rule as the sidecar's "decision" entry (`from_meta` reads it back)."""
        return {"positive": self.positive, "threshold": self.threshold, "temperature": self.temperature,
                "chosen_on": self.chosen_on}

    @classmethod
    def from_meta(cls, meta: dict) -> "DecisionRule":
        """The rule saved in a checkpoint's sidecar (argmax at temperature 1 when none is)."""
        saved = meta.get("decision") or {}
        return cls(tuple(meta["classes"]), saved.get("positive"), saved.get("threshold"),
                   float(saved.get("temperature", 1.0)), saved.get("chosen_on") or {})


def default_positive(classes, class_counts=None) -> str | None:
    """The class that matters when none is named: the rarer class of a binary task
    (by the training counts; the second class when they tie or are unknown), none
    for more than two classes."""
    classes = list(classes)
    if len(classes) != 2:
        return None
    if class_counts:
        counts = [class_counts.get(c, 0) if isinstance(class_counts, dict) else class_counts[i]
                  for i, c in enumerate(classes)]
        if counts[0] < counts[1]:
            return classes[0]
    return classes[1]


def check_positive(name: str | None, classes) -> str | None:
    """--positive NAME checked against the classes: one line listing them when it is none of them."""
    if name is not None and name not in classes:
        raise ValueError(f"--positive {name!r} is not a class of this model; the classes are {', '.join(classes)}")
    return name
