"""ResNet v1 and its widenings: ResNet, ResNeXt, Wide ResNet.

"Deep Residual Learning for Image Recognition" (He et al., 2015), in the
"v1.5" form torchvision ships: a bottleneck block downsamples in its 3x3 conv,
not its first 1x1 conv (better accuracy, as found by NVIDIA and others).
ResNeXt ("Aggregated Residual Transformations", Xie et al., 2016) makes the
3x3 conv grouped (cardinality x width); Wide ResNet ("Wide Residual Networks",
Zagoruyko & Komodakis, 2016) doubles the bottleneck width.

The blocks take options (squeeze-excite, deep stem, downsample kernel) that
the SENet family (senet.py) builds on.

`spatial_dims=1|3` builds the same network over signals (N, C, L) or volumes
(N, C, D, H, W): every conv, norm and pool is its 1D/3D sibling
(layers/dims.py), kernel k -> k or k x k x k, nothing else changes.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from ..layers import ClassifierHead, ConvNormAct, DropPath, SqueezeExcite, make_divisible
from ..layers.dims import for_dims
from ..layers.dilation import dilated_stage_plan
from ..layers.init import init_he_fan_out
from ..layers.drop import drop_path_rates
from ..net import ConvNet
from ..registry import Paper, register_model
from ..weights import register_converter, register_torchvision_weights

RESNET = Paper("Deep Residual Learning for Image Recognition", 2015, "https://arxiv.org/abs/1512.03385")
RESNEXT = Paper("Aggregated Residual Transformations for Deep Neural Networks", 2016, "https://arxiv.org/abs/1611.05431")
WIDE_RESNET = Paper("Wide Residual Networks", 2016, "https://arxiv.org/abs/1605.07146")


class BasicBlock(nn.Module):
    """Two 3x3 convs (ResNet-18/34). `se_ratio` adds squeeze-excite (SE-ResNet)."""

    expansion = 1

    def __init__(self, in_channels, planes, stride=1, groups=1, base_width=64,
                 se_ratio=0.0, drop_path=0.0, down_kernel_size=1, reduce_first=1, dilation=1, first_dilation=None,
                 spatial_dims=2):
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock supports only groups=1 and base_width=64")
        out_channels = planes * self.expansion
        first_planes = planes // reduce_first
        self.conv1 = ConvNormAct(in_channels, first_planes, 3, stride, dilation=first_dilation or dilation,
                                 spatial_dims=spatial_dims)
        self.conv2 = ConvNormAct(first_planes, out_channels, 3, dilation=dilation, act_layer=None,
                                 spatial_dims=spatial_dims)
        self.se = _make_se(out_channels, se_ratio, spatial_dims)
        self.downsample = _make_downsample(in_channels, out_channels, stride, down_kernel_size, spatial_dims)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.se(self.conv2(self.conv1(x)))
        out = self.drop_path(out)
        out += shortcut  # in place: one activation-sized buffer fewer per block
        return self.act(out)


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (stride, groups) -> 1x1 expand by 4 (ResNet-50 and up).

    The 3x3 conv has width planes * base_width / 64 * groups: 64-wide plain
    ResNet, `groups` x `base_width` for ResNeXt, doubled base_width for Wide ResNet.
    """

    expansion = 4

    def __init__(self, in_channels, planes, stride=1, groups=1, base_width=64,
                 se_ratio=0.0, drop_path=0.0, down_kernel_size=1, reduce_first=1, dilation=1, first_dilation=None,
                 spatial_dims=2):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        first_width = width // reduce_first
        out_channels = planes * self.expansion
        self.conv1 = ConvNormAct(in_channels, first_width, 1, spatial_dims=spatial_dims)
        self.conv2 = ConvNormAct(first_width, width, 3, stride, dilation=first_dilation or dilation, groups=groups,
                                 spatial_dims=spatial_dims)
        self.conv3 = ConvNormAct(width, out_channels, 1, act_layer=None, spatial_dims=spatial_dims)
        self.se = _make_se(out_channels, se_ratio, spatial_dims)
        self.downsample = _make_downsample(in_channels, out_channels, stride, down_kernel_size, spatial_dims)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.se(self.conv3(self.conv2(self.conv1(x))))
        out = self.drop_path(out)
        out += shortcut  # in place: one activation-sized buffer fewer per block
        return self.act(out)


