"""ONNX (.onnx): `torch.onnx.export` with the dynamo exporter (torch.export,
then onnxscript), read back by ONNX Runtime's CPU provider. Input "image"
(N, C, H, W) float32, output "logits" (N, classes)."""
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...shared.extras import import_extra

# A protobuf message cannot exceed 2 GiB: bigger models (regnet_y_128gf, 2.6 GB
# of fp32 weights) keep their weights in a second file, MODEL.onnx.data.
MAX_INLINE_BYTES = 1 << 30


def write_onnx(model: nn.Module, example: torch.Tensor, dynamic_batch: bool, path: Path) -> None:
    import_extra("format 'onnx'", "onnxscript")  # the dynamo exporter writes the graph with it
    dynamic_shapes = {"image": {0: torch.export.Dim("batch", min=1, max=4096)}} if dynamic_batch else None
    weight_bytes = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    torch.onnx.export(_Named(model).eval(), (example,), str(path), dynamo=True, verbose=False, input_names=["image"],
                      output_names=["logits"], dynamic_shapes=dynamic_shapes,
                      external_data=weight_bytes > MAX_INLINE_BYTES)


def load_onnx(path: Path):
    ort = import_extra("format 'onnx'", "onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(x: np.ndarray) -> np.ndarray:
        return session.run(None, {name: x})[0]
    return run


class _Named(nn.Module):
    """The model with its input called `image` (dynamic_shapes is keyed by the forward's argument names)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model(image)
