"""Lecture checks (issue 17, item 4): the classic design arguments of CNN
courses, measured on real layers instead of asserted on a slide.

Each `Comparison` builds two alternatives that map a C-channel feature map
to one of the same shape, from the zoo's own blocks (ConvNormAct, MobileNet
v1's DepthwiseSeparable, ResNet's BasicBlock and Bottleneck), and measures
for each its weights (`p.numel()` of the modules), its multiply-accumulates
(tasks.complexity.count_macs), its receptive field (tasks.receptive_field)
and its output shape (a forward pass on the meta device), next to the
closed-form count the lecture gives.

Bias and BatchNorm: every conv here is bias-free, as in the zoo (a bias
before BatchNorm is redundant), so "conv weights" are exactly the k^2 Cin Cout
of the formulas. BatchNorm adds 2 parameters per channel (its scale and
shift; running statistics are buffers, not parameters): they are in
"params", not in the formulas.

    >>> from convzoo.tasks.anatomy.teaching import design_comparisons, format_comparisons
    >>> print(format_comparisons(design_comparisons(channels=256)))
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import torch
from torch import nn

from ...layers import ConvNormAct
from ...models.mobilenet_v1 import DepthwiseSeparable
from ...models.resnet import BasicBlock, Bottleneck
from .complexity import count_macs
from .receptive_field import stage_receptive_fields


@dataclass(frozen=True)
class Alternative:
    """One way to build the layer, measured."""

    name: str  # "two 3x3 convs"
    module: nn.Module  # the real layers, built on the CPU
    formula: str  # the lecture's count of conv weights, in C: "2*9C^2 = 18C^2"
    expected_conv_weights: int  # that formula at this C
    conv_weights: int  # measured: weights of the module's convs
    params: int  # measured: every parameter, BatchNorm's included
    macs: int  # measured on the meta device, one image
    receptive_field: int  # input pixels one output pixel sees, along one axis
    output_shape: tuple[int, ...]


@dataclass(frozen=True)
class Comparison:
    """Two alternatives that do the same job; the lesson is in the ratio."""

    title: str
    first: Alternative  # the plain, costlier one
    second: Alternative  # the design the lecture argues for
    ratio_formula: str  # second / first as the formula says: "18/25"
    expected_ratio: Fraction  # that ratio at this C
    lesson: str

    @property
    def ratio(self) -> float:
        """Measured conv weights of the second over the first (MACs share it:
        every conv here keeps the map's size)."""
        return self.second.conv_weights / self.first.conv_weights


class _AsOneStage(nn.Module):
    """The module as a one-stage network, the shape stage_receptive_fields reads."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward_stages(self, x):
        return [self.module(x)]


def _measure(name: str, build: Callable[[], nn.Module], formula: str, expected: int,
             channels: int, size: int) -> Alternative:
    module = build().eval()
    conv_weights = sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Conv2d))
    with torch.device("meta"), torch.no_grad():
        output_shape = tuple(build().eval()(torch.empty(1, channels, size, size)).shape)
    (field,) = stage_receptive_fields(_AsOneStage(module))
    return Alternative(
        name=name, module=module, formula=formula, expected_conv_weights=expected,
        conv_weights=conv_weights, params=sum(p.numel() for p in module.parameters()),
        macs=count_macs(build, size, in_chans=channels), receptive_field=field.size,
        output_shape=output_shape,
    )


def _stack(kernel: int, count: int, channels: int) -> Callable[[], nn.Module]:
    return lambda: nn.Sequential(*(ConvNormAct(channels, channels, kernel) for _ in range(count)))


def design_comparisons(channels: int = 256, size: int = 56) -> list[Comparison]:
    """The four lecture checks at `channels` channels on a `size` x `size`
    feature map (56, 256: the first stage of ResNet-50):

    1. one 5x5 conv vs two stacked 3x3 convs (same 5-pixel receptive field);
    2. one 7x7 conv vs three stacked 3x3 convs (same 7: the VGG paper's argument);
    3. a standard 3x3 conv vs a depthwise-separable one (MobileNet v1);
    4. two 3x3 convs at full width (ResNet's BasicBlock) vs a bottleneck that
       narrows to C/4 around its 3x3 (ResNet-50's Bottleneck).
    """
    if channels < 4 or channels % 4:
        raise ValueError(f"channels must be a positive multiple of 4 (the bottleneck narrows to C/4): got {channels}")
    if size < 1:
        raise ValueError(f"size must be a positive feature-map side in pixels: got {size}")
    c, width = channels, channels // 4

    def measure(name, build, formula, expected):
        return _measure(name, build, formula, expected, c, size)

    return [
        Comparison(
            title="One 5x5 conv vs two stacked 3x3 convs",
            first=measure("one 5x5 conv", _stack(5, 1, c), "25C^2", 25 * c * c),
            second=measure("two 3x3 convs", _stack(3, 2, c), "2*9C^2 = 18C^2", 18 * c * c),
            ratio_formula="18/25", expected_ratio=Fraction(18, 25),
            lesson="Two stacked 3x3 convs see the same 5x5 window with 28% fewer weights and MACs, "
                   "and put one more non-linearity in between.",
        ),
        Comparison(
            title="One 7x7 conv vs three stacked 3x3 convs (VGG)",
            first=measure("one 7x7 conv", _stack(7, 1, c), "49C^2", 49 * c * c),
            second=measure("three 3x3 convs", _stack(3, 3, c), "3*9C^2 = 27C^2", 27 * c * c),
            ratio_formula="27/49", expected_ratio=Fraction(27, 49),
            lesson="Three 3x3 convs see a 7x7 window for 45% fewer weights: why VGG uses only 3x3 "
                   "(Simonyan & Zisserman, 2014).",
        ),
        Comparison(
            title="Standard 3x3 conv vs depthwise-separable (MobileNet v1)",
            first=measure("standard 3x3 conv", _stack(3, 1, c), "9C^2", 9 * c * c),
            second=measure("depthwise 3x3 + pointwise 1x1", lambda: DepthwiseSeparable(c, c, 1),
                           "9C + C^2", 9 * c + c * c),
            ratio_formula="1/C + 1/9", expected_ratio=Fraction(1, c) + Fraction(1, 9),
            lesson=f"Filtering each channel on its own, then mixing channels with a 1x1, costs 1/C + 1/9 of a "
                   f"full 3x3: {float(Fraction(1, c) + Fraction(1, 9)):.3f} at C={c}, 8-9x fewer weights and MACs.",
        ),
        Comparison(
            title="Basic block (two 3x3) vs bottleneck (1x1, 3x3, 1x1) at the same width (ResNet)",
            first=measure("basic block", lambda: BasicBlock(c, c), "2*9C^2 = 18C^2", 18 * c * c),
            second=measure(f"bottleneck via C/4={width}", lambda: Bottleneck(c, width),
                           "C^2/4 + 9C^2/16 + C^2/4 = 17C^2/16", 17 * c * c // 16),
            ratio_formula="17/288", expected_ratio=Fraction(17, 288),
            lesson=f"Narrowing to C/4 around the 3x3 costs 6% of two full-width 3x3s, about what a basic block "
                   f"at C/4={width} costs ({18 * width * width:,}): what lets ResNet-50 go deeper than ResNet-34 "
                   f"for little more; each block sees 3 pixels instead of 5.",
        ),
    ]


def _row(a: Alternative) -> str:
    return (f"   {a.name:<31} {a.conv_weights:>12,}  {a.formula:<35} {a.params:>11,} "
            f"{a.macs / 1e6:>10,.1f} {a.receptive_field:>3}  {a.output_shape}")


def format_comparisons(comparisons: list[Comparison]) -> str:
    """The checks as a lecture-style table: each alternative's measured conv
    weights beside the formula, its parameters, MACs, receptive field and
    output shape; the measured ratio beside the formula's; the lesson."""
    if not comparisons:
        raise ValueError("no comparisons to format: pass design_comparisons(...)")
    shape = comparisons[0].first.output_shape
    lines = [
        f"Design checks at C={shape[1]} channels on a {shape[-2]}x{shape[-1]} map, measured on the zoo's layers.",
        "conv weights: the convs' p.numel() (bias-free, as before BatchNorm); params add BatchNorm's 2 per channel.",
    ]
    header = (f"   {'alternative':<31} {'conv weights':>12}  {'formula':<35} {'params':>11} "
              f"{'MMACs':>10} {'RF':>3}  output")
    for i, comp in enumerate(comparisons, 1):
        lines += ["", f"{i}. {comp.title}", header, _row(comp.first), _row(comp.second),
                  f"   ratio {comp.ratio:.4f} (formula {comp.ratio_formula} = {float(comp.expected_ratio):.4f})",
                  f"   lesson: {comp.lesson}"]
    return "\n".join(lines)
