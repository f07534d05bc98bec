"""The same-named model from another library (torchvision, timm), to time ours
against with `convzoo bench --vs`. Random weights: timing needs no download,
and both models do the same arithmetic whatever the weights."""
from __future__ import annotations

from torch import nn

LIBRARIES = ("torchvision", "timm")


def reference_model(library: str, name: str) -> nn.Module | None:
    """`library`'s model called `name`, or None if it has none by that name."""
    if library == "torchvision":
        import torchvision

        if name not in torchvision.models.list_models():
            return None
        return torchvision.models.get_model(name)
    if library == "timm":
        try:
            import timm
        except ImportError:
            raise ValueError("--vs timm needs timm: pip install timm") from None
        if name not in timm.list_models(name):  # exact name only, not a pattern's matches
            return None
        return timm.create_model(name, pretrained=False)
    raise ValueError(f"unknown library {library!r} to compare with: use one of {', '.join(LIBRARIES)}")