def _make_se(channels: int, se_ratio: float, spatial_dims: int = 2) -> nn.Module:
    if not se_ratio:
        return nn.Identity()
    # timm's SE-ResNets round the bottleneck to a multiple of 8, never up by 10%.
    return SqueezeExcite(channels, make_divisible(channels * se_ratio, 8, round_limit=0.0), spatial_dims=spatial_dims)


def _make_downsample(in_channels, out_channels, stride, kernel_size, spatial_dims=2) -> nn.Module | None:
    """Projection shortcut (paper's option B) where the shape changes.

    A wider `kernel_size` (SENet-154's 3x3) only serves strided projections:
    one that merely widens the channels stays 1x1.
    """
    if stride == 1 and in_channels == out_channels:
        return None
    if stride == 1:
        kernel_size = 1
    return ConvNormAct(in_channels, out_channels, kernel_size, stride, act_layer=None, spatial_dims=spatial_dims)


def make_stem(in_chans: int, stem_width: int = 64, deep: bool = False, spatial_dims: int = 2) -> nn.Sequential:
    """conv -> BN -> ReLU -> 3x3/2 max-pool, stride 4 in all.

    `conv` is one 7x7/2 conv, or, `deep`, three 3x3 convs (the first strided,
    widths w, w, 2w) in its place (SENet-154; ResNet-C of "Bag of Tricks").
    The deep tower's last conv is left bare so that `bn`/`act` follow every
    stem alike, which is also how timm lays out its keys.
    """
    conv_layer = for_dims(nn.Conv2d, spatial_dims)
    if deep:
        conv = nn.Sequential(OrderedDict(
            conv1=ConvNormAct(in_chans, stem_width, 3, 2, spatial_dims=spatial_dims),
            conv2=ConvNormAct(stem_width, stem_width, 3, spatial_dims=spatial_dims),
            conv3=conv_layer(stem_width, stem_width * 2, 3, 1, 1, bias=False),
        ))
        out_channels = stem_width * 2
    else:
        conv = conv_layer(in_chans, stem_width, 7, 2, 3, bias=False)
        out_channels = stem_width
    return nn.Sequential(OrderedDict(
        conv=conv,
        bn=for_dims(nn.BatchNorm2d, spatial_dims)(out_channels),
        act=nn.ReLU(inplace=True),
        pool=for_dims(nn.MaxPool2d, spatial_dims)(3, 2, 1),
    ))


@dataclass(frozen=True)
class ResNetConfig:
    block: type  # BasicBlock or Bottleneck
    depths: tuple[int, int, int, int]  # blocks per stage
    groups: int = 1  # ResNeXt cardinality
    base_width: int = 64  # ResNeXt bottleneck width per group; 128 for Wide ResNet
    se_ratio: float = 0.0  # squeeze-excite bottleneck ratio (SE-ResNet: 1/16)
    deep_stem: bool = False
    down_kernel_size: int = 1
    reduce_first: int = 1  # every block's first 1x1 conv narrower by this factor (SENet-154)
    drop_rate: float = 0.0  # dropout before the classifier


class ResNet(ConvNet):
    """stem (stride 4) -> four stages of residual blocks (strides 4, 8, 16, 32) -> pool, fc.

    output_stride 16 or 8 (DeepLab's "atrous" encoder): the last one or two
    stages keep their input's resolution, their 3x3 convs dilated by the
    stride they gave up, so that they still see as far; the weights are the
    same tensors, and output_stride=32 is the plain network.

    spatial_dims 1 or 3: the network for signals (N, C, L) or volumes
    (N, C, D, H, W), every stride and dilation applied along each axis."""

    family = "resnet"

    def __init__(self, cfg: ResNetConfig, num_classes: int = 1000, in_chans: int = 3, drop_path_rate: float = 0.0,
                 output_stride: int = 32, spatial_dims: int = 2):
        stem_width = 64
        stem = make_stem(in_chans, stem_width, cfg.deep_stem, spatial_dims)
        in_channels = stem_width * 2 if cfg.deep_stem else stem_width
        stages = []
        rates = drop_path_rates(drop_path_rate, list(cfg.depths))
        stage_plan = dilated_stage_plan(output_stride, stem_stride=4, stage_strides=(1, 2, 2, 2))
        for i, (depth, planes) in enumerate(zip(cfg.depths, (64, 128, 256, 512))):
            stride, dilation, previous_dilation = stage_plan[i]
            blocks = []
            for j in range(depth):
                blocks.append(cfg.block(
                    in_channels, planes, stride=stride if j == 0 else 1,
                    groups=cfg.groups, base_width=cfg.base_width, se_ratio=cfg.se_ratio,
                    drop_path=rates[i][j], down_kernel_size=cfg.down_kernel_size,
                    reduce_first=cfg.reduce_first, dilation=dilation,
                    first_dilation=previous_dilation if j == 0 else dilation, spatial_dims=spatial_dims,
                ))
                in_channels = planes * cfg.block.expansion
            stages.append(nn.Sequential(*blocks))
        head = ClassifierHead(in_channels, num_classes, cfg.drop_rate, spatial_dims=spatial_dims)
        first_conv = "stem.conv.conv1.conv.weight" if cfg.deep_stem else "stem.conv.weight"
        super().__init__(stem, stages, head, first_conv=first_conv)
        init_he_fan_out(self, linear_std=None)


