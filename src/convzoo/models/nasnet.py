"""NASNet-A: "Learning Transferable Architectures for Scalable Image Recognition"
(Zoph, Vasudevan, Shlens & Le, 2018).

A controller searched, on CIFAR-10, for two cells: a Normal cell that keeps the
resolution and a Reduction cell that halves it. For ImageNet they are stacked
(the paper's Figure 2; "N @ P" names N normal cells per stack and P filters in
the penultimate layer):

    3x3/2 conv -> 2 reduction ("stem") cells -> N normal -> reduction -> N normal
    -> reduction -> N normal -> ReLU, global pool, dropout, fc

A cell reads two inputs: x, the previous cell's output, and x_prev, the one
before it. Both are first brought to the cell's filter size (ReLU -> 1x1 conv
-> BN; a "factorized reduction" when x_prev has twice x's resolution). The
searched part is five "combinations" op_a(h_i) + op_b(h_j), each adding a
hidden state the later ones may read; the cell outputs the concatenation of
some of the hidden states. `NORMAL_CELL` and `REDUCTION_CELL` below are the
paper's Figure 4 as data (the order of TF-slim's `nasnet_utils`, whose
checkpoint names the Cadene/timm ports keep: comb_iter_{i}_{left,right}).

Stages group the cells by output stride: 4 (stem cell 0), 8 (stem cell 1 and
the first stack), 16 and 32 (a reduction cell and a stack each). A stage's
output is its last cell's output; `forward_stages` carries the pair (x, x_prev)
from stage to stage. In NASNet-A Large the cell right after a main-body
reduction cell reads that reduction cell's x_prev, not its input (TF-slim's
skip_reduction_layer_input, off in the mobile config): `Cell.reuse_prev`.

Padding: the weights come from TensorFlow, trained with "SAME" padding (one
pixel more at the bottom/right where a stride-2 op meets an even size; average
pools divide by the number of real pixels in the window). We implement exactly
that. Cadene's pretrainedmodels emulates it with fixed tricks (symmetric
padding, or ZeroPad2d + crop in the cells it expects to see even sizes), which
equal TF "SAME" at its native sizes (224 mobile, 331 large) and at the small
sizes our tests use; timm computes "SAME" padding but its strided average
pools count the zero padding: `avg_pool_counts_padding=True` reproduces that.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from ..data.preprocessing import Preprocessing
from ..layers import ClassifierHead, ConvNormAct, DropPath, create_conv2d, pad_same
from ..layers.drop import drop_path_rates
from ..net import ConvNet
from ..registry import Paper, register_model
from ..weights import Weights, register_converter, register_weights, rename_keys

NASNET = Paper("Learning Transferable Architectures for Scalable Image Recognition", 2018,
               "https://arxiv.org/abs/1707.07012")

# BN epsilon of the TF original; momentum 0.1 as in both PyTorch ports (TF's
# decay 0.9997 would be 0.0003). Only training sees the momentum.
_BN = partial(nn.BatchNorm2d, eps=1e-3, momentum=0.1)


# ---- the searched cells, as data -------------------------------------------
@dataclass(frozen=True)
class CellSpec:
    """combinations: five ((op, input), (op, input)) pairs, "left" then "right";
    inputs index the hidden states: 0 = x (1x1-adapted), 1 = x_prev (adapted),
    2.. = the combinations' outputs in order. concat: the states the cell outputs."""

    combinations: tuple[tuple[tuple[str, int], tuple[str, int]], ...]
    concat: tuple[int, ...]


NORMAL_CELL = CellSpec(
    combinations=(
        (("sep_5x5", 0), ("sep_3x3", 1)),
        (("sep_5x5", 1), ("sep_3x3", 1)),
        (("avg_3x3", 0), ("identity", 1)),
        (("avg_3x3", 1), ("avg_3x3", 1)),
        (("sep_3x3", 0), ("identity", 0)),
    ),
    concat=(1, 2, 3, 4, 5, 6),
)
REDUCTION_CELL = CellSpec(
    combinations=(
        (("sep_5x5", 0), ("sep_7x7", 1)),
        (("max_3x3", 0), ("sep_7x7", 1)),
        (("avg_3x3", 0), ("sep_5x5", 1)),
        (("identity", 3), ("avg_3x3", 2)),
        (("sep_3x3", 2), ("max_3x3", 0)),
    ),
    concat=(3, 4, 5, 6),
)


