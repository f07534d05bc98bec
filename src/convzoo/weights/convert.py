"""Converters from foreign key layouts (torchvision, timm, original authors) to ours.

A family registers one function per foreign layout. A converter takes the
foreign state_dict and returns it with our key names (and, where a layout
differs in more than names, our tensor layout). `load_weights` tries every
converter of the model's family and keeps the one whose keys fit the model.
"""
from __future__ import annotations

import re
from typing import Callable, Iterable, Mapping

import torch

StateDict = dict[str, torch.Tensor]
Converter = Callable[[StateDict], StateDict]

_CONVERTERS: dict[str, dict[str, Converter]] = {}


def register_converter(family: str, layout: str):
    """Decorator: `fn(state_dict) -> state_dict` converts `layout` to `family`'s keys."""

    def decorate(fn: Converter) -> Converter:
        _CONVERTERS.setdefault(family, {})[layout] = fn
        return fn

    return decorate


def converters_for(family: str) -> dict[str, Converter]:
    return dict(_CONVERTERS.get(family, {}))


def rename_keys(state_dict: Mapping[str, torch.Tensor], rules: Iterable[tuple[str, str]]) -> StateDict:
    """Rename every key by the first regex rule (`pattern`, `replacement`) that
    matches it in full; keys no rule matches keep their name.

    Replacements may use groups (r"\\1") and, for index arithmetic, a callable.
    """
    compiled = [(re.compile(p), r) for p, r in rules]
    out: StateDict = {}
    for key, value in state_dict.items():
        for pattern, repl in compiled:
            if pattern.fullmatch(key):
                key = pattern.sub(repl, key, count=1)
                break
        out[key] = value
    return out
