"""Runtime "onnxruntime": the model exported by `torch.onnx.export` (the dynamo
exporter; batch dimension dynamic) and run by ONNX Runtime's CPU provider,
whose graph optimizer folds BatchNorm into the convolutions."""
from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from torch import nn

from ...shared.extras import import_extra


def onnxruntime_runner(model: nn.Module, precision: str, size: tuple[int, int], in_chans: int):
    ort = import_extra("runtime 'onnxruntime'", "onnxruntime")
    import_extra("runtime 'onnxruntime'", "onnxscript")  # the dynamo exporter writes the graph with it
    if precision != "fp32":
        raise ValueError(f"runtime 'onnxruntime' runs fp32 here (its CPU provider has no {precision} kernels for "
                         f"these graphs): use runtime='openvino' or 'torch' for {precision}")
    example = torch.zeros(2, in_chans, *size)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        with torch.no_grad():
            torch.onnx.export(model, (example,), str(path), dynamo=True, verbose=False,
                              dynamic_shapes={"x": {0: torch.export.Dim("batch")}})
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def run(x: torch.Tensor) -> torch.Tensor:
        (logits,) = session.run(None, {input_name: x.detach().cpu().float().contiguous().numpy()})
        return torch.from_numpy(logits)

    return run
