"""VAN: "Visual Attention Network" (Guo et al., 2022).

Self-attention's adaptivity and long range without its quadratic cost: Large
Kernel Attention (LKA) decomposes a 21x21 convolution into a 5x5 depth-wise
conv (local), a 7x7 depth-wise conv with dilation 3 (long range) and a 1x1
conv (across channels), and uses the result as an attention map that
*multiplies* the input, element by element.

The network is a four-stage pyramid like PVTv2's:

- each stage opens with an overlapping patch embedding: a conv (7x7 stride 4
  for the first, which is our stem; 3x3 stride 2 after) and BatchNorm;
- blocks: BN -> [1x1 -> GELU -> LKA -> 1x1, plus its own shortcut] and
  BN -> [1x1 expand -> 3x3 depth-wise -> GELU -> 1x1 project], each scaled per
  channel (layer scale, init 1e-2) on its residual, with stochastic depth;
- each stage ends with a LayerNorm over channels;
- head: global average pool -> linear.

Variants (the paper's Table 2): B0 32-64-160-256 wide with 3-3-5-2 blocks,
B1-B3 64-128-320-512 wide with 2-2-4-2 / 3-3-12-3 / 3-5-27-3 blocks; MLP ratios
8-8-4-4 throughout.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from ..layers import ClassifierHead, ConvNormAct, DropPath, Stage
from ..layers.drop import drop_path_rates
from ..layers.norm import LayerNorm2d
from ..net import ConvNet
from ..registry import Paper, register_model
from ..weights import register_converter, rename_keys

VAN = Paper("Visual Attention Network", 2022, "https://arxiv.org/abs/2202.09741")

# The stage-end LayerNorms' epsilon (the reference code's), read by the Keras twin too.
LN_EPS = 1e-6


class LargeKernelAttention(nn.Module):
    """5x5 depth-wise -> 7x7 depth-wise dilated 3 (a 21x21 receptive field) ->
    1x1; the result gates the input."""

    def __init__(self, dim: int):
        super().__init__()
        self.dw = nn.Conv2d(dim, dim, 5, padding=2, groups=dim)
        self.dw_dilated = nn.Conv2d(dim, dim, 7, padding=9, dilation=3, groups=dim)
        self.pw = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.pw(self.dw_dilated(self.dw(x)))


class SpatialAttention(nn.Module):
    """1x1 -> GELU -> LKA -> 1x1, plus a shortcut of its own (inside the block's
    residual branch, as in the reference code)."""

    def __init__(self, dim: int):
        super().__init__()
        self.proj_in = nn.Conv2d(dim, dim, 1)
        self.act = nn.GELU()
        self.lka = LargeKernelAttention(dim)
        self.proj_out = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj_out(self.lka(self.act(self.proj_in(x)))) + x


class ConvMlp(nn.Module):
    """1x1 expand -> 3x3 depth-wise -> GELU -> 1x1 project (PVTv2's MLP)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.dw = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(hidden, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.dw(self.fc1(x))))


class VANBlock(nn.Module):
    """x + scale1 * attention(BN(x)), then x + scale2 * MLP(BN(x)): a
    transformer block with LKA in place of self-attention and BatchNorm in
    place of LayerNorm."""

    def __init__(self, dim: int, mlp_ratio: int, drop_path: float = 0.0, layer_scale_init: float = 1e-2):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(dim)
        self.attn = SpatialAttention(dim)
        self.layer_scale1 = nn.Parameter(torch.full((dim,), layer_scale_init))
        self.norm2 = nn.BatchNorm2d(dim)
        self.mlp = ConvMlp(dim, dim * mlp_ratio)
        self.layer_scale2 = nn.Parameter(torch.full((dim,), layer_scale_init))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.layer_scale1[:, None, None] * self.attn(self.norm1(x)))
        return x + self.drop_path(self.layer_scale2[:, None, None] * self.mlp(self.norm2(x)))


def patch_embed(in_channels: int, out_channels: int, kernel_size: int, stride: int) -> ConvNormAct:
    """Overlapping patch embedding: conv (padding k // 2) -> BatchNorm, no activation."""
    return ConvNormAct(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2,
                       act_layer=None, bias=True)


@dataclass(frozen=True)
class VANConfig:
    widths: tuple[int, int, int, int]
    depths: tuple[int, int, int, int]
    mlp_ratios: tuple[int, int, int, int] = (8, 8, 4, 4)


class VANet(ConvNet):
    """patch-embedding stem (7x7/4) -> four stages (strides 4, 8, 16, 32) -> pool, fc."""

    family = "van"

    def __init__(self, cfg: VANConfig, num_classes: int = 1000, in_chans: int = 3,
                 drop_path_rate: float = 0.0, drop_rate: float = 0.0, layer_scale_init: float = 1e-2):
        stem = patch_embed(in_chans, cfg.widths[0], 7, 4)
        rates = drop_path_rates(drop_path_rate, list(cfg.depths))
        stages, in_channels = [], cfg.widths[0]
        for i, (width, mlp_ratio) in enumerate(zip(cfg.widths, cfg.mlp_ratios)):
            # [patch embedding (3x3 stride 2)] -> blocks -> LayerNorm over channels.
            stages.append(Stage(
                [VANBlock(width, mlp_ratio, rate, layer_scale_init) for rate in rates[i]],
                downsample=patch_embed(in_channels, width, 3, 2) if i > 0 else None,
                norm=LayerNorm2d(width, eps=LN_EPS),
            ))
            in_channels = width
        head = ClassifierHead(in_channels, num_classes, drop_rate)
        super().__init__(stem, stages, head, first_conv="stem.conv.weight")
        _init_weights(self)


