"""Export a model for deployment, and prove the file computes what the model does.

`export(model, "onnx", "model.onnx")` writes the file, reads it back in the
runtime that deploys it (ONNX Runtime, torch.export.load, torch.jit.load,
OpenVINO, LiteRT) and compares that runtime's logits with the eager model's on
the same inputs. Only a file that agrees (max |a - b| <= tolerance * max |b|)
is moved into place; a JSON sidecar beside it carries what a deployment needs
without convzoo: the preprocessing, the class names, the input's layout, and
for a trained checkpoint its decision rule (temperature, positive class,
threshold: `convzoo calibrate`), so that deployed code decides as convzoo does.

Every file is written in a temporary folder next to the target and renamed
into place at the end: a failed export, a failed check or a kill leaves no
half-written or unverified file behind.
"""
from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ....data.preprocessing import Preprocessing, imagenet_categories
from ....net import input_channels
from ....version import __version__
from ...shared.decision import DecisionRule
from ...shared.extras import has_module, import_extra
from .formats import FORMATS, Format, get_format

__all__ = ["export", "ExportReport", "ExportError", "FORMATS"]


class ExportError(RuntimeError):
    """The model could not be written in the format, or the file does not compute what the model does."""


@dataclass
class ExportReport:
    """What was written and how well it agrees with the eager model."""

    format: str
    path: Path
    files: list[Path]  # every file written, the sidecar included
    runtime: str  # what read the file back
    input_shape: list  # (N, C, H, W); N is "batch" when dynamic
    batch_sizes: list[int]  # the batch sizes checked
    max_relative_difference: float  # max |file - eager| / max |eager| over those batches
    seconds: float
    meta: dict = field(repr=False, default_factory=dict)

    def summary(self) -> str:
        """One line: the files written, their size, the time, and the measured difference to eager."""
        size = sum(f.stat().st_size for f in self.files if f.exists()) / 1e6
        extra = ", ".join(f.name for f in self.files if f != self.path)
        return (f"wrote {self.path} (+ {extra}; {size:.1f} MB) in {self.seconds:.1f} s; read back by "
                f"{self.runtime}: max relative difference to eager {self.max_relative_difference:.1e} "
                f"at batch {', '.join(map(str, self.batch_sizes))}")


@dataclass(frozen=True)
class Verification:
    """How the written file was checked: read back by `runtime`, run on seeded
    random batches of `batch_sizes`, its logits compared with the eager model's."""

    runtime: str
    batch_sizes: list[int]
    max_relative_difference: float  # max |file - eager| / max |eager| over those batches


