"""ShuffleNet V2.

"ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design"
(Ma et al., 2018). The paper measures speed, not FLOPs, and derives four
guidelines from it: equal input/output widths, few groups, little
fragmentation, few element-wise ops. The unit that follows them splits the
channels in two halves: one half passes through untouched, the other through
1x1 conv -> 3x3 depth-wise conv -> 1x1 conv (no grouped 1x1 convs), the two are
concatenated (no element-wise add) and the channels shuffled so that the halves
mix in the next unit. A down-sampling unit does not split: both branches see the
whole input and stride 2, which doubles the width.

Architecture (Table 5): 3x3/2 conv (24) -> 3x3/2 max-pool -> three stages of
4, 8, 4 units (the first of each down-samples) -> 1x1 conv -> pool -> fc.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from ..layers import ClassifierHead, ConvNormAct
from ..layers.init import init_he_fan_out
from ..layers.channel_shuffle import channel_shuffle
from ..net import ConvNet
from ..registry import Paper, register_model
from ..weights import register_converter, register_torchvision_weights

SHUFFLENET_V2 = Paper(
    "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design", 2018,
    "https://arxiv.org/abs/1807.11164",
)


def _depthwise(channels: int, stride: int) -> ConvNormAct:
    # The paper's units have no activation after the depth-wise conv.
    return ConvNormAct(channels, channels, 3, stride, groups=channels, act_layer=None)


class ShuffleUnit(nn.Module):
    """The ShuffleNet V2 unit (Figure 3 c, d).

    stride 1: split the channels in halves; `main` transforms the second half,
    the first is kept as is. stride 2: no split; `shortcut` (3x3/2 depth-wise ->
    1x1) and `main` both see the whole input, and each gives half the output.
    Either way the two halves are concatenated and shuffled.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        if out_channels % 2:
            raise ValueError(f"a ShuffleNet unit needs an even output width, got {out_channels}")
        branch_channels = out_channels // 2
        if stride == 1 and in_channels != out_channels:
            raise ValueError("a stride-1 ShuffleNet unit keeps its width (in_channels == out_channels)")
        self.stride = stride
        main_in = in_channels if stride > 1 else branch_channels
        self.main = nn.Sequential(OrderedDict(
            pw1=ConvNormAct(main_in, branch_channels, 1),
            dw=_depthwise(branch_channels, stride),
            pw2=ConvNormAct(branch_channels, branch_channels, 1),
        ))
        if stride > 1:
            self.shortcut = nn.Sequential(OrderedDict(
                dw=_depthwise(in_channels, stride),
                pw=ConvNormAct(in_channels, branch_channels, 1),
            ))
        else:
            self.shortcut = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.shortcut is None:
            kept, x = x.chunk(2, dim=1)
        else:
            kept = self.shortcut(x)
        return channel_shuffle(torch.cat((kept, self.main(x)), dim=1), 2)


@dataclass(frozen=True)
class ShuffleNetV2Config:
    """One column of the paper's Table 5."""

    stage_channels: tuple[int, int, int]  # output width of stages 2, 3, 4
    head_channels: int = 1024  # the 1x1 conv (conv5) before pooling
    depths: tuple[int, int, int] = (4, 8, 4)  # units per stage
    stem_channels: int = 24


class ShuffleNetV2(ConvNet):
    """stem (conv + max-pool, stride 4) -> three stages (strides 8, 16, 32) ->
    head (1x1 conv, pool, fc)."""

    family = "shufflenet"

    def __init__(self, cfg: ShuffleNetV2Config, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0):
        stem = nn.Sequential(OrderedDict(
            conv=nn.Conv2d(in_chans, cfg.stem_channels, 3, 2, 1, bias=False),
            bn=nn.BatchNorm2d(cfg.stem_channels),
            act=nn.ReLU(inplace=True),
            pool=nn.MaxPool2d(3, 2, 1),
        ))
        in_channels = cfg.stem_channels
        stages = []
        for depth, out_channels in zip(cfg.depths, cfg.stage_channels):
            units = [ShuffleUnit(in_channels, out_channels, 2)]
            units += [ShuffleUnit(out_channels, out_channels, 1) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*units))
            in_channels = out_channels
        head = ClassifierHead(
            cfg.head_channels, num_classes, drop_rate,
            pre=ConvNormAct(in_channels, cfg.head_channels, 1),
        )
        super().__init__(stem, stages, head, first_conv="stem.conv.weight")
        init_he_fan_out(self)


# Public: the Keras twin (keras/shufflenet.py) is built from the same table.
VARIANTS = {
    "shufflenet_v2_x0_5": ShuffleNetV2Config((48, 96, 192)),
    "shufflenet_v2_x1_0": ShuffleNetV2Config((116, 232, 464)),
    "shufflenet_v2_x1_5": ShuffleNetV2Config((176, 352, 704)),
    "shufflenet_v2_x2_0": ShuffleNetV2Config((244, 488, 976), head_channels=2048),
}

for _name, _cfg in VARIANTS.items():
    register_model(_name, partial(ShuffleNetV2, _cfg), family="shufflenet", paper=SHUFFLENET_V2)
    register_torchvision_weights(_name)


# torchvision: conv1.{0,1} stem, stage2..4, per unit branch1 (stride-2
# shortcut: dw conv, bn, pw conv, bn, relu) and branch2 (pw conv, bn, relu,
# dw conv, bn, pw conv, bn, relu), conv5.{0,1}, fc.
_BRANCH_LAYERS = {
    ("branch1", "0"): "shortcut.dw.conv", ("branch1", "1"): "shortcut.dw.bn",
    ("branch1", "2"): "shortcut.pw.conv", ("branch1", "3"): "shortcut.pw.bn",
    ("branch2", "0"): "main.pw1.conv", ("branch2", "1"): "main.pw1.bn",
    ("branch2", "3"): "main.dw.conv", ("branch2", "4"): "main.dw.bn",
    ("branch2", "5"): "main.pw2.conv", ("branch2", "6"): "main.pw2.bn",
}

_TORCHVISION_RULES = [
    (r"conv1\.0\.weight", "stem.conv.weight"),
    (r"conv1\.1\.(.+)", r"stem.bn.\1"),
    (r"stage(\d)\.(\d+)\.(branch\d)\.(\d)\.(.+)",
     lambda m: f"stages.{int(m[1]) - 2}.{m[2]}.{_BRANCH_LAYERS[m[3], m[4]]}.{m[5]}"),
    (r"conv5\.0\.weight", "head.pre.conv.weight"),
    (r"conv5\.1\.(.+)", r"head.pre.bn.\1"),
    (r"fc\.(.+)", r"head.fc.\1"),
]


register_converter("shufflenet", "torchvision", rules=_TORCHVISION_RULES)
