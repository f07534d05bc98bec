"""convzoo encoders inside segmentation_models_pytorch (smp >= 0.5): Unet, FPN,
DeepLabV3+ and every other smp architecture over any convzoo model.

    from convzoo.seg import smp_adapter
    import segmentation_models_pytorch as smp
    smp_adapter.register()                       # every convzoo model, once per process
    model = smp.Unet("tu-convzoo-efficientnet_lite0", encoder_weights=True, classes=3)
    model = smp.DeepLabV3Plus("tu-convzoo-resnet50", encoder_weights=None)   # output stride 16
    model = smp.Unet("tu-convzoo-resnet50.IMAGENET1K_V1", encoder_weights=True)   # another weights tag
    model = smp.FPN("tu-convzoo-resnet34", encoder_weights=None, convzoo_weights="my_checkpoint.pth")

Which of smp's extension points, and why. smp builds its encoder by name in
`smp.encoders.get_encoder`, along one of two routes:

- A name in the dict `smp.encoders.encoders` (an EncoderMixin class and its
  settings). There, any `encoder_weights` but None (smp's default is
  "imagenet") is downloaded from the Hugging Face Hub (smp-hub repositories)
  before the encoder sees it: convzoo's weights could only come in by patching
  smp. And its `make_dilated` gives every conv of a stage the new dilation,
  the first block's strided conv included, where torchvision, timm, DeepLab and
  convzoo keep that conv at the previous dilation: another function.
- A "tu-" name: any model `timm.create_model` knows. smp passes it
  `pretrained` (encoder_weights is not None), `in_chans`, `out_indices` (from
  encoder_depth), `output_stride` (when not 32) and any extra keyword given to
  the smp model, and reads the maps' `feature_info`. timm finds models by the
  names registered with `timm.models.register_model`, its public hook for
  models defined outside timm.

We take the second: `register()` files each convzoo model with timm as
"convzoo-<name>", so smp knows it as "tu-convzoo-<name>". Its entrypoint builds
the model with `get_model` (weights: `pretrained` -> our DEFAULT weights, or
the tag after a dot in the name, as timm's "name.tag"; a `convzoo_weights=`
keyword, a tag, checkpoint path or state_dict, wins over both (smp takes
`weights=` for itself); in_chans adapts RGB weights; output_stride is our own
dilation, and a family without it is one clear error), and hands smp the maps
its own encoders hand their decoders:

- one map per stride /2, /4, /8, /16, /32, the deepest of the model at each;
- where the stem pools down to /4 (ResNet, DenseNet, ShuffleNet), its /2 map
  before the pooling, as smp's ResNet and DenseNet encoders and timm do;
- where no /2 map exists (ConvNeXt, VAN: /4 patchify stems), the /4 to /32
  maps: smp then puts its empty /2 placeholder in front, as it does for timm's
  transformer-style models;
- fewer levels where the model has fewer (one that stops at /16 takes
  encoder_depth=4).

Models whose unpadded convs make maps a pixel short of 1/stride (AlexNet,
Inception v3, NASNet, SqueezeNet) are refused with one line: smp's decoders
add and concatenate maps of exact sizes.

smp's own encoder_weights="imagenet" works (smp warns that "tu-" encoders take
True or None); normalise images with the weights' preprocessing,
`convzoo.get_weights(name).preprocessing` (mean, std, crop).
"""
import functools
import importlib
import sys
from typing import Iterable, List

import torch
from torch import nn

from ..factory import get_model, list_models, list_weights, match_models, models_taking, takes_option
from ..net import ConvNet, FeatureEncoder, StageInfo
from ..registry import lookup

# timm appends the names it registers here (each is an attribute too: see _entrypoint).
__all__ = ["PREFIX", "SMP_PREFIX", "SmpFeatures", "register", "require_smp",
           "smp_maps"]

PREFIX = "convzoo-"  # timm's name for convzoo model X is convzoo-X; smp's is tu-convzoo-X
SMP_PREFIX = "tu-" + PREFIX


def require_smp():
    """segmentation_models_pytorch (and the timm it brings), or one line naming the extra."""
    try:
        smp = importlib.import_module("segmentation_models_pytorch")
        timm = importlib.import_module("timm")
    except ImportError:
        raise ValueError("convzoo encoders in segmentation_models_pytorch need it installed: "
                         "pip install 'convzoo[seg]'") from None
    return smp, timm


