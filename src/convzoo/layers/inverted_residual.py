"""Inverted residual blocks: MBConv (MobileNet v2/v3, MNASNet, EfficientNet) and
Fused-MBConv (EfficientNet v2).

"MobileNetV2: Inverted Residuals and Linear Bottlenecks" (Sandler et al. 2018):
expand the narrow input with a 1x1 conv, filter with a depth-wise conv, project
back to a narrow output with a *linear* 1x1 conv (no activation: a ReLU on a
low-dimensional manifold destroys information), and add the input when shapes
allow. MobileNet v3 and EfficientNet put a squeeze-excite between the
depth-wise and the projection. EfficientNet v2's Fused-MBConv replaces the
expand + depth-wise pair by one full kxk conv, faster on accelerators in early,
high-resolution stages.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .conv import ConvNormAct
from .drop import DropPath
from .squeeze_excite import SqueezeExcite

NormLayer = Callable[[int], nn.Module]


class InvertedResidual(nn.Module):
    """MBConv: [1x1 expand] -> kxk depth-wise -> [squeeze-excite] -> 1x1 linear project.

    expanded_channels: width of the hidden layer; the expand conv is left out
    when it equals in_channels (expand ratio 1).
    se_channels: squeeze-excite bottleneck width (0: no SE). Families pick it
    differently: EfficientNet from the block input, MobileNet v3 from the
    expanded width, so the caller computes it.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        expanded_channels: int,
        *,
        se_channels: int = 0,
        act_layer: Callable[..., nn.Module] = nn.ReLU6,
        se_act_layer: Callable[..., nn.Module] = nn.ReLU,
        se_gate_layer: Callable[..., nn.Module] = nn.Sigmoid,
        norm_layer: NormLayer = nn.BatchNorm2d,
        drop_path: float = 0.0,
        dilation: int = 1,
        padding: str | None = None,
    ):
        super().__init__()
        self.has_residual = stride == 1 and in_channels == out_channels
        if expanded_channels != in_channels:
            self.expand = ConvNormAct(in_channels, expanded_channels, 1, norm_layer=norm_layer, act_layer=act_layer)
        self.dw = ConvNormAct(
            expanded_channels, expanded_channels, kernel_size, stride, dilation=dilation,
            groups=expanded_channels, norm_layer=norm_layer, act_layer=act_layer, padding=padding,
        )
        self.se = (
            SqueezeExcite(expanded_channels, se_channels, se_act_layer, se_gate_layer) if se_channels else nn.Identity()
        )
        self.project = ConvNormAct(expanded_channels, out_channels, 1, norm_layer=norm_layer, act_layer=None)
        self.drop_path = DropPath(drop_path) if drop_path > 0 and self.has_residual else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.expand(x) if hasattr(self, "expand") else x
        out = self.project(self.se(self.dw(out)))
        if self.has_residual:
            # In place: no new activation-sized buffer per block (measurably
            # faster on CPU); autograd allows it, as an add needs no saved input.
            out = self.drop_path(out)
            out += x
        return out


class FusedInvertedResidual(nn.Module):
    """Fused-MBConv: kxk conv (expand + spatial in one) -> 1x1 linear project.

    With expand ratio 1 (expanded_channels == in_channels) the block is a
    single kxk conv with activation, as in EfficientNet v2's first stage.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        expanded_channels: int,
        *,
        act_layer: Callable[..., nn.Module] = nn.SiLU,
        norm_layer: NormLayer = nn.BatchNorm2d,
        drop_path: float = 0.0,
        dilation: int = 1,
        padding: str | None = None,
    ):
        super().__init__()
        self.has_residual = stride == 1 and in_channels == out_channels
        if expanded_channels != in_channels:
            self.fused = ConvNormAct(in_channels, expanded_channels, kernel_size, stride, dilation,
                                     norm_layer=norm_layer, act_layer=act_layer, padding=padding)
            self.project = ConvNormAct(expanded_channels, out_channels, 1, norm_layer=norm_layer, act_layer=None)
        else:
            self.fused = ConvNormAct(in_channels, out_channels, kernel_size, stride, dilation,
                                     norm_layer=norm_layer, act_layer=act_layer, padding=padding)
            self.project = nn.Identity()
        self.drop_path = DropPath(drop_path) if drop_path > 0 and self.has_residual else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.fused(x))
        if self.has_residual:
            out = self.drop_path(out)
            out += x  # in place, as in InvertedResidual
        return out
