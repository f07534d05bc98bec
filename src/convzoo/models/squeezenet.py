"""SqueezeNet: AlexNet accuracy from Fire modules, with 50x fewer parameters.

"SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model
size" (Iandola et al., 2016). A Fire module squeezes the channels with 1x1
convs, then expands them again with 1x1 and 3x3 convs side by side (the paper's
Table 1 lists s1x1 / e1x1 / e3x3 per module; e1x1 = e3x3 throughout).
SqueezeNet 1.1 (from the authors' repository) has a 3x3 stem conv and pools
earlier: the same accuracy for 2.4x less computation.

Anatomy: the unpadded stride-2 conv is the stem; each 3x3/2 max-pool (ceil
mode) opens a stage of Fire modules. The network has only three pools, so its
last stage ends at stride 16, not 32 (13x13 at 224). The head is the paper's:
dropout, a 1x1 conv classifier with ReLU, global average pool.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from ..layers import ConvNormAct
from ..layers.head import ResettableHead
from ..net import ConvNet
from ..registry import Paper, register_model
from ..weights import register_converter, register_torchvision_weights

SQUEEZENET = Paper("SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size", 2016,
                   "https://arxiv.org/abs/1602.07360")


class Fire(nn.Module):
    """1x1 squeeze -> ReLU -> [1x1 expand, 3x3 expand] -> ReLU -> concatenated."""

    def __init__(self, in_channels: int, squeeze: int, expand: int):
        super().__init__()
        self.squeeze = ConvNormAct(in_channels, squeeze, 1, norm_layer=None)
        self.expand1x1 = ConvNormAct(squeeze, expand, 1, norm_layer=None)
        self.expand3x3 = ConvNormAct(squeeze, expand, 3, norm_layer=None)
        self.out_channels = 2 * expand

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze(x)
        return torch.cat([self.expand1x1(x), self.expand3x3(x)], 1)


@dataclass(frozen=True)
class SqueezeNetConfig:
    stem_channels: int
    stem_kernel_size: int
    # Per stage (each opened by a max-pool), its Fire modules as (s1x1, e1x1 = e3x3).
    stages: tuple[tuple[tuple[int, int], ...], ...]


VARIANTS = {
    "squeezenet1_0": SqueezeNetConfig(96, 7, (
        ((16, 64), (16, 64), (32, 128)),  # fire2-4
        ((32, 128), (48, 192), (48, 192), (64, 256)),  # fire5-8
        ((64, 256),),  # fire9
    )),
    "squeezenet1_1": SqueezeNetConfig(64, 3, (
        ((16, 64), (16, 64)),  # fire2-3
        ((32, 128), (32, 128)),  # fire4-5
        ((48, 192), (48, 192), (64, 256), (64, 256)),  # fire6-9
    )),
}


class SqueezeNetHead(ResettableHead):
    """Dropout -> 1x1 conv to the classes (`fc`) -> ReLU -> global average pool.

    Head protocol as `ClassifierHead`: `reset(num_classes)` replaces `fc`;
    with 0 classes it returns the pooled features.
    """

    def __init__(self, in_channels: int, num_classes: int = 1000, drop_rate: float = 0.5):
        super().__init__()
        self.drop = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()
        self.in_features = in_channels
        self.num_classes = num_classes
        self.fc = self._make_fc(num_classes)
        # Features are ReLU outputs already, so without a classifier this is a no-op.
        self.act = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)

    def _make_fc(self, num_classes: int) -> nn.Module:
        if num_classes <= 0:
            return nn.Identity()
        fc = nn.Conv2d(self.in_features, num_classes, 1)
        # Small initial logits (the authors' and torchvision's choice).
        nn.init.normal_(fc.weight, 0.0, 0.01)
        nn.init.zeros_(fc.bias)
        return fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.flatten(self.pool(self.act(self.fc(self.drop(x)))))


class SqueezeNet(ConvNet):
    """stem conv (stride 2) -> [max-pool, Fire modules] x 3 (strides 4, 8, 16) -> conv classifier head."""

    family = "squeezenet"

    def __init__(self, cfg: SqueezeNetConfig, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.5):
        stem = nn.Sequential(OrderedDict(
            conv=nn.Conv2d(in_chans, cfg.stem_channels, cfg.stem_kernel_size, stride=2),
            act=nn.ReLU(inplace=True),
        ))
        stages, in_channels = [], cfg.stem_channels
        for fire_specs in cfg.stages:
            fires = []
            for squeeze, expand in fire_specs:
                fires.append(Fire(in_channels, squeeze, expand))
                in_channels = fires[-1].out_channels
            stages.append(nn.Sequential(nn.MaxPool2d(3, 2, ceil_mode=True), *fires))
        head = SqueezeNetHead(in_channels, num_classes, drop_rate)
        super().__init__(stem, stages, head, first_conv="stem.conv.weight")
        for name, m in self.named_modules():
            if isinstance(m, nn.Conv2d) and not name.startswith("head."):
                nn.init.kaiming_uniform_(m.weight)
                nn.init.zeros_(m.bias)


for _name, _cfg in VARIANTS.items():
    register_model(_name, partial(SqueezeNet, _cfg), family="squeezenet", paper=SQUEEZENET)
    register_torchvision_weights(_name)


def convert_torchvision(state_dict):
    """torchvision SqueezeNet keys -> ours.

    torchvision's `features` is one Sequential: the stem conv at 0, then pools
    and Fire modules. The Fire modules (keys `features.N.squeeze...`) come in
    runs of consecutive numbers, a pool between two runs: run i is our stage i
    (whose index 0 is its pool). `classifier.1` is the 1x1 conv classifier.
    """
    fire = re.compile(r"features\.(\d+)\.(squeeze|expand1x1|expand3x3)\.(weight|bias)")
    fire_indices = sorted({int(fire.fullmatch(k)[1]) for k in state_dict if fire.fullmatch(k)})
    if not fire_indices:
        return dict(state_dict)  # no torchvision Fire modules: not this layout
    position, stage, j = {}, 0, 0
    for previous, index in zip([None, *fire_indices], fire_indices):
        if previous is not None and index != previous + 1:
            stage, j = stage + 1, 0
        j += 1  # 0 is the stage's pool
        position[index] = f"stages.{stage}.{j}"
    out = {}
    for key, value in state_dict.items():
        if m := fire.fullmatch(key):
            key = f"{position[int(m[1])]}.{m[2]}.conv.{m[3]}"
        elif m := re.fullmatch(r"features\.0\.(weight|bias)", key):
            key = f"stem.conv.{m[1]}"
        elif m := re.fullmatch(r"classifier\.1\.(weight|bias)", key):
            key = f"head.fc.{m[1]}"
        out[key] = value
    return out


register_converter("squeezenet", "torchvision", transform=convert_torchvision)
