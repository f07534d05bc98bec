"""The factory: models by name, with their weights.

It sits on top of the model families (importing `models` registers them all)
and joins the registry (names -> builders) with the weights specs (names ->
published files) and the loader. Everything a user asks by model name goes
through here: `get_model`, `get_weights`, `list_models`, `model_info`.
"""
from __future__ import annotations

import difflib
import inspect
import re
from typing import Iterable, Sequence

from torch import nn

from . import models  # noqa: F401  (importing the package registers every family)
from .data.preprocessing import Preprocessing
from .net import FeatureEncoder
from .registry import ModelInfo, close_names, lookup, registered_names
from .weights import hub
from .weights.inflate import inflate_state_dict, weights_spatial_dims
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


def match_models(patterns: str | Iterable[str], *, pretrained: bool = False) -> list[str]:
    """Every model matching any of the fnmatch `patterns`, once each, in pattern
    order (with `pretrained=True`, only those with published weights). A pattern
    that matches nothing is an error that names close matches."""
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    if not patterns:
        raise ValueError("no model pattern given: name models or patterns, e.g. 'resnet*' mobilenet_v3_small")
    names: list[str] = []
    for pattern in patterns:
        matched = list_models(pattern, pretrained=pretrained)
        if not matched:
            # A misspelling gets close names; a real model without weights does not need them.
            close = [] if list_models(pattern) else close_names(pattern)
            hint = f": did you mean {', '.join(close)}?" if close else ""
            which = "model with published weights" if pretrained else "model"
            listing = "`convzoo list --pretrained` shows them" if pretrained else "`convzoo list` shows every model"
            raise ValueError(f"no {which} matches {pattern!r}{hint} ({listing})")
        names += [n for n in matched if n not in names]
    return names


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


def default_preprocessing(name: str) -> Preprocessing:
    """The preprocessing of `name`'s DEFAULT weights; for a model without
    published weights, the usual ImageNet recipe at its input size."""
    spec = default_weights(name)
    return spec.preprocessing if spec is not None else Preprocessing.for_input_size(lookup(name).input_size)


def takes_option(name: str, option: str) -> bool:
    """Whether model `name`'s builder names `option` (output_stride, spatial_dims)
    in its signature: how the families that offer an option are found, never
    listed by hand. A builder that passes **kwargs on must name its options."""
    return option in inspect.signature(lookup(name).builder).parameters


def models_taking(option: str) -> str:
    """The models whose builder takes `option`, short: "resnet*, vgg*, alexnet"
    (a pattern only where every model it matches takes the option)."""
    groups: dict[str, list[str]] = {}
    for name in registered_names():
        groups.setdefault(re.match(r"(wide_)?[a-z]+", name)[0], []).append(name)  # wide_resnet50_2 -> wide_resnet
    listed = []
    for stem, names in groups.items():
        taking = [name for name in names if takes_option(name, option)]
        listed += [f"{stem}*"] if len(taking) == len(names) > 1 else taking
    return ", ".join(listed)


def chosen_weights(value: str | None, unset: str | None = "DEFAULT") -> str | None:
    """A weights choice as people write it (command lines, configs) as `get_model` takes it:
    unset (None) is `unset`, the best published weights by default; "none", in any case,
    is no weights at all (random initialisation); anything else is a tag or a file."""
    if value is None:
        return unset
    return None if value.lower() == "none" else value


def get_model(
    name: str,
    *,
    weights: str | dict | None = None,
    num_classes: int | None = None,
    in_chans: int = 3,
    features_only: bool = False,
    out_indices: Sequence[int] | None = None,
    inflate: str | None = None,
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
    spatial_dims (families that have it: resnet*, vgg*, ...): 1 for signals
    (N, C, L), 3 for volumes (N, C, D, H, W); 2, images, is the default.
    inflate: "mean" | "center", for spatial_dims=3 with 2D weights: every k x k
    kernel given a depth of k (weights/inflate.py; I3D's "mean" is the usual one).
    name "hf-hub:OWNER/REPO": a model shared on the Hugging Face Hub (`convzoo push`), with
    its weights and classes (weights/hub.py: downloaded into the Hugging Face cache).
    """
    if hub.is_hub_name(name):
        return _hub_model(name, weights, num_classes, in_chans, features_only, out_indices, inflate, kwargs)
    if out_indices is not None and not features_only:
        raise ValueError("out_indices selects an encoder's maps: pass features_only=True with it")
    if "pretrained" in kwargs:  # torchvision's and timm's old spelling
        raise ValueError(f"get_model has no pretrained= argument: use get_model({name!r}, weights=\"DEFAULT\") "
                         f"(or a weights tag, or a checkpoint path)")
    info = lookup(name)
    spatial_dims = kwargs.get("spatial_dims", 2)
    if spatial_dims != 2 and not takes_option(name, "spatial_dims"):
        raise ValueError(f"{name} has no spatial_dims option: 1D/3D models are {models_taking('spatial_dims')}")
    if kwargs.get("output_stride", 32) != 32 and not takes_option(name, "output_stride"):
        raise ValueError(f"{name} has no output_stride option: dilated encoders are {models_taking('output_stride')}")
    # The defaults, which every family builds, are recorded only when they are not
    # (a Keras twin, built from build_kwargs, mirrors neither option).
    if spatial_dims == 2:
        kwargs.pop("spatial_dims", None)
    if kwargs.get("output_stride") == 32:
        kwargs.pop("output_stride")
    if inflate is not None and spatial_dims != 3:
        raise ValueError(f"inflate gives 2D kernels a depth: it needs spatial_dims=3, not {spatial_dims}")
    if inflate is not None and weights is None:
        raise ValueError("inflate needs 2D weights to inflate: pass weights= (a tag, a checkpoint path or a state_dict)")
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
        if inflate is not None:
            state_dict = inflate_state_dict(state_dict, model, inflate)
        else:
            _check_weights_dims(name, state_dict, spatial_dims)
        load_weights(model, state_dict, strict=True, allow_new_classifier=num_classes is not None)
    return FeatureEncoder(model, out_indices) if features_only else model


def _check_weights_dims(name: str, state_dict: dict, spatial_dims: int) -> None:
    """Weights of another rank than the model: one line saying what to pass."""
    weights_dims = weights_spatial_dims(state_dict)
    if weights_dims is None or weights_dims == spatial_dims:
        return
    if weights_dims == 2 and spatial_dims == 3:
        raise ValueError(f"these are 2D weights and {name} was built with spatial_dims=3: pass inflate=\"mean\" "
                         f"(I3D) or inflate=\"center\" to give their kernels a depth")
    raise ValueError(f"these are {weights_dims}D weights and {name} was built with spatial_dims={spatial_dims}: "
                     f"build it with spatial_dims={weights_dims}")


def _hub_model(name, weights, num_classes, in_chans, features_only, out_indices, inflate, kwargs) -> nn.Module:
    """get_model("hf-hub:OWNER/REPO"): the repo's model, built by name and loaded from its safetensors."""
    if weights is not None:
        raise ValueError(f"{name} comes with its own weights: drop weights={weights!r}")
    weights_path, config = hub.download(name)
    return get_model(config["model"], weights=str(weights_path), num_classes=num_classes or len(config["classes"]),
                     in_chans=config.get("in_chans", in_chans), features_only=features_only,
                     out_indices=out_indices, inflate=inflate, **kwargs)
