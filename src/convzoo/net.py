"""The anatomy every classifier in the zoo shares: stem -> stages -> head.

Families only build the three parts; the generic features (encoder view,
classifier reset, freezing, input-channel adaptation) are written once here.
"""

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import torch
from torch import nn

from .layers.head import ResettableHead

_POOLS_2D = (nn.MaxPool2d, nn.AvgPool2d)


@dataclass(frozen=True)
class StageInfo:
    """One stage's output: its channels and its stride relative to the input."""

    channels: int
    reduction: int
    module: str


def run_on_meta(model: nn.Module, module: nn.Module, size: int | Sequence[int]):
    """`module` (part of `model`, or a view of it) in eval mode on one image on
    the meta device: shapes only, no memory, no arithmetic. `size`: a side (a
    size x size image, a length-`size` signal or a size^3 volume, as the model's
    first conv says) or the spatial sizes themselves. The model's own tensors
    stay where they are: the pass runs on meta stand-ins of `module`'s
    parameters and buffers (torch.func.functional_call)."""
    stand_ins = {name: torch.empty_like(t, device="meta")
                 for name, t in [*module.named_parameters(), *module.named_buffers()]}
    first = model.get_parameter(model.first_conv)  # (out, in, *kernel): its kernel says 1D, 2D or 3D
    spatial = (size,) * (first.dim() - 2) if isinstance(size, int) else tuple(size)
    image = torch.empty(1, first.shape[1], *spatial, device="meta")
    was_training = model.training  # the model's mode (a fresh view's own flag says nothing)
    model.eval()
    try:
        with torch.no_grad():
            return torch.func.functional_call(module, stand_ins, (image,))
    finally:
        model.train(was_training)


