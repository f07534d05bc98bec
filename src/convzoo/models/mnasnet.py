"""MNASNet: "MnasNet: Platform-Aware Neural Architecture Search for Mobile"
(Tan et al., 2019).

The architecture search that later gave MobileNet v3 and EfficientNet: a
MobileNet v2 skeleton whose per-stage kernel sizes (3 or 5), expansion ratios
and depths were searched for accuracy under a measured phone latency. This is
the B1 variant torchvision ships (no squeeze-excite; the paper's Figure 7 is
the A1 variant with SE): stem conv, a separable conv ("SepConv", an MBConv
block with expansion 1), then MBConv rows. Width multiplier `alpha` scales every
width except the last conv's 1280, rounded to multiples of 8 (up unless that
adds more than 10%) as in the MobileNet reference code.

Stages group the rows by output stride (2, 4, 8, 16, 32); the final 1x1 conv
belongs to the head (`head.pre`). `output_stride` 16 or 8 dilates the last
stages instead of striding them, as in MobileNet v2 (mobilenet.py).
"""
from __future__ import annotations

from dataclasses import replace
from functools import partial

from torch import nn

from ..layers import ClassifierHead, ConvNormAct, make_divisible
from ..layers.init import init_he_fan_out
from ..net import ConvNet
from ..registry import Paper, register_model
from ..weights import register_converter, register_torchvision_weights, rename_keys
from .mobilenet import MBConvRow, block_prefixes, build_mbconv_stages

MNASNET = Paper("MnasNet: Platform-Aware Neural Architecture Search for Mobile", 2019,
                "https://arxiv.org/abs/1807.11626")

# (expand_ratio, channels, repeats, stride, kernel_size), grouped by output stride.
MNASNET_STAGES = (
    (MBConvRow(1, 16, 1, 1, 3),),                              # 2: SepConv 3x3
    (MBConvRow(3, 24, 3, 2, 3),),                              # 4
    (MBConvRow(3, 40, 3, 2, 5),),                              # 8
    (MBConvRow(6, 80, 3, 2, 5), MBConvRow(6, 96, 2, 1, 3)),    # 16
    (MBConvRow(6, 192, 4, 2, 5), MBConvRow(6, 320, 1, 1, 3)),  # 32
)
STEM_WIDTH = 32
HEAD_WIDTH = 1280

# The TF reference's BN decay 0.9997, i.e. PyTorch momentum 0.0003 (matters
# only when training: the running statistics move that slowly).
_BN = partial(nn.BatchNorm2d, momentum=1 - 0.9997)


class MNASNet(ConvNet):
    """3x3/2 conv (32) -> SepConv (16) -> MBConv rows -> 1x1 conv (1280) -> pool, dropout, fc.

    legacy_stem: keep the stem conv and the SepConv at 32 and 16 channels
    whatever `alpha` (torchvision's first release did; its mnasnet0_5 ImageNet
    checkpoint is of that kind).
    """

    family = "mnasnet"

    def __init__(self, alpha: float, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.2,
                 drop_path_rate: float = 0.0, legacy_stem: bool = False, output_stride: int = 32):
        if alpha <= 0:
            raise ValueError(f"alpha must be positive, not {alpha}")

        def width(c: float) -> int:
            return make_divisible(c * alpha, 8)

        stem_width = STEM_WIDTH if legacy_stem else width(STEM_WIDTH)
        rows = [[replace(row, channels=width(row.channels)) for row in stage] for stage in MNASNET_STAGES]
        if legacy_stem:
            rows[0] = list(MNASNET_STAGES[0])
        stem = ConvNormAct(in_chans, stem_width, 3, 2, norm_layer=_BN)
        stages = build_mbconv_stages(rows, stem_width, nn.ReLU, _BN, drop_path_rate, output_stride)
        head = ClassifierHead(HEAD_WIDTH, num_classes, drop_rate,
                              pre=ConvNormAct(rows[-1][-1].channels, HEAD_WIDTH, 1, norm_layer=_BN))
        super().__init__(stem, stages, head, first_conv="stem.conv.weight")
        init_he_fan_out(self, zero_conv_bias=True)


for _alpha, _suffix in [(0.5, "0_5"), (0.75, "0_75"), (1.0, "1_0"), (1.3, "1_3")]:
    register_model(f"mnasnet{_suffix}", partial(MNASNet, _alpha), family="mnasnet", paper=MNASNET)
    # torchvision's first MNASNet kept the stem at 32/16 channels for every
    # alpha, and its mnasnet0_5 ImageNet file is such a checkpoint.
    register_torchvision_weights(f"mnasnet{_suffix}", model_kwargs={"legacy_stem": True} if _alpha == 0.5 else None)


# torchvision: one flat `layers` Sequential. 0-2 stem conv/bn/relu, 3-7 the
# SepConv (dw conv, bn, relu, conv, bn), 8-13 one Sequential per row of blocks
# whose `layers` are expand (0, 1), dw (3, 4), project (6, 7); 14-15 the last conv.
_STEM_SEPCONV = {
    "0": "stem.conv", "1": "stem.bn",
    "3": "stages.0.0.dw.conv", "4": "stages.0.0.dw.bn", "6": "stages.0.0.project.conv", "7": "stages.0.0.project.bn",
    "14": "head.pre.conv", "15": "head.pre.bn",
}
_BLOCK_LAYERS = {
    "0": "expand.conv", "1": "expand.bn", "3": "dw.conv", "4": "dw.bn", "6": "project.conv", "7": "project.bn",
}
_FIRST_ROW_LAYER = 8


def _row_block_prefixes() -> list[list[str]]:
    """Our `stages.S.B.` prefix of each block of each torchvision row (rows after the SepConv)."""
    prefixes = iter(block_prefixes([sum(row.repeats for row in stage) for stage in MNASNET_STAGES]))
    return [[next(prefixes) for _ in range(row.repeats)] for stage in MNASNET_STAGES for row in stage][1:]


def convert_torchvision(state_dict):
    """torchvision's flat `layers` (either stem version: the names are the same) -> ours."""
    rows = _row_block_prefixes()

    def block(m):
        return f"{rows[int(m[1]) - _FIRST_ROW_LAYER][int(m[2])]}{_BLOCK_LAYERS[m[3]]}.{m[4]}"

    return rename_keys(state_dict, [
        (r"layers\.(\d+)\.(weight|bias|running_mean|running_var|num_batches_tracked)",
         lambda m: f"{_STEM_SEPCONV[m[1]]}.{m[2]}"),
        (r"layers\.(\d+)\.(\d+)\.layers\.(\d)\.(.+)", block),
        (r"classifier\.1\.(.+)", r"head.fc.\1"),
    ])


register_converter("mnasnet", "torchvision", transform=convert_torchvision)
