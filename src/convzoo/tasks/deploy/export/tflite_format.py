"""TFLite / LiteRT (.tflite): converted by `litert_torch.convert` (Google's
PyTorch-to-LiteRT converter, through torch.export), read back by the LiteRT
interpreter (`ai_edge_litert`). The input stays NCHW float32, as in PyTorch;
LiteRT models have a fixed batch size."""
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...shared.extras import import_extra


def write_tflite(model: nn.Module, example: torch.Tensor, dynamic_batch: bool, path: Path) -> None:
    litert_torch = import_extra("format 'tflite'", "litert_torch")
    litert_torch.convert(model, (example,)).export(str(path))


def load_tflite(path: Path):
    interpreter_module = import_extra("format 'tflite'", "ai_edge_litert.interpreter")
    interpreter = interpreter_module.Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()

    def run(x: np.ndarray) -> np.ndarray:
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(out["index"]).copy()
    return run
