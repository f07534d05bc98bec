"""MobileNet v2 and v3: stacks of inverted residual (MBConv) blocks.

"MobileNetV2: Inverted Residuals and Linear Bottlenecks" (Sandler et al., 2018):
a 3x3 stem conv, then the rows of the paper's Table 2 — each row `n` blocks
that expand by `t`, end with `c` channels, and stride `s` in their first block —
then a 1x1 conv to 1280 channels, pooling and the classifier. `width_mult`
scales every width (rounded to multiples of 8); the 1280-wide last conv only
ever grows.

"Searching for MobileNetV3" (Howard et al., 2019): the blocks found by
architecture search (Tables 1 and 2, one row per block) add squeeze-excite with
a hard-sigmoid gate and the hard-swish activation (x * ReLU6(x + 3) / 6, cheap
and quantisation-friendly) in the deeper half. Its "efficient last stage"
(Section 5.1) pools right after the last 1x1 conv, so the 1280/1024-wide layer
that follows is a Linear on a 1x1 map: the head is an MLP (`MobileNetV3Head`).

Stages group the blocks by output stride (2, 4, 8, 16, 32; v3-small has no
stride-2 block, so 4 .. 32); the final 1x1 conv belongs to the head (`head.pre`).
MNASNet (mnasnet.py) is built from the same table format.

`output_stride` 16 or 8 (DeepLab's encoder; the v3 paper's LR-ASPP segmentation
model runs v3 at 16 so): the last one or two stages keep their input's
resolution, their depth-wise convs dilated by the stride given up; same
weights, and 32 is the plain network (layers/dilation.py has the rule).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import Callable, Sequence

import torch
from torch import nn

from ..layers import ClassifierHead, ConvNormAct, InvertedResidual, make_divisible
from ..layers.dilation import dilated_block_plan
from ..layers.head import ResettableHead
from ..layers.init import init_he_fan_out
from ..layers.drop import drop_path_rates
from ..net import ConvNet
from ..registry import Paper, register_model
from ..weights import register_converter, register_torchvision_weights, rename_keys

MOBILENET_V2 = Paper("MobileNetV2: Inverted Residuals and Linear Bottlenecks", 2018, "https://arxiv.org/abs/1801.04381")
MOBILENET_V3 = Paper("Searching for MobileNetV3", 2019, "https://arxiv.org/abs/1905.02244")


# ---- the table format shared by MobileNet v2 and MNASNet --------------------

@dataclass(frozen=True)
class MBConvRow:
    """One row of MobileNet v2's Table 2 (t, c, n, s) or MNASNet's Figure 7:
    `repeats` blocks expanding by `expand_ratio` to `channels` outputs, the
    first one with `stride`."""

    expand_ratio: int
    channels: int
    repeats: int
    stride: int
    kernel_size: int = 3


def build_mbconv_stages(
    rows_by_stage: Sequence[Sequence[MBConvRow]],
    in_channels: int,
    act_layer: Callable[..., nn.Module],
    norm_layer: Callable[[int], nn.Module],
    drop_path_rate: float = 0.0,
    output_stride: int = 32,
    stem_stride: int = 2,
) -> list[nn.Sequential]:
    """Stages of InvertedResidual blocks from table rows whose `channels` are
    final (already width-scaled), after a stem that reduces by `stem_stride`."""
    depths = [sum(row.repeats for row in rows) for rows in rows_by_stage]
    rates = drop_path_rates(drop_path_rate, depths)
    block_strides = [[row.stride if i == 0 else 1 for row in rows for i in range(row.repeats)]
                     for rows in rows_by_stage]
    plan = dilated_block_plan(output_stride, stem_stride, block_strides)
    stages = []
    for rows, stage_rates, stage_plan in zip(rows_by_stage, rates, plan):
        blocks = []
        for row in rows:
            for _ in range(row.repeats):
                stride, dilation = stage_plan[len(blocks)]
                blocks.append(InvertedResidual(
                    in_channels, row.channels, row.kernel_size, stride,
                    expanded_channels=int(round(in_channels * row.expand_ratio)),
                    act_layer=act_layer, norm_layer=norm_layer, drop_path=stage_rates[len(blocks)],
                    dilation=dilation,
                ))
                in_channels = row.channels
        stages.append(nn.Sequential(*blocks))
    return stages


# ---- MobileNet v2 -----------------------------------------------------------

# Table 2 of the paper, its rows grouped by the output stride they end at.
MOBILENET_V2_STAGES = (
    (MBConvRow(1, 16, 1, 1),),                        # stride 2
    (MBConvRow(6, 24, 2, 2),),                        # 4
    (MBConvRow(6, 32, 3, 2),),                        # 8
    (MBConvRow(6, 64, 4, 2), MBConvRow(6, 96, 3, 1)),   # 16
    (MBConvRow(6, 160, 3, 2), MBConvRow(6, 320, 1, 1)),  # 32
)


class MobileNetV2(ConvNet):
    """3x3/2 conv (32) -> Table 2's bottleneck rows -> 1x1 conv (1280) -> pool, dropout, fc.

    output_stride 16 or 8: the last stages dilated instead of strided (module docstring)."""

    family = "mobilenet_v2"

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, width_mult: float = 1.0,
                 drop_rate: float = 0.2, drop_path_rate: float = 0.0, output_stride: int = 32):
        def width(c: float) -> int:
            return make_divisible(c * width_mult, 8)

        stem = ConvNormAct(in_chans, width(32), 3, 2, act_layer=nn.ReLU6)
        rows = [[replace(row, channels=width(row.channels)) for row in stage] for stage in MOBILENET_V2_STAGES]
        stages = build_mbconv_stages(rows, width(32), nn.ReLU6, nn.BatchNorm2d, drop_path_rate, output_stride)
        # The last conv is widened with width_mult > 1 but never narrowed.
        head_width = make_divisible(1280 * max(1.0, width_mult), 8)
        head = ClassifierHead(head_width, num_classes, drop_rate,
                              pre=ConvNormAct(rows[-1][-1].channels, head_width, 1, act_layer=nn.ReLU6))
        super().__init__(stem, stages, head, first_conv="stem.conv.weight")
        init_he_fan_out(self, zero_conv_bias=True)


register_model("mobilenet_v2", MobileNetV2, family="mobilenet_v2", paper=MOBILENET_V2)
register_torchvision_weights("mobilenet_v2")


# ---- MobileNet v3 -----------------------------------------------------------

@dataclass(frozen=True)
class V3Block:
    """One row of the paper's Table 1 (large) or 2 (small): kernel, "exp size",
    "#out", SE, NL (RE: ReLU, HS: hard-swish), stride."""

    kernel_size: int
    expanded: int
    out: int
    se: bool
    act: str
    stride: int


@dataclass(frozen=True)
class MobileNetV3Config:
    stages: tuple[tuple[V3Block, ...], ...]  # table rows grouped by output stride
    head_hidden: int  # width of the Linear after pooling (the table's last "NBN" conv)
    stem: int = 16


_B = V3Block
MOBILENET_V3_LARGE = MobileNetV3Config(
    stages=(
        (_B(3, 16, 16, False, "RE", 1),),  # stride 2
        (_B(3, 64, 24, False, "RE", 2), _B(3, 72, 24, False, "RE", 1)),  # 4
        (_B(5, 72, 40, True, "RE", 2), _B(5, 120, 40, True, "RE", 1), _B(5, 120, 40, True, "RE", 1)),  # 8
        (_B(3, 240, 80, False, "HS", 2), _B(3, 200, 80, False, "HS", 1), _B(3, 184, 80, False, "HS", 1),
         _B(3, 184, 80, False, "HS", 1), _B(3, 480, 112, True, "HS", 1), _B(3, 672, 112, True, "HS", 1)),  # 16
        (_B(5, 672, 160, True, "HS", 2), _B(5, 960, 160, True, "HS", 1), _B(5, 960, 160, True, "HS", 1)),  # 32
    ),
    head_hidden=1280,
)
MOBILENET_V3_SMALL = MobileNetV3Config(
    stages=(
        (_B(3, 16, 16, True, "RE", 2),),  # stride 4
        (_B(3, 72, 24, False, "RE", 2), _B(3, 88, 24, False, "RE", 1)),  # 8
        (_B(5, 96, 40, True, "HS", 2), _B(5, 240, 40, True, "HS", 1), _B(5, 240, 40, True, "HS", 1),
         _B(5, 120, 48, True, "HS", 1), _B(5, 144, 48, True, "HS", 1)),  # 16
        (_B(5, 288, 96, True, "HS", 2), _B(5, 576, 96, True, "HS", 1), _B(5, 576, 96, True, "HS", 1)),  # 32
    ),
    head_hidden=1024,
)
_ACTIVATIONS = {"RE": nn.ReLU, "HS": nn.Hardswish}


class MobileNetV3Head(ResettableHead):
    """[pre: 1x1 conv] -> global pool -> Linear (`hidden`) -> hard-swish -> dropout -> `fc`.

    Same protocol as ClassifierHead: `num_classes`, `reset(num_classes)`
    replaces `fc` only (0: the hidden features are the output).
    """

    def __init__(self, in_features: int, hidden_features: int, num_classes: int = 1000,
                 drop_rate: float = 0.0, pre: nn.Module | None = None):
        super().__init__()
        self.pre = pre if pre is not None else nn.Identity()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.hidden = nn.Linear(in_features, hidden_features)
        self.act = nn.Hardswish(inplace=True)
        self.drop = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()
        self.in_features = hidden_features  # what `fc` reads
        self.num_classes = num_classes
        self.fc = self._make_fc(num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.flatten(self.pool(self.pre(x)))
        return self.fc(self.drop(self.act(self.hidden(x))))


class MobileNetV3(ConvNet):
    """3x3/2 conv (16, hard-swish) -> the table's blocks -> 1x1 conv (6x the last
    width) -> pool -> MLP head. `width_mult` scales every width, the stem's and
    the hidden Linear's included (rounded to multiples of 8, as torchvision).

    output_stride 16 or 8: the last stages dilated instead of strided (module
    docstring); the block that gives up its stride keeps the previous dilation
    (timm's rule, and TF DeepLab's). `dilate_strided_block=True` dilates that
    block too: torchvision's `dilated=True` (output_stride 16), which its
    DeepLabV3 and LR-ASPP MobileNetV3 checkpoints were trained with."""

    family = "mobilenet_v3"

    def __init__(self, cfg: MobileNetV3Config, num_classes: int = 1000, in_chans: int = 3,
                 width_mult: float = 1.0, drop_rate: float = 0.2, drop_path_rate: float = 0.0,
                 output_stride: int = 32, dilate_strided_block: bool = False):
        def width(c: float) -> int:
            return make_divisible(c * width_mult, 8)

        # The TF reference's BN: eps 1e-3, and momentum 0.01 (TF's decay 0.99).
        norm_layer = partial(nn.BatchNorm2d, eps=1e-3, momentum=0.01)
        in_channels = width(cfg.stem)
        stem = ConvNormAct(in_chans, in_channels, 3, 2, norm_layer=norm_layer, act_layer=nn.Hardswish)
        rates = drop_path_rates(drop_path_rate, [len(s) for s in cfg.stages])
        plan = dilated_block_plan(output_stride, 2, [[row.stride for row in rows] for rows in cfg.stages],
                                  dilate_strided_block)
        stages = []
        for rows, stage_rates, stage_plan in zip(cfg.stages, rates, plan):
            blocks = []
            for row, rate, (stride, dilation) in zip(rows, stage_rates, stage_plan):
                expanded = width(row.expanded)
                blocks.append(InvertedResidual(
                    in_channels, width(row.out), row.kernel_size, stride, expanded,
                    # SE bottleneck: a quarter of the expanded width (Section 5.3).
                    se_channels=make_divisible(expanded // 4, 8) if row.se else 0,
                    act_layer=_ACTIVATIONS[row.act], se_gate_layer=nn.Hardsigmoid,
                    norm_layer=norm_layer, drop_path=rate, dilation=dilation,
                ))
                in_channels = width(row.out)
            stages.append(nn.Sequential(*blocks))
        head_conv = 6 * in_channels  # 960 = 6 x 160 (large), 576 = 6 x 96 (small)
        head_pre = ConvNormAct(in_channels, head_conv, 1, norm_layer=norm_layer, act_layer=nn.Hardswish)
        head = MobileNetV3Head(head_conv, width(cfg.head_hidden), num_classes, drop_rate, pre=head_pre)
        super().__init__(stem, stages, head, first_conv="stem.conv.weight")
        init_he_fan_out(self, zero_conv_bias=True)


V3_VARIANTS = {"mobilenet_v3_large": MOBILENET_V3_LARGE, "mobilenet_v3_small": MOBILENET_V3_SMALL}
for _name, _cfg in V3_VARIANTS.items():
    register_model(_name, partial(MobileNetV3, _cfg), family="mobilenet_v3", paper=MOBILENET_V3)
    register_torchvision_weights(_name)


# ---- torchvision key layout -------------------------------------------------
# torchvision keeps every layer in one flat `features` Sequential: features.0 is
# the stem, features.1..N the blocks, features.N+1 the last 1x1 conv. Our
# stages.S.B names follow from the stage depths of the table.

def block_prefixes(depths: Sequence[int]) -> list[str]:
    """Our `stages.S.B.` prefix of every block, in network order."""
    return [f"stages.{s}.{b}." for s, depth in enumerate(depths) for b in range(depth)]


def _conv_norm(part: str) -> str:
    """torchvision's Conv2dNormActivation children: 0 conv, 1 norm."""
    return {"0": "conv", "1": "bn"}[part]


