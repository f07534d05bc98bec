"""RegNetX and RegNetY.

"Designing Network Design Spaces" (Radosavovic et al., 2020). Instead of one
hand-designed network, the paper narrows a space of networks (AnyNet) down to
one whose good models share a simple rule: block widths grow linearly with
depth, then are quantised to a few stages. A RegNet is generated from six
numbers: depth d, initial width w0, slope wa, multiplier wm, group width g,
bottleneck ratio b (RegNetY adds squeeze-excite with ratio 1/4).

Every block is the ResNeXt-style "X block" (1x1 -> 3x3 group conv -> 1x1,
residual); the Y block adds squeeze-excite after the 3x3 conv. Stem: one 3x3/2
conv of width 32; four stages of stride 2; head: pool, fc.

Group-width rounding follows torchvision, our reference: the bottleneck width
is rounded to a multiple of the group width half-up and never below 90% of
itself (`make_divisible`). The paper's own code (pycls) rounds to the nearest
multiple, which gives other widths for three of the models (regnet_x_400mf,
regnet_y_800mf, regnet_y_8gf; timm calls torchvision's versions `*_tv`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from ..layers import ClassifierHead, ConvNormAct, DropPath, SqueezeExcite, make_divisible
from ..layers.dilation import dilated_stage_plan
from ..layers.init import init_he_fan_out
from ..layers.drop import drop_path_rates
from ..net import ConvNet
from ..registry import Paper, register_model
from ..weights import register_converter, register_torchvision_weights

REGNET = Paper("Designing Network Design Spaces", 2020, "https://arxiv.org/abs/2003.13678")

STEM_WIDTH = 32
WIDTH_QUANTUM = 8  # block widths are multiples of 8


@dataclass(frozen=True)
class RegNetParams:
    """A point of the RegNet design space (the paper's Section 3.3 and Appendix)."""

    depth: int  # d: total number of blocks
    w0: int  # initial width, > 0
    wa: float  # slope of the linear width rule, >= 0
    wm: float  # width multiplier between stages, > 1 (sets the stage boundaries)
    group_width: int  # g
    bottleneck_ratio: float = 1.0  # b: bottleneck width / block width
    se_ratio: float = 0.0  # RegNetY: 0.25 of the block's input width


@dataclass(frozen=True)
class StageSpec:
    """What the generator produces: one stage of identical blocks."""

    width: int
    depth: int
    group_width: int
    bottleneck_ratio: float


def generate_stages(p: RegNetParams) -> list[StageSpec]:
    """Stage widths, depths and group widths of the RegNet given by `p`.

    1. Linear widths u_j = w0 + wa * j for each block j < d.
    2. Quantise in log space: u_j ~ w0 * wm^s_j with s_j = round(log_wm(u_j / w0)),
       and round w0 * wm^s_j to a multiple of 8. Blocks of equal width form a stage.
    3. Make each stage's bottleneck width (width * b) a multiple of its group
       width, the group width being capped at the bottleneck width.
    """
    if p.w0 <= 0 or p.wa < 0 or p.wm <= 1 or p.w0 % WIDTH_QUANTUM:
        raise ValueError(f"not a RegNet: {p}")
    block_widths = []
    for j in range(p.depth):
        step = round(math.log((p.w0 + p.wa * j) / p.w0) / math.log(p.wm))
        block_widths.append(round(p.w0 * p.wm**step / WIDTH_QUANTUM) * WIDTH_QUANTUM)

    stages: list[StageSpec] = []
    for width in block_widths:
        if stages and stages[-1].width == width:
            stages[-1] = StageSpec(width, stages[-1].depth + 1, p.group_width, p.bottleneck_ratio)
        else:
            stages.append(StageSpec(width, 1, p.group_width, p.bottleneck_ratio))

    compatible = []
    for s in stages:
        bottleneck = int(s.width * s.bottleneck_ratio)
        group_width = min(s.group_width, bottleneck)
        bottleneck = make_divisible(bottleneck, group_width)
        compatible.append(StageSpec(int(bottleneck / s.bottleneck_ratio), s.depth, group_width, s.bottleneck_ratio))
    return compatible


class RegNetBlock(nn.Module):
    """X block: 1x1 -> 3x3 group conv (stride) -> 1x1, plus the shortcut
    (1x1 projection where the shape changes). `se_ratio` > 0 makes it a Y block:
    squeeze-excite after the 3x3 conv, its width a fraction of the block's input.

    `dilation` dilates the 3x3 conv (output_stride, layers/dilation.py), the
    stage's first block's at `first_dilation`. That first block keeps its
    projection shortcut when its stride went to dilation: the undilated
    network's weights have one there (a 1x1 conv, which dilation leaves alone)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, group_width: int,
                 bottleneck_ratio: float = 1.0, se_ratio: float = 0.0, drop_path: float = 0.0,
                 dilation: int = 1, first_dilation: int | None = None):
        super().__init__()
        first_dilation = first_dilation or dilation
        bottleneck = int(round(out_channels * bottleneck_ratio))
        self.conv1 = ConvNormAct(in_channels, bottleneck, 1)
        self.conv2 = ConvNormAct(bottleneck, bottleneck, 3, stride, dilation=first_dilation,
                                 groups=bottleneck // group_width)
        self.se = SqueezeExcite(bottleneck, int(round(in_channels * se_ratio))) if se_ratio else nn.Identity()
        self.conv3 = ConvNormAct(bottleneck, out_channels, 1, act_layer=None)
        if stride != 1 or in_channels != out_channels or first_dilation != dilation:
            self.downsample = ConvNormAct(in_channels, out_channels, 1, stride, act_layer=None)
        else:
            self.downsample = None
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.conv3(self.se(self.conv2(self.conv1(x))))
        out = self.drop_path(out)
        out += shortcut  # in place: one activation-sized buffer fewer per block
        return self.act(out)


class RegNet(ConvNet):
    """3x3/2 conv stem -> four stages (strides 4, 8, 16, 32) generated from
    `params` -> pool, fc.

    output_stride 16 or 8 (DeepLab's "atrous" encoder): the last one or two
    stages keep their input's resolution, their 3x3 group convs dilated by the
    stride they gave up; the same weights load (timm's `output_stride` builds
    the same network)."""

    family = "regnet"

    def __init__(self, params: RegNetParams, num_classes: int = 1000, in_chans: int = 3,
                 drop_rate: float = 0.0, drop_path_rate: float = 0.0, output_stride: int = 32):
        stem = ConvNormAct(in_chans, STEM_WIDTH, 3, 2)
        specs = generate_stages(params)
        rates = drop_path_rates(drop_path_rate, [s.depth for s in specs])
        stage_plan = dilated_stage_plan(output_stride, stem_stride=2, stage_strides=(2,) * len(specs))
        in_channels, stages = STEM_WIDTH, []
        for spec, stage_rates, (stride, dilation, first_dilation) in zip(specs, rates, stage_plan):
            blocks = []
            for j, rate in enumerate(stage_rates):
                blocks.append(RegNetBlock(in_channels, spec.width, stride if j == 0 else 1, spec.group_width,
                                          spec.bottleneck_ratio, params.se_ratio, rate, dilation=dilation,
                                          first_dilation=first_dilation if j == 0 else dilation))
                in_channels = spec.width
            stages.append(nn.Sequential(*blocks))
        head = ClassifierHead(in_channels, num_classes, drop_rate)
        super().__init__(stem, stages, head, first_conv="stem.conv.weight")
        self.params = params
        init_he_fan_out(self)


_Y = 0.25  # RegNetY's squeeze-excite ratio

# The design-space parameters of the published models (the paper's Appendix;
# the same numbers as pycls and torchvision). name: (d, w0, wa, wm, g, b, se)
REGNET_PARAMS = {
    "regnet_x_400mf": RegNetParams(22, 24, 24.48, 2.54, 16),
    "regnet_x_800mf": RegNetParams(16, 56, 35.73, 2.28, 16),
    "regnet_x_1_6gf": RegNetParams(18, 80, 34.01, 2.25, 24),
    "regnet_x_3_2gf": RegNetParams(25, 88, 26.31, 2.25, 48),
    "regnet_x_8gf": RegNetParams(23, 80, 49.56, 2.88, 120),
    "regnet_x_16gf": RegNetParams(22, 216, 55.59, 2.1, 128),
    "regnet_x_32gf": RegNetParams(23, 320, 69.86, 2.0, 168),
    "regnet_y_400mf": RegNetParams(16, 48, 27.89, 2.09, 8, se_ratio=_Y),
    "regnet_y_800mf": RegNetParams(14, 56, 38.84, 2.4, 16, se_ratio=_Y),
    "regnet_y_1_6gf": RegNetParams(27, 48, 20.71, 2.65, 24, se_ratio=_Y),
    "regnet_y_3_2gf": RegNetParams(21, 80, 42.63, 2.66, 24, se_ratio=_Y),
    "regnet_y_8gf": RegNetParams(17, 192, 76.82, 2.19, 56, se_ratio=_Y),
    "regnet_y_16gf": RegNetParams(18, 200, 106.23, 2.48, 112, se_ratio=_Y),
    "regnet_y_32gf": RegNetParams(20, 232, 115.89, 2.53, 232, se_ratio=_Y),
    # Not in the paper: the SEER / SWAG model (Goyal et al. 2021, Singh et al. 2022).
    "regnet_y_128gf": RegNetParams(27, 456, 160.83, 2.52, 264, se_ratio=_Y),
}

for _name, _params in REGNET_PARAMS.items():
    register_model(_name, partial(RegNet, _params), family="regnet", paper=REGNET)
    register_torchvision_weights(_name)


def _block(stage: str, block: str) -> str:
    return f"stages.{int(stage) - 1}.{int(block)}"


# torchvision: stem.{0,1}, trunk_output.blockS.blockS-J.{proj, f.{a,b,se,c}}, fc.
_TORCHVISION_CONVS = {"proj": "downsample", "f.a": "conv1", "f.b": "conv2", "f.c": "conv3"}

_TORCHVISION_RULES = [
    (r"stem\.0\.weight", "stem.conv.weight"),
    (r"stem\.1\.(.+)", r"stem.bn.\1"),
    (r"trunk_output\.block(\d)\.block\d-(\d+)\.(proj|f\.a|f\.b|f\.c)\.([01])\.(.+)",
     lambda m: f"{_block(m[1], m[2])}.{_TORCHVISION_CONVS[m[3]]}.{'conv' if m[4] == '0' else 'bn'}.{m[5]}"),
    (r"trunk_output\.block(\d)\.block\d-(\d+)\.f\.se\.(.+)", lambda m: f"{_block(m[1], m[2])}.se.{m[3]}"),
    (r"fc\.(.+)", r"head.fc.\1"),
]

# timm (`regnetx_004_tv`, `regnety_032`, ...): sS.bJ (both from 1), otherwise our names.
_TIMM_RULES = [
    (r"s(\d)\.b(\d+)\.(.+)", lambda m: f"stages.{int(m[1]) - 1}.{int(m[2]) - 1}.{m[3]}"),
]


register_converter("regnet", "torchvision", rules=_TORCHVISION_RULES)


register_converter("regnet", "timm", rules=_TIMM_RULES)
