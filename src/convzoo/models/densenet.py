"""DenseNet-BC: every layer sees the concatenation of all earlier layers' outputs.

"Densely Connected Convolutional Networks" (Huang, Liu, van der Maaten &
Weinberger, 2016), the ImageNet "BC" variants of its Table 1: each dense layer
is BN-ReLU-1x1 conv (the bottleneck, to `bn_size * k` channels) then BN-ReLU-3x3
conv adding `k` (the growth rate) channels; transitions between dense blocks
halve the channels (compression 0.5) and the resolution.

`memory_efficient=True` follows "Memory-Efficient Implementation of DenseNets"
(Pleiss et al., 2017): the concatenation + BN + ReLU + 1x1 conv of each layer
is the part whose intermediate tensors grow quadratically with depth, so it is
not stored for backward but recomputed (torch.utils.checkpoint). Same outputs
and gradients; densenet121 at 8 x 224 x 224 peaks at half the training memory
(benchmarks/densenet_memory.py), for a second run of those layers in backward
(the paper reports 15-20% more training time).
The recomputation runs the layer's first BN again in training mode; it must
not count the batch twice in the running statistics (torchvision's option does:
one extra momentum step per iteration), so it runs with the statistics frozen.

Anatomy: stem = 7x7/2 conv, BN, ReLU, 3x3/2 max-pool (stride 4); stage 0 is
dense block 1; stage i > 0 is transition i followed by dense block i + 1
(strides 4, 8, 16, 32); the head's `pre` is the final BN + ReLU.

`spatial_dims=1|3` builds the same network for signals (N, C, L) or volumes
(N, C, D, H, W): every conv, BN and pool is its 1D/3D sibling (layers/dims.py),
kernels and strides repeated over each dim; memory_efficient works alike.
"""

from collections import OrderedDict
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..layers import ClassifierHead, for_dims
from ..layers.dilation import DilatedAvgPool, dilated_stage_plan
from ..net import ConvNet
from ..registry import Paper, register_model
from ..weights import register_converter, register_torchvision_weights

DENSENET = Paper("Densely Connected Convolutional Networks", 2016, "https://arxiv.org/abs/1608.06993")


