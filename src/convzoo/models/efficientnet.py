"""EfficientNet (B0-B7); the shared builder and converters that EfficientNet v2
(efficientnet_v2.py) and EfficientNet-Lite (efficientnet_lite.py) use too.

"EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks"
(Tan & Le, 2019). A neural-architecture search finds the base network B0, a
column of MBConv rows (Table 1 of the paper); the bigger variants are B0
scaled by ONE compound coefficient phi: width x alpha^phi, depth x beta^phi,
resolution x gamma^phi. The released variants round those to the per-variant
(width, depth, resolution) of the table below.

A stage of our anatomy groups the paper's rows that share an output stride:
rows 1 | 2 | 3 | 4+5 | 6+7 of Table 1 -> strides 2, 4, 8, 16, 32.

`output_stride` 16 or 8 (DeepLab's encoder) keeps the last one or two stages at
their input's resolution, their spatial convs dilated by the stride given up
(layers/dilation.py); same weights, 32 is the plain network. TF "SAME" padding
pads a dilated conv by its dilated extent, as TF does.
"""
from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import partial
from typing import Callable

from torch import nn

from ..layers import ClassifierHead, ConvNormAct, FusedInvertedResidual, InvertedResidual, make_divisible
from ..layers.dilation import dilated_block_plan
from ..net import ConvNet
from ..registry import Paper, register_model
from ..weights import register_converter, register_torchvision_weights

EFFICIENTNET = Paper("EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks", 2019,
                     "https://arxiv.org/abs/1905.11946")


@dataclass(frozen=True)
class BlockRow:
    """One row of the paper's architecture table: `repeats` blocks of one kind.

    The first block of a row has the row's stride and changes the width; the
    others keep both. The row's input width is the previous row's output.
    """

    kind: str  # "mbconv" (depth-wise, EfficientNet) or "fused" (Fused-MBConv, EfficientNet v2)
    expand_ratio: int
    kernel_size: int
    stride: int
    out_channels: int
    repeats: int
    se_ratio: float = 0.25  # squeeze-excite width = se_ratio x the block's INPUT width; 0: no SE


@dataclass(frozen=True)
class EfficientNetConfig:
    rows: tuple[BlockRow, ...]
    stem_channels: int
    head_channels: int  # the 1x1 conv between the last row and the pool
    drop_rate: float  # dropout before the classifier
    act_layer: Callable[..., nn.Module] = nn.SiLU  # swish
    bn_eps: float = 1e-5
    padding: str | None = None  # None: symmetric; "same": TensorFlow's (for TF-trained weights)


# ---- compound scaling (the paper's reference: round_filters / round_repeats) ----

def round_filters(channels: int, width_mult: float) -> int:
    """Scale a width and round it to a multiple of 8, never down by more than 10%."""
    return make_divisible(channels * width_mult, 8)


def round_repeats(repeats: int, depth_mult: float) -> int:
    """Scale a row's depth, rounding up (a row never loses its last block)."""
    return int(math.ceil(depth_mult * repeats))


def compound_scale(rows: tuple[BlockRow, ...], width_mult: float, depth_mult: float,
                   fix_first_last_depth: bool = False) -> tuple[BlockRow, ...]:
    """The base network's rows widened by `width_mult` and deepened by
    `depth_mult`. Lite keeps the first and last rows at one block each."""
    last = len(rows) - 1
    return tuple(
        dataclasses.replace(
            row,
            out_channels=round_filters(row.out_channels, width_mult),
            repeats=row.repeats if fix_first_last_depth and i in (0, last) else round_repeats(row.repeats, depth_mult),
        )
        for i, row in enumerate(rows)
    )


def stage_of_rows(strides) -> list[int]:
    """Stage index of each row: a new stage opens at every row that halves the
    resolution, so each stage ends at a distinct output stride."""
    stage, out = 0, []
    for i, stride in enumerate(strides):
        if i > 0 and stride > 1:
            stage += 1
        out.append(stage)
    return out


# ---- the network -----------------------------------------------------------

