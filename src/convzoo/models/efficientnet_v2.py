"""EfficientNet v2: S, M, L.

"EfficientNetV2: Smaller Models and Faster Training" (Tan & Le, 2021). A
training-aware search finds that depth-wise convolutions are slow in the early,
high-resolution layers: there Fused-MBConv (one full 3x3 conv in place of the
1x1 expand + 3x3 depth-wise pair) trains faster for the same accuracy. The
search also prefers small expansion ratios and 3x3 kernels throughout. S is
Table 4 of the paper; M and L are scaled up from it by hand, so each variant
is its own table (from the reference implementation), not a compound scaling.

Same network as EfficientNet v1 otherwise (efficientnet.py builds both);
torchvision's reference uses BatchNorm eps 1e-3 and a 1280-wide head.
"""
from __future__ import annotations

from functools import partial

from torch import nn

from ..registry import Paper, register_model
from ..weights import register_torchvision_weights
from .efficientnet import BlockRow, EfficientNetConfig, create_efficientnet

EFFICIENTNET_V2 = Paper("EfficientNetV2: Smaller Models and Faster Training", 2021, "https://arxiv.org/abs/2104.00298")


def _fused(expand_ratio, stride, channels, repeats):
    return BlockRow("fused", expand_ratio, 3, stride, channels, repeats, se_ratio=0.0)


def _mbconv(expand_ratio, stride, channels, repeats):
    return BlockRow("mbconv", expand_ratio, 3, stride, channels, repeats, se_ratio=0.25)


# name: (rows, stem width, dropout, input size). Rows: (expand, stride, channels, repeats).
V2_VARIANTS = {
    "efficientnet_v2_s": ((
        _fused(1, 1, 24, 2), _fused(4, 2, 48, 4), _fused(4, 2, 64, 4),
        _mbconv(4, 2, 128, 6), _mbconv(6, 1, 160, 9), _mbconv(6, 2, 256, 15),
    ), 24, 0.2, 384),
    "efficientnet_v2_m": ((
        _fused(1, 1, 24, 3), _fused(4, 2, 48, 5), _fused(4, 2, 80, 5),
        _mbconv(4, 2, 160, 7), _mbconv(6, 1, 176, 14), _mbconv(6, 2, 304, 18), _mbconv(6, 1, 512, 5),
    ), 24, 0.3, 480),
    "efficientnet_v2_l": ((
        _fused(1, 1, 32, 4), _fused(4, 2, 64, 7), _fused(4, 2, 96, 7),
        _mbconv(4, 2, 192, 10), _mbconv(6, 1, 224, 19), _mbconv(6, 2, 384, 25), _mbconv(6, 1, 640, 7),
    ), 32, 0.4, 480),
}

for _name, (_rows, _stem, _drop, _size) in V2_VARIANTS.items():
    register_model(
        _name,
        partial(create_efficientnet, EfficientNetConfig(_rows, _stem, 1280, _drop, nn.SiLU, bn_eps=1e-3)),
        family="efficientnet_v2", paper=EFFICIENTNET_V2, input_size=_size,
    )
    register_torchvision_weights(_name)
