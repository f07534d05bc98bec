"""Pre-activation ResNet ("ResNet v2").

"Identity Mappings in Deep Residual Networks" (He et al., 2016). The residual
branch normalises and activates *before* each conv (BN -> ReLU -> conv), and
nothing follows the addition: the shortcut is a pure identity from block to
block, so signal and gradient pass through the whole depth unchanged.

Layout decisions, and why:
- The stem is a bare 7x7/2 conv and max-pool: the first block's BN-ReLU
  pre-activates it, so a stem BN would be redundant.
- A block's first BN-ReLU feeds both branches: where the shape changes, the
  1x1 projection shortcut reads the pre-activated input (as in the paper's
  code and timm), so the un-normalised stream is never projected.
- Like torchvision's v1.5 and timm's `resnetv2_*`, the stride sits on the 3x3 conv.
- The final BN-ReLU, which a pre-activation network needs because no block
  normalises its own output, belongs to the *head* (`head.pre`): it is the
  classifier's input normalisation. So every stage, the last included, outputs
  the raw residual stream (forward_stages gives tensors of one kind), and
  `forward_features` is that raw last stage. timm's `forward_features` applies
  the norm; ours leaves it to the head, whose logits and pooled features
  (reset_classifier(0)) are timm's.

Reference: timm's `resnetv2_50/101/152` (BatchNorm, plain convs).

`spatial_dims=1|3`: the same network over signals or volumes (layers/dims.py).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import ClassifierHead, DropPath
from ..layers.dims import for_dims
from ..layers.init import init_he_fan_out
from ..layers.dilation import dilated_stage_plan
from ..layers.drop import drop_path_rates
from ..net import ConvNet
from ..registry import Paper, register_model
from ..weights import register_converter

RESNET_V2 = Paper("Identity Mappings in Deep Residual Networks", 2016, "https://arxiv.org/abs/1603.05027")


class BatchNormReLU(nn.BatchNorm2d):
    """BatchNorm followed by ReLU, one module: the pre-activation of v2.

    Being a BatchNorm2d (same parameters and buffers), it keeps checkpoint
    keys flat (`norm1.weight`), as timm's BatchNormAct2d does. Its forward
    is rank-free (F.batch_norm), so 1D and 3D models use it as it is.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # BatchNorm2d.forward spelled out: TorchScript cannot call super(), and
        # its input-rank check is a branch torch.fx cannot trace.
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average
                momentum = 1.0 / float(self.num_batches_tracked)
        use_batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        # Running buffers are passed only where they are read or updated.
        keep_running = not self.training or self.track_running_stats
        return F.relu(F.batch_norm(x, self.running_mean if keep_running else None,
                                   self.running_var if keep_running else None, self.weight, self.bias,
                                   use_batch_stats, momentum, self.eps))


class PreActBottleneck(nn.Module):
    """BN-ReLU-conv1x1 -> BN-ReLU-conv3x3 (stride) -> BN-ReLU-conv1x1 (x4), + shortcut."""

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1, drop_path: float = 0.0,
                 dilation: int = 1, first_dilation: int | None = None, spatial_dims: int = 2):
        super().__init__()
        first_dilation = first_dilation or dilation  # the 3x3's; `dilation` is the stage's (output_stride)
        conv = for_dims(nn.Conv2d, spatial_dims)
        out_channels = planes * self.expansion
        self.norm1 = BatchNormReLU(in_channels)
        self.conv1 = conv(in_channels, planes, 1, bias=False)
        self.norm2 = BatchNormReLU(planes)
        self.conv2 = conv(planes, planes, 3, stride, first_dilation, first_dilation, bias=False)
        self.norm3 = BatchNormReLU(planes)
        self.conv3 = conv(planes, out_channels, 1, bias=False)
        # A dilated stage's first block keeps the projection its stride gave it.
        needs_projection = stride != 1 or in_channels != out_channels or first_dilation != dilation
        self.downsample = conv(in_channels, out_channels, 1, stride, bias=False) if needs_projection else None
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        preact = self.norm1(x)
        shortcut = x if self.downsample is None else self.downsample(preact)
        out = self.conv1(preact)
        out = self.conv2(self.norm2(out))
        out = self.conv3(self.norm3(out))
        out = self.drop_path(out)
        out += shortcut  # in place: one activation-sized buffer fewer per block
        return out