def convert_torchvision_v2(state_dict):
    """features.I.conv.J: [expand (conv, bn)], dw (conv, bn), project conv, project bn."""
    depths = [sum(row.repeats for row in rows) for rows in MOBILENET_V2_STAGES]
    blocks = block_prefixes(depths)
    has_expand = [row.expand_ratio != 1 for rows in MOBILENET_V2_STAGES for row in rows for _ in range(row.repeats)]

    def conv_norm_act(m):  # the expand and depth-wise ConvNormActs
        i, j = int(m[1]) - 1, int(m[2])
        layer = ("expand", "dw")[j] if has_expand[i] else "dw"
        return f"{blocks[i]}{layer}.{_conv_norm(m[3])}.{m[4]}"

    def project(m):  # a bare Conv2d then its BatchNorm
        i, j = int(m[1]) - 1, int(m[2])
        part = j - (2 if has_expand[i] else 1)
        return f"{blocks[i]}project.{('conv', 'bn')[part]}.{m[3]}"

    head = len(blocks) + 1
    return rename_keys(state_dict, [
        (r"features\.0\.([01])\.(.+)", lambda m: f"stem.{_conv_norm(m[1])}.{m[2]}"),
        (rf"features\.{head}\.([01])\.(.+)", lambda m: f"head.pre.{_conv_norm(m[1])}.{m[2]}"),
        (r"features\.(\d+)\.conv\.(\d+)\.([01])\.(.+)", conv_norm_act),
        (r"features\.(\d+)\.conv\.(\d+)\.(.+)", project),
        (r"classifier\.1\.(.+)", r"head.fc.\1"),
    ])