def export(model: nn.Module | str, format: str, path: str | Path | None = None, *, weights: str | None = "DEFAULT",
           image_size: int | None = None, dynamic_batch: bool = False, batch_size: int = 1,
           preprocessing: Preprocessing | None = None, classes: list[str] | None = None,
           decision: DecisionRule | None = None, tolerance: float = 1e-3) -> ExportReport:
    """Write `model` in `format` ("onnx", "exported-program", "torchscript",
    "openvino", "tflite", "keras") to `path` (default: NAME + the format's suffix),
    verified against eager; returns the figures.

    model: a module, or a registered name (built with `weights`).
    image_size: the square input side (default: the preprocessing's crop).
    dynamic_batch: leave the batch dimension free (checked at batches 1 and 3);
    otherwise it is fixed at `batch_size`.
    preprocessing / classes: written to the sidecar; by default those of the
    model's weights (ImageNet's 1000 names for a 1000-class model).
    decision: a checkpoint's decision rule (DecisionRule.from_meta), written to
    the sidecar with how to apply it to the file's logits; its classes must be
    the sidecar's."""
    fmt = get_format(format)
    if isinstance(model, str):
        from ....factory import get_model

        model = get_model(model, weights=weights)
    model = model.eval()
    name = getattr(model, "name", None) or type(model).__name__
    for module in fmt.modules:  # a missing runtime is one line naming its extra, before any work
        if not has_module(module):
            import_extra(f"format {fmt.name!r}", module)
    if dynamic_batch and not fmt.dynamic_batch:
        raise ValueError(f"format {fmt.name!r} has a fixed batch size: drop dynamic_batch (--dynamic-batch), and "
                         f"set batch_size (--batch-size) to the batch you will run")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    preprocessing = preprocessing or _preprocessing_of(model, image_size)
    size = image_size or preprocessing.crop_size
    in_chans = input_channels(model)
    target = _target_path(path, name, fmt)

    start = time.perf_counter()
    folder = _temporary_folder(target)
    try:
        staged = folder / target.name
        example = torch.randn(2 if dynamic_batch else batch_size, in_chans, size, size,
                              generator=torch.Generator().manual_seed(0))
        try:  # a model that cannot run at this size is the caller's problem, not the exporter's
            with torch.no_grad():
                model(example)
        except Exception as exc:  # noqa: BLE001
            raise ValueError(f"{name} does not run on a {tuple(example.shape)} input ({_first_line(exc)}): "
                             f"choose another image size (--image-size)") from None
        try:
            with torch.no_grad():
                fmt.write(model, example, dynamic_batch, staged)
        except Exception as exc:  # noqa: BLE001  each exporter raises its own kinds; all mean "cannot"
            raise ExportError(f"cannot export {name} to {fmt.name}: {_first_line(exc)}") from exc
        batches = [1, 3] if dynamic_batch else [batch_size]
        verification = _verify(model, fmt, staged, batches, in_chans, size)
        difference = verification.max_relative_difference
        if not difference <= tolerance:
            raise ExportError(f"{fmt.name} export of {name} does not compute what the model does: max relative "
                              f"difference {difference:.2e} > {tolerance:g} (read back by {fmt.runtime}); "
                              f"nothing was written")
        batch = "batch" if dynamic_batch else batch_size
        shape = [batch, size, size, in_chans] if fmt.layout == "NHWC" else [batch, in_chans, size, size]
        # Every file the writer made (OpenVINO's .bin, ONNX's external weights), the main one last.
        written = sorted((f.name for f in folder.iterdir() if f.name != target.name), key=str) + [target.name]
        meta = _with_decision(_sidecar(model, name, fmt, written, shape, preprocessing, classes, verification), decision)
        sidecar = sidecar_path(target)
        (folder / sidecar.name).write_text(json.dumps(meta, indent=2))
        files = [target.with_name(name) for name in meta["files"]] + [sidecar]
        for file in files:  # the main file after those it refers to, the sidecar last
            (folder / file.name).replace(file)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return ExportReport(fmt.name, target, files, fmt.runtime, shape, batches, difference,
                        time.perf_counter() - start, meta)


def sidecar_path(target: Path) -> Path:
    """model.onnx -> model.onnx.json: one per file, so that the same model in
    several formats side by side keeps a sidecar each."""
    return target.with_name(target.name + ".json")


def _verify(model: nn.Module, fmt: Format, path: Path, batches: list[int], in_chans: int, size: int) -> Verification:
    """Read the file back in its runtime and compare its logits with the eager model's on
    seeded random batches of each size: the worst max |file - eager| / max |eager|."""
    try:
        run = fmt.load(path)
    except Exception as exc:  # noqa: BLE001
        raise ExportError(f"{fmt.runtime} cannot read the {fmt.name} file it was given: {_first_line(exc)}") from exc
    worst = 0.0
    for n in batches:
        x = torch.randn(n, in_chans, size, size, generator=torch.Generator().manual_seed(n))
        with torch.no_grad():
            expected = model(x)
        got = torch.from_numpy(np.asarray(run(x.numpy())))
        if got.shape != expected.shape:
            raise ExportError(f"{fmt.runtime} returned shape {tuple(got.shape)} for batch {n}, the model "
                              f"{tuple(expected.shape)}")
        scale = expected.abs().max().item()
        difference = (got - expected).abs().max().item() / (scale or 1.0)
        worst = max(worst, difference) if math.isfinite(difference) else math.inf
    return Verification(fmt.runtime, batches, worst)