def norm_act_conv(in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1,
                  spatial_dims: int = 2) -> nn.Sequential:
    """The pre-activation unit DenseNet is built of: BN -> ReLU -> conv (no bias)."""
    return nn.Sequential(OrderedDict(
        bn=for_dims(nn.BatchNorm2d, spatial_dims)(in_channels),
        act=nn.ReLU(inplace=True),
        conv=for_dims(nn.Conv2d, spatial_dims)(in_channels, out_channels, kernel_size,
                                               padding=dilation * (kernel_size // 2), dilation=dilation, bias=False),
    ))


class DenseLayer(nn.Module):
    """concat(all earlier features) -> BN-ReLU-1x1 conv -> BN-ReLU-3x3 conv: `growth_rate` new channels."""

    def __init__(self, in_channels: int, growth_rate: int, bn_size: int, drop_rate: float = 0.0,
                 memory_efficient: bool = False, dilation: int = 1, spatial_dims: int = 2):
        super().__init__()
        self.conv1 = norm_act_conv(in_channels, bn_size * growth_rate, 1, spatial_dims=spatial_dims)
        self.conv2 = norm_act_conv(bn_size * growth_rate, growth_rate, 3, dilation, spatial_dims)
        self.drop_rate = drop_rate
        self.memory_efficient = memory_efficient

    def bottleneck(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.conv1(torch.cat(features, 1))

    @torch.jit.unused  # training only; a scripted model is for inference
    def _checkpointed_bottleneck(self, features: list[torch.Tensor]) -> torch.Tensor:
        # The concatenation and BN output are as wide as all earlier layers
        # together: keep neither for backward, recompute them there.
        # Unpacked: the block appends to `features` before backward recomputes.
        return checkpoint(lambda *tensors: self.bottleneck(list(tensors)), *features, use_reentrant=False,
                          context_fn=lambda: (nullcontext(), _running_stats_frozen(self.conv1.bn)))

    def _bottleneck_needs_grad(self, features: list[torch.Tensor]) -> bool:
        """Whether autograd would keep the bottleneck's tensors: gradients flow
        into earlier layers, or into this layer's own weights (a frozen stem
        below a trained block). In inference there is nothing to save."""
        return torch.is_grad_enabled() and (
            any(f.requires_grad for f in features) or any(p.requires_grad for p in self.conv1.parameters()))

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        checkpointed = False
        if not torch.jit.is_scripting():  # scripted: inference, nothing to save for backward
            checkpointed = self.memory_efficient and self._bottleneck_needs_grad(features)
        if checkpointed:
            x = self._checkpointed_bottleneck(features)
        else:
            x = self.bottleneck(features)
        x = self.conv2(x)
        return F.dropout(x, self.drop_rate, self.training) if self.drop_rate > 0 else x


@contextmanager
def _running_stats_frozen(bn: nn.BatchNorm2d):
    """BN computes the same (batch statistics in training, running ones in eval)
    but its running statistics take a zero-size step and its batch counter is
    put back. (Passing no running buffers instead would change what BN saves
    for backward, which checkpoint's recomputation check rejects.)"""
    momentum, count = bn.momentum, bn.num_batches_tracked.clone()
    bn.momentum = 0.0
    try:
        yield
    finally:
        bn.momentum = momentum
        bn.num_batches_tracked.copy_(count)


class DenseStage(nn.Module):
    """[transition: BN-ReLU-1x1 conv halving the channels, 2x2 avg-pool] -> dense block.

    Dilated (output_stride): the pool keeps the resolution (`stride` 1), its
    2x2 window `first_dilation` apart, and the 3x3 convs dilate by `dilation`."""

    def __init__(self, in_channels: int, num_layers: int, growth_rate: int, bn_size: int, transition: bool,
                 drop_rate: float = 0.0, memory_efficient: bool = False, stride: int = 2, dilation: int = 1,
                 first_dilation: int = 1, spatial_dims: int = 2):
        super().__init__()
        if transition:
            out_channels = in_channels // 2  # compression 0.5 (the "C" of DenseNet-BC)
            self.transition = norm_act_conv(in_channels, out_channels, 1, spatial_dims=spatial_dims)
            self.transition.add_module("pool", for_dims(nn.AvgPool2d, spatial_dims)(2, 2) if stride == 2
                                       else DilatedAvgPool(first_dilation, spatial_dims))
            in_channels = out_channels
        else:
            self.transition = nn.Identity()
        self.layers = nn.ModuleList(
            DenseLayer(in_channels + i * growth_rate, growth_rate, bn_size, drop_rate, memory_efficient, dilation,
                       spatial_dims)
            for i in range(num_layers)
        )
        self.out_channels = in_channels + num_layers * growth_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [self.transition(x)]
        for layer in self.layers:
            features.append(layer(features))
        return torch.cat(features, 1)


@dataclass(frozen=True)
class DenseNetConfig:
    growth_rate: int  # k
    depths: tuple[int, int, int, int]  # dense layers per block
    stem_width: int = 64  # 2k in the paper
    bn_size: int = 4  # bottleneck width in multiples of k


# Table 1 of the paper (DenseNet-161 from the authors' repository).
VARIANTS = {
    "densenet121": DenseNetConfig(32, (6, 12, 24, 16)),
    "densenet161": DenseNetConfig(48, (6, 12, 36, 24), stem_width=96),
    "densenet169": DenseNetConfig(32, (6, 12, 32, 32)),
    "densenet201": DenseNetConfig(32, (6, 12, 48, 32)),
}


class DenseNet(ConvNet):
    """stem (stride 4) -> four dense stages (strides 4, 8, 16, 32) -> BN-ReLU, pool, fc.

    output_stride 16 or 8 (DeepLab's "atrous" encoder; no reference has it for
    DenseNet): the last one or two transitions keep the resolution and the 3x3
    convs after them dilate by the stride given up. The transition's 2x2/2
    average pool becomes a 2x2 average of pixels `dilation` apart at stride 1
    (layers/dilation.py DilatedAvgPool), not an identity or a 1x1 pool: the
    dense layers were trained on the average of 2x2 neighbours, and with it
    the dilated network computes, on every (32 / output_stride)-th pixel of
    its last map, exactly the undilated network's values (the same weights'
    receptive field), filling in the pixels between. (Where a transition's
    input has an odd size, the strided pool drops the last row and column and
    the dilated one keeps them: the values near that edge differ.)"""

    family = "densenet"

    def __init__(self, cfg: DenseNetConfig, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0,
                 memory_efficient: bool = False, output_stride: int = 32, spatial_dims: int = 2):
        conv, norm = for_dims(nn.Conv2d, spatial_dims), for_dims(nn.BatchNorm2d, spatial_dims)
        stem = nn.Sequential(OrderedDict(
            conv=conv(in_chans, cfg.stem_width, 7, 2, 3, bias=False),
            bn=norm(cfg.stem_width),
            act=nn.ReLU(inplace=True),
            pool=for_dims(nn.MaxPool2d, spatial_dims)(3, 2, 1),
        ))
        stage_plan = dilated_stage_plan(output_stride, stem_stride=4, stage_strides=(1, 2, 2, 2))
        stages, in_channels = [], cfg.stem_width
        for i, (depth, (stride, dilation, first_dilation)) in enumerate(zip(cfg.depths, stage_plan)):
            stages.append(DenseStage(in_channels, depth, cfg.growth_rate, cfg.bn_size, transition=i > 0,
                                     drop_rate=drop_rate, memory_efficient=memory_efficient,
                                     stride=stride, dilation=dilation, first_dilation=first_dilation,
                                     spatial_dims=spatial_dims))
            in_channels = stages[-1].out_channels
        final_norm = nn.Sequential(OrderedDict(bn=norm(in_channels), act=nn.ReLU(inplace=True)))
        head = ClassifierHead(in_channels, num_classes, pre=final_norm, spatial_dims=spatial_dims)
        super().__init__(stem, stages, head, first_conv="stem.conv.weight")
        for m in self.modules():
            if isinstance(m, conv):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, norm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)


for _name, _cfg in VARIANTS.items():
    register_model(_name, partial(DenseNet, _cfg), family="densenet", paper=DENSENET)
    register_torchvision_weights(_name)


_UNIT = {"norm": "bn", "conv": "conv"}

# torchvision: features.{conv0,norm0}, features.denseblockB.denselayerL.{norm,conv}{1,2},
# features.transitionT.{norm,conv} (after block T: our stage T), features.norm5, classifier.
# Checkpoints from before PyTorch 0.4 name the dense layer's units `norm.1`, `conv.2`, ...
# (torchvision still renames them when it loads its own weights); the optional dot reads both.
_TORCHVISION_RULES = [
    (r"features\.conv0\.weight", "stem.conv.weight"),
    (r"features\.norm0\.(.+)", r"stem.bn.\1"),
    (r"features\.denseblock(\d+)\.denselayer(\d+)\.(norm|conv)\.?([12])\.(.+)",
     lambda m: f"stages.{int(m[1]) - 1}.layers.{int(m[2]) - 1}.conv{m[4]}.{_UNIT[m[3]]}.{m[5]}"),
    (r"features\.transition(\d+)\.(norm|conv)\.(.+)", lambda m: f"stages.{m[1]}.transition.{_UNIT[m[2]]}.{m[3]}"),
    (r"features\.norm5\.(.+)", r"head.pre.bn.\1"),
    (r"classifier\.(.+)", r"head.fc.\1"),
]


register_converter("densenet", "torchvision", rules=_TORCHVISION_RULES)
