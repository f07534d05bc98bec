"""SENet: ResNets and ResNeXts with squeeze-and-excitation.

"Squeeze-and-Excitation Networks" (Hu et al., 2018). Each residual block
re-weights the channels of its branch, just before the addition, by a gate
computed from their global average: pool -> FC (C -> C/16) -> ReLU ->
FC (C/16 -> C) -> sigmoid. Everything else is the ResNet / ResNeXt of
resnet.py, so the family is a table of ResNet configurations, registered in
the "resnet" family: the same converter reads torchvision/timm keys, the
SE layers appearing as `layerI.J.se.fc1/fc2`.

SENet-154 (the ILSVRC 2017 winner; the paper's appendix) is a 64x4d
SE-ResNeXt-152 with the paper's five changes that touch the architecture:
every bottleneck's first 1x1 conv halved (`reduce_first=2`), the 7x7 stem
conv replaced by three 3x3 convs, 3x3 instead of 1x1 strided projection
shortcuts, and dropout 0.2 before the classifier.

The reference is timm: SE bottleneck widths are C/16 rounded to a multiple of
8 (which only changes SE-ResNet-18/34's first stage, 4 -> 8), and the
bottleneck is torchvision's "v1.5" (stride on the 3x3 conv).
"""
from __future__ import annotations

from functools import partial

from ..data.preprocessing import Preprocessing
from ..registry import Paper, register_model
from ..weights import Weights, register_weights
from .resnet import BasicBlock, Bottleneck, ResNet, ResNetConfig

SENET = Paper("Squeeze-and-Excitation Networks", 2017, "https://arxiv.org/abs/1709.01507")

SE_RATIO = 1 / 16  # the paper's reduction ratio r = 16

VARIANTS = {
    "seresnet18": ResNetConfig(BasicBlock, (2, 2, 2, 2), se_ratio=SE_RATIO),
    "seresnet34": ResNetConfig(BasicBlock, (3, 4, 6, 3), se_ratio=SE_RATIO),
    "seresnet50": ResNetConfig(Bottleneck, (3, 4, 6, 3), se_ratio=SE_RATIO),
    "seresnet101": ResNetConfig(Bottleneck, (3, 4, 23, 3), se_ratio=SE_RATIO),
    "seresnet152": ResNetConfig(Bottleneck, (3, 8, 36, 3), se_ratio=SE_RATIO),
    "seresnext50_32x4d": ResNetConfig(Bottleneck, (3, 4, 6, 3), groups=32, base_width=4, se_ratio=SE_RATIO),
    "seresnext101_32x4d": ResNetConfig(Bottleneck, (3, 4, 23, 3), groups=32, base_width=4, se_ratio=SE_RATIO),
    "senet154": ResNetConfig(
        Bottleneck, (3, 8, 36, 3), groups=64, base_width=4, se_ratio=SE_RATIO,
        deep_stem=True, down_kernel_size=3, reduce_first=2, drop_rate=0.2,
    ),
}

for _name, _cfg in VARIANTS.items():
    register_model(_name, partial(ResNet, _cfg), family="resnet", paper=SENET)


# ---- weights ---------------------------------------------------------------------
# timm's files for these models (timm's own key names are torchvision's, which
# the resnet family's converter reads). Only files whose published name carries
# a hash prefix are offered: a download we cannot verify is not.
_TIMM = "https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-weights/"
_RSB = "https://github.com/huggingface/pytorch-image-models/releases/download/v0.1-rsb-weights/"
_GLUON = "https://github.com/rwightman/pytorch-pretrained-gluonresnet/releases/download/v0.1/"
# name, tag, url, crop_pct (every one: 224 px, bicubic, ImageNet mean/std), acc@1, acc@5:
# timm's own ImageNet-1k validation results at this preprocessing (its results/results-imagenet.csv).
_TIMM_WEIGHTS = [
    ("seresnet50", "IMAGENET1K_RA2", _TIMM + "seresnet50_ra_224-8efdb4bb.pth", 0.875, 80.260, 95.068),
    ("seresnet50", "IMAGENET1K_RSB_A1", _RSB + "seresnet50_a1_0-ffa00869.pth", 0.95, 80.012, 94.704),
    ("seresnet50", "IMAGENET1K_RSB_A2", _RSB + "seresnet50_a2_0-850de0d9.pth", 0.95, 80.102, 94.720),
    ("seresnext50_32x4d", "IMAGENET1K_RACM", _TIMM + "seresnext50_32x4d_racm-a304a460.pth", 0.875, 81.268, 95.624),
    ("seresnext50_32x4d", "IMAGENET1K_GLUON", _GLUON + "gluon_seresnext50_32x4d-90cf2d6e.pth", 0.875, 79.916, 94.816),
    ("seresnext101_32x4d", "IMAGENET1K_GLUON", _GLUON + "gluon_seresnext101_32x4d-cf52900d.pth", 0.875,
     80.886, 95.268),
    ("senet154", "IMAGENET1K_GLUON", _GLUON + "gluon_senet154-70a1a3c0.pth", 0.875, 81.258, 95.358),
]
for _name, _tag, _url, _crop_pct, _acc1, _acc5 in _TIMM_WEIGHTS:
    register_weights(Weights(
        model=_name, tag=_tag, url=_url, layout="timm",
        preprocessing=Preprocessing.from_crop_pct(224, _crop_pct, "bicubic"),
        meta={"acc1": _acc1, "acc5": _acc5, "source": "timm", "license": "Apache-2.0"},
    ))