VARIANTS = {
    # name: (config, paper)
    "resnet18": (ResNetConfig(BasicBlock, (2, 2, 2, 2)), RESNET),
    "resnet34": (ResNetConfig(BasicBlock, (3, 4, 6, 3)), RESNET),
    "resnet50": (ResNetConfig(Bottleneck, (3, 4, 6, 3)), RESNET),
    "resnet101": (ResNetConfig(Bottleneck, (3, 4, 23, 3)), RESNET),
    "resnet152": (ResNetConfig(Bottleneck, (3, 8, 36, 3)), RESNET),
    "resnext50_32x4d": (ResNetConfig(Bottleneck, (3, 4, 6, 3), groups=32, base_width=4), RESNEXT),
    "resnext101_32x8d": (ResNetConfig(Bottleneck, (3, 4, 23, 3), groups=32, base_width=8), RESNEXT),
    "resnext101_64x4d": (ResNetConfig(Bottleneck, (3, 4, 23, 3), groups=64, base_width=4), RESNEXT),
    "wide_resnet50_2": (ResNetConfig(Bottleneck, (3, 4, 6, 3), base_width=128), WIDE_RESNET),
    "wide_resnet101_2": (ResNetConfig(Bottleneck, (3, 4, 23, 3), base_width=128), WIDE_RESNET),
}

for _name, (_cfg, _paper) in VARIANTS.items():
    register_model(_name, partial(ResNet, _cfg), family="resnet", paper=_paper)
    register_torchvision_weights(_name)


def _block(m) -> str:
    """`layerI.J.` of torchvision -> our `stages.(I-1).J.`"""
    return f"stages.{int(m[1]) - 1}.{m[2]}."


# timm's deep stem is one Sequential `conv1` (conv, bn, relu, conv, bn, relu,
# conv) followed by the usual `bn1`: its indices -> our named convs.
_DEEP_STEM = {
    "0": "stem.conv.conv1.conv.", "1": "stem.conv.conv1.bn.",
    "3": "stem.conv.conv2.conv.", "4": "stem.conv.conv2.bn.",
    "6": "stem.conv.conv3.",
}

# torchvision's key names, which timm's ResNets share: conv1/bn1 stem,
# layer1..4, convK + bnK per block, downsample.0/.1, fc.
_TORCHVISION_RULES = [
    (r"conv1\.weight", "stem.conv.weight"),
    (r"conv1\.(\d)\.(.+)", lambda m: _DEEP_STEM[m[1]] + m[2]),
    (r"bn1\.(.+)", r"stem.bn.\1"),
    (r"fc\.(.+)", r"head.fc.\1"),
    (r"layer(\d)\.(\d+)\.conv(\d)\.(.+)", lambda m: f"{_block(m)}conv{m[3]}.conv.{m[4]}"),
    (r"layer(\d)\.(\d+)\.bn(\d)\.(.+)", lambda m: f"{_block(m)}conv{m[3]}.bn.{m[4]}"),
    (r"layer(\d)\.(\d+)\.downsample\.0\.(.+)", lambda m: f"{_block(m)}downsample.conv.{m[3]}"),
    (r"layer(\d)\.(\d+)\.downsample\.1\.(.+)", lambda m: f"{_block(m)}downsample.bn.{m[3]}"),
    (r"layer(\d)\.(\d+)\.(.+)", lambda m: f"{_block(m)}{m[3]}"),  # se.fc1/se.fc2 (timm)
]


register_converter("resnet", "torchvision", rules=_TORCHVISION_RULES)