@dataclass(frozen=True)
class ResNetV2Config:
    depths: tuple[int, int, int, int]  # bottlenecks per stage
    planes: tuple[int, int, int, int] = (64, 128, 256, 512)  # bottleneck widths; outputs are 4x
    stem_width: int = 64
    drop_rate: float = 0.0  # dropout before the classifier


class ResNetV2(ConvNet):
    """stem (7x7/2 conv, 3x3/2 max-pool) -> four pre-activation stages
    (strides 4, 8, 16, 32) -> head (BN-ReLU, pool, fc).

    output_stride 16 or 8: the last one or two stages keep their input's
    resolution, their 3x3 convs dilated by the stride given up (as ResNet v1's,
    resnet.py); same weights, and timm's `output_stride` builds the same network."""

    family = "resnet_v2"

    def __init__(self, cfg: ResNetV2Config, num_classes: int = 1000, in_chans: int = 3, drop_path_rate: float = 0.0,
                 output_stride: int = 32, spatial_dims: int = 2):
        stem = nn.Sequential(OrderedDict(
            conv=for_dims(nn.Conv2d, spatial_dims)(in_chans, cfg.stem_width, 7, 2, 3, bias=False),
            pool=for_dims(nn.MaxPool2d, spatial_dims)(3, 2, 1),
        ))
        in_channels = cfg.stem_width
        stages = []
        rates = drop_path_rates(drop_path_rate, list(cfg.depths))
        stage_plan = dilated_stage_plan(output_stride, stem_stride=4, stage_strides=(1, 2, 2, 2))
        for i, (depth, planes) in enumerate(zip(cfg.depths, cfg.planes)):
            stride, dilation, first_dilation = stage_plan[i]
            blocks = []
            for j in range(depth):
                blocks.append(PreActBottleneck(
                    in_channels, planes, stride=stride if j == 0 else 1, drop_path=rates[i][j],
                    dilation=dilation, first_dilation=first_dilation if j == 0 else dilation,
                    spatial_dims=spatial_dims))
                in_channels = planes * PreActBottleneck.expansion
            stages.append(nn.Sequential(*blocks))
        head = ClassifierHead(in_channels, num_classes, cfg.drop_rate, pre=BatchNormReLU(in_channels),
                              spatial_dims=spatial_dims)
        super().__init__(stem, stages, head, first_conv="stem.conv.weight")
        init_he_fan_out(self)


VARIANTS = {
    "resnet50_v2": ResNetV2Config((3, 4, 6, 3)),
    "resnet101_v2": ResNetV2Config((3, 4, 23, 3)),
    "resnet152_v2": ResNetV2Config((3, 8, 36, 3)),
}

for _name, _cfg in VARIANTS.items():
    register_model(_name, partial(ResNetV2, _cfg), family="resnet_v2", paper=RESNET_V2)


# timm's ResNetV2: blocks under `stages.I.blocks.J.`, final norm `norm`, and
# a 1x1 conv classifier `head.fc` (our Linear: same numbers, 2-D weight).
_TIMM_RULES = [
    (r"stages\.(\d+)\.blocks\.(\d+)\.downsample\.conv\.(.+)", r"stages.\1.\2.downsample.\3"),
    (r"stages\.(\d+)\.blocks\.(\d+)\.(.+)", r"stages.\1.\2.\3"),
    (r"norm\.(.+)", r"head.pre.\1"),
]


def _flatten_conv_classifier(state_dict):
    """timm's classifier is a 1x1 conv; ours is a Linear."""
    weight = state_dict.get("head.fc.weight")
    if weight is not None and weight.ndim == 4:
        state_dict["head.fc.weight"] = weight.flatten(1)
    return state_dict


register_converter("resnet_v2", "timm", rules=_TIMM_RULES, transform=_flatten_conv_classifier)
