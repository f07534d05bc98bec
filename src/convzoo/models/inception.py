"""GoogLeNet (Inception v1) and Inception v3.

"Going Deeper with Convolutions" (Szegedy et al., 2014) and "Rethinking the
Inception Architecture for Computer Vision" (Szegedy et al., 2015), in the
form torchvision ships (BatchNorm after every conv, eps 1e-3, as in the ports
of the TensorFlow weights).

An Inception module is a set of parallel branches (1x1, reduce->3x3, ...,
pool->1x1) whose outputs are concatenated on channels: `Concat` below, with
named branches, so each block reads like the paper's figure.

Auxiliary classifiers: both papers hang side classifiers off intermediate
feature maps during training (GoogLeNet after inception 4a and 4d, Inception
v3 after the last 17x17 module). With `aux_logits=True`, a model in training
mode returns a namedtuple `(logits, aux...)`, auxiliary logits in the order
of depth (note: torchvision's GoogLeNetOutputs lists aux2 before aux1); in
eval mode it returns the logits only. The papers weight the auxiliary losses
by 0.3:  loss = ce(out.logits) + 0.3 * sum(ce(a) for a in out[1:]).

`transform_input=True` maps ImageNet-normalised input to the [-1, 1] scaling
the ported TensorFlow weights were trained on (torchvision sets it when it
loads its weights; so do our weight specs).
"""
from __future__ import annotations

import re
from collections import OrderedDict, namedtuple
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from ..data.preprocessing import IMAGENET_MEAN, IMAGENET_STD
from ..layers import ClassifierHead, ConvNormAct
from ..layers.head import ResettableHead
from ..layers.init import init_he_fan_out
from ..net import ConvNet
from ..registry import Paper, register_model
from ..weights import register_converter, register_torchvision_weights, rename_keys

GOOGLENET = Paper("Going Deeper with Convolutions", 2014, "https://arxiv.org/abs/1409.4842")
INCEPTION_V3 = Paper("Rethinking the Inception Architecture for Computer Vision", 2015,
                     "https://arxiv.org/abs/1512.00567")

# What forward returns in training mode when aux_logits=True.
GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux1", "aux2"])
InceptionV3Outputs = namedtuple("InceptionV3Outputs", ["logits", "aux"])


def conv(in_channels: int, out_channels: int, kernel_size, stride: int = 1, padding=0) -> ConvNormAct:
    """conv -> BN (eps 1e-3, the TF default the weights come from) -> ReLU.
    Unpadded ("valid") unless told: Inception v3 shaves pixels off on purpose."""
    return ConvNormAct(in_channels, out_channels, kernel_size, stride, padding=padding,
                       norm_layer=partial(nn.BatchNorm2d, eps=1e-3))


class Concat(nn.ModuleDict):
    """Parallel branches applied to one input, outputs concatenated on channels
    in the order the branches are given. `in_channels` lets it work out
    `out_channels` from its branches (pools pass their input's channels on)."""

    def __init__(self, in_channels: int, **branches: nn.Module):
        super().__init__(branches)
        self.out_channels = sum(_out_channels(b, in_channels) for b in branches.values())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.values()], 1)


def _out_channels(module: nn.Module, in_channels: int) -> int:
    if hasattr(module, "out_channels"):  # ConvNormAct, Concat
        return module.out_channels
    if isinstance(module, nn.Sequential):
        for layer in module:
            in_channels = _out_channels(layer, in_channels)
    return in_channels  # pooling keeps the channels


class AuxClassifier(ResettableHead):
    """A side classifier on an intermediate feature map (deep supervision while
    training): `features` (pool and convs, flattened to `in_features`) ->
    optional hidden fc + ReLU + dropout -> `fc`. Offers the head protocol
    (`reset(num_classes)`, `num_classes`) so it is reset with the main head."""

    def __init__(self, features: nn.Module, in_features: int, num_classes: int,
                 hidden: int = 0, drop_rate: float = 0.0):
        super().__init__()
        self.features = features
        if hidden:
            self.hidden = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(inplace=True), nn.Dropout(drop_rate))
            in_features = hidden
        else:
            self.hidden = nn.Identity()
        self.in_features = in_features
        self.num_classes = num_classes
        self.fc = self._make_fc(num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.hidden(self.features(x)))


