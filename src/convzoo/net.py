"""The anatomy every classifier in the zoo shares: stem -> stages -> head.

Families only build the three parts; the generic features (encoder view,
classifier reset, freezing, input-channel adaptation) are written once here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import torch
from torch import nn


@dataclass(frozen=True)
class StageInfo:
    """One stage's output: its channels and its stride relative to the input."""

    channels: int
    reduction: int
    module: str


class ConvNet(nn.Module):
    """Base class of every model: `stem`, `stages` (a ModuleList) and `head`.

    Subclasses whose stages pass more than one tensor along (NASNet) or whose
    head needs side inputs (auxiliary classifiers) override `forward_stages`
    or `forward`; everything else comes for free.

    The head must offer `reset(num_classes)` and a `num_classes` attribute
    (see `layers.head.ClassifierHead`).
    """

    def __init__(
        self,
        stem: nn.Module,
        stages: Sequence[nn.Module],
        head: nn.Module,
        stage_channels: Sequence[int],
        stage_reductions: Sequence[int],
        first_conv: str = "stem.conv.weight",
    ):
        super().__init__()
        if not (len(stages) == len(stage_channels) == len(stage_reductions)):
            raise ValueError("one channels and one reduction figure per stage are needed")
        self.stem = stem
        self.stages = stages if isinstance(stages, nn.ModuleList) else nn.ModuleList(stages)
        self.head = head
        self.feature_info = [
            StageInfo(c, r, f"stages.{i}")
            for i, (c, r) in enumerate(zip(stage_channels, stage_reductions))
        ]
        # Name of the parameter that sees the input image: adapted when RGB
        # weights are loaded into a model with in_chans != 3.
        self.first_conv = first_conv

    # ---- forward -----------------------------------------------------------
    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every stage's output: the multi-scale encoder view."""
        x = self.stem(x)
        outputs = []
        for stage in self.stages:
            x = stage(x)
            outputs.append(x)
        return outputs

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's output, unpooled."""
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return x

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    # ---- transfer learning -------------------------------------------------
    @property
    def num_classes(self) -> int:
        return self.head.num_classes

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier by a freshly initialised one (0: features only)."""
        self.head.reset(num_classes)

    def freeze(self, stages: int | None = None) -> None:
        """Freeze the stem and the first `stages` stages (all stages if None).

        Frozen BatchNorm layers keep their running statistics: `train()` leaves
        them in eval mode (see `train` below).
        """
        n = len(self.stages) if stages is None else stages
        if not 0 <= n <= len(self.stages):
            raise ValueError(
                f"cannot freeze {n} stages: {type(self).__name__} has {len(self.stages)} "
                f"(use 0..{len(self.stages)})"
            )
        self.unfreeze()
        for module in [self.stem, *self.stages[:n]]:
            for p in module.parameters():
                p.requires_grad_(False)
            module.frozen = True
        self.train(self.training)

    def unfreeze(self) -> None:
        for p in self.parameters():
            p.requires_grad_(True)
        for module in self.modules():
            if getattr(module, "frozen", False):
                module.frozen = False

    def train(self, mode: bool = True):
        super().train(mode)
        if mode:
            for module in _frozen_modules(self):
                module.eval()
        return self


def _frozen_modules(model: nn.Module) -> Iterable[nn.Module]:
    return (m for m in model.modules() if getattr(m, "frozen", False))
