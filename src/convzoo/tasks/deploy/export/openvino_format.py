"""OpenVINO IR (.xml + .bin): `openvino.convert_model` from PyTorch, saved by
`openvino.save_model` with fp32 weights (its default halves them to fp16),
read back by the CPU plugin at f32 precision. (Deployed as it is, OpenVINO
runs bf16 on CPUs that have it: `convzoo predict --runtime openvino
--precision bf16` measures what that costs in answers.)"""
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...shared.extras import import_extra


def write_openvino(model: nn.Module, example: torch.Tensor, dynamic_batch: bool, path: Path) -> None:
    ov = import_extra("format 'openvino'", "openvino")
    shape = [-1 if dynamic_batch else example.shape[0], *example.shape[1:]]
    converted = convert_from_torch(ov, model, example, shape)
    converted.inputs[0].get_tensor().set_names({"image"})
    converted.outputs[0].get_tensor().set_names({"logits"})
    ov.save_model(converted, str(path), compress_to_fp16=False)


def convert_from_torch(ov, model: nn.Module, example: torch.Tensor, shape: list[int]):
    """`ov.convert_model` of `model` traced on `example`, its input of `shape` (-1: a free batch),
    without the tracing's warnings, which the user cannot act on: the export here and runtime
    "openvino" (optimize/openvino_rt.py) both convert through it."""
    with warnings.catch_warnings():
        # Tracing warns about every shape-dependent Python branch (TF "SAME" padding); the shapes
        # are fixed but the batch, which those branches do not read.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # convert_model traces with torch.jit, which torch 2.14 marks deprecated: OpenVINO's notice, not the user's.
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.trace", category=FutureWarning)
        return ov.convert_model(model, example_input=example, input=[ov.PartialShape(shape)])


def load_openvino(path: Path):
    ov = import_extra("format 'openvino'", "openvino")
    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()

    def run(x: np.ndarray) -> np.ndarray:
        request.infer([x])
        return request.get_output_tensor(0).data.copy()
    return run