class InputTransform(nn.Module):
    """ImageNet-normalised input -> (pixel - 0.5) / 0.5, the input range of the
    TensorFlow-trained Inception weights: x * std / 0.5 + (mean - 0.5) / 0.5.
    For in_chans != 3 (e.g. grey input, whose first conv holds the RGB filters
    summed) there is no per-channel statistic to undo: every channel gets the
    three channels' average scale and shift, an approximation."""

    def __init__(self, in_chans: int = 3):
        super().__init__()
        scale = torch.tensor(IMAGENET_STD) / 0.5
        shift = (torch.tensor(IMAGENET_MEAN) - 0.5) / 0.5
        if in_chans != 3:
            scale, shift = scale.mean().repeat(in_chans), shift.mean().repeat(in_chans)
        # Not persistent: constants, not weights (the state_dict stays torchvision's).
        self.register_buffer("scale", scale.view(1, -1, 1, 1), persistent=False)
        self.register_buffer("shift", shift.view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift


class InceptionNet(ConvNet):
    """ConvNet with auxiliary classifiers hanging off named blocks of its stages.

    `aux_heads` maps a block name (unique over all stages, e.g. "inception4a")
    to the AuxClassifier fed by that block's output; `outputs` is the
    namedtuple returned in training mode; `aux_loss_weight` weighs each
    auxiliary loss against the main one in training.
    """

    family = "inception"

    def __init__(self, stem, stages, head, first_conv, aux_heads: dict[str, AuxClassifier], outputs: type,
                 aux_loss_weight: float):
        super().__init__(stem, stages, head, first_conv=first_conv)
        self.aux_heads = nn.ModuleDict(aux_heads)
        self.outputs = outputs
        self.aux_loss_weight = aux_loss_weight

    @property
    def aux_logits(self) -> bool:
        return len(self.aux_heads) > 0

    def forward(self, x: torch.Tensor):
        # Scripted, the model is for inference: one return type (logits), and
        # the auxiliary path (a namedtuple, training only) is not compiled.
        if not torch.jit.is_scripting():
            if self.training and self.aux_logits:
                return self._forward_with_aux(x)
        return self.forward_head(self.forward_features(x))

    def _forward_with_aux(self, x: torch.Tensor):
        aux = []
        x = self.stem(x)
        for stage in self.stages:
            for name, block in stage.named_children():
                x = block(x)
                if name in self.aux_heads:
                    aux.append(self.aux_heads[name](x))
        return self.outputs(self.forward_head(x), *aux)

    def reset_classifier(self, num_classes: int) -> None:
        super().reset_classifier(num_classes)
        for aux in self.aux_heads.values():
            aux.reset(num_classes)


def _make_stem(in_chans: int, transform_input: bool, **convs: nn.Module) -> nn.Sequential:
    layers = OrderedDict(input_transform=InputTransform(in_chans)) if transform_input else OrderedDict()
    layers.update(convs)
    return nn.Sequential(layers)


# ---------------------------------------------------------------------------
# GoogLeNet (Inception v1)
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class InceptionV1Row:
    """One row of the paper's Table 1: the widths of an Inception module's branches."""

    name: str
    ch1x1: int
    ch3x3_reduce: int
    ch3x3: int
    ch5x5_reduce: int
    ch5x5: int
    pool_proj: int


# Stages after the stride-4 stem stage, each opened by a 3x3/2 max-pool
# (2x2/2 before 5a, as torchvision): output strides 8, 16, 32.
GOOGLENET_STAGES = (
    (InceptionV1Row("inception3a", 64, 96, 128, 16, 32, 32),
     InceptionV1Row("inception3b", 128, 128, 192, 32, 96, 64)),
    (InceptionV1Row("inception4a", 192, 96, 208, 16, 48, 64),
     InceptionV1Row("inception4b", 160, 112, 224, 24, 64, 64),
     InceptionV1Row("inception4c", 128, 128, 256, 24, 64, 64),
     InceptionV1Row("inception4d", 112, 144, 288, 32, 64, 64),
     InceptionV1Row("inception4e", 256, 160, 320, 32, 128, 128)),
    (InceptionV1Row("inception5a", 256, 160, 320, 32, 128, 128),
     InceptionV1Row("inception5b", 384, 192, 384, 48, 128, 128)),
)
GOOGLENET_AUX_AFTER = ("inception4a", "inception4d")


def inception_v1(in_channels: int, row: InceptionV1Row, large_kernel: int = 3) -> Concat:
    """Figure 2(b): 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | 3x3 max-pool -> 1x1.

    `large_kernel`: torchvision's module (and the weights ported into it) has
    a 3x3 conv where the paper has the 5x5 (pytorch/vision#906); 5 builds the
    paper's module, for training from scratch.
    """
    return Concat(
        in_channels,
        branch1x1=conv(in_channels, row.ch1x1, 1),
        branch3x3=nn.Sequential(conv(in_channels, row.ch3x3_reduce, 1),
                                conv(row.ch3x3_reduce, row.ch3x3, 3, padding=1)),
        branch5x5=nn.Sequential(conv(in_channels, row.ch5x5_reduce, 1),
                                conv(row.ch5x5_reduce, row.ch5x5, large_kernel, padding=large_kernel // 2)),
        branch_pool=nn.Sequential(nn.MaxPool2d(3, 1, 1), conv(in_channels, row.pool_proj, 1)),
    )


def googlenet(num_classes: int = 1000, in_chans: int = 3, aux_logits: bool = False,
              transform_input: bool = False, drop_rate: float = 0.2, aux_drop_rate: float = 0.7,
              large_kernel: int = 3) -> InceptionNet:
    """GoogLeNet. stem: 7x7/2 conv (stride 2); stage 0: max-pool, 1x1, 3x3 (stride 4);
    then the Inception stages of Table 1 (strides 8, 16, 32); global pool, dropout, fc.

    aux_logits defaults to False as torchvision's published model (its
    checkpoint holds the auxiliary heads too; they are dropped on load).
    """
    stem = _make_stem(in_chans, transform_input, conv1=conv(in_chans, 64, 7, 2, padding=3))
    # ceil_mode pools, as the Caffe original (and torchvision).
    stages = [nn.Sequential(OrderedDict(
        pool1=nn.MaxPool2d(3, 2, ceil_mode=True),
        conv2=conv(64, 64, 1),
        conv3=conv(64, 192, 3, padding=1),
    ))]
    width, aux_heads = 192, {}
    for i, rows in enumerate(GOOGLENET_STAGES):
        pool = nn.MaxPool2d(2, 2, ceil_mode=True) if i == 2 else nn.MaxPool2d(3, 2, ceil_mode=True)
        blocks = OrderedDict({f"pool{i + 2}": pool})
        for row in rows:
            blocks[row.name] = inception_v1(width, row, large_kernel)
            width = blocks[row.name].out_channels
            if aux_logits and row.name in GOOGLENET_AUX_AFTER:
                aux_heads[row.name] = _googlenet_aux(width, num_classes, aux_drop_rate)
        stages.append(nn.Sequential(blocks))
    head = ClassifierHead(width, num_classes, drop_rate)
    # Section 5: "the losses of the auxiliary classifiers were weighted by 0.3".
    model = InceptionNet(stem, stages, head, "stem.conv1.conv.weight", aux_heads, GoogLeNetOutputs,
                         aux_loss_weight=0.3)
    init_he_fan_out(model)
    return model


def _googlenet_aux(in_channels: int, num_classes: int, drop_rate: float) -> AuxClassifier:
    """Section 5: 4x4 average pool, 1x1 conv (128), fc (1024) + ReLU, dropout 70%, fc."""
    features = nn.Sequential(OrderedDict(
        pool=nn.AdaptiveAvgPool2d(4), conv=conv(in_channels, 128, 1), flatten=nn.Flatten(1),
    ))
    return AuxClassifier(features, 128 * 4 * 4, num_classes, hidden=1024, drop_rate=drop_rate)


# ---------------------------------------------------------------------------
# Inception v3
# ---------------------------------------------------------------------------

def _avg_pool_branch(in_channels: int, out_channels: int) -> nn.Sequential:
    # count_include_pad (PyTorch's default) as torchvision: the border means
    # are diluted by the zero padding.
    return nn.Sequential(nn.AvgPool2d(3, 1, 1), conv(in_channels, out_channels, 1))


def inception_a(in_channels: int, pool_features: int) -> Concat:
    """35x35 module (Figure 5; torchvision's InceptionA): the 5x5 of v1 as two
    3x3s, though the ported weights keep a 5x5 branch beside them."""
    return Concat(
        in_channels,
        branch1x1=conv(in_channels, 64, 1),
        branch5x5=nn.Sequential(conv(in_channels, 48, 1), conv(48, 64, 5, padding=2)),
        branch3x3dbl=nn.Sequential(conv(in_channels, 64, 1), conv(64, 96, 3, padding=1), conv(96, 96, 3, padding=1)),
        branch_pool=_avg_pool_branch(in_channels, pool_features),
    )


def reduction_b(in_channels: int, _=None) -> Concat:
    """35x35 -> 17x17 grid reduction (Figure 10; torchvision's InceptionB):
    strided convs beside a strided max-pool, so no representational bottleneck."""
    return Concat(
        in_channels,
        branch3x3=conv(in_channels, 384, 3, 2),
        branch3x3dbl=nn.Sequential(conv(in_channels, 64, 1), conv(64, 96, 3, padding=1), conv(96, 96, 3, 2)),
        branch_pool=nn.MaxPool2d(3, 2),
    )


def inception_c(in_channels: int, c7: int) -> Concat:
    """17x17 module (Figure 6; torchvision's InceptionC): 7x7 convs factorised
    into 1x7 and 7x1, `c7` channels wide inside."""
    def f(cin, cout, horizontal):  # 1x7 or 7x1
        return conv(cin, cout, (1, 7), padding=(0, 3)) if horizontal else conv(cin, cout, (7, 1), padding=(3, 0))

    return Concat(
        in_channels,
        branch1x1=conv(in_channels, 192, 1),
        branch7x7=nn.Sequential(conv(in_channels, c7, 1), f(c7, c7, True), f(c7, 192, False)),
        branch7x7dbl=nn.Sequential(conv(in_channels, c7, 1), f(c7, c7, False), f(c7, c7, True),
                                   f(c7, c7, False), f(c7, 192, True)),
        branch_pool=_avg_pool_branch(in_channels, 192),
    )


def reduction_d(in_channels: int, _=None) -> Concat:
    """17x17 -> 8x8 grid reduction (torchvision's InceptionD)."""
    return Concat(
        in_channels,
        branch3x3=nn.Sequential(conv(in_channels, 192, 1), conv(192, 320, 3, 2)),
        branch7x7x3=nn.Sequential(conv(in_channels, 192, 1), conv(192, 192, (1, 7), padding=(0, 3)),
                                  conv(192, 192, (7, 1), padding=(3, 0)), conv(192, 192, 3, 2)),
        branch_pool=nn.MaxPool2d(3, 2),
    )


def _split_1x3_3x1(channels: int) -> Concat:
    return Concat(channels, **{"1x3": conv(channels, 384, (1, 3), padding=(0, 1)),
                               "3x1": conv(channels, 384, (3, 1), padding=(1, 0))})


def inception_e(in_channels: int, _=None) -> Concat:
    """8x8 module with expanded filter banks (Figure 7; torchvision's
    InceptionE): the 3x3s end in parallel 1x3 and 3x1 convs, concatenated."""
    return Concat(
        in_channels,
        branch1x1=conv(in_channels, 320, 1),
        branch3x3=nn.Sequential(conv(in_channels, 384, 1), _split_1x3_3x1(384)),
        branch3x3dbl=nn.Sequential(conv(in_channels, 448, 1), conv(448, 384, 3, padding=1), _split_1x3_3x1(384)),
        branch_pool=_avg_pool_branch(in_channels, 192),
    )


# (block name, module builder, its width argument), per stage: the paper's
# Table 1 (3 x Figure 5, 5 x Figure 6 after a reduction, 2 x Figure 7 after
# a reduction). Output strides 8, 16, 32 (35x35, 17x17, 8x8 at 299 px).
INCEPTION_V3_STAGES = (
    (("mixed5b", inception_a, 32), ("mixed5c", inception_a, 64), ("mixed5d", inception_a, 64)),
    (("mixed6a", reduction_b, None), ("mixed6b", inception_c, 128), ("mixed6c", inception_c, 160),
     ("mixed6d", inception_c, 160), ("mixed6e", inception_c, 192)),
    (("mixed7a", reduction_d, None), ("mixed7b", inception_e, None), ("mixed7c", inception_e, None)),
)
INCEPTION_V3_AUX_AFTER = "mixed6e"


def inception_v3(num_classes: int = 1000, in_chans: int = 3, aux_logits: bool = True,
                 transform_input: bool = False, drop_rate: float = 0.5) -> InceptionNet:
    """Inception v3 for 299x299 input (75 px at least; the auxiliary head, run in
    training only, needs 299). stem: three 3x3 convs (stride 2); stage 0:
    max-pool, 1x1, 3x3 (stride 4, 71x71); then the Inception stages.

    aux_logits defaults to True as torchvision's published model.
    """
    stem = _make_stem(in_chans, transform_input,
                      conv1a=conv(in_chans, 32, 3, 2), conv2a=conv(32, 32, 3), conv2b=conv(32, 64, 3, padding=1))
    stages = [nn.Sequential(OrderedDict(
        pool1=nn.MaxPool2d(3, 2), conv3b=conv(64, 80, 1), conv4a=conv(80, 192, 3),
    ))]
    width, aux_heads = 192, {}
    for rows in INCEPTION_V3_STAGES:
        blocks = OrderedDict(pool2=nn.MaxPool2d(3, 2)) if len(stages) == 1 else OrderedDict()
        for name, make_block, arg in rows:
            blocks[name] = make_block(width, arg)
            width = blocks[name].out_channels
            if aux_logits and name == INCEPTION_V3_AUX_AFTER:
                aux_heads[name] = _inception_v3_aux(width, num_classes)
        stages.append(nn.Sequential(blocks))
    head = ClassifierHead(width, num_classes, drop_rate)
    # The paper gives no weight; its TF-slim training script weighs the auxiliary loss by 0.4.
    model = InceptionNet(stem, stages, head, "stem.conv1a.conv.weight", aux_heads, InceptionV3Outputs,
                         aux_loss_weight=0.4)
    init_he_fan_out(model)
    return model


def _inception_v3_aux(in_channels: int, num_classes: int) -> AuxClassifier:
    """5x5/3 average pool (17x17 -> 5x5), 1x1 conv (128), 5x5 conv (768), fc.
    The paper adds BN here ("BN-auxiliary"); torchvision's head has it in every conv."""
    features = nn.Sequential(OrderedDict(
        pool=nn.AvgPool2d(5, 3), conv0=conv(in_channels, 128, 1), conv1=conv(128, 768, 5),
        gap=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(1),
    ))
    return AuxClassifier(features, 768, num_classes)


register_model("googlenet", googlenet, family="inception", paper=GOOGLENET)
register_model("inception_v3", inception_v3, family="inception", paper=INCEPTION_V3, input_size=299)
# torchvision's Inception weights were trained (in TF) on inputs scaled to
# [-1, 1], which transform_input converts to from ImageNet normalisation.
for _name in ("googlenet", "inception_v3"):
    register_torchvision_weights(_name, model_kwargs={"transform_input": True})


# ---------------------------------------------------------------------------
# torchvision key layout -> ours
# ---------------------------------------------------------------------------

_GOOGLENET_BRANCHES = {"1": "branch1x1", "2": "branch3x3", "3": "branch5x5", "4": "branch_pool"}


def _v3_branch(key: str) -> str:
    """torchvision's flat branch names -> our nested ones: branch5x5_2 ->
    branch5x5.1, branch3x3_2a -> branch3x3.1.1x3, branch_pool -> branch_pool.1
    (after its pool); unnumbered single convs (branch1x1) keep their name."""
    if key.startswith("branch_pool."):
        return "branch_pool.1." + key[len("branch_pool."):]
    m = re.fullmatch(r"(branch\w+?)_(\d)([ab]?)\.(.+)", key)
    if m is None:
        return key
    split = {"a": "1x3.", "b": "3x1.", "": ""}[m[3]]
    return f"{m[1]}.{int(m[2]) - 1}.{split}{m[4]}"


_TORCHVISION_RULES = [
    # GoogLeNet
    (r"conv1\.(.+)", r"stem.conv1.\1"),
    (r"conv([23])\.(.+)", r"stages.0.conv\1.\2"),
    (r"inception(\d)([a-e])\.branch(\d)\.(.+)",
     lambda m: f"stages.{int(m[1]) - 2}.inception{m[1]}{m[2]}.{_GOOGLENET_BRANCHES[m[3]]}.{m[4]}"),
    (r"aux1\.(.+)", r"aux_heads.inception4a.\1"),
    (r"aux2\.(.+)", r"aux_heads.inception4d.\1"),
    # Inception v3
    (r"Conv2d_(1a|2a|2b)_3x3\.(.+)", r"stem.conv\1.\2"),
    (r"Conv2d_(3b_1x1|4a_3x3)\.(.+)", lambda m: f"stages.0.conv{m[1][:2]}.{m[2]}"),
    (r"Mixed_(\d)([a-e])\.(.+)", lambda m: f"stages.{int(m[1]) - 4}.mixed{m[1]}{m[2]}.{_v3_branch(m[3])}"),
    (r"AuxLogits\.(.+)", r"aux_heads.mixed6e.\1"),
    # both
    (r"fc\.(.+)", r"head.fc.\1"),
]
# Inside the auxiliary heads, once prefixed: convs into `features`, GoogLeNet's fc1 is our hidden fc.
_AUX_RULES = [
    (r"(aux_heads\.\w+)\.(conv\d?)\.(.+)", r"\1.features.\2.\3"),
    (r"(aux_heads\.\w+)\.fc1\.(.+)", r"\1.hidden.0.\2"),
    (r"(aux_heads\.\w+)\.fc2\.(.+)", r"\1.fc.\2"),
]
_AUX_PREFIXES = ("aux1.", "aux2.", "AuxLogits.")


def convert_torchvision(state_dict):
    """torchvision GoogLeNet / Inception3 keys (auxiliary heads included) -> ours."""
    return rename_keys(rename_keys(state_dict, _TORCHVISION_RULES), _AUX_RULES)


register_converter("inception", "torchvision", transform=convert_torchvision)


def convert_torchvision_without_aux(state_dict):
    """A torchvision checkpoint with auxiliary heads, into a model built without
    them (torchvision's googlenet file holds them; our default googlenet has none)."""
    return convert_torchvision({k: v for k, v in state_dict.items() if not k.startswith(_AUX_PREFIXES)})


register_converter("inception", "torchvision_without_aux", transform=convert_torchvision_without_aux)


def convert_convzoo_without_aux(state_dict):
    """Our own checkpoint of a model trained with aux_logits, into one without."""
    return {k: v for k, v in state_dict.items() if not k.startswith("aux_heads.")}


register_converter("inception", "convzoo_without_aux", transform=convert_convzoo_without_aux)
