"""LayerNorm over the channels of (N, C, H, W) feature maps (ConvNeXt, VAN).

`F.layer_norm` normalises the *last* dims, so a channel LayerNorm must look at
the tensor as (N, H, W, C). `permute` gives that view for free; what costs is
the memory layout behind it:

- channels_last memory (the usual case inside ConvNeXt/VAN, see below): the
  NHWC view is already contiguous, `layer_norm` reads it in place, and the
  result, permuted back, is again a channels_last NCHW tensor: no copy at all.
- contiguous NCHW memory (a stem conv fed an NCHW image): `layer_norm` makes
  one NHWC copy, and its output stays channels_last.

What we deliberately do not do:

- `.contiguous()` after permuting back, to "restore" NCHW: a second full copy,
  and it throws the channels_last layout away, so the next LayerNorm copies again;
- mean/var over dim 1 (`torch.var_mean` then elementwise ops, as timm's
  fallback; or mean, squared deviation, mean, as the official ConvNeXt code's
  "channels_first" LayerNorm): no copy, but four or five passes over the
  tensor in forward and more in backward.

benchmarks/layernorm2d.py measures all of these on ConvNeXt-T's LayerNorm2d
shapes. On CPU (torch 2.14, one thread, batch 8) the permuted view is the
fastest: 2.4-5x faster than the others in eval and 1.2-3x in training on NCHW
input, 3-13x and 1.7-11x on channels_last input; swapped into a whole
convnext_tiny it is 2-20% faster in eval and 6-14% in training. Not measured
on GPU yet.

The ops that follow (depth-wise conv, BatchNorm, the next LayerNorm, residual
adds) keep channels_last, which is why a ConvNeXt or VAN runs channels_last
from its first LayerNorm on without ever asking for it. Feature maps it
returns are therefore not `.is_contiguous()`: use `.reshape`, not `.view`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over dim 1 (channels) of an (N, C, H, W) tensor.

    Same parameters (`weight`, `bias`) and numerics as `nn.LayerNorm(C)`
    applied to the (N, H, W, C) permutation; the output is an (N, C, H, W)
    tensor in channels_last memory (see the module docstring for why).
    """

    def __init__(self, num_channels: int, eps: float = 1e-6, affine: bool = True):
        super().__init__(num_channels, eps=eps, elementwise_affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)