class EfficientNet(ConvNet):
    """3x3/2 conv stem -> MBConv / Fused-MBConv rows grouped by stride -> 1x1 conv, pool, dropout, fc."""

    family = "efficientnet"

    def __init__(self, cfg: EfficientNetConfig, num_classes: int = 1000, in_chans: int = 3,
                 drop_path_rate: float = 0.2, output_stride: int = 32):
        norm = partial(nn.BatchNorm2d, eps=cfg.bn_eps)
        act = cfg.act_layer
        stem = ConvNormAct(in_chans, cfg.stem_channels, 3, 2, norm_layer=norm, act_layer=act, padding=cfg.padding)

        strides = [row.stride for row in cfg.rows]
        stage_index = stage_of_rows(strides)
        stages: list[list[nn.Module]] = [[] for _ in range(stage_index[-1] + 1)]
        block_strides: list[list[int]] = [[] for _ in stages]
        for row, s in zip(cfg.rows, stage_index):
            block_strides[s] += [row.stride] + [1] * (row.repeats - 1)
        plan = dilated_block_plan(output_stride, 2, block_strides)
        total_blocks = sum(row.repeats for row in cfg.rows)
        in_channels, block_id = cfg.stem_channels, 0
        for row, s in zip(cfg.rows, stage_index):
            for _ in range(row.repeats):
                # Stochastic depth rises linearly with depth, as in the TF
                # reference: block k of n drops with p = rate * k / n.
                drop_path = drop_path_rate * block_id / total_blocks
                stride, dilation = plan[s][len(stages[s])]
                stages[s].append(_make_block(row, in_channels, stride, dilation, drop_path, act, norm, cfg.padding))
                in_channels = row.out_channels
                block_id += 1

        head = ClassifierHead(
            cfg.head_channels, num_classes, cfg.drop_rate,
            pre=ConvNormAct(in_channels, cfg.head_channels, 1, norm_layer=norm, act_layer=act),
        )
        super().__init__(stem, [nn.Sequential(*blocks) for blocks in stages], head)
        _init_weights(self)


def _make_block(row: BlockRow, in_channels: int, stride: int, dilation: int, drop_path: float, act, norm,
                padding) -> nn.Module:
    expanded = make_divisible(in_channels * row.expand_ratio, 8)
    if row.kind == "fused":
        if row.se_ratio:
            raise ValueError("Fused-MBConv with squeeze-excite is not supported")
        return FusedInvertedResidual(in_channels, row.out_channels, row.kernel_size, stride, expanded,
                                     act_layer=act, norm_layer=norm, drop_path=drop_path, dilation=dilation,
                                     padding=padding)
    se_channels = max(1, int(in_channels * row.se_ratio)) if row.se_ratio else 0
    return InvertedResidual(in_channels, row.out_channels, row.kernel_size, stride, expanded,
                            se_channels=se_channels, act_layer=act, se_act_layer=act, norm_layer=norm,
                            drop_path=drop_path, dilation=dilation, padding=padding)


