"""Squeeze-and-Excitation ("Squeeze-and-Excitation Networks", Hu et al. 2018)."""
from __future__ import annotations

from typing import Callable, List

import torch
from torch import nn

from .dims import check_spatial_dims, for_dims
from .helpers import make_act


class SqueezeExcite(nn.Module):
    """Re-weight channels by a gate computed from their global average.

    squeeze: global average pool; excite: 1x1 conv (`fc1`) -> act -> 1x1 conv
    (`fc2`) -> gate (sigmoid, or hard-sigmoid in MobileNet v3).
    `rd_channels` is the bottleneck width; families differ in how they pick it.
    `spatial_dims` 1|3: the gate of a signal's or a volume's channels (1x1 convs
    of that rank; the same parameter shapes but for the kernel's trailing ones).
    """

    def __init__(
        self,
        channels: int,
        rd_channels: int,
        act_layer: Callable[..., nn.Module] = nn.ReLU,
        gate_layer: Callable[..., nn.Module] = nn.Sigmoid,
        spatial_dims: int = 2,
    ):
        super().__init__()
        conv = for_dims(nn.Conv2d, spatial_dims)
        self.fc1 = conv(channels, rd_channels, 1, bias=True)
        self.act = make_act(act_layer)
        self.fc2 = conv(rd_channels, channels, 1, bias=True)
        self.gate = gate_layer()
        # The axes the squeeze averages over: (2, 3) for images. A typed list,
        # which TorchScript reads as a module constant.
        self.spatial_axes: List[int] = list(range(2, 2 + check_spatial_dims(spatial_dims)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean(self.spatial_axes, keepdim=True)
        scale = self.fc2(self.act(self.fc1(scale)))
        return x * self.gate(scale)