class ConvNet(nn.Module):
    """Base class of every model: `stem`, `stages` (a ModuleList) and `head`.

    Subclasses whose stages pass more than one tensor along (NASNet) or whose
    head needs side inputs (auxiliary classifiers) override `forward_stages`
    or `forward`; everything else comes for free.

    The protocol a model offers the rest of convzoo, declared here:
    - `family`: its registry family, which selects the converters that load
      foreign checkpoints (set per class; the registry also sets it per model).
    - `name`: its registered name (set by the registry when it builds one).
    - `pretrained_weights`: the `weights.Weights` spec it was loaded with, if any.
    - `first_conv`: the parameter that sees the input image (adapted when RGB
      weights are loaded into a model with in_chans != 3).
    - `aux_loss_weight`: weight of the auxiliary classifiers' losses in
      training, for models that have some (GoogLeNet, Inception v3).
    - `feature_info` and `classifier_prefixes`: derived, not declared.

    Every head follows `layers.head.ResettableHead` (`num_classes`, `fc`, `reset`).
    """

    family: str = ""
    name: str | None = None
    pretrained_weights = None  # weights.Weights | None (weights sits above this module)
    aux_loss_weight: float = 0.0
    # Python-side facts, not part of the computation: torch.jit.script leaves them out.
    __jit_unused_properties__ = ["feature_info", "classifier_prefixes"]
    __jit_ignored_attributes__ = ["build_kwargs", "pretrained_weights"]

    def __init__(self, stem: nn.Module, stages: Sequence[nn.Module], head: nn.Module,
                 first_conv: str = "stem.conv.weight"):
        super().__init__()
        self.stem = stem
        self.stages = stages if isinstance(stages, nn.ModuleList) else nn.ModuleList(stages)
        self.head = head
        self.first_conv = first_conv

    # ---- derived facts -------------------------------------------------------
    @property
    def feature_info(self) -> list[StageInfo]:
        """Each stage's output channels and stride, read off one forward pass
        on the meta device (shapes only: no memory, no arithmetic), so it can
        never disagree with the stages themselves."""
        if self.__dict__.get("_feature_info") is None:
            self.__dict__["_feature_info"] = self._measure_stages()
        return self.__dict__["_feature_info"]

    def _measure_stages(self, size: int = 224) -> list[StageInfo]:
        outputs = run_on_meta(self, _StagesView(self), size)
        return [_stage_info(out, size, f"stages.{i}") for i, out in enumerate(outputs)]

    def stem_info(self, size: int = 224) -> StageInfo:
        """The stem's output channels and stride (measured as feature_info is)."""
        return _stage_info(run_on_meta(self, self.stem, size), size, "stem")

    def stem_before_pool_info(self) -> StageInfo | None:
        """The /2 map inside a stem that ends by pooling /2 -> /4 (ResNet,
        DenseNet: conv, bn, act, pool): what the layer before the pool outputs.
        None for other stems. (encoder_info leaves it out, as timm does; smp's
        decoders want it: seg/smp_adapter.py.)"""
        stem = self.stem
        if not isinstance(stem, nn.Sequential) or len(stem) < 2 or not isinstance(stem[-1], _POOLS_2D):
            return None
        stride = stem[-1].stride
        if (stride if isinstance(stride, int) else stride[0]) != 2:
            return None
        info = self.stem_info()
        if info.reduction != 4:
            return None
        return StageInfo(info.channels, 2, f"stem.{list(stem._modules)[-2]}")

    def encoder_info(self) -> list[StageInfo]:
        """The maps an encoder can return: the stem's output where its stride is
        its own (strided, and finer than the first stage's), then every stage's."""
        stages = self.feature_info
        stem = self.stem_info()
        return ([stem] if 1 < stem.reduction < stages[0].reduction else []) + list(stages)

    @property
    def classifier_prefixes(self) -> tuple[str, ...]:
        """Key prefixes of every classifier (`fc` of each head, auxiliary ones
        included): what a checkpoint for another number of classes may lack."""
        return tuple(f"{name}.fc." for name, module in self.named_modules()
                     if isinstance(module, ResettableHead))

    # ---- forward -----------------------------------------------------------
    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every stage's output: the multi-scale encoder view."""
        x = self.stem(x)
        outputs = []
        for stage in self.stages:
            x = stage(x)
            outputs.append(x)
        return outputs

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's output, unpooled."""
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return x

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """Logits from the last stage's map: the head (pool, dropout, classifier)."""
        return self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [N, num_classes] of a batch of preprocessed images [N, in_chans, H, W]
        (the pooled features [N, C] when the classifier was reset to 0 classes)."""
        return self.forward_head(self.forward_features(x))

    # ---- transfer learning -------------------------------------------------
    @property
    def num_classes(self) -> int:
        """Classes the head predicts (0 after `reset_classifier(0)`: features only)."""
        return self.head.num_classes

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier by a freshly initialised one (0: features only)."""
        self.head.reset(num_classes)

    def freeze(self, stages: int | None = None) -> None:
        """Freeze the stem and the first `stages` stages (all stages if None).

        Frozen BatchNorm layers keep their running statistics: `train()` leaves
        them in eval mode (see `train` below).
        """
        n = len(self.stages) if stages is None else stages
        if not 0 <= n <= len(self.stages):
            raise ValueError(
                f"cannot freeze {n} stages: {type(self).__name__} has {len(self.stages)} "
                f"(use 0..{len(self.stages)})"
            )
        self.unfreeze()
        for module in [self.stem, *self.stages[:n]]:
            for p in module.parameters():
                p.requires_grad_(False)
            module.frozen = True
        self.train(self.training)

    def unfreeze(self) -> None:
        """Undo `freeze`: every parameter trainable, every BatchNorm updating its statistics again."""
        for p in self.parameters():
            p.requires_grad_(True)
        for module in self.modules():
            if getattr(module, "frozen", False):
                module.frozen = False

    def train(self, mode: bool = True):
        """nn.Module's train(mode), except that frozen modules (`freeze`) stay in eval
        mode, so their BatchNorm layers keep their running statistics."""
        super().train(mode)
        if mode:
            for module in _frozen_modules(self):
                module.eval()
        return self