def _init_weights(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            bound = 1.0 / math.sqrt(m.out_features)
            nn.init.uniform_(m.weight, -bound, bound)
            nn.init.zeros_(m.bias)


_VARIANT_DEFAULT = object()


def create_efficientnet(cfg: EfficientNetConfig, *, padding=_VARIANT_DEFAULT, bn_eps: float | None = None,
                        drop_rate: float | None = None, output_stride: int = 32, **kwargs) -> EfficientNet:
    """Build from `cfg`. `padding` (None: symmetric, "same": TensorFlow's),
    `bn_eps` and `drop_rate` override the variant's own, e.g. to load weights
    trained another way (TF ports need padding="same", bn_eps=1e-3).
    `output_stride` is named here, not left to **kwargs, so that the factory can
    tell from the signature which families take it (factory.takes_option)."""
    overrides = {"bn_eps": bn_eps, "drop_rate": drop_rate}
    if padding is not _VARIANT_DEFAULT:
        overrides["padding"] = padding
    cfg = dataclasses.replace(cfg, **{k: v for k, v in overrides.items() if v is not None or k == "padding"})
    return EfficientNet(cfg, output_stride=output_stride, **kwargs)


# ---- EfficientNet B0-B7 ------------------------------------------------------

# Table 1 of the paper: EfficientNet-B0 (stem: 3x3 conv, 32; head: 1x1 conv, 1280).
B0_ROWS = (
    #        kind   expand kernel stride channels repeats
    BlockRow("mbconv", 1, 3, 1, 16, 1),
    BlockRow("mbconv", 6, 3, 2, 24, 2),
    BlockRow("mbconv", 6, 5, 2, 40, 2),
    BlockRow("mbconv", 6, 3, 2, 80, 3),
    BlockRow("mbconv", 6, 5, 1, 112, 3),
    BlockRow("mbconv", 6, 5, 2, 192, 4),
    BlockRow("mbconv", 6, 3, 1, 320, 1),
)

# name: (width, depth, input size, dropout, BN eps), from the reference
# implementation's table. Input size: the crop torchvision's weights are
# evaluated at (B2: 288; the paper trains B2 at 260). BN eps: torchvision's
# B0-B4 weights were trained in PyTorch (eps 1e-5), its B5-B7 ported from TF (1e-3).
V1_VARIANTS = {
    "efficientnet_b0": (1.0, 1.0, 224, 0.2, 1e-5),
    "efficientnet_b1": (1.0, 1.1, 240, 0.2, 1e-5),
    "efficientnet_b2": (1.1, 1.2, 288, 0.3, 1e-5),
    "efficientnet_b3": (1.2, 1.4, 300, 0.3, 1e-5),
    "efficientnet_b4": (1.4, 1.8, 380, 0.4, 1e-5),
    "efficientnet_b5": (1.6, 2.2, 456, 0.4, 1e-3),
    "efficientnet_b6": (1.8, 2.6, 528, 0.5, 1e-3),
    "efficientnet_b7": (2.0, 3.1, 600, 0.5, 1e-3),
}


def efficientnet_config(width_mult: float, depth_mult: float, drop_rate: float, bn_eps: float) -> EfficientNetConfig:
    return EfficientNetConfig(compound_scale(B0_ROWS, width_mult, depth_mult), round_filters(32, width_mult),
                              round_filters(1280, width_mult), drop_rate, nn.SiLU, bn_eps)


for _name, (_w, _d, _size, _drop, _eps) in V1_VARIANTS.items():
    register_model(_name, partial(create_efficientnet, efficientnet_config(_w, _d, _drop, _eps)),
                   family="efficientnet", paper=EFFICIENTNET, input_size=_size)
    register_torchvision_weights(_name)


# ---- converters from foreign key layouts --------------------------------------------
# Every layout numbers the blocks by the paper's rows (or flat); ours by stage.
# All EfficientNet tables share the row strides below (v2-S lacks the last
# row), so the stage of row r is known without the model.
_ROW_STRIDES = (1, 2, 2, 2, 1, 2, 1)


def _assemble(out: dict, rows: list[list[dict]]) -> dict:
    """Place each row's blocks (dicts of our block-relative keys) in our stages."""
    if not rows or len(rows) > len(_ROW_STRIDES):
        raise ValueError(f"{len(rows)} rows of blocks: not an EfficientNet")
    position = Counter()
    for stage, blocks in zip(stage_of_rows(_ROW_STRIDES[:len(rows)]), rows):
        for block in blocks:
            out.update({f"stages.{stage}.{position[stage]}.{k}": v for k, v in block.items()})
            position[stage] += 1
    return out


def _nested(groups: dict) -> list[list[dict]]:
    """{row: {block: {key: tensor}}} -> rows of blocks, in index order."""
    return [[groups[r][b] for b in sorted(groups[r])] for r in sorted(groups)]


def _conv_bn(rest: str) -> str:
    """`0.weight` -> `conv.weight`, `1.running_var` -> `bn.running_var` (Conv2dNormActivation)."""
    index, leaf = rest.split(".", 1)
    return {"0": "conv", "1": "bn"}[index] + "." + leaf


# A torchvision block is a Sequential whose children tell its kind by their number.
_TORCHVISION_CHILDREN = {
    4: ("expand", "dw", "se", "project"),  # MBConv
    3: ("dw", "se", "project"),  # MBConv, expand ratio 1
    2: ("fused", "project"),  # Fused-MBConv
    1: ("fused",),  # Fused-MBConv, expand ratio 1
}


def convert_torchvision(state_dict):
    """torchvision: features.0 stem, features.1..R rows, features.R+1 head conv, classifier.1 fc."""
    if "features.0.0.weight" not in state_dict:
        return state_dict  # not torchvision's layout
    head = max(int(k.split(".")[1]) for k in state_dict if k.startswith("features."))
    out, groups = {}, {}
    for key, value in state_dict.items():
        if m := re.fullmatch(r"features\.(\d+)\.(\d+)\.block\.(\d+)\.(.+)", key):
            groups.setdefault(int(m[1]), {}).setdefault(int(m[2]), {})[(int(m[3]), m[4])] = value
        elif m := re.fullmatch(r"features\.0\.(.+)", key):
            out[f"stem.{_conv_bn(m[1])}"] = value
        elif m := re.fullmatch(rf"features\.{head}\.(.+)", key):
            out[f"head.pre.{_conv_bn(m[1])}"] = value
        elif m := re.fullmatch(r"classifier\.1\.(.+)", key):
            out[f"head.fc.{m[1]}"] = value
        else:
            out[key] = value  # left for the loader to report
    rows = []
    for blocks in _nested(groups):
        rows.append([])
        for block in blocks:
            names = _TORCHVISION_CHILDREN[len({child for child, _ in block})]
            rows[-1].append({
                f"{names[child]}.{rest if names[child] == 'se' else _conv_bn(rest)}": v
                for (child, rest), v in block.items()
            })
    return _assemble(out, rows)


register_converter("efficientnet", "torchvision", transform=convert_torchvision)
register_converter("efficientnet_v2", "torchvision", transform=convert_torchvision)


# timm names a block's layers by its kind: ir (MBConv), ds (MBConv, expand
# ratio 1), er (Fused-MBConv), cn (Fused-MBConv, expand ratio 1).
_TIMM_BLOCKS = {
    "ir": {"conv_pw": "expand.conv", "bn1": "expand.bn", "conv_dw": "dw.conv", "bn2": "dw.bn",
           "conv_pwl": "project.conv", "bn3": "project.bn"},
    "ds": {"conv_dw": "dw.conv", "bn1": "dw.bn", "conv_pw": "project.conv", "bn2": "project.bn"},
    "er": {"conv_exp": "fused.conv", "bn1": "fused.bn", "conv_pwl": "project.conv", "bn2": "project.bn"},
    "cn": {"conv": "fused.conv", "bn1": "fused.bn"},
    "se": {"conv_reduce": "fc1", "conv_expand": "fc2"},
}
_TIMM_OUTSIDE = [
    (r"conv_stem\.(.+)", r"stem.conv.\1"), (r"bn1\.(.+)", r"stem.bn.\1"),
    (r"conv_head\.(.+)", r"head.pre.conv.\1"), (r"bn2\.(.+)", r"head.pre.bn.\1"),
    (r"classifier\.(.+)", r"head.fc.\1"),
]


def _timm_kind(layers: set[str]) -> str:
    if "conv_exp" in layers:
        return "er"
    if "conv_pwl" in layers:
        return "ir"
    return "ds" if "conv_dw" in layers else "cn"


def convert_timm(state_dict):
    """timm (efficientnet_*, tf_efficientnet_*, tf_efficientnetv2_*): blocks.ROW.BLOCK."""
    if "conv_stem.weight" not in state_dict:
        return state_dict  # not timm's layout
    out, groups = {}, {}
    for key, value in state_dict.items():
        if m := re.fullmatch(r"blocks\.(\d+)\.(\d+)\.(.+)", key):
            groups.setdefault(int(m[1]), {}).setdefault(int(m[2]), {})[m[3]] = value
            continue
        for pattern, repl in _TIMM_OUTSIDE:
            if re.fullmatch(pattern, key):
                key = re.sub(pattern, repl, key)
                break
        out[key] = value
    rows = []
    for blocks in _nested(groups):
        rows.append([])
        for block in blocks:
            names = _TIMM_BLOCKS[_timm_kind({k.split(".")[0] for k in block})]
            renamed = {}
            for key, value in block.items():
                layer, rest = key.split(".", 1)
                if layer == "se":
                    layer, rest = rest.split(".", 1)
                    renamed[f"se.{_TIMM_BLOCKS['se'][layer]}.{rest}"] = value
                else:
                    renamed[f"{names[layer]}.{rest}"] = value
            rows[-1].append(renamed)
    return _assemble(out, rows)


register_converter("efficientnet", "timm", transform=convert_timm)
register_converter("efficientnet_v2", "timm", transform=convert_timm)


_LUKEMELAS_BLOCK = {"_expand_conv": "expand.conv", "_bn0": "expand.bn", "_depthwise_conv": "dw.conv",
                    "_bn1": "dw.bn", "_se_reduce": "se.fc1", "_se_expand": "se.fc2",
                    "_project_conv": "project.conv", "_bn2": "project.bn"}
_LUKEMELAS_OUTSIDE = {"_conv_stem": "stem.conv", "_bn0": "stem.bn", "_conv_head": "head.pre.conv",
                      "_bn1": "head.pre.bn", "_fc": "head.fc"}


def convert_lukemelas(state_dict):
    """lukemelas/EfficientNet-PyTorch (and the Lite checkpoints in its layout):
    one flat list `_blocks.N`. Rows are found where the output width changes,
    which it does between every two rows of every EfficientNet table."""
    if "_conv_stem.weight" not in state_dict:
        return state_dict  # not lukemelas' layout
    out, flat = {}, {}
    for key, value in state_dict.items():
        if m := re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(.+)", key):
            flat.setdefault(int(m[1]), {})[f"{_LUKEMELAS_BLOCK[m[2]]}.{m[3]}"] = value
        else:
            layer, rest = key.split(".", 1)
            out[f"{_LUKEMELAS_OUTSIDE.get(layer, layer)}.{rest}"] = value
    rows, width = [], None
    for n in sorted(flat):
        block = flat[n]
        out_width = block["project.conv.weight"].shape[0]
        if out_width != width:
            rows.append([])
            width = out_width
        rows[-1].append(block)
    return _assemble(out, rows)


register_converter("efficientnet", "lukemelas", transform=convert_lukemelas)