register_converter("mobilenet_v2", "torchvision", transform=convert_torchvision_v2)


def convert_torchvision_v3(state_dict):
    """features.I.block.J: [expand], dw, [se (fc1, fc2)], project; classifier.0/.3 the MLP."""
    block_keys = [k.split(".") for k in state_dict if k.startswith("features.") and ".block." in k]
    n_blocks = len({k[1] for k in block_keys})
    cfg = next((c for c in V3_VARIANTS.values() if sum(map(len, c.stages)) == n_blocks), None)
    if cfg is None:
        return state_dict  # no MobileNet v3 has this many blocks: not this layout
    blocks = block_prefixes([len(rows) for rows in cfg.stages])
    # A block has an expand conv where it has three conv-norm children (at any width_mult).
    conv_norms = [{k[3] for k in block_keys if k[1] == str(i + 1) and k[4] == "0"} for i in range(n_blocks)]
    rows = [row for stage in cfg.stages for row in stage]
    layers = [  # per block, the names of its block.J children
        [*(["expand"] if len(conv_norms[i]) == 3 else []), "dw", *(["se"] if row.se else []), "project"]
        for i, row in enumerate(rows)
    ]

    def conv_norm_act(m):
        i, j = int(m[1]) - 1, int(m[2])
        return f"{blocks[i]}{layers[i][j]}.{_conv_norm(m[3])}.{m[4]}"

    head = len(blocks) + 1
    return rename_keys(state_dict, [
        (r"features\.0\.([01])\.(.+)", lambda m: f"stem.{_conv_norm(m[1])}.{m[2]}"),
        (rf"features\.{head}\.([01])\.(.+)", lambda m: f"head.pre.{_conv_norm(m[1])}.{m[2]}"),
        (r"features\.(\d+)\.block\.(\d+)\.([01])\.(.+)", conv_norm_act),
        (r"features\.(\d+)\.block\.\d+\.(fc[12]\..+)", lambda m: f"{blocks[int(m[1]) - 1]}se.{m[2]}"),
        (r"classifier\.0\.(.+)", r"head.hidden.\1"),
        (r"classifier\.3\.(.+)", r"head.fc.\1"),
    ])


register_converter("mobilenet_v3", "torchvision", transform=convert_torchvision_v3)
