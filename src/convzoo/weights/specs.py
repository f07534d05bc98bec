"""Published weights: where each file is, how to check it, how to feed it.

A `Weights` spec carries the URL, the hash, the key layout of the file, the
preprocessing the weights were trained with, and the published accuracy.
torchvision's tags come from its published table (data/torchvision_weights.tsv);
other sources (packaged checkpoints, timm, the authors) add specs through
`register_weights`.
"""
from __future__ import annotations

import csv
import difflib
import functools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_DATA = Path(__file__).parent / "data"


@functools.lru_cache(maxsize=1)
def imagenet_categories() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names, in class-index order."""
    names = (_DATA / "imagenet_classes.txt").read_text().splitlines()
    assert len(names) == 1000, "imagenet_classes.txt is damaged"
    return tuple(names)


@dataclass(frozen=True)
class Preprocessing:
    """Resize the shorter side to `resize_size`, center-crop `crop_size`,
    scale to [0, 1], normalise with `mean`/`std` (evaluation preprocessing)."""

    crop_size: int
    resize_size: int
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def transforms(self):
        import torch
        from torchvision.transforms import v2

        return v2.Compose([
            v2.ToImage(),
            v2.Resize(self.resize_size, interpolation=v2.InterpolationMode(self.interpolation), antialias=True),
            v2.CenterCrop(self.crop_size),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(self.mean, self.std),
        ])

    def to_dict(self) -> dict:
        return {"crop_size": self.crop_size, "resize_size": self.resize_size, "interpolation": self.interpolation,
                "mean": list(self.mean), "std": list(self.std)}


@dataclass(frozen=True)
class Weights:
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

    @property
    def file_name(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def hash_prefix(self) -> str | None:
        """The hash prefix a torchvision-style file name carries (name-<sha256[:n]>.pth)."""
        m = re.search(r"-([0-9a-f]{8,})\.\w+$", self.file_name)
        return m.group(1) if m else None

    @property
    def categories(self) -> tuple[str, ...]:
        return imagenet_categories() if self.num_classes == 1000 else tuple(str(i) for i in range(self.num_classes))

    def transforms(self):
        return self.preprocessing.transforms()

    def path(self, progress: bool = True) -> Path:
        """The weights file on disk: the packaged copy, the cache, or a download."""
        if self.local_file is not None:
            local = self.local_file()
            if local is not None:
                return local
        from .download import fetch

        return fetch(self.url, sha256=self.sha256, hash_prefix=self.hash_prefix, progress=progress)

    def get_state_dict(self, progress: bool = True):
        from .loading import read_checkpoint

        return read_checkpoint(self.path(progress))


_SPECS: dict[str, dict[str, Weights]] = {}


def register_weights(weights: Weights, default: bool = False) -> None:
    tags = _SPECS.setdefault(weights.model, {})
    tags[weights.tag] = weights
    if default or "DEFAULT" not in tags:
        tags["DEFAULT"] = weights


def _load_torchvision_table() -> None:
    with open(_DATA / "torchvision_weights.tsv") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            tag = row["weights_enum_entry"].split(".", 1)[1]
            mean, std = IMAGENET_MEAN, IMAGENET_STD
            if tag == "IMAGENET1K_FEATURES":  # VGG16 features ported from Caffe: BGR-free, 0..255 scale
                mean, std = (0.48235, 0.45882, 0.40784), (1 / 255, 1 / 255, 1 / 255)
            register_weights(Weights(
                model=row["model_name"],
                tag=tag,
                url=row["url"],
                preprocessing=Preprocessing(int(row["crop_size"]), int(row["resize_size"]), row["interpolation"], mean, std),
                layout="torchvision",
                meta={"acc1": _published(row["acc1"]), "acc5": _published(row["acc5"]), "params": int(row["num_params"]),
                      "gflops": float(row["gflops"]), "source": "torchvision", "license": "BSD-3-Clause (torchvision)"},
                model_kwargs=_TORCHVISION_BUILD_OPTIONS.get(row["model_name"], {}),
            ), default=row["is_default"] == "True")


def _published(figure: str) -> float | None:
    """A table figure, or None where none is published (nan: VGG16's feature-only weights)."""
    value = float(figure)
    return None if math.isnan(value) else value


# torchvision builds these with options when its weights are loaded: the
# Inception weights were trained (in TF) on inputs scaled to [-1, 1], which
# transform_input converts to from ImageNet normalisation.
_TORCHVISION_BUILD_OPTIONS = {
    "googlenet": {"transform_input": True},
    "inception_v3": {"transform_input": True},
    # torchvision's first MNASNet kept the stem at 32/16 channels for every
    # alpha, and its mnasnet0_5 ImageNet file is such a checkpoint.
    "mnasnet0_5": {"legacy_stem": True},
}


@functools.lru_cache(maxsize=1)
def _all_specs() -> dict[str, dict[str, Weights]]:
    """Every spec, of registered models only (torchvision's table also lists ViT/Swin)."""
    from ..registry import _REGISTRY, _ensure_models_imported

    _ensure_models_imported()
    _load_torchvision_table()
    from . import sources  # noqa: F401  (packaged and non-torchvision weights register themselves)

    return {name: tags for name, tags in _SPECS.items() if name in _REGISTRY}


def has_pretrained(name: str) -> bool:
    return bool(_all_specs().get(name))


def list_weights(name: str) -> list[str]:
    return list(_all_specs().get(name, {}))


def default_acc1(name: str) -> float | None:
    spec = _all_specs().get(name, {}).get("DEFAULT")
    return None if spec is None else spec.meta.get("acc1")


def default_preprocessing(name: str) -> Preprocessing:
    """The preprocessing of `name`'s DEFAULT weights; for a model without
    published weights, the usual ImageNet recipe at its input size (crop =
    87.5% of the resize)."""
    spec = _all_specs().get(name, {}).get("DEFAULT")
    if spec is not None:
        return spec.preprocessing
    from ..registry import model_info

    crop = model_info(name).input_size
    return Preprocessing(crop, round(crop / 0.875))


def get_weights(name: str, tag: str = "DEFAULT") -> Weights:
    """The spec of `name`'s weights `tag` ("DEFAULT": the best published ones)."""
    from ..registry import model_info

    model_info(name)  # unknown model: the error with close matches
    tags = _all_specs().get(name, {})
    if not tags:
        raise ValueError(f"no published weights for {name!r}; pass a local checkpoint path instead "
                         f"(`convzoo list --pretrained` shows the models that have some)")
    if tag not in tags:
        close = difflib.get_close_matches(tag, list(tags), n=3, cutoff=0.3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ValueError(f"unknown weights tag {tag!r} for {name}: {hint}available: {', '.join(tags)}")
    return tags[tag]
