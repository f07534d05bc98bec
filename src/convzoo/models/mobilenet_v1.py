"""MobileNet v1.

"MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
Applications" (Howard et al., 2017). Every convolution after the first is
factorised into a 3x3 depth-wise conv (one filter per channel: spatial
filtering) and a 1x1 point-wise conv (channel mixing), each followed by BN and
an activation: 8-9x fewer multiply-adds than a full 3x3 conv. There are no
residual connections.

The width multiplier alpha (`width_mult`) thins every layer uniformly
(Section 3.3): widths become alpha * M, rounded to a multiple of 8 as in the
TensorFlow and timm implementations (the paper's alphas 1, 0.75, 0.5, 0.25 give
multiples of 8 anyway).

Activation: the paper writes ReLU; the TensorFlow-slim release and timm, our
reference (`mobilenetv1_100`), use ReLU6, so we do too (the weights depend on it).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from torch import nn

from ..layers import ClassifierHead, ConvNormAct, make_divisible
from ..layers.init import init_he_fan_out
from ..net import ConvNet
from ..registry import Paper, register_model
from ..weights import register_converter

MOBILENET_V1 = Paper(
    "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications", 2017,
    "https://arxiv.org/abs/1704.04861",
)


@dataclass(frozen=True)
class StageConfig:
    """A run of depth-wise separable blocks; the first one has `stride`."""

    channels: int  # output width at width_mult = 1
    depth: int
    stride: int


# The paper's Table 1, grouped by output stride. Its last "Conv dw / s2" is a
# typo: the feature map is already 7x7, and every implementation uses stride 1.
STEM_CHANNELS = 32
STAGES = (
    StageConfig(64, 1, 1),  # stride 2 (the stem's)
    StageConfig(128, 2, 2),  # 4
    StageConfig(256, 2, 2),  # 8
    StageConfig(512, 6, 2),  # 16
    StageConfig(1024, 2, 2),  # 32
)


class DepthwiseSeparable(nn.Sequential):
    """3x3 depth-wise conv -> BN -> act, then 1x1 point-wise conv -> BN -> act (Figure 3)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, act_layer=nn.ReLU6):
        super().__init__(OrderedDict(
            dw=ConvNormAct(in_channels, in_channels, 3, stride, groups=in_channels, act_layer=act_layer),
            pw=ConvNormAct(in_channels, out_channels, 1, act_layer=act_layer),
        ))


class MobileNetV1(ConvNet):
    """3x3/2 conv stem -> five stages of depth-wise separable blocks (strides 2,
    4, 8, 16, 32) -> pool, fc."""

    family = "mobilenet_v1"

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, width_mult: float = 1.0, drop_rate: float = 0.0):
        def width(channels: int) -> int:
            return make_divisible(channels * width_mult, 8)

        act_layer = nn.ReLU6
        in_channels = width(STEM_CHANNELS)
        stem = ConvNormAct(in_chans, in_channels, 3, 2, act_layer=act_layer)
        stages = []
        for cfg in STAGES:
            blocks = []
            for i in range(cfg.depth):
                blocks.append(DepthwiseSeparable(in_channels, width(cfg.channels), cfg.stride if i == 0 else 1, act_layer))
                in_channels = width(cfg.channels)
            stages.append(nn.Sequential(*blocks))
        head = ClassifierHead(in_channels, num_classes, drop_rate)
        super().__init__(stem, stages, head, first_conv="stem.conv.weight")
        self.width_mult = width_mult
        init_he_fan_out(self)


register_model("mobilenet_v1", MobileNetV1, family="mobilenet_v1", paper=MOBILENET_V1)


# timm (`mobilenetv1_100`, `mobilenetv1_125`, EfficientNet-style layout):
# conv_stem/bn1 stem, blocks.I.J.{conv_dw, bn1, conv_pw, bn2}, classifier.
_TIMM_LAYERS = {"conv_dw": "dw.conv", "bn1": "dw.bn", "conv_pw": "pw.conv", "bn2": "pw.bn"}

_TIMM_RULES = [
    (r"conv_stem\.weight", "stem.conv.weight"),
    (r"bn1\.(.+)", r"stem.bn.\1"),
    (r"blocks\.(\d+)\.(\d+)\.(conv_dw|bn1|conv_pw|bn2)\.(.+)",
     lambda m: f"stages.{m[1]}.{m[2]}.{_TIMM_LAYERS[m[3]]}.{m[4]}"),
    (r"classifier\.(.+)", r"head.fc.\1"),
]


register_converter("mobilenet_v1", "timm", rules=_TIMM_RULES)