# ---- operations ------------------------------------------------------------
def _conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    # TF "SAME": symmetric for stride 1 (odd kernels); computed from the input size when strided.
    return create_conv2d(in_channels, out_channels, kernel_size, stride, groups=groups,
                         padding="same" if stride > 1 else None)


class ActConvBn(nn.Sequential):
    """ReLU -> 1x1 conv -> BN. NASNet activates at the start of each op, so cell
    outputs stay unrectified and every consumer rectifies its own copy."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.act = nn.ReLU()  # not in place: the input is read again by other ops
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn = _BN(out_channels)


class SeparableStack(nn.Sequential):
    """The searched "sep kxk" op: (ReLU -> depthwise kxk -> pointwise 1x1 -> BN)
    twice; only the first depthwise conv strides, the first pointwise conv
    changes the width (only in stem cell 0, which reads the raw stem output)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1):
        super().__init__()
        self.act1 = nn.ReLU()
        self.dw1 = _conv(in_channels, in_channels, kernel_size, stride, groups=in_channels)
        self.pw1 = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn1 = _BN(out_channels)
        self.act2 = nn.ReLU(inplace=True)
        self.dw2 = _conv(out_channels, out_channels, kernel_size, groups=out_channels)
        self.pw2 = nn.Conv2d(out_channels, out_channels, 1, bias=False)
        self.bn2 = _BN(out_channels)


class Pool3x3(nn.Module):
    """3x3 max or average pool with TF "SAME" padding.

    TF's average pool divides by the number of real pixels under the window.
    `counts_padding` divides strided pools by 9 instead, zeros included (timm's
    AvgPool2dSame does, its count_include_pad=False not reaching the explicit pad).
    """

    def __init__(self, mode: str, stride: int = 1, counts_padding: bool = False):
        super().__init__()
        if mode not in ("avg", "max"):
            raise ValueError(f"pool mode must be 'avg' or 'max', not {mode!r}")
        self.mode, self.stride, self.counts_padding = mode, stride, counts_padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stride
        if s == 1:  # "SAME" is symmetric here
            if self.mode == "max":
                return F.max_pool2d(x, 3, 1, 1)
            return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
        return _strided_pool_same(x, self.mode == "max", s, self.counts_padding)

    def extra_repr(self) -> str:
        return f"mode={self.mode}, stride={self.stride}" + (", counts_padding=True" if self.counts_padding else "")


# Reads the input's size (the padding, the real-pixel count): torch.fx records
# the call as one node instead of tracing into shape arithmetic.
@torch.fx.wrap
def _strided_pool_same(x: torch.Tensor, is_max: bool, s: int, counts_padding: bool) -> torch.Tensor:
    if is_max:
        return F.max_pool2d(pad_same(x, (3, 3), (s, s), value=float("-inf")), 3, s)
    padded = pad_same(x, (3, 3), (s, s))
    out = F.avg_pool2d(padded, 3, s)
    if counts_padding or padded.shape[-2:] == x.shape[-2:]:
        return out
    # out = window sum / 9; dividing by (real pixels / 9) leaves sum / real pixels.
    real = pad_same(x.new_ones((1, 1, x.shape[-2], x.shape[-1])), (3, 3), (s, s))
    return out / F.avg_pool2d(real, 3, s)


def make_op(name: str, in_channels: int, out_channels: int, stride: int, avg_pool_counts_padding: bool) -> nn.Module:
    """One of the search space's operations, as named in `CellSpec`."""
    if name.startswith("sep_"):
        return SeparableStack(in_channels, out_channels, int(name[4]), stride)
    if in_channels != out_channels:
        raise ValueError(f"{name} cannot change the width ({in_channels} -> {out_channels})")
    if name == "avg_3x3":
        return Pool3x3("avg", stride, avg_pool_counts_padding and stride > 1)
    if name == "max_3x3":
        return Pool3x3("max", stride)
    if name == "identity" and stride == 1:
        return nn.Identity()
    raise ValueError(f"unknown operation {name!r} (stride {stride})")


