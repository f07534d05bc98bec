r"""Converters from foreign key layouts (torchvision, timm, original authors) to ours.

A family declares one converter per foreign layout, in its model file:

    register_converter("resnet", "torchvision", rules=[(r"conv1\.weight", "stem.conv.weight"), ...])

`rules` is a table of regex renames (`rename_keys`); `transform`, where a
layout differs in more than names (blocks regrouped into stages, tensors
reshaped), is a function applied after the rules. `load_weights` tries every
converter of the model's family and keeps the one whose keys fit the model.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

import torch

StateDict = dict[str, torch.Tensor]
Rule = tuple[str, "str | Callable[[re.Match], str]"]


@dataclass(frozen=True)
class Converter:
    family: str
    layout: str
    rules: tuple[tuple[re.Pattern, object], ...] = ()
    transform: Callable[[StateDict], StateDict] | None = None

    def __call__(self, state_dict: Mapping[str, torch.Tensor]) -> StateDict:
        out = _rename(state_dict, self.rules)
        return self.transform(out) if self.transform is not None else out


_CONVERTERS: dict[str, dict[str, Converter]] = {}


def register_converter(family: str, layout: str, *, rules: Sequence[Rule] = (),
                       transform: Callable[[StateDict], StateDict] | None = None) -> Converter:
    """Declare how a checkpoint in `layout` maps onto `family`'s keys: a rule
    table, a transform, or both (rules first)."""
    if not rules and transform is None:
        raise ValueError(f"converter {family}/{layout} needs rules= or transform=")
    converter = Converter(family, layout, tuple((re.compile(p), r) for p, r in rules), transform)
    _CONVERTERS.setdefault(family, {})[layout] = converter
    return converter


def converters_for(family: str | None) -> dict[str, Converter]:
    return dict(_CONVERTERS.get(family or "", {}))


def rename_keys(state_dict: Mapping[str, torch.Tensor], rules: Iterable[Rule]) -> StateDict:
    """Rename every key by the first regex rule (`pattern`, `replacement`) that
    matches it in full; keys no rule matches keep their name.

    Replacements may use groups (r"\\1") and, for index arithmetic, a callable.
    """
    return _rename(state_dict, tuple((re.compile(p), r) for p, r in rules))


def _rename(state_dict: Mapping[str, torch.Tensor], compiled) -> StateDict:
    out: StateDict = {}
    for key, value in state_dict.items():
        for pattern, repl in compiled:
            if pattern.fullmatch(key):
                key = pattern.sub(repl, key, count=1)
                break
        out[key] = value
    return out
