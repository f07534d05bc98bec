"""Count a model's multiply-accumulates without running it for real.

The model is built and run on the meta device: shapes flow, no memory is
allocated and no arithmetic is done. torch's FlopCounterMode counts 2 FLOPs
per multiply-accumulate of convolutions and matrix products; we report MACs,
which is what torchvision's published "GFLOPS" figures are.
Element-wise work (activations, norms, pooling, additions) is not counted,
as in torchvision's table.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_macs(build: Callable[[], nn.Module], input_size: int | tuple[int, int], in_chans: int = 3) -> int:
    """Multiply-accumulates of one forward pass of `build()` on one image."""
    h, w = (input_size, input_size) if isinstance(input_size, int) else input_size
    with torch.device("meta"):
        model = build().eval()
        x = torch.empty(1, in_chans, h, w)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return counter.get_total_flops() // 2
