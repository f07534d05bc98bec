"""Convolution + normalisation + activation, the most common unit of every family."""
from __future__ import annotations

from typing import Callable

from torch import nn

from .helpers import make_act
from .padding import Conv2dSame, get_padding


def create_conv2d(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int = 1,
    dilation: int = 1,
    groups: int = 1,
    bias: bool = False,
    padding: int | str | None = None,
) -> nn.Conv2d:
    """A conv with symmetric padding by default, or TensorFlow's with padding="same"."""
    if padding == "same":
        return Conv2dSame(in_channels, out_channels, kernel_size, stride, dilation=dilation, groups=groups, bias=bias)
    if padding is None:
        padding = get_padding(kernel_size, stride, dilation)
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias)


class ConvNormAct(nn.Sequential):
    """conv -> norm -> act, as an nn.Sequential with named children
    `conv`, `bn` and `act` (the latter two absent when not used).

    `norm_layer=None` drops the norm; `act_layer=None` drops the activation.
    `padding="same"` selects TensorFlow "SAME" padding.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        norm_layer: Callable[[int], nn.Module] | None = nn.BatchNorm2d,
        act_layer: Callable[..., nn.Module] | None = nn.ReLU,
        bias: bool | None = None,
        padding: int | str | None = None,
        inplace: bool = True,
    ):
        super().__init__()
        if bias is None:
            bias = norm_layer is None  # a bias before BatchNorm is redundant
        self.conv = create_conv2d(in_channels, out_channels, kernel_size, stride, dilation, groups, bias, padding)
        if norm_layer is not None:
            self.bn = norm_layer(out_channels)
        if act_layer is not None:
            self.act = make_act(act_layer, inplace)
        self.out_channels = out_channels