def _stage_info(out: torch.Tensor, size: int, module: str) -> StageInfo:
    # Unpadded ("valid") convs shave a few pixels off (AlexNet, Inception):
    # the stride is the nearest power of two.
    return StageInfo(int(out.shape[1]), 2 ** round(math.log2(size / out.shape[-1])), module)


class _StagesView(nn.Module):
    """`forward` is the model's `forward_stages`: what functional_call runs."""

    def __init__(self, model: ConvNet):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.model.forward_stages(x)


def _frozen_modules(model: nn.Module) -> Iterable[nn.Module]:
    return (m for m in model.modules() if getattr(m, "frozen", False))


class FeatureEncoder(nn.Module):
    """A model as an encoder for dense prediction: forward(x) -> the maps at
    `out_indices` of `model.encoder_info()` (the stem where it has its own
    stride, then every stage), finest first; `feature_info` describes them.

    It holds the model's `stem` and the stages it needs under the same names,
    so a classifier's state_dict loads into it (the head's keys aside), and
    stops after the last stage asked for.
    """

    __jit_unused_properties__ = ["channels", "reductions"]

    def __init__(self, model: ConvNet, out_indices: Sequence[int] | None = None):
        super().__init__()
        available = model.encoder_info()
        n = len(available)
        indices = list(range(n)) if out_indices is None else [int(i) for i in out_indices]
        bad = [i for i in indices if not -n <= i < n]
        if bad or not indices:
            raise ValueError(f"out_indices {tuple(indices)}: {model.name or type(model).__name__} has {n} maps "
                             f"({', '.join(f'{i}: {info.module} /{info.reduction}' for i, info in enumerate(available))})"
                             f"; choose indices among 0..{n - 1} (or -{n}..-1)")
        indices = sorted({i % n for i in indices})
        self.has_stem_map = available[0].module == "stem"
        self.out_indices = tuple(indices)
        self.feature_info = [available[i] for i in indices]
        last_stage = int(self.feature_info[-1].module.split(".")[1]) if self.feature_info[-1].module != "stem" else -1
        self.stem = model.stem
        self.stages = nn.ModuleList(list(model.stages)[:last_stage + 1])
        self.name = model.name
        self.pretrained_weights = model.pretrained_weights
        # Families whose stages pass more than one tensor along (NASNet) keep their own
        # forward_stages; it reads only `stem` and `stages`, which this module has.
        own = type(model).forward_stages
        self._forward_stages = None if own is ConvNet.forward_stages else own
        # A plain bool for forward's branch: TorchScript cannot type the function above.
        self._own_forward_stages = self._forward_stages is not None

    @property
    def channels(self) -> list[int]:
        return [info.channels for info in self.feature_info]

    @property
    def reductions(self) -> list[int]:
        return [info.reduction for info in self.feature_info]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self._own_forward_stages:
            maps = self._maps_by_own_forward_stages(x)
        else:
            maps = [self.stem(x)]
            for stage in self.stages:
                maps.append(stage(maps[-1]))
        if not self.has_stem_map:
            maps = maps[1:]
        return [maps[i] for i in self.out_indices]

    @torch.jit.unused
    def _maps_by_own_forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The stem's map and the stages' of a family with its own forward_stages
        (not scriptable: a hook catches the stem's output)."""
        stem_out = []
        hook = self.stem.register_forward_hook(lambda module, inputs, output: stem_out.append(output))
        try:
            stage_maps = self._forward_stages(self, x)
        finally:
            hook.remove()
        return [stem_out[0], *stage_maps]


def input_channels(model: nn.Module) -> int:
    """The input channels: a zoo model's first conv, else any model's first Conv2d, else RGB."""
    first_conv = getattr(model, "first_conv", None)
    if first_conv:
        return model.get_parameter(first_conv).shape[1]
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return conv.in_channels if conv is not None else 3
