"""VGG: stacks of 3x3 convs, a max-pool after each stack, a three-layer MLP.

"Very Deep Convolutional Networks for Large-Scale Image Recognition"
(Simonyan & Zisserman, 2014). Configurations A, B, D and E of the paper's
Table 1 are VGG-11, -13, -16 and -19; the `_bn` variants add BatchNorm after
every conv (not in the paper; torchvision trained them).

Anatomy: no stem (the first layer is a stride-1 conv of the first stage); each
of the five 2x2/2 max-pools closes a stage (strides 2, 4, 8, 16, 32); the head
pools to the 7x7 grid the MLP was designed for, so any input size works.

`spatial_dims=1|3` builds the same network for signals (N, C, L) or volumes
(N, C, D, H, W): kernels of 3 or 3x3x3, pools of 2 or 2x2x2, and a head
pooling to 7 or 7x7x7 (its first Linear reads 512 * 7^d). Inputs need at least 32 samples per
dim (five halvings); a 3D VGG's first Linear alone has 512 * 343 * 4096 = 719M
weights.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial

from torch import nn

from ..data.preprocessing import Preprocessing
from ..layers import ConvNormAct, for_dims
from ..layers.mlp_head import MLPHead
from ..net import ConvNet
from ..registry import Paper, register_model
from ..weights import register_converter, register_torchvision_weights

VGG_PAPER = Paper("Very Deep Convolutional Networks for Large-Scale Image Recognition", 2014,
                  "https://arxiv.org/abs/1409.1556")

# Table 1 of the paper, read column by column: the number of 3x3 convs in each
# of the five stacks. Stack i has STAGE_WIDTHS[i] channels; a max-pool ends it.
STAGE_WIDTHS = (64, 128, 256, 512, 512)


@dataclass(frozen=True)
class VGGConfig:
    column: str  # the configuration's letter in Table 1
    depths: tuple[int, int, int, int, int]  # 3x3 convs per stage


TABLE_1 = {
    "vgg11": VGGConfig("A", (1, 1, 2, 2, 2)),
    "vgg13": VGGConfig("B", (2, 2, 2, 2, 2)),
    "vgg16": VGGConfig("D", (2, 2, 3, 3, 3)),
    "vgg19": VGGConfig("E", (2, 2, 4, 4, 4)),
}


class VGG(ConvNet):
    """Five stages of [3x3 conv (-> BN) -> ReLU] x depth -> 2x2 max-pool, then the MLP head."""

    family = "vgg"

    def __init__(self, cfg: VGGConfig, batch_norm: bool = False, num_classes: int = 1000, in_chans: int = 3,
                 drop_rate: float = 0.5, spatial_dims: int = 2):
        norm_layer = nn.BatchNorm2d if batch_norm else None  # ConvNormAct takes its 1D/3D sibling
        stages, in_channels = [], in_chans
        for depth, width in zip(cfg.depths, STAGE_WIDTHS):
            layers = OrderedDict()
            for j in range(1, depth + 1):
                # The convs keep their bias even before BN, as torchvision's do.
                layers[f"conv{j}"] = ConvNormAct(in_channels, width, 3, norm_layer=norm_layer, bias=True,
                                                spatial_dims=spatial_dims)
                in_channels = width
            layers["pool"] = for_dims(nn.MaxPool2d, spatial_dims)(2, 2)
            stages.append(nn.Sequential(layers))
        head = MLPHead(in_channels, 7, num_classes, drop_rate=drop_rate, dropout_first=False,
                       spatial_dims=spatial_dims)
        super().__init__(nn.Identity(), stages, head, first_conv="stages.0.conv1.conv.weight")
        conv, norm = for_dims(nn.Conv2d, spatial_dims), for_dims(nn.BatchNorm2d, spatial_dims)
        for m in self.modules():
            if isinstance(m, conv):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, norm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


# VGG16's IMAGENET1K_FEATURES weights were ported from Caffe (amdegroot's SSD):
# inputs on the 0-255 scale, minus the mean pixel. Their classifier is NaN.
_FEATURES_PREPROCESSING = {
    "IMAGENET1K_FEATURES": Preprocessing(224, 256, "bilinear", (0.48235, 0.45882, 0.40784), (1 / 255,) * 3),
}

for _name, _cfg in TABLE_1.items():
    for _bn in (False, True):
        register_model(f"{_name}_bn" if _bn else _name, partial(VGG, _cfg, _bn), family="vgg", paper=VGG_PAPER)
        register_torchvision_weights(f"{_name}_bn" if _bn else _name, preprocessing=_FEATURES_PREPROCESSING)



def convert_torchvision(state_dict):
    """torchvision VGG keys -> ours.

    torchvision numbers the layers of `features` consecutively: conv (BN) ReLU,
    conv (BN) ReLU, ..., MaxPool. So the convs (the 4-d `features.N.weight`)
    come at a fixed step (2, or 3 with BN) within a stage, and a pool shows as
    one extra number between two stages. The classifier's Linears are
    `classifier.{0,3,6}`.
    """
    layer = re.compile(r"features\.(\d+)\.(.+)")
    conv_indices = sorted(int(layer.fullmatch(k)[1]) for k, v in state_dict.items()
                          if layer.fullmatch(k) and k.endswith(".weight") and v.ndim == 4)
    if not conv_indices:
        return dict(state_dict)  # no torchvision conv layers: not this layout
    batch_norm = any(f"features.{conv_indices[0] + 1}.running_mean" == k for k in state_dict)
    step = 3 if batch_norm else 2
    names, stage, j = {}, 0, 0
    for previous, index in zip([None, *conv_indices], conv_indices):
        if previous is not None and index - previous != step:  # a pool in between
            stage, j = stage + 1, 0
        j += 1
        names[index] = f"stages.{stage}.conv{j}.conv"
        names[index + 1] = f"stages.{stage}.conv{j}.bn"  # only present with BN
    classifier = {"classifier.0": "head.hidden.fc1", "classifier.3": "head.hidden.fc2", "classifier.6": "head.fc"}
    out = {}
    for key, value in state_dict.items():
        module, _, leaf = key.rpartition(".")
        m = layer.fullmatch(key)
        if m and int(m[1]) in names:
            module = names[int(m[1])]
        elif module in classifier:
            module = classifier[module]
        out[f"{module}.{leaf}"] = value
    return out


register_converter("vgg", "torchvision", transform=convert_torchvision)
