"""ConvNeXt: "A ConvNet for the 2020s" (Liu et al., 2022).

A ResNet-50 "modernised" step by step towards a Swin Transformer, keeping only
convolutions. What the paper kept (section 2 of the paper):

- patchify stem: a 4x4 conv with stride 4, then LayerNorm;
- stage ratio 3:3:9:3 (tiny) or 3:3:27:3, widths doubling per stage;
- inverted bottleneck block: 7x7 depth-wise conv -> LayerNorm -> 1x1 expand by
  4 -> GELU -> 1x1 project, one norm and one activation per block;
- layer scale (a learnt per-channel gain on the residual branch, init 1e-6)
  and stochastic depth;
- separate downsampling layers: LayerNorm then a 2x2 conv with stride 2,
  between stages (here: at the start of stages 2-4, so each stage ends at its
  own stride);
- head: global average pool -> LayerNorm -> linear.

The block runs its LayerNorm and its 1x1 convs as `nn.LayerNorm` and
`nn.Linear` on the channels-last view of the tensor, as the authors do; the
permutes are views, and the whole network stays in channels_last memory after
the stem's LayerNorm (see layers/norm.py).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from ..layers import ClassifierHead, DropPath, Stage
from ..layers.dilation import dilated_stage_plan
from ..layers.drop import drop_path_rates
from ..layers.norm import LayerNorm2d
from ..net import ConvNet
from ..registry import Paper, register_model
from ..weights import register_converter, register_torchvision_weights

CONVNEXT = Paper("A ConvNet for the 2020s", 2022, "https://arxiv.org/abs/2201.03545")

LN_EPS = 1e-6  # every LayerNorm of the reference code


class ConvNeXtBlock(nn.Module):
    """7x7 depth-wise conv -> LayerNorm -> Linear(C, 4C) -> GELU -> Linear(4C, C),
    scaled per channel (`layer_scale`), plus the input. `dilation` dilates the 7x7 (output_stride)."""

    def __init__(self, dim: int, drop_path: float = 0.0, layer_scale_init: float = 1e-6, mlp_ratio: int = 4,
                 dilation: int = 1):
        super().__init__()
        self.dw_conv = nn.Conv2d(dim, dim, 7, padding=3 * dilation, dilation=dilation, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp = nn.Sequential(OrderedDict(
            fc1=nn.Linear(dim, mlp_ratio * dim),
            act=nn.GELU(),
            fc2=nn.Linear(mlp_ratio * dim, dim),
        ))
        self.layer_scale = nn.Parameter(torch.full((dim,), layer_scale_init))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dw_conv(x).permute(0, 2, 3, 1)  # (N, H, W, C): norm and MLP act on the last dim
        y = self.mlp(self.norm(y)) * self.layer_scale
        return x + self.drop_path(y.permute(0, 3, 1, 2))


def downsample_layer(in_channels: int, out_channels: int, stride: int = 2, dilation: int = 1) -> nn.Sequential:
    """LayerNorm -> 2x2/2 conv: opens stages 2-4 (separate from the blocks, Section 2.6).

    At stride 1 (output_stride) the 2x2 kernel stays, dilated by the stride
    given up before it: output pixel i combines input pixels i and i + dilation,
    as the strided conv combined pixels 2i and 2i + 1 of a map that was 2x
    (dilation) coarser. The kernel covers dilation + 1 pixels, so `dilation`
    pixels of padding keep the map's size, split as TensorFlow's "SAME" and
    timm split them: the odd one at the bottom/right (dilation 1: all of it at
    the bottom/right; 2: one each side). `pad` has no weights: the checkpoint
    keys are unchanged."""
    layers = OrderedDict(norm=LayerNorm2d(in_channels, eps=LN_EPS))
    if stride == 1:
        before, after = dilation // 2, dilation - dilation // 2
        layers["pad"] = nn.ZeroPad2d((before, after, before, after))
    layers["conv"] = nn.Conv2d(in_channels, out_channels, 2, stride=stride, dilation=dilation)
    return nn.Sequential(layers)


class NormClassifierHead(ClassifierHead):
    """Global average pool -> LayerNorm -> [dropout] -> fc: ConvNeXt normalises
    the pooled features, so the norm comes after the pool (not in `pre`)."""

    def __init__(self, in_features: int, num_classes: int = 1000, drop_rate: float = 0.0):
        super().__init__(in_features, num_classes, drop_rate)
        self.norm = nn.LayerNorm(in_features, eps=LN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.flatten(self.pool(x)))
        return self.fc(self.drop(x))


@dataclass(frozen=True)
class ConvNeXtConfig:
    depths: tuple[int, int, int, int]  # blocks per stage
    widths: tuple[int, int, int, int]  # channels per stage
    # Stochastic depth rate of the paper's ImageNet-1k training recipe
    # (appendix A.1), for reference: the builder's default is 0 (no drop), as
    # for every model of the zoo; pass drop_path_rate= to train with it.
    paper_drop_path_rate: float = 0.0


class ConvNeXt(ConvNet):
    """patchify stem (stride 4) -> four stages (strides 4, 8, 16, 32) -> pool, LayerNorm, fc.

    output_stride 16 or 8 (DeepLab's "atrous" encoder): the last one or two
    stages keep their input's resolution; their downsampling conv runs at
    stride 1 (`downsample_layer`) and their 7x7 depth-wise convs dilate by the
    stride given up. Same weights; timm's `output_stride` builds the same network."""

    family = "convnext"

    def __init__(self, cfg: ConvNeXtConfig, num_classes: int = 1000, in_chans: int = 3,
                 drop_path_rate: float = 0.0, drop_rate: float = 0.0, layer_scale_init: float = 1e-6,
                 output_stride: int = 32):
        width0 = cfg.widths[0]
        stem = nn.Sequential(OrderedDict(
            conv=nn.Conv2d(in_chans, width0, 4, stride=4),
            norm=LayerNorm2d(width0, eps=LN_EPS),
        ))
        rates = drop_path_rates(drop_path_rate, list(cfg.depths))
        stage_plan = dilated_stage_plan(output_stride, stem_stride=4, stage_strides=(1, 2, 2, 2))
        stages, in_channels = [], width0
        for i, (width, (stride, dilation, first_dilation)) in enumerate(zip(cfg.widths, stage_plan)):
            stages.append(Stage(
                [ConvNeXtBlock(width, rate, layer_scale_init, dilation=dilation) for rate in rates[i]],
                downsample=downsample_layer(in_channels, width, stride, first_dilation) if i > 0 else None,
            ))
            in_channels = width
        head = NormClassifierHead(in_channels, num_classes, drop_rate)
        super().__init__(stem, stages, head, first_conv="stem.conv.weight")
        _init_weights(self)


def _init_weights(model: nn.Module) -> None:
    # The paper's recipe (and the reference code): truncated normal, std 0.02.
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


VARIANTS = {
    "convnext_tiny": ConvNeXtConfig((3, 3, 9, 3), (96, 192, 384, 768), paper_drop_path_rate=0.1),
    "convnext_small": ConvNeXtConfig((3, 3, 27, 3), (96, 192, 384, 768), paper_drop_path_rate=0.4),
    "convnext_base": ConvNeXtConfig((3, 3, 27, 3), (128, 256, 512, 1024), paper_drop_path_rate=0.5),
    "convnext_large": ConvNeXtConfig((3, 3, 27, 3), (192, 384, 768, 1536), paper_drop_path_rate=0.5),
}

for _name, _cfg in VARIANTS.items():
    register_model(_name, partial(ConvNeXt, _cfg), family="convnext", paper=CONVNEXT)
    register_torchvision_weights(_name)


# ---- foreign key layouts -----------------------------------------------------

def _flatten_layer_scale(state_dict):
    """torchvision keeps layer scale as (C, 1, 1), to broadcast over NCHW; we
    apply it on the channels-last view, as (C,)."""
    return {k: v.reshape(-1) if k.endswith(".layer_scale") else v for k, v in state_dict.items()}


def _tv_stage(m) -> int:
    """torchvision's features.1/3/5/7 hold the blocks of stages 0-3."""
    return (int(m[1]) - 1) // 2


# torchvision: features.0 = stem (conv, LayerNorm2d); features.1,3,5,7 = the
# blocks, each a `block` Sequential (0 dw conv, 1 permute, 2 norm, 3 linear,
# 4 GELU, 5 linear, 6 permute) and a `layer_scale`; features.2,4,6 = the
# downsampling layers (0 norm, 1 conv), which open our stages 1-3;
# classifier = (0 LayerNorm2d, 1 flatten, 2 linear).
_TORCHVISION_RULES = [
    (r"features\.0\.0\.(.+)", r"stem.conv.\1"),
    (r"features\.0\.1\.(.+)", r"stem.norm.\1"),
    (r"features\.([246])\.0\.(.+)", lambda m: f"stages.{int(m[1]) // 2}.downsample.norm.{m[2]}"),
    (r"features\.([246])\.1\.(.+)", lambda m: f"stages.{int(m[1]) // 2}.downsample.conv.{m[2]}"),
    (r"features\.([1357])\.(\d+)\.block\.0\.(.+)", lambda m: f"stages.{_tv_stage(m)}.blocks.{m[2]}.dw_conv.{m[3]}"),
    (r"features\.([1357])\.(\d+)\.block\.2\.(.+)", lambda m: f"stages.{_tv_stage(m)}.blocks.{m[2]}.norm.{m[3]}"),
    (r"features\.([1357])\.(\d+)\.block\.3\.(.+)", lambda m: f"stages.{_tv_stage(m)}.blocks.{m[2]}.mlp.fc1.{m[3]}"),
    (r"features\.([1357])\.(\d+)\.block\.5\.(.+)", lambda m: f"stages.{_tv_stage(m)}.blocks.{m[2]}.mlp.fc2.{m[3]}"),
    (r"features\.([1357])\.(\d+)\.layer_scale", lambda m: f"stages.{_tv_stage(m)}.blocks.{m[2]}.layer_scale"),
    (r"classifier\.0\.(.+)", r"head.norm.\1"),
    (r"classifier\.2\.(.+)", r"head.fc.\1"),
]


register_converter("convnext", "torchvision", rules=_TORCHVISION_RULES, transform=_flatten_layer_scale)


# timm: our anatomy already (stem, stages.N.downsample/blocks, head.norm/fc),
# with its own names inside a block.
_TIMM_RULES = [
    (r"stem\.0\.(.+)", r"stem.conv.\1"),
    (r"stem\.1\.(.+)", r"stem.norm.\1"),
    (r"stages\.(\d)\.downsample\.0\.(.+)", r"stages.\1.downsample.norm.\2"),
    (r"stages\.(\d)\.downsample\.1\.(.+)", r"stages.\1.downsample.conv.\2"),
    (r"stages\.(\d)\.blocks\.(\d+)\.conv_dw\.(.+)", r"stages.\1.blocks.\2.dw_conv.\3"),
    (r"stages\.(\d)\.blocks\.(\d+)\.gamma", r"stages.\1.blocks.\2.layer_scale"),
]


register_converter("convnext", "timm", rules=_TIMM_RULES)


# The authors' code (facebookresearch/ConvNeXt): downsample_layers.0 = stem,
# downsample_layers.1-3 = the downsampling layers, stages.N.J = the blocks
# (dwconv, norm, pwconv1, pwconv2, gamma), `norm` + `head` after the pool.
_ORIGINAL_RULES = [
    (r"downsample_layers\.0\.0\.(.+)", r"stem.conv.\1"),
    (r"downsample_layers\.0\.1\.(.+)", r"stem.norm.\1"),
    (r"downsample_layers\.(\d)\.0\.(.+)", r"stages.\1.downsample.norm.\2"),
    (r"downsample_layers\.(\d)\.1\.(.+)", r"stages.\1.downsample.conv.\2"),
    (r"stages\.(\d)\.(\d+)\.dwconv\.(.+)", r"stages.\1.blocks.\2.dw_conv.\3"),
    (r"stages\.(\d)\.(\d+)\.norm\.(.+)", r"stages.\1.blocks.\2.norm.\3"),
    (r"stages\.(\d)\.(\d+)\.pwconv([12])\.(.+)", r"stages.\1.blocks.\2.mlp.fc\3.\4"),
    (r"stages\.(\d)\.(\d+)\.gamma", r"stages.\1.blocks.\2.layer_scale"),
    (r"norm\.(.+)", r"head.norm.\1"),
    (r"head\.(weight|bias)", r"head.fc.\1"),
]


register_converter("convnext", "original", rules=_ORIGINAL_RULES)
