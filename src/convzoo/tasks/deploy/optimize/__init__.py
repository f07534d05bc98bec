"""Fast inference: one model, run by the runtime that is fastest on this machine.

`optimize(model, runtime=..., precision=...)` returns an `OptimizedModel`: a
callable with the model's interface (a float32 batch (N, C, H, W) in, float32
logits out), whatever runs it. Each runtime is driven by its own tooling;
nothing is rewritten here:

- "torch" (eager.py): channels_last, bf16/fp16 autocast, optional
  torch.compile; int8 through torchao's PT2E quantizer + torch.compile.
- "onnxruntime" (onnxrt.py): torch.onnx.export (dynamo) + ONNX Runtime, fp32.
- "openvino" (openvino_rt.py): openvino.convert_model, fp32/bf16; int8 by
  NNCF post-training quantization.
- "auto" (auto.py): all of the above that this machine offers, measured on the
  calibration images; the fastest that keeps fp32's answers (top-1 agreement
  >= 99%) wins, and the choice is cached per model and machine.

The runtimes beside torch are optional extras: `pip install 'convzoo[onnx]'`,
`'convzoo[openvino]'` (OpenVINO + NNCF), `'convzoo[int8]'` (torchao).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch
from torch import nn

from .auto import MIN_AGREEMENT, Measurement, choose, format_measurements
from .calibration import calibration_tensor
from .openvino_rt import Int8AccuracyWarning, warn_int8_without_vnni
from .options import RuntimeOptions
from .runners import PRECISIONS, RUNTIMES, Runner, build_runner

__all__ = ["optimize", "OptimizedModel", "Measurement", "RuntimeChoiceWarning", "Int8AccuracyWarning",
           "RuntimeOptions", "RUNTIMES", "PRECISIONS", "format_measurements"]


class RuntimeChoiceWarning(UserWarning):
    """runtime="auto" left a faster candidate out (its answers, an error, too few images)."""


@dataclass
class OptimizedModel:
    """Logits from a float32 batch, computed by `runtime` at `precision`.
    With runtime="auto": `measured` holds what the choice was made from and
    `note` says why (rejected candidates included)."""

    runtime: str
    precision: str
    run: Runner
    input_size: tuple[int, int]
    measured: list[Measurement] = field(default_factory=list)
    note: str = ""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"expected a batch of images (N, C, H, W), got shape {tuple(x.shape)}")
        return self.run(x)

    def measurements_table(self) -> str:
        """What runtime="auto" measured, a candidate a line (empty for a runtime named outright)."""
        chosen = next((m for m in self.measured if (m.runtime, m.precision) == (self.runtime, self.precision)), None)
        return format_measurements(self.measured, chosen) if self.measured else ""


def optimize(model: nn.Module, *, runtime: str = "torch", precision: str | None = None, calibration=None,
             compile: bool = False, input_size: int | tuple[int, int] | None = None, batch_size: int = 32,
             progress: bool = True, cache: bool = True, min_agreement: float = MIN_AGREEMENT,
             calibration_labels=None) -> OptimizedModel:
    """`model` (any convzoo model, put in eval mode; runtime "torch" also turns
    its weights to channels_last, in place) ready to run fast.

    runtime: "torch", "onnxruntime", "openvino", or "auto" (measure them here).
    precision: "fp32" (default), "bf16", "fp16" (GPU), "int8" (needs
        calibration); with runtime="auto", None tries every precision and a
        value restricts the choice to it (fp32 eager stays the fallback).
    calibration: the user's images, preprocessed (a batch tensor, or an
        iterable of tensors or of (images, labels)): int8 quantizes on them,
        "auto" checks each candidate's top-1 against fp32 on them.
    input_size: the image size the exported graph is traced at (default: the
        crop size of the model's weights, else 224); the batch size stays free.
    batch_size: the batch "auto" times the candidates at.
    compile: torch.compile the model (runtime "torch" only; "auto" then also
        tries torchao int8).
    cache: "auto" reuses the choice measured before for this model and machine.
    min_agreement: the share of the calibration images where fp32 is confident
        (top-1 probability >= 0.5) on which "auto"'s choice must give fp32's
        top-1 class (0.99: at most 1 in 100 answers changes); answers.py.
    calibration_labels: the calibration images' true classes, where known (a
        validation split): "auto"'s choice then also loses at most 0.5 points
        of accuracy against fp32 on them.
    """
    model = model.eval()
    size = _input_size(model, input_size)
    images = calibration_tensor(calibration)
    labels = None
    if calibration_labels is not None and images is not None:
        labels = torch.as_tensor(calibration_labels).reshape(-1)[:len(images)]  # the images kept, in order
    if runtime == "auto":
        choice = choose(model, precision=precision, calibration=images, compile=compile, size=size,
                        batch_size=batch_size, progress=progress, use_cache=cache,
                        min_agreement=min_agreement, calibration_labels=labels)
        if any(word in choice.note for word in ("failed", "was faster but", "not tried")):
            warnings.warn(f"optimize(runtime='auto'): {choice.note}", RuntimeChoiceWarning, stacklevel=2)
        return OptimizedModel(choice.chosen.runtime, choice.chosen.precision, choice.runner, size,
                              choice.measured, choice.note)
    precision = precision or "fp32"
    if precision == "int8" and runtime != "onnxruntime":
        warn_int8_without_vnni()  # int8 by name, unchecked: say once where it loses answers
    run = build_runner(model, runtime, precision, size=size, calibration=images, compile=compile, progress=progress)
    return OptimizedModel(runtime, precision, run, size)


def _input_size(model: nn.Module, input_size) -> tuple[int, int]:
    if input_size is None:
        spec = getattr(model, "pretrained_weights", None)
        input_size = spec.preprocessing.crop_size if spec is not None else 224
    return (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
