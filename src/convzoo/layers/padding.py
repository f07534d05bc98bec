"""Padding helpers, including TensorFlow's "SAME" padding.

TF-trained checkpoints (EfficientNet-Lite, the TF ports in timm) were trained
with "SAME" padding, which pads *asymmetrically* when the input size is even
and the stride is 2: one pixel more at the bottom/right. PyTorch's symmetric
padding shifts the sampling grid by one pixel, so those weights need this.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


def get_padding(kernel_size: int, stride: int = 1, dilation: int = 1) -> int:
    """Symmetric padding that keeps `size / stride` output size for odd kernels."""
    return ((stride - 1) + dilation * (kernel_size - 1)) // 2


def _same_pad_amount(size: int, kernel_size: int, stride: int, dilation: int) -> int:
    return max((math.ceil(size / stride) - 1) * stride + (kernel_size - 1) * dilation + 1 - size, 0)


# The amount depends on the input's size: torch.fx records the call as one
# node (a leaf) instead of tracing into Python arithmetic on the shape.
@torch.fx.wrap
def pad_same(x: torch.Tensor, kernel_size: tuple[int, int], stride: tuple[int, int],
             dilation: tuple[int, int] = (1, 1), value: float = 0.0) -> torch.Tensor:
    """Pad `x` (N, C, H, W) the way TensorFlow's padding="SAME" does."""
    pad_h = _same_pad_amount(x.shape[-2], kernel_size[0], stride[0], dilation[0])
    pad_w = _same_pad_amount(x.shape[-1], kernel_size[1], stride[1], dilation[1])
    if pad_h > 0 or pad_w > 0:
        x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2], value=value)
    return x


class Conv2dSame(nn.Conv2d):
    """nn.Conv2d with TensorFlow "SAME" padding computed from the input size."""

    def __init__(self, *args, **kwargs):
        kwargs["padding"] = 0
        super().__init__(*args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pad_same(x, self.kernel_size, self.stride, self.dilation)
        return self._conv_forward(x, self.weight, self.bias)