def register(names: str | Iterable[str] | None = None) -> list[str]:
    """Make convzoo models smp encoders: model X becomes "tu-convzoo-X" (and
    timm model "convzoo-X"). `names`: model names, or one fnmatch pattern
    ("resnet*"); default every registered model. Registering again is a no-op.
    Returns the smp encoder names."""
    _, timm = require_smp()
    if names is None:
        chosen = list_models()
    elif isinstance(names, str):
        chosen = match_models(names) if any(c in names for c in "*?[") else [names]
    else:
        chosen = list(names)
    for name in chosen:
        lookup(name)  # unknown name: the error with close matches
        if "." in name or ":" in name or "dla" in name or "tresnet" in name:
            # timm reads ".tag" and "source:", smp special-cases "dla" and "tresnet" in a name
            raise ValueError(f"{name!r} cannot be a timm/smp name; rename the model (no '.', ':', 'dla', 'tresnet')")
        entry = PREFIX + name
        if not timm.models.is_model(entry):
            timm.models.register_model(_entrypoint(name, entry))
    return [SMP_PREFIX + name for name in chosen]


def _entrypoint(name: str, entry: str):
    def create(pretrained: bool = False, pretrained_cfg=None, pretrained_cfg_overlay=None, cache_dir=None,
               features_only: bool = False, out_indices=None, output_stride: int = 32, **kwargs):
        weights = _weights_choice(name, pretrained, pretrained_cfg, kwargs.pop("convzoo_weights", None))
        if pretrained_cfg_overlay or cache_dir:
            raise ValueError(f"{entry}: pretrained_cfg_overlay and cache_dir are timm's options; convzoo weights "
                             f"are chosen by tag or checkpoint: convzoo_weights=...")
        if not features_only:  # timm.create_model("convzoo-X"): the classifier itself
            if out_indices is not None:
                raise ValueError("out_indices selects an encoder's maps: pass features_only=True with it")
            return _build(name, weights, output_stride, kwargs)
        maps = smp_maps(name)
        indices = list(range(len(maps))) if out_indices is None else [int(i) for i in out_indices]
        if not indices or max(indices) >= len(maps) or min(indices) < 0:
            raise ValueError(f"{name} has {len(maps)} levels for smp (strides "
                             f"{', '.join(f'/{m.reduction}' for m in maps)}); asked for levels {tuple(indices)}: "
                             f"use encoder_depth={len(maps) + (maps[0].reduction == 4)} or less")
        return SmpFeatures(_build(name, weights, output_stride, kwargs), [maps[i] for i in indices])

    # timm files an entrypoint by its function's name and module (and lists it in
    # that module's __all__, so it is an attribute here too).
    create.__name__ = create.__qualname__ = entry
    create.__module__ = __name__
    setattr(sys.modules[__name__], entry, create)
    return create


def _weights_choice(name: str, pretrained: bool, tag, weights):
    if tag is not None and not isinstance(tag, str):
        raise ValueError(f"{PREFIX}{name}: a pretrained_cfg is timm's; choose convzoo weights by tag "
                         f"(\"{PREFIX}{name}.TAG\") or convzoo_weights=<tag, checkpoint path or state_dict>")
    if weights is not None:
        if tag:
            raise ValueError(f"{PREFIX}{name}.{tag} and convzoo_weights=...: choose the weights one way")
        return weights
    if not pretrained:
        return None
    if not list_weights(name):
        raise ValueError(f"{name} has no published weights: encoder_weights=None (random init), or "
                         f"convzoo_weights=<checkpoint path>")
    return tag or "DEFAULT"


def _build(name: str, weights, output_stride: int, kwargs: dict) -> nn.Module:
    if output_stride != 32:
        if not takes_option(name, "output_stride"):
            raise ValueError(f"{name} has no output_stride option, which DeepLabV3/V3+ need (8 or 16): use "
                             f"Unet/FPN, or one of {models_taking('output_stride')}")
        kwargs = dict(kwargs, output_stride=output_stride)
    return get_model(name, weights=weights, **kwargs)


