"""The model registry: names -> ModelInfo (family, paper, builder, complexity).

A family module registers its variants with `register_model`, usually in a loop
over its configuration table. This module is the bottom of the model stack: it
knows nothing of weights or tasks. Building with weights is the factory's job
(factory.py); measuring complexity is a task's (tasks/complexity.py), whose
results this module reads as data (tables/model_complexity.json).
"""
from __future__ import annotations

import difflib
import fnmatch
import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

COMPLEXITY_TABLE = Path(__file__).resolve().parent / "tables" / "model_complexity.json"


@dataclass(frozen=True)
class Paper:
    """The paper a model comes from: its title, year and a link to it."""

    title: str
    year: int
    url: str = ""


@dataclass
class ModelInfo:
    """What the zoo knows about one registered model.

    `params` and `gflops` (at `input_size`; `gflops_at(size)` at the crop
    size of any published weights) are read from the packaged complexity table, which
    tasks/complexity.py measures (meta device: no memory, no arithmetic) and a
    test keeps current. A model the table does not know yet (a user's own)
    has its parameters counted on the meta device and no GFLOPs figure.
    GFLOPs count multiply-accumulates (1 MAC = 1 FLOP), as torchvision's table does.
    """

    name: str
    family: str
    paper: Paper
    builder: Callable[..., nn.Module]
    input_size: int = 224
    default_kwargs: dict = field(default_factory=dict)

    @property
    def year(self) -> int:
        """The year of the model's paper."""
        return self.paper.year

    @functools.cached_property
    def params(self) -> int:
        """Parameters of the model built with its registered defaults (from the complexity table, or counted on the meta device)."""
        known = complexity_table().get(self.name)
        if known is not None:
            return known["params"]
        with torch.device("meta"):
            return sum(p.numel() for p in self.build().parameters())

    @property
    def gflops(self) -> float | None:
        """GMACs of one image at the model's default input size."""
        return self.gflops_at(self.input_size)

    def gflops_at(self, size: int) -> float | None:
        """GMACs of one image at `size` pixels, for the sizes the table holds:
        the default input size and the crop size of every published weights."""
        known = complexity_table().get(self.name)
        return None if known is None else known["gflops"].get(str(size))

    def build(self, **kwargs) -> nn.Module:
        """The model with random weights; it knows its registered name and family
        (the family selects the converters that load foreign checkpoints)."""
        model = self.builder(**{**self.default_kwargs, **kwargs})
        model.name = self.name
        model.family = self.family
        return model


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(
    name: str,
    builder: Callable[..., nn.Module],
    *,
    family: str,
    paper: Paper,
    input_size: int = 224,
    **default_kwargs,
) -> ModelInfo:
    """Register `builder(**default_kwargs, **user_kwargs)` under `name`."""
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is registered twice")
    info = _REGISTRY[name] = ModelInfo(name, family, paper, builder, input_size, default_kwargs)
    return info


@functools.lru_cache(maxsize=1)
def complexity_table() -> dict[str, dict]:
    return json.loads(COMPLEXITY_TABLE.read_text()) if COMPLEXITY_TABLE.is_file() else {}


def _natural_key(name: str) -> list:
    """resnet18 < resnet34 < resnet101: numbers compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def registered_names(pattern: str = "*") -> list[str]:
    """Registered names matching an fnmatch `pattern`, in natural order.

    Only what has been registered so far: the factory imports the model
    families first (factory.list_models)."""
    return sorted((n for n in _REGISTRY if fnmatch.fnmatch(n, pattern)), key=_natural_key)


def close_names(text: str) -> list[str]:
    """Up to five registered names close to a misspelt name or fnmatch pattern: the
    one "did you mean" of every command. A misspelt family in a pattern
    ('efficentnet*') is best answered by the family's own pattern, which comes first."""
    bare = text.strip("*?[]")  # 'resnt*' is compared as 'resnt'
    names = registered_names()
    close = difflib.get_close_matches(bare, names, n=5, cutoff=0.5)
    if bare != text:
        families = sorted({_REGISTRY[name].family for name in names})
        close = [f"{family}*" for family in difflib.get_close_matches(bare, families, n=2, cutoff=0.7)] + close
    return list(dict.fromkeys(close))[:5]


def lookup(name: str) -> ModelInfo:
    """The ModelInfo of `name`, or a ValueError that names close matches."""
    try:
        return _REGISTRY[name]
    except KeyError:
        close = close_names(name)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(
            f"unknown model {name!r}.{hint} `convzoo list` shows every model."
        ) from None
