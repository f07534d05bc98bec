"""AlexNet: five convolutions and a three-layer MLP.

"ImageNet Classification with Deep Convolutional Neural Networks" (Krizhevsky,
Sutskever & Hinton, 2012), in the single-GPU form of "One weird trick for
parallelizing convolutional neural networks" (Krizhevsky, 2014) that torchvision
ships: widths 64-192-384-256-256 instead of the two-GPU 96-256-384-384-256, no
local response normalisation, and padded convs.

Anatomy: the stride-4 11x11 conv is the stem; each of the three overlapping
3x3/2 max-pools closes a stage (strides 8, 16, 32); the head pools to the 6x6
grid the MLP was designed for, so any input size works.

`spatial_dims=1|3` builds the same network for signals (N, C, L) or volumes
(N, C, D, H, W): every kernel, stride and pool repeated over each dim, the
head pooling to 6 or 6x6x6 (its first Linear reads 256 * 6^d). Inputs need at
least 63 samples per dim, as images need 63x63.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from torch import nn

from ..layers import ConvNormAct, for_dims
from ..layers.mlp_head import MLPHead
from ..net import ConvNet
from ..registry import Paper, register_model
from ..weights import register_converter, register_torchvision_weights

ALEXNET = Paper("ImageNet Classification with Deep Convolutional Neural Networks", 2012,
                "https://papers.nips.cc/paper/4824-imagenet-classification-with-deep-convolutional-neural-networks")


@dataclass(frozen=True)
class ConvLayer:
    out_channels: int
    kernel_size: int
    stride: int
    padding: int
    pool_after: bool  # an overlapping 3x3/2 max-pool follows (and closes a stage)


# The conv layers conv1..conv5, top to bottom.
ALEXNET_CONVS = (
    ConvLayer(64, 11, 4, 2, pool_after=True),
    ConvLayer(192, 5, 1, 2, pool_after=True),
    ConvLayer(384, 3, 1, 1, pool_after=False),
    ConvLayer(256, 3, 1, 1, pool_after=False),
    ConvLayer(256, 3, 1, 1, pool_after=True),
)


class AlexNet(ConvNet):
    """stem conv1 (stride 4) -> [pool1] -> [conv2, pool2] -> [conv3-5, pool3] -> MLP head."""

    family = "alexnet"

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.5, spatial_dims: int = 2):
        conv, max_pool = for_dims(nn.Conv2d, spatial_dims), for_dims(nn.MaxPool2d, spatial_dims)
        first, *rest = ALEXNET_CONVS
        stem = nn.Sequential(OrderedDict(
            conv=conv(in_chans, first.out_channels, first.kernel_size, first.stride, first.padding),
            act=nn.ReLU(inplace=True),
        ))
        stages, stage, in_channels = [], OrderedDict(), first.out_channels
        for index, layer in enumerate(ALEXNET_CONVS, start=1):
            if index > 1:  # conv1 is the stem
                stage[f"conv{index}"] = ConvNormAct(in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                                                    norm_layer=None, padding=layer.padding,
                                                    spatial_dims=spatial_dims)
                in_channels = layer.out_channels
            if layer.pool_after:
                stage[f"pool{len(stages) + 1}"] = max_pool(3, 2)
                stages.append(nn.Sequential(stage))
                stage = OrderedDict()
        head = MLPHead(in_channels, 6, num_classes, drop_rate=drop_rate, dropout_first=True,
                       spatial_dims=spatial_dims)
        super().__init__(stem, stages, head, first_conv="stem.conv.weight")
        for m in self.modules():
            if isinstance(m, conv):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)


register_model("alexnet", AlexNet, family="alexnet", paper=ALEXNET)
register_torchvision_weights("alexnet")


# torchvision: features.{0,3,6,8,10} are conv1..conv5 (ReLUs and pools between
# them), classifier.{1,4,6} the Linears (Dropouts at 0 and 3).
_TORCHVISION_RULES = [
    (r"features\.0\.(weight|bias)", r"stem.conv.\1"),
    (r"features\.3\.(weight|bias)", r"stages.1.conv2.conv.\1"),
    (r"features\.6\.(weight|bias)", r"stages.2.conv3.conv.\1"),
    (r"features\.8\.(weight|bias)", r"stages.2.conv4.conv.\1"),
    (r"features\.10\.(weight|bias)", r"stages.2.conv5.conv.\1"),
    (r"classifier\.1\.(weight|bias)", r"head.hidden.fc1.\1"),
    (r"classifier\.4\.(weight|bias)", r"head.hidden.fc2.\1"),
    (r"classifier\.6\.(weight|bias)", r"head.fc.\1"),
]


register_converter("alexnet", "torchvision", rules=_TORCHVISION_RULES)
