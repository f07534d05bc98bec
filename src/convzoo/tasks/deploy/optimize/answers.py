"""Whether a faster runtime keeps fp32's answers: the rule runtime="auto"
chooses by (auto.py), measured per candidate.

Keeping the answers is two rules:
1. top-1 agreement >= 99% on the images where fp32 is confident (its top-1
   probability >= 0.5). Where fp32's best two classes are near ties, any
   rounding flips them, and how often depends on the CPU: over all images the
   rule judged the hardware, not the runtime. With too few confident images to
   tell anything (under 10), the agreement over all images is judged, and the
   note says so.
2. with labels (a validation split), accuracy at most 0.5 points below fp32's
   (NNCF's maximum accuracy drop, as quantize_with_accuracy_control uses it).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

# Confident images from which rule 1 reads them alone. Under 100 of them, 99% means every one:
# with 10-19 that is a strict test still. benchmarks/runtimes.py found 15 of 100 calibration
# images confident for the real Lite0 weights, where the fallback to all images (near ties
# included) refused runtimes that gave fp32's answer on all 75 confident scored images.
MIN_CONFIDENT_IMAGES = 10

MIN_AGREEMENT = 0.99
CONFIDENT = 0.5  # fp32's top-1 probability from which an image's answer is not a near tie
MAX_ACCURACY_DROP = 0.005  # with labels: at most 0.5 points of accuracy below fp32's
# In the cache key: choices made under an earlier rule are not reused (v3: checked on up to 300
# images, which refused runtimes that kept 99% on more; v4: up to 600, calibration.MAX_CHECK_IMAGES).
ANSWERS_RULE = "v4"


@dataclass
class Measurement:
    """One candidate as measured: seconds per batch (median of the rounds),
    top-1 agreement with fp32 eager on all `images` calibration images and on
    the `confident_images` among them, with labels its accuracy and fp32's on
    the `labelled` images, or the error that stopped it."""

    runtime: str
    precision: str
    seconds_per_batch: float | None = None
    agreement: float | None = None
    images: int = 0
    error: str | None = None
    confident_agreement: float | None = None
    confident_images: int = 0
    accuracy: float | None = None
    reference_accuracy: float | None = None
    labelled: int = 0

    @property
    def label(self) -> str:
        return f"{self.runtime} {self.precision}"

    @property
    def judged_on_confident(self) -> bool:
        """Whether rule 1 reads the confident images: only with enough of them to tell 99% from luck."""
        return self.confident_agreement is not None and self.confident_images >= MIN_CONFIDENT_IMAGES

    def judged_agreement(self) -> tuple[float | None, str]:
        """The agreement rule 1 reads, and the images it was counted on."""
        if self.judged_on_confident:
            return self.confident_agreement, f"{self.confident_images} confident images"
        return self.agreement, f"{self.images} images"

    def refusal(self, min_agreement: float = MIN_AGREEMENT, max_accuracy_drop: float = MAX_ACCURACY_DROP) -> str | None:
        """Why this candidate does not keep fp32's answers (the rule it broke, with its figures), or None."""
        if self.error is not None:
            return f"failed ({self.error})"
        agreement, on = self.judged_agreement()
        if agreement is not None and agreement < min_agreement:
            # Two decimals: 97 of 98 (98.98%) must not read as "99.0% (< 99%)".
            return f"agreed with fp32 on {agreement:.2%} of {on} (< {min_agreement:.0%})"
        # 1e-9: shares are floats, and a drop of exactly the allowance (1 image in 200) is allowed.
        if self.accuracy is not None and self.reference_accuracy - self.accuracy > max_accuracy_drop + 1e-9:
            # "agreed with fp32" is also what optimize() looks for to warn about a refused candidate.
            return (f"lost {(self.reference_accuracy - self.accuracy) * 100:.1f} points of accuracy on "
                    f"{self.labelled} labelled images ({self.accuracy:.1%} vs fp32's {self.reference_accuracy:.1%}; "
                    f"at most {max_accuracy_drop * 100:g}) though it agreed with fp32 on {agreement:.1%} of {on}")
        return None

    def keeps_answers(self, min_agreement: float = MIN_AGREEMENT, max_accuracy_drop: float = MAX_ACCURACY_DROP) -> bool:
        return self.refusal(min_agreement, max_accuracy_drop) is None


@dataclass
class Reference:
    """fp32 eager's answers on the calibration images, which every candidate is judged against."""

    top1: torch.Tensor
    confident: torch.Tensor  # bool, per image: fp32's top-1 probability >= CONFIDENT
    labels: torch.Tensor | None = None

    @classmethod
    def of(cls, logits: torch.Tensor, labels: torch.Tensor | None = None) -> Reference:
        if labels is not None and len(labels) != len(logits):
            raise ValueError(f"calibration_labels: {len(labels)} labels for {len(logits)} calibration images")
        # top-1 from the logits, as every candidate's: softmax can round distinct logits to equal
        # probabilities, and a tie's index would then be the reduction's, not the model's.
        confident = logits.float().softmax(1).amax(1) >= CONFIDENT
        return cls(logits.argmax(1), confident, None if labels is None else labels.long().cpu())

    @property
    def confident_images(self) -> int:
        return int(self.confident.sum())

    def measure(self, m: Measurement, top1: torch.Tensor) -> None:
        """Fill `m`'s agreement (and accuracy, with labels) from the candidate's top-1 classes."""
        same = top1 == self.top1
        m.agreement, m.images = _share(same), len(same)
        m.confident_images = self.confident_images
        m.confident_agreement = _share(same[self.confident]) if m.confident_images else None
        if self.labels is not None:
            m.accuracy, m.reference_accuracy = _share(top1 == self.labels), _share(self.top1 == self.labels)
            m.labelled = len(self.labels)


def _share(hits: torch.Tensor) -> float:
    return hits.float().mean().item()


def pick(measured: list[Measurement], min_agreement: float = MIN_AGREEMENT,
         max_accuracy_drop: float = MAX_ACCURACY_DROP) -> Measurement:
    """The fastest timed candidate that keeps fp32's answers."""
    usable = [m for m in measured if m.keeps_answers(min_agreement, max_accuracy_drop) and m.seconds_per_batch]
    if not usable:
        why = "; ".join(f"{m.label}: {m.refusal(min_agreement, max_accuracy_drop) or 'not timed'}" for m in measured)
        raise RuntimeError(f"no runtime could run this model and keep its answers ({why})")
    return min(usable, key=lambda m: m.seconds_per_batch)


__all__ = ["ANSWERS_RULE", "CONFIDENT", "MAX_ACCURACY_DROP", "MIN_AGREEMENT", "MIN_CONFIDENT_IMAGES", "Measurement", "Reference", "pick"]
