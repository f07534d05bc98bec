"""The model registry: every architecture is registered here by name.

A family module registers its variants with `register_model`, usually in a loop
over its configuration table. `get_model` builds one, optionally loading weights.
"""
from __future__ import annotations

import difflib
import fnmatch
import functools
import re
from dataclasses import dataclass, field
from typing import Callable

from torch import nn


@dataclass(frozen=True)
class Paper:
    title: str
    year: int
    url: str = ""


@dataclass
class ModelInfo:
    """What the zoo knows about one registered model.

    `params` and `gflops` are measured, not typed in: the model is built and run
    on the meta device (no memory, no arithmetic). The figures of every
    registered model are kept in a packaged table (tasks/complexity.py) that a
    test re-measures. GFLOPs count multiply-accumulates (1 MAC = 1 FLOP), as
    torchvision's table does.
    """

    name: str
    family: str
    paper: Paper
    builder: Callable[..., nn.Module]
    input_size: int = 224
    default_kwargs: dict = field(default_factory=dict)

    @property
    def year(self) -> int:
        return self.paper.year

    @functools.cached_property
    def params(self) -> int:
        return self._complexity()["params"]

    @functools.cached_property
    def gflops(self) -> float:
        return self._complexity()["gflops"]

    def _complexity(self) -> dict:
        from .tasks.complexity import measure, measured_table

        return measured_table().get(self.name) or measure(self.name)

    def build(self, **kwargs) -> nn.Module:
        return self.builder(**{**self.default_kwargs, **kwargs})


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(
    name: str,
    builder: Callable[..., nn.Module],
    *,
    family: str,
    paper: Paper,
    input_size: int = 224,
    **default_kwargs,
) -> None:
    """Register `builder(**default_kwargs, **user_kwargs)` under `name`."""
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is registered twice")
    _REGISTRY[name] = ModelInfo(name, family, paper, builder, input_size, default_kwargs)


def _ensure_models_imported() -> None:
    from . import models  # noqa: F401  (importing registers every family)


def _natural_key(name: str) -> list:
    """resnet18 < resnet34 < resnet101: numbers compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def list_models(pattern: str = "*", pretrained: bool = False) -> list[str]:
    """Registered model names matching an fnmatch `pattern`, sorted.

    With `pretrained=True`, only the models that have published weights.
    """
    _ensure_models_imported()
    names = sorted((n for n in _REGISTRY if fnmatch.fnmatch(n, pattern)), key=_natural_key)
    if pretrained:
        from .weights.specs import has_pretrained

        names = [n for n in names if has_pretrained(n)]
    return names


def model_info(name: str) -> ModelInfo:
    _ensure_models_imported()
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(
            f"unknown model {name!r}.{hint} `convzoo list` shows every model."
        ) from None


def get_model(
    name: str,
    *,
    weights: str | None = None,
    num_classes: int | None = None,
    in_chans: int = 3,
    **kwargs,
) -> nn.Module:
    """Build a registered model.

    weights: None (random init) | "DEFAULT" | a weights tag | a local checkpoint
    path (.pth/.pt/.safetensors in torchvision, timm or convzoo key layout).
    num_classes: size of the classifier; with weights for another number of
    classes, everything but the classifier is loaded (transfer learning).
    in_chans: input channels; pretrained RGB weights are adapted to it.
    """
    info = model_info(name)
    from .weights.loading import is_checkpoint_path, load_weights, read_checkpoint, unwrap_state_dict

    spec = None
    if weights is not None and not isinstance(weights, dict) and not is_checkpoint_path(weights):
        from .weights.specs import get_weights

        spec = get_weights(name, str(weights))
    # Weights are read before the model is built: a missing or corrupt file
    # fails fast, without building a large model first.
    state_dict = None
    if spec is not None:
        state_dict = spec.get_state_dict()
    elif isinstance(weights, dict):
        state_dict = unwrap_state_dict(weights)
    elif weights is not None:
        state_dict = read_checkpoint(weights)
    build_kwargs = dict(spec.model_kwargs if spec else {}, **kwargs, in_chans=in_chans)
    if num_classes is not None:
        build_kwargs["num_classes"] = num_classes
    model = info.build(**build_kwargs)
    model.name = name
    model.pretrained_weights = spec
    if state_dict is not None:
        load_weights(model, state_dict, strict=True, allow_new_classifier=num_classes is not None)
    return model
