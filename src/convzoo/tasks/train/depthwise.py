"""Depthwise convolutions kept in fp32 when a CPU run trains under bf16 autocast.

Autocast runs every convolution in bf16. On a CPU that pays off where the
arithmetic is (pointwise and dense convolutions: AMX and AVX-512 bf16 do twice
the multiply-adds per instruction), but oneDNN's bf16 depthwise convolutions
(one filter per channel, `groups == in_channels`) are slower than its fp32
ones, their backward pass above all: a depthwise convolution does little
arithmetic per byte, so the casts and the bf16 kernels' weaker blocking cost
more than the arithmetic saves. On a 2-core Intel Xeon with AMX (torch 2.14.1,
channels_last, batch 32, forward and backward; benchmarks/depthwise_bf16.py,
results/depthwise_bf16.md), a 5x5 depthwise convolution of 144 channels at
28 px took 4.4x as long in bf16 as in fp32, a 3x3 of 96 channels at 56 px
1.5x; a 1x1 convolution of 480 to 80 channels took 0.61x, a dense 3x3 at
112 px 0.53x. A whole training step (--freeze auto's stages frozen) ran
efficientnet_lite0 at 0.72x fp32's speed in bf16 but 1.24x with its depthwise
convolutions in fp32; mobilenet_v3_large 0.66x and 1.20x. The PrecisionTrial
(engine.py) then times fp32 against this mix.

They are kept in fp32 only where a backward pass will go through them: in
validation (inference mode) and in the frozen stages (no weight to train, no
gradient to pass back) they compute in bf16 with the rest. Forward alone, bf16 depthwise is the faster
there: on the same Xeon, efficientnet_lite0's validation at 224 px (batch 32)
ran 2.1x as fast all in bf16 as with its depthwise convolutions in fp32
(124-133 against 61-63 images/s), and a training step with --freeze auto's
stages frozen 1.09x (median of 4 alternating runs, 34.4 against 31.5 images/s).

Only the module's `forward` is replaced, on the instance: the weights, their
names in the state dict and the arithmetic outside autocast are unchanged, and
a deep copy (the EMA's) gets its own. A bf16 input is widened to fp32, and the
output stays fp32 for the next layer to cast as autocast decides.
"""
from __future__ import annotations

from functools import partial

import torch
from torch import nn


def is_depthwise(module: nn.Module) -> bool:
    """A 2-d convolution with one group per input channel (and more than one channel)."""
    return isinstance(module, nn.Conv2d) and module.groups > 1 and module.groups == module.in_channels


def backward_reaches(module: nn.Module, args: tuple) -> bool:
    """Whether a backward pass will go through this call: gradients are being recorded and the
    module has a weight to train or its input carries a gradient on to earlier layers."""
    if not torch.is_grad_enabled():
        return False
    return any(p.requires_grad for p in module.parameters(recurse=False)) or \
        any(torch.is_tensor(a) and a.requires_grad for a in args)


def _fp32_under_cpu_autocast(module: nn.Module, *args, **kwargs):
    forward = type(module).forward
    if not torch.is_autocast_enabled("cpu") or not backward_reaches(module, args):
        return forward(module, *args, **kwargs)
    with torch.autocast("cpu", enabled=False):
        return forward(module, *(a.float() if torch.is_tensor(a) and a.is_floating_point() else a for a in args),
                       **kwargs)


def keep_in_fp32(module: nn.Module) -> None:
    """Make `module` compute in fp32 under CPU autocast where a backward pass goes through it (its
    floating inputs widened; outside autocast, or forward only, it is unchanged). A partial, not a
    closure: deepcopy copies its module argument, so a copy runs itself."""
    module.forward = partial(_fp32_under_cpu_autocast, module)


def keep_depthwise_fp32(model: nn.Module) -> int:
    """Make every depthwise convolution of `model` compute in fp32 under CPU autocast where a backward
    pass goes through it; how many there are."""
    count = 0
    for module in model.modules():
        if is_depthwise(module):
            keep_in_fp32(module)
            count += 1
    return count
