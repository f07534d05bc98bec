"""The factory: models by name, with their weights.

It sits on top of the model families (importing `models` registers them all)
and joins the registry (names -> builders) with the weights specs (names ->
published files) and the loader. Everything a user asks by model name goes
through here: `get_model`, `get_weights`, `list_models`, `model_info`.
"""
from __future__ import annotations

import difflib
from typing import Sequence

from torch import nn

from . import models  # noqa: F401  (importing the package registers every family)
from .data.preprocessing import Preprocessing
from .net import FeatureEncoder
from .registry import ModelInfo, lookup, registered_names
from .weights.loading import is_checkpoint_path, load_weights, read_checkpoint, unwrap_state_dict
from .weights.specs import Weights, weights_of


def model_info(name: str) -> ModelInfo:
    """Family, paper, year, params, GFLOPs and builder of model `name`."""
    return lookup(name)


def list_models(pattern: str = "*", pretrained: bool = False) -> list[str]:
    """Registered model names matching an fnmatch `pattern`, in natural order.

    With `pretrained=True`, only the models that have published weights.
    """
    names = registered_names(pattern)
    return [n for n in names if weights_of(n)] if pretrained else names


def list_weights(name: str) -> list[str]:
    """The weights tags of model `name` (DEFAULT included), in registration order."""
    lookup(name)
    return list(weights_of(name))


def get_weights(name: str, tag: str = "DEFAULT") -> Weights:
    """The spec of `name`'s weights `tag` ("DEFAULT": the best published ones;
    any case: "default" works too)."""
    lookup(name)  # unknown model: the error with close matches
    tags = weights_of(name)
    if not tags:
        raise ValueError(f"no published weights for {name!r}; pass a local checkpoint path instead "
                         f"(`convzoo list --pretrained` shows the models that have some)")
    if tag not in tags and tag.upper() == "DEFAULT":
        tag = "DEFAULT"
    if tag not in tags:
        close = difflib.get_close_matches(tag, list(tags), n=3, cutoff=0.3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ValueError(f"unknown weights tag {tag!r} for {name}: {hint}available: {', '.join(tags)}")
    return tags[tag]


def default_weights(name: str) -> Weights | None:
    return weights_of(name).get("DEFAULT")


def default_acc1(name: str) -> float | None:
    spec = default_weights(name)
    return None if spec is None else spec.meta.get("acc1")


def default_preprocessing(name: str) -> Preprocessing:
    """The preprocessing of `name`'s DEFAULT weights; for a model without
    published weights, the usual ImageNet recipe at its input size."""
    spec = default_weights(name)
    return spec.preprocessing if spec is not None else Preprocessing.for_input_size(lookup(name).input_size)


def get_model(
    name: str,
    *,
    weights: str | dict | None = None,
    num_classes: int | None = None,
    in_chans: int = 3,
    features_only: bool = False,
    out_indices: Sequence[int] | None = None,
    **kwargs,
) -> nn.Module:
    """Build a registered model.

    weights: None (random init) | "DEFAULT" | a weights tag | a local checkpoint
    path (.pth/.pt/.safetensors in torchvision, timm or convzoo key layout) |
    a state_dict.
    num_classes: size of the classifier; with weights for another number of
    classes, everything but the classifier is loaded (transfer learning).
    in_chans: input channels; pretrained RGB weights are adapted to it.
    features_only: a `net.FeatureEncoder` instead: forward returns the maps at
    `out_indices` (default: all) of the stem (where its stride is its own) and
    every stage, finest first; its `feature_info` gives their channels and strides.
    """
    if out_indices is not None and not features_only:
        raise ValueError("out_indices selects an encoder's maps: pass features_only=True with it")
    if "pretrained" in kwargs:  # torchvision's and timm's old spelling
        raise ValueError(f"get_model has no pretrained= argument: use get_model({name!r}, weights=\"DEFAULT\") "
                         f"(or a weights tag, or a checkpoint path)")
    info = lookup(name)
    spec = None
    if weights is not None and not isinstance(weights, dict) and not is_checkpoint_path(weights):
        spec = get_weights(name, str(weights))
    # Weights are read before the model is built: a missing or corrupt file
    # fails fast, without building a large model first.
    if spec is not None:
        state_dict = spec.get_state_dict()
    elif isinstance(weights, dict):
        state_dict = unwrap_state_dict(weights)
    elif weights is not None:
        state_dict = read_checkpoint(weights)
    else:
        state_dict = None
    build_kwargs = dict(spec.model_kwargs if spec else {}, **kwargs, in_chans=in_chans)
    if num_classes is not None:
        build_kwargs["num_classes"] = num_classes
    model = info.build(**build_kwargs)
    model.pretrained_weights = spec
    # What it was built with beyond its name (a weights spec's legacy_stem, a width_mult...):
    # its Keras twin (convzoo.keras) is built alike.
    model.build_kwargs = build_kwargs
    if state_dict is not None:
        load_weights(model, state_dict, strict=True, allow_new_classifier=num_classes is not None)
    return FeatureEncoder(model, out_indices) if features_only else model
