"""Published weights (tags, URLs, preprocessing) per model.

Filled in by the pretrained-weights work; until a model has an entry here,
only local checkpoints load.
"""
from __future__ import annotations

import difflib

_SPECS: dict[str, dict] = {}


def has_pretrained(name: str) -> bool:
    return bool(_SPECS.get(name))


def get_weights(name: str, tag: str = "DEFAULT"):
    tags = _SPECS.get(name, {})
    if not tags:
        raise ValueError(
            f"no published weights are registered for {name!r}; pass a local checkpoint path instead"
        )
    if tag not in tags:
        close = difflib.get_close_matches(tag, list(tags), n=5, cutoff=0.3)
        raise ValueError(f"unknown weights tag {tag!r} for {name}; available: {', '.join(close or tags)}")
    return tags[tag]


def list_weights(name: str) -> list[str]:
    return list(_SPECS.get(name, {}))


def default_acc1(name: str) -> float | None:
    spec = _SPECS.get(name, {}).get("DEFAULT")
    return None if spec is None else spec.meta.get("acc1")