@functools.lru_cache(maxsize=None)
def smp_maps(name: str) -> tuple[StageInfo, ...]:
    """The maps model `name` gives smp at output stride 32, finest first: the
    deepest at each stride /2../32 (module "stem", "stages.i", or the stem's
    layer before its pooling). Read off the model built on the meta device."""
    with torch.device("meta"):
        model = lookup(name).build()
    deepest = {}
    for info in model.encoder_info():  # finest first: a later map at the same stride is deeper
        deepest[info.reduction] = info
    maps = [deepest[r] for r in sorted(deepest) if r >= 2]
    before_pool = model.stem_before_pool_info()
    if before_pool is not None and maps[0].reduction == 4:
        maps.insert(0, before_pool)
    strides = [m.reduction for m in maps]
    if strides[0] not in (2, 4) or strides != [strides[0] * 2 ** i for i in range(len(maps))]:
        raise ValueError(f"{name}'s maps have strides {strides}: smp needs one map per stride, doubling from /2 "
                         f"or /4 (its encoders' layout); use convzoo.get_model({name!r}, features_only=True) "
                         f"with your own decoder")
    # smp's decoders add and concatenate maps of exactly 1/stride of the input: unpadded
    # ("valid") convs (AlexNet, Inception v3, NASNet, SqueezeNet) shave a pixel or more off.
    size = 256
    with torch.device("meta"), torch.no_grad():
        sides = [m.shape[-1] for m in SmpFeatures(model.eval(), maps)(torch.empty(1, 3, size, size))]
    if sides != [size // s for s in strides]:
        raise ValueError(f"{name}'s maps are {sides} pixels wide for a {size}-pixel input, not "
                         f"{[size // s for s in strides]} (unpadded convs): smp's decoders need exact sizes; "
                         f"use convzoo.get_model({name!r}, features_only=True) with a decoder that resizes")
    return tuple(maps)


class _FeatureInfo(list):
    """Our StageInfo list, with the two methods of timm's FeatureInfo that smp reads."""

    def channels(self) -> list[int]:
        return [info.channels for info in self]

    def reduction(self) -> list[int]:
        return [info.reduction for info in self]

    def module_name(self) -> list[str]:
        return [info.module for info in self]


class SmpFeatures(FeatureEncoder):
    """What timm.create_model("convzoo-X", features_only=True) returns for smp:
    the maps `smp_maps(X)` chose (some of them: out_indices), finest first.

    A FeatureEncoder (the model's `stem` and `stages` under their own names:
    a classifier's state_dict loads into it) whose forward may also keep the
    stem's map before its pooling. It scripts (the stem's walk is a constant
    branch) except for families with their own forward_stages (NASNet)."""

    tap_stem: torch.jit.Final[bool]
    own_stages: torch.jit.Final[bool]
    output_fmt = "NCHW"  # smp asks: channels-last maps would be permuted
    __jit_unused_properties__ = ["channels", "reductions"]
    __jit_ignored_attributes__ = ["pretrained_weights", "_forward_stages", "_model_args"]

    def __init__(self, model: ConvNet, maps: List[StageInfo]):
        self.tap_stem = maps[0].module.startswith("stem.")
        rest = maps[1:] if self.tap_stem else maps
        available = {info.module: i for i, info in enumerate(model.encoder_info())}
        super().__init__(model, [available[m.module] for m in rest] or [0])
        if not rest:  # only the stem's inner map: no stage runs
            self.stages = nn.ModuleList()
        self.own_stages = self._forward_stages is not None
        if self.tap_stem and self.own_stages:
            raise ValueError(f"{self.name}: a stem map before pooling with the family's own forward_stages")
        self.pool_index = len(self.stem) - 1 if self.tap_stem else -1
        # Positions in forward's list [stem before pooling?, stem, stage 0, stage 1, ...]
        # of the maps asked for; out_indices count the stem only where it has its own stride.
        stem_at = 1 if self.tap_stem else 0
        first_index_at = stem_at if self.has_stem_map else stem_at + 1
        self.picks = ([0] if self.tap_stem else []) + ([first_index_at + i for i in self.out_indices] if rest else [])
        # Read off the built model: its strides (output_stride applied), its widths (its kwargs applied).
        infos = list(self.feature_info) if rest else []
        self.feature_info = _FeatureInfo(([model.stem_before_pool_info()] if self.tap_stem else []) + infos)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        if self.own_stages:
            return self._forward_by_own_stages(x)
        maps: List[torch.Tensor] = []
        if self.tap_stem:
            for i, layer in enumerate(self.stem):
                if i == self.pool_index:
                    maps.append(x)
                x = layer(x)
        else:
            x = self.stem(x)
        maps.append(x)
        for stage in self.stages:
            x = stage(x)
            maps.append(x)
        return [maps[i] for i in self.picks]

    @torch.jit.unused
    def _forward_by_own_stages(self, x: torch.Tensor) -> List[torch.Tensor]:
        return FeatureEncoder.forward(self, x)
