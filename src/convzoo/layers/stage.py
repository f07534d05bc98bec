"""The stage container of the hierarchical designs: [downsample] -> blocks -> [norm].

ConvNeXt and VAN open each stage (but the first) with a layer that halves the
resolution and changes the width, run the stage's blocks, and (VAN) normalise
the stage's output. One container keeps that shape, and its key names
(`downsample`, `blocks`, `norm`), the same across families.
"""
from __future__ import annotations

from typing import Iterable

import torch
from torch import nn


class Stage(nn.Module):
    def __init__(self, blocks: Iterable[nn.Module], downsample: nn.Module | None = None,
                 norm: nn.Module | None = None):
        super().__init__()
        self.downsample = downsample if downsample is not None else nn.Identity()
        self.blocks = nn.Sequential(*blocks)
        self.norm = norm if norm is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.blocks(self.downsample(x)))
