"""The user's say in what runs a model: one object, from the command line or a
Python call to the Classifier, evaluation, predict runs and bench."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .auto import MIN_AGREEMENT
from .runners import PRECISIONS, RUNTIMES


@dataclass(frozen=True)
class RuntimeOptions:
    """runtime: "torch" (eager), "onnxruntime", "openvino", or "auto" (measure them here).
    precision: None (fp32; with "auto", every precision), "fp32", "bf16", "fp16" or "int8".
    fast: the same as runtime="auto".
    calibration: the images int8 calibrates on and "auto" checks its answers on (a folder,
        a list of images, or a preprocessed batch); None: the first images predicted.
    min_agreement: the share of the calibration images where fp32 is confident on which
        "auto"'s choice must give fp32's top-1 class (answers.py)."""

    runtime: str = "torch"
    precision: str | None = None
    fast: bool = False
    calibration: Any = None
    min_agreement: float = MIN_AGREEMENT

    def __post_init__(self):
        if self.runtime not in ("auto",) + RUNTIMES:
            raise ValueError(f"unknown runtime {self.runtime!r}: use one of auto, {', '.join(RUNTIMES)}")
        if self.precision is not None and self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}: use one of {', '.join(PRECISIONS)}")
        if self.fast and self.runtime not in ("torch", "auto"):
            raise ValueError(f"fast=True chooses the runtime itself: drop runtime={self.runtime!r}, or drop fast=True")
        if not 0 <= self.min_agreement <= 1:
            raise ValueError(f"min_agreement={self.min_agreement} is not a share between 0 and 1 (0.99 is 99%)")

    @classmethod
    def of(cls, options: RuntimeOptions | None = None, **fields) -> RuntimeOptions:
        """`options` (default: the defaults) with `fields` changed: what a call that takes both
        `runtime_options=` and the fields by name (`Classifier(fast=True)`) is given."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise TypeError(f"unknown runtime option {', '.join(unknown)}: the options are {', '.join(sorted(known))}")
        return dataclasses.replace(options or cls(), **fields)

    @property
    def chosen_runtime(self) -> str:
        """The runtime asked for, fast=True being "auto"."""
        return "auto" if self.fast else self.runtime

    @property
    def needs_images(self) -> bool:
        """"auto" and int8 cannot be built before they have seen images."""
        return self.chosen_runtime == "auto" or self.precision == "int8"

    @property
    def is_plain(self) -> bool:
        """Eager fp32: the model itself runs, nothing to build."""
        return (self.chosen_runtime, self.precision or "fp32") == ("torch", "fp32")
