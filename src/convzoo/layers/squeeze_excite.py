"""Squeeze-and-Excitation ("Squeeze-and-Excitation Networks", Hu et al. 2018)."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .helpers import make_act


class SqueezeExcite(nn.Module):
    """Re-weight channels by a gate computed from their global average.

    squeeze: global average pool; excite: 1x1 conv (`fc1`) -> act -> 1x1 conv
    (`fc2`) -> gate (sigmoid, or hard-sigmoid in MobileNet v3).
    `rd_channels` is the bottleneck width; families differ in how they pick it.
    """

    def __init__(
        self,
        channels: int,
        rd_channels: int,
        act_layer: Callable[..., nn.Module] = nn.ReLU,
        gate_layer: Callable[..., nn.Module] = nn.Sigmoid,
    ):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, rd_channels, 1, bias=True)
        self.act = make_act(act_layer)
        self.fc2 = nn.Conv2d(rd_channels, channels, 1, bias=True)
        self.gate = gate_layer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean((2, 3), keepdim=True)
        scale = self.fc2(self.act(self.fc1(scale)))
        return x * self.gate(scale)