def _sidecar(model: nn.Module, name: str, fmt: Format, files: list[str], shape: list, preprocessing: Preprocessing,
             classes: list[str] | None, verification: Verification) -> dict:
    """The sidecar's content: what deploying the file needs without convzoo, and how it was verified."""
    spec = getattr(model, "pretrained_weights", None)
    num_classes = model.num_classes if hasattr(model, "num_classes") else None
    if classes is None:
        classes = list(spec.categories) if spec is not None else (
            list(imagenet_categories()) if num_classes == 1000 else [str(i) for i in range(num_classes or 0)])
    meta = {
        "format": fmt.name,
        "files": files,
        "model": name,
        "weights": spec.tag if spec is not None else None,
        "convzoo_version": __version__,
        "input": {"layout": fmt.layout, "dtype": "float32", "shape": shape,
                  "values": "(pixel / 255 - mean) / std, after resizing and cropping as `preprocessing` says"},
        "output": {"shape": [shape[0], len(classes)], "values": "logits: softmax gives class probabilities"},
        "preprocessing": {**preprocessing.to_dict(),
                          "steps": [f"resize the shorter side to {preprocessing.resize_size} "
                                    f"({preprocessing.interpolation}, antialiased)",
                                    f"center crop {preprocessing.crop_size} x {preprocessing.crop_size}",
                                    "scale to [0, 1]", "subtract mean, divide by std (per RGB channel)"]},
        "classes": list(classes),
        "verification": {"runtime": verification.runtime, "batch_sizes": verification.batch_sizes,
                         "max_relative_difference": verification.max_relative_difference},
    }
    if fmt.io_names:
        meta["input"]["name"], meta["output"]["name"] = "image", "logits"
    return meta


def _with_decision(meta: dict, decision: DecisionRule | None) -> dict:
    """The sidecar, with the checkpoint's decision rule when there is one."""
    classes = meta["classes"]
    if decision is not None:
        if list(decision.classes) != list(classes):
            raise ValueError(f"the decision rule is for the classes {', '.join(decision.classes)}, the model's are "
                             f"{', '.join(classes)}: give the rule of the checkpoint exported")
        meta["decision"] = _decision_entry(decision)
        meta["output"]["values"] = "logits: softmax(logits / decision.temperature) gives class probabilities"
    return meta


def _decision_entry(rule: DecisionRule) -> dict:
    """The sidecar's "decision": the rule as `convzoo calibrate` saved it, how to
    apply it, and where it was chosen (less the images' fingerprints, which
    serve only to refuse scoring a threshold on the images that chose it)."""
    chosen_on = {k: v for k, v in rule.chosen_on.items() if k != "fingerprints"}
    if rule.threshold is None:
        apply = ("probabilities = softmax(logits / temperature); the decision is the most probable class "
                 "(no threshold was chosen)")
    else:
        apply = (f"probabilities = softmax(logits / temperature); the decision is {rule.positive!r} when its "
                 f"probability >= threshold, else the most probable of the other classes")
    return {"positive": rule.positive, "threshold": rule.threshold, "temperature": rule.temperature,
            "apply": apply, "rule": rule.describe(), "chosen_on": chosen_on}


def _preprocessing_of(model: nn.Module, image_size: int | None) -> Preprocessing:
    spec = getattr(model, "pretrained_weights", None)
    if spec is not None and (image_size is None or image_size == spec.preprocessing.crop_size):
        return spec.preprocessing
    name = getattr(model, "name", None)
    if image_size is None and name:
        from ....factory import default_preprocessing

        return default_preprocessing(name)
    return Preprocessing.for_input_size(image_size or 224)


def _target_path(path, name: str, fmt: Format) -> Path:
    target = Path(path) if path is not None else Path(f"{name}{fmt.suffix}")
    if target.suffix == ".json":
        raise ValueError(f"{target}: .json is the sidecar's name; name the {fmt.name} file e.g. "
                         f"{target.with_suffix(fmt.suffix)}")
    if fmt.fixed_suffix and target.suffix != fmt.suffix:  # its runtime reads no other name
        raise ValueError(f"{target}: an {fmt.name} file must end in {fmt.suffix}: name it "
                         f"{target.with_suffix(fmt.suffix)}")
    return target


def _temporary_folder(target: Path) -> Path:
    """A fresh folder beside the target (same file system: the final renames are atomic)."""
    blocking = next((p for p in [target.parent, *target.parent.parents] if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise ValueError(f"cannot write {target}: {blocking} is a file, not a folder; choose another output "
                         f"path (--out)")
    if target.is_dir():
        raise ValueError(f"cannot write {target}: it is a folder; give a file name (--out {target / target.name}"
                         f"{'' if target.suffix else '.EXT'})")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as exc:
        raise ValueError(f"cannot write {target}: {exc.strerror or exc}; choose another output path (--out)") from None


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:400]