class FactorizedReduction(nn.Module):
    """Adapt an input of twice the cell's resolution: ReLU, then two strided 1x1
    convs, one on the even pixel grid and one on the odd (the input shifted by a
    pixel, zero-padded at the bottom/right), concatenated and batch-normed; the
    two grids together see every pixel."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        if out_channels % 2:
            raise ValueError(f"factorized reduction needs an even width, not {out_channels}")
        self.act = nn.ReLU()
        self.path1 = nn.Conv2d(in_channels, out_channels // 2, 1, stride=2, bias=False)
        self.path2 = nn.Conv2d(in_channels, out_channels // 2, 1, stride=2, bias=False)
        self.bn = _BN(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(x)
        shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.path1(x), self.path2(shifted)], 1))


class Combination(nn.Module):
    """op_left(h_a) + op_right(h_b): one new hidden state. Drop path (the
    paper's ScheduledDropPath, at a fixed rate) drops each op's output, never
    an identity."""

    def __init__(self, left: nn.Module, right: nn.Module, inputs: tuple[int, int], drop_path: float = 0.0):
        super().__init__()
        self.left, self.right = left, right
        self.inputs = inputs
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        # Decided here, not by isinstance in forward: TorchScript cannot pass modules around.
        self.left_is_identity = isinstance(left, nn.Identity)
        self.right_is_identity = isinstance(right, nn.Identity)

    def forward(self, states: list[torch.Tensor]) -> torch.Tensor:
        a, b = self.inputs
        left = states[a] if self.left_is_identity else self.drop_path(self.left(states[a]))
        right = states[b] if self.right_is_identity else self.drop_path(self.right(states[b]))
        return left + right


class Cell(nn.Module):
    """A normal (stride 1) or reduction (stride 2) cell: forward(x, x_prev).

    prev_channels None: there is no older input (stem cell 0), x itself serves
    as x_prev, unadapted. prev_halves: x_prev has twice x's resolution.
    reuse_prev: the next cell reads this cell's x_prev instead of its x.
    """

    def __init__(self, spec: CellSpec, in_channels: int, prev_channels: int | None, filters: int, *,
                 stride: int = 1, prev_halves: bool = False, reuse_prev: bool = False,
                 drop_path: float = 0.0, avg_pool_counts_padding: bool = False):
        super().__init__()
        self.pre = ActConvBn(in_channels, filters)
        if prev_channels is None:
            self.pre_prev, channels = nn.Identity(), [filters, in_channels]
        else:
            self.pre_prev = (FactorizedReduction if prev_halves else ActConvBn)(prev_channels, filters)
            channels = [filters, filters]
        combinations = []
        for (op_left, a), (op_right, b) in spec.combinations:
            # Only ops reading the cell's inputs stride; later states are already reduced.
            left = make_op(op_left, channels[a], filters, stride if a < 2 else 1, avg_pool_counts_padding)
            right = make_op(op_right, channels[b], filters, stride if b < 2 else 1, avg_pool_counts_padding)
            combinations.append(Combination(left, right, (a, b), drop_path))
            channels.append(filters)
        self.combinations = nn.ModuleList(combinations)
        self.concat = spec.concat
        self.out_channels = sum(channels[i] for i in spec.concat)
        self.reuse_prev = reuse_prev

    def forward(self, x: torch.Tensor, x_prev: torch.Tensor | None) -> torch.Tensor:
        states = [self.pre(x), self.pre_prev(x if x_prev is None else x_prev)]
        for combination in self.combinations:
            states.append(combination(states))
        return torch.cat([states[i] for i in self.concat], 1)


class CellStage(nn.ModuleList):
    """Cells in sequence, passing (x, x_prev) along: forward(x, x_prev) -> (x, x_prev)."""

    def forward(self, x: torch.Tensor, x_prev: torch.Tensor | None):
        for cell in self:
            x, x_prev = cell(x, x_prev), (x_prev if cell.reuse_prev else x)
        return x, x_prev


# ---- the network -----------------------------------------------------------
@dataclass(frozen=True)
class NASNetConfig:
    """NASNet-A "N @ P" (the paper's Table 2)."""

    normal_cells: int  # N, per stack
    penultimate_filters: int  # P, the last cell's output width
    stem_width: int  # filters of the 3x3/2 stem conv
    # The cell after a main-body reduction cell reads, as x_prev, the reduction
    # cell's x_prev (True, large) or its x (False, mobile): TF-slim's
    # skip_reduction_layer_input, set differently in its two ImageNet configs.
    skip_reduction_input: bool


# The last cell concatenates 6 states of 4x the first stack's filter size
# (two reductions double it): P = 24 x filters. The stem cells run at 1/4 and
# 1/2 of it.
_FILTERS_PER_PENULTIMATE = 24


class NASNet(ConvNet):
    """3x3/2 conv (valid padding, BN, no ReLU) -> stages of cells at strides
    4, 8, 16, 32 -> ReLU, global pool, dropout, fc.

    drop_rate: dropout before the classifier (0.5 in both TF-slim ImageNet configs).
    drop_path_rate: the paper's ScheduledDropPath at its final rate, rising
    linearly with depth (the rise over training is left to the trainer, which
    may set each DropPath's drop_prob).
    avg_pool_counts_padding: strided average pools count their "SAME" zero
    padding, as timm's nasnetalarge does (TF and pretrainedmodels do not).
    """

    family = "nasnet"

    def __init__(self, cfg: NASNetConfig, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.5,
                 drop_path_rate: float = 0.0, avg_pool_counts_padding: bool = False):
        filters = cfg.penultimate_filters // _FILTERS_PER_PENULTIMATE
        if filters * _FILTERS_PER_PENULTIMATE != cfg.penultimate_filters or filters % 4:
            raise ValueError(f"penultimate_filters must be a multiple of 96, not {cfg.penultimate_filters}")
        n, skip = cfg.normal_cells, cfg.skip_reduction_input
        # Per stage: (cell spec, filters, reuse_prev) of each cell.
        plan = [
            [(REDUCTION_CELL, filters // 4, False)],
            [(REDUCTION_CELL, filters // 2, False)] + [(NORMAL_CELL, filters, False)] * n,
            [(REDUCTION_CELL, 2 * filters, skip)] + [(NORMAL_CELL, 2 * filters, False)] * n,
            [(REDUCTION_CELL, 4 * filters, skip)] + [(NORMAL_CELL, 4 * filters, False)] * n,
        ]
        stem = ConvNormAct(in_chans, cfg.stem_width, 3, 2, padding=0, norm_layer=_BN, act_layer=None)
        rates = drop_path_rates(drop_path_rate, [len(cells) for cells in plan])
        x_channels, x_stride, prev = cfg.stem_width, 2, None  # prev: (channels, stride) of x_prev
        stages = []
        for cells, stage_rates in zip(plan, rates):
            stage = CellStage()
            for (spec, width, reuse_prev), rate in zip(cells, stage_rates):
                stride = 2 if spec is REDUCTION_CELL else 1
                cell = Cell(spec, x_channels, None if prev is None else prev[0], width, stride=stride,
                            prev_halves=prev is not None and prev[1] < x_stride, reuse_prev=reuse_prev,
                            drop_path=rate, avg_pool_counts_padding=avg_pool_counts_padding)
                stage.append(cell)
                if not reuse_prev:
                    prev = (x_channels, x_stride)
                x_channels, x_stride = cell.out_channels, x_stride * stride
            stages.append(stage)
        # The last cell's output is unrectified: the head starts with the ReLU
        # (not in place: forward_head must not alter the features it is given).
        head = ClassifierHead(x_channels, num_classes, drop_rate, pre=nn.ReLU())
        super().__init__(stem, stages, head, first_conv="stem.conv.weight")
        _init_weights(self)

    # Cells pass (x, x_prev) along, so the stages cannot be chained one input at a time.
    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        x_prev: torch.Tensor | None = None
        outputs: list[torch.Tensor] = []
        for stage in self.stages:
            x, x_prev = stage(x, x_prev)
            outputs.append(x)
        return outputs

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_stages(x)[-1]


def _init_weights(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            # fan_in: right for depthwise convs too (fan_out would count every channel).
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


_VARIANTS = {
    # name: (config, input size of the published weights)
    "nasnet_a_mobile": (NASNetConfig(normal_cells=4, penultimate_filters=1056, stem_width=32,
                                         skip_reduction_input=False), 224),
    "nasnet_a_large": (NASNetConfig(normal_cells=6, penultimate_filters=4032, stem_width=96,
                                        skip_reduction_input=True), 331),
}

for _name, (_cfg, _size) in _VARIANTS.items():
    register_model(_name, NASNet, family="nasnet", paper=NASNET, input_size=_size, cfg=_cfg)


# ---- weights from Cadene's pretrainedmodels and timm ------------------------
# Both ports share one key layout (timm's is Cadene's code): conv0, cell_stem_0/1,
# cell_K, reduction_cell_0/1, last_linear. Cell numbers follow the stacks
# (large: 0-5, 6-11, 12-17), but nasnetamobile keeps large's numbering and
# skips (0-3, 6-9, 12-15): cells are assigned to stacks by rank, not number.
_CELL_RULES = [
    (r"(stages\.\d\.\d+)\.conv_1x1\.(conv|bn)\.(.+)", r"\1.pre.\2.\3"),
    (r"(stages\.\d\.\d+)\.conv_prev_1x1\.(conv|bn)\.(.+)", r"\1.pre_prev.\2.\3"),
    (r"(stages\.\d\.\d+)\.path_(1|2)\.conv\.weight", r"\1.pre_prev.path\2.weight"),
    (r"(stages\.\d\.\d+)\.final_path_bn\.(.+)", r"\1.pre_prev.bn.\2"),
    (r"(stages\.\d\.\d+)\.comb_iter_(\d)_(left|right)\.separable_(1|2)\.depthwise_conv2d\.weight",
     r"\1.combinations.\2.\3.dw\4.weight"),
    (r"(stages\.\d\.\d+)\.comb_iter_(\d)_(left|right)\.separable_(1|2)\.pointwise_conv2d\.weight",
     r"\1.combinations.\2.\3.pw\4.weight"),
    (r"(stages\.\d\.\d+)\.comb_iter_(\d)_(left|right)\.bn_sep_(1|2)\.(.+)", r"\1.combinations.\2.\3.bn\4.\5"),
]


def convert_cadene(state_dict):
    """pretrainedmodels / timm NASNet-A keys -> ours.

    Cadene's nasnetalarge file holds TF-slim's 1001 classes (0 = background);
    like pretrainedmodels' "imagenet" setting, we drop the background row.
    """
    numbers = sorted({int(m[1]) for k in state_dict if (m := re.match(r"cell_(\d+)\.", k))})
    if not numbers or len(numbers) % 3:
        return state_dict  # not a Cadene/timm NASNet-A checkpoint (no three equal stacks of cell_K)
    per_stack = len(numbers) // 3
    prefix = {"cell_stem_0": "stages.0.0", "cell_stem_1": "stages.1.0",
              "reduction_cell_0": "stages.2.0", "reduction_cell_1": "stages.3.0"}
    for rank, number in enumerate(numbers):
        prefix[f"cell_{number}"] = f"stages.{1 + rank // per_stack}.{1 + rank % per_stack}"
    state_dict = rename_keys(state_dict, [
        (r"conv0\.(conv|bn)\.(.+)", r"stem.\1.\2"),
        (r"last_linear\.(.+)", r"head.fc.\1"),
        (r"(cell_stem_[01]|reduction_cell_[01]|cell_\d+)\.(.+)", lambda m: f"{prefix[m[1]]}.{m[2]}"),
    ])
    state_dict = rename_keys(state_dict, _CELL_RULES)
    if state_dict.get("head.fc.weight") is not None and state_dict["head.fc.weight"].shape[0] == 1001:
        state_dict["head.fc.weight"] = state_dict["head.fc.weight"][1:]
        state_dict["head.fc.bias"] = state_dict["head.fc.bias"][1:]
    return state_dict


for _layout in ("pretrainedmodels", "timm"):
    register_converter("nasnet", _layout, transform=convert_cadene)


# ---- weights ---------------------------------------------------------------------
# Cadene's pretrainedmodels files and timm's port of the TF checkpoint; both
# expect inputs scaled to [-1, 1].
_HALF = (0.5, 0.5, 0.5)
_CADENE = "http://data.lip6.fr/cadene/pretrainedmodels/"
_TIMM = "https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-weights/"
# name, tag, url, layout, crop, crop_pct, interpolation, acc@1 (as published)
_WEIGHTS = [
    ("nasnet_a_large", "IMAGENET1K_TF", _TIMM + "nasnetalarge-dc4a7b8b.pth", "timm", 331, 0.911, "bicubic", 82.7),
    ("nasnet_a_large", "IMAGENET1K_CADENE", _CADENE + "nasnetalarge-a1897284.pth", "pretrainedmodels", 331, 0.875,
     "bilinear", 82.566),
    ("nasnet_a_mobile", "IMAGENET1K_CADENE", _CADENE + "nasnetamobile-7e03cead.pth", "pretrainedmodels", 224, 0.875,
     "bilinear", 74.08),
]
for _name, _tag, _url, _layout, _crop, _crop_pct, _interpolation, _acc1 in _WEIGHTS:
    register_weights(Weights(
        model=_name, tag=_tag, url=_url, layout=_layout,
        preprocessing=Preprocessing.from_crop_pct(_crop, _crop_pct, _interpolation, _HALF, _HALF),
        meta={"acc1": _acc1, "source": _layout, "license": "Apache-2.0" if _layout == "timm" else "BSD-3-Clause"},
    ))