def _init_weights(model: nn.Module) -> None:
    """The reference code's init: convs normal with std sqrt(2 / fan_out)
    (fan_out per group), linear layers truncated normal with std 0.02."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
        elif isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
        if isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None:
            nn.init.zeros_(m.bias)


VARIANTS = {
    "van_b0": VANConfig((32, 64, 160, 256), (3, 3, 5, 2)),
    "van_b1": VANConfig((64, 128, 320, 512), (2, 2, 4, 2)),
    "van_b2": VANConfig((64, 128, 320, 512), (3, 3, 12, 3)),
    "van_b3": VANConfig((64, 128, 320, 512), (3, 5, 27, 3)),
}

for _name, _cfg in VARIANTS.items():
    register_model(_name, partial(VANet, _cfg), family="van", paper=VAN)


# ---- foreign key layouts -----------------------------------------------------

def _block_rules(block_prefix: str, table: dict[str, str], first_stage: int) -> list:
    """Rules for the keys inside a block. `block_prefix` captures (stage, block);
    `first_stage` is the layout's number for our stage 0."""
    return [
        (block_prefix + re.escape(theirs) + r"(.*)",
         lambda m, ours=ours: f"stages.{int(m[1]) - first_stage}.blocks.{m[2]}.{ours}{m[3]}")
        for theirs, ours in table.items()
    ]


# The authors' code (Visual-Attention-Network/VAN-Classification, models/van.py):
# per stage i = 1..4 `patch_embed{i}` (proj, norm), `block{i}.J`, `norm{i}`;
# the classifier is `head`.
_ORIGINAL_BLOCK = {
    "norm1.": "norm1.",
    "attn.proj_1.": "attn.proj_in.",
    "attn.spatial_gating_unit.conv0.": "attn.lka.dw.",
    "attn.spatial_gating_unit.conv_spatial.": "attn.lka.dw_dilated.",
    "attn.spatial_gating_unit.conv1.": "attn.lka.pw.",
    "attn.proj_2.": "attn.proj_out.",
    "layer_scale_1": "layer_scale1",
    "norm2.": "norm2.",
    "mlp.fc1.": "mlp.fc1.",
    "mlp.dwconv.dwconv.": "mlp.dw.",
    "mlp.fc2.": "mlp.fc2.",
    "layer_scale_2": "layer_scale2",
}

# The Hugging Face port (transformers VanForImageClassification): stages under
# `van.encoder.stages.N` (embeddings, layers.J, normalization), `classifier`.
_HF_BLOCK = {
    "pre_normomalization.": "norm1.",  # sic
    "attention.pre_projection.conv.": "attn.proj_in.",
    "attention.attention_layer.attention.depth_wise.": "attn.lka.dw.",
    "attention.attention_layer.attention.depth_wise_dilated.": "attn.lka.dw_dilated.",
    "attention.attention_layer.attention.point_wise.": "attn.lka.pw.",
    "attention.post_projection.": "attn.proj_out.",
    "attention_scaling.weight": "layer_scale1",
    "post_normalization.": "norm2.",
    "mlp.in_dense.": "mlp.fc1.",
    "mlp.depth_wise.": "mlp.dw.",
    "mlp.out_dense.": "mlp.fc2.",
    "mlp_scaling.weight": "layer_scale2",
}


_ORIGINAL_RULES = [
    (r"patch_embed1\.proj\.(.+)", r"stem.conv.\1"),
    (r"patch_embed1\.norm\.(.+)", r"stem.bn.\1"),
    (r"patch_embed(\d)\.proj\.(.+)", lambda m: f"stages.{int(m[1]) - 1}.downsample.conv.{m[2]}"),
    (r"patch_embed(\d)\.norm\.(.+)", lambda m: f"stages.{int(m[1]) - 1}.downsample.bn.{m[2]}"),
    *_block_rules(r"block(\d)\.(\d+)\.", _ORIGINAL_BLOCK, first_stage=1),
    (r"norm(\d)\.(.+)", lambda m: f"stages.{int(m[1]) - 1}.norm.{m[2]}"),
    (r"head\.(weight|bias)", r"head.fc.\1"),
]

_HF_STAGE = r"(?:van\.)?encoder\.stages\."
_HF_RULES = [
    (_HF_STAGE + r"0\.embeddings\.convolution\.(.+)", r"stem.conv.\1"),
    (_HF_STAGE + r"0\.embeddings\.normalization\.(.+)", r"stem.bn.\1"),
    (_HF_STAGE + r"(\d)\.embeddings\.convolution\.(.+)", r"stages.\1.downsample.conv.\2"),
    (_HF_STAGE + r"(\d)\.embeddings\.normalization\.(.+)", r"stages.\1.downsample.bn.\2"),
    *_block_rules(_HF_STAGE + r"(\d)\.layers\.(\d+)\.", _HF_BLOCK, first_stage=0),
    (_HF_STAGE + r"(\d)\.normalization\.(.+)", r"stages.\1.norm.\2"),
    (r"classifier\.(.+)", r"head.fc.\1"),
]
# The port's VanModel builds a final `layernorm` that its forward never uses
# (each stage already ends with its LayerNorm): its weights are dropped.
_HF_UNUSED = re.compile(r"(?:van\.)?layernorm\..+")


register_converter("van", "original", rules=_ORIGINAL_RULES)


def convert_huggingface(state_dict):
    """Hugging Face transformers VAN keys (VanForImageClassification or VanModel) -> ours."""
    kept = {k: v for k, v in state_dict.items() if not _HF_UNUSED.fullmatch(k)}
    return rename_keys(kept, _HF_RULES)


register_converter("van", "huggingface", transform=convert_huggingface)
