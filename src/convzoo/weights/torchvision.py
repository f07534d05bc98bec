"""torchvision's published weights table (tables/torchvision_weights.tsv), as specs.

The table is data, kept as torchvision publishes it (it also lists ViT/Swin,
which we do not have). A family registers the rows of its own models with
`register_torchvision_weights`, adding the build options those weights need.
"""
from __future__ import annotations

import csv
import functools
import math
from pathlib import Path

from ..data.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from .specs import Weights, register_weights

TABLE = Path(__file__).resolve().parents[1] / "tables" / "torchvision_weights.tsv"


@functools.lru_cache(maxsize=1)
def table_rows() -> dict[str, tuple[dict, ...]]:
    """model name -> its rows of the published table."""
    rows: dict[str, list[dict]] = {}
    with open(TABLE, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            rows.setdefault(row["model_name"], []).append(row)
    return {name: tuple(r) for name, r in rows.items()}


def register_torchvision_weights(name: str, *, model_kwargs: dict | None = None,
                                 preprocessing: dict[str, Preprocessing] | None = None) -> list[Weights]:
    """Register every torchvision tag of model `name` (none if the table has none).

    model_kwargs: build options the weights need (torchvision builds the model
    with them when it loads these weights). preprocessing: tag -> spec, for a
    tag whose normalisation is not ImageNet's.
    """
    specs = []
    for row in table_rows().get(name, ()):
        tag = row["weights_enum_entry"].split(".", 1)[1]
        spec = Weights(
            model=name,
            tag=tag,
            url=row["url"],
            preprocessing=(preprocessing or {}).get(tag) or Preprocessing(
                int(row["crop_size"]), int(row["resize_size"]), row["interpolation"], IMAGENET_MEAN, IMAGENET_STD),
            layout="torchvision",
            meta={"acc1": _published(row["acc1"]), "acc5": _published(row["acc5"]), "params": int(row["num_params"]),
                  "gflops": float(row["gflops"]), "file_size_mb": float(row["file_size_mb"]),
                  "source": "torchvision", "license": "BSD-3-Clause (torchvision)"},
            model_kwargs=dict(model_kwargs or {}),
        )
        specs.append(register_weights(spec, default=row["is_default"] == "True"))
    return specs


def _published(figure: str) -> float | None:
    """A table figure, or None where none is published (nan: VGG16's feature-only weights)."""
    value = float(figure)
    return None if math.isnan(value) else value
