"""The formats PyTorch reads back itself.

- "exported-program" (.pt2): `torch.export.export` (the graph capture the ONNX
  exporter, ExecuTorch and AOTInductor start from), saved by
  `torch.export.save`, read by `torch.export.load`.
- "torchscript" (.pt): `torch.jit.script`, so the file keeps any Python-level
  branch on the input's size (TF "SAME" padding) that tracing would freeze;
  read by `torch.jit.load`, also from C++ (libtorch) without Python.
"""
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn


def write_exported_program(model: nn.Module, example: torch.Tensor, dynamic_batch: bool, path: Path) -> None:
    dynamic_shapes = ({0: torch.export.Dim("batch", min=1, max=4096)},) if dynamic_batch else None
    program = torch.export.export(model, (example,), dynamic_shapes=dynamic_shapes)
    torch.export.save(program, str(path))


def load_exported_program(path: Path):
    module = torch.export.load(str(path)).module()
    return _numpy_call(module)


def write_torchscript(model: nn.Module, example: torch.Tensor, dynamic_batch: bool, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # "torch.jit.script is deprecated": still what libtorch loads
        scripted = torch.jit.script(model)
    scripted.save(str(path))


def load_torchscript(path: Path):
    return _numpy_call(torch.jit.load(str(path), map_location="cpu").eval())


def _numpy_call(module):
    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.from_numpy(x)).numpy()
    return run
