"""One (runtime, precision) pair -> a function from a float32 batch to float32 logits."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ....net import input_channels
from .calibration import int8_subset

RUNTIMES = ("torch", "onnxruntime", "openvino")
PRECISIONS = ("fp32", "bf16", "fp16", "int8")

Runner = Callable[[torch.Tensor], torch.Tensor]


def build_runner(model: nn.Module, runtime: str, precision: str, *, size: tuple[int, int],
                 calibration: torch.Tensor | None, compile: bool, progress: bool) -> Runner:
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}: use one of auto, {', '.join(RUNTIMES)}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    if compile and runtime != "torch":
        raise ValueError(f"compile=True is for runtime='torch'; {runtime} compiles the model itself")
    if precision == "int8":
        if calibration is None:
            raise ValueError("int8 needs calibration images to measure activation ranges on: pass calibration= "
                             "(preprocessed image tensors), or --calibration DIR on the command line")
        calibration = int8_subset(calibration)  # ranges from 300; the answers are still checked on them all
    if runtime == "torch":
        from .eager import pt2e_int8_runner, torch_runner

        if precision == "int8":
            return pt2e_int8_runner(model, calibration, progress)
        return torch_runner(model, precision, compile)
    if runtime == "onnxruntime":
        from .onnxrt import onnxruntime_runner

        return onnxruntime_runner(model, precision, size, input_channels(model))
    from .openvino_rt import openvino_runner

    return openvino_runner(model, precision, size, input_channels(model), calibration, progress)
