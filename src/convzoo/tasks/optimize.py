"""Fast inference: one model, run by the runtime that is fastest on this machine.

`optimize(model, runtime=..., precision=...)` returns an `OptimizedModel`: a
callable with the model's interface (a float32 batch (N, C, H, W) in, float32
logits out), whatever runs it. Each runtime is driven by its own tooling,
nothing is rewritten here:

- "torch": eager PyTorch in channels_last memory format (the layout oneDNN's
  convolutions run fastest in), bf16 through `torch.autocast`, fp16 on CUDA,
  optionally `torch.compile`.
- "onnxruntime": the model exported by `torch.onnx.export` (the dynamo
  exporter, batch dimension dynamic) and run by ONNX Runtime's CPU provider.
- "openvino": the model converted by `openvino.convert_model` straight from
  PyTorch (batch dimension dynamic) and compiled for the CPU with the
  precision as its inference-precision hint; OpenVINO folds BatchNorm into
  the convolutions itself.

The runtimes beside torch are optional extras: `pip install 'convzoo[onnx]'`,
`pip install 'convzoo[openvino]'`.
"""
from __future__ import annotations

import contextlib
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

RUNTIMES = ("torch", "onnxruntime", "openvino")
PRECISIONS = ("fp32", "bf16", "fp16")
_EXTRA = {"onnxruntime": "onnx", "openvino": "openvino"}


@dataclass
class OptimizedModel:
    """Logits from a float32 batch, computed by `runtime` at `precision`."""

    runtime: str
    precision: str
    run: Callable[[torch.Tensor], torch.Tensor]
    input_size: tuple[int, int]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"expected a batch of images (N, C, H, W), got shape {tuple(x.shape)}")
        return self.run(x)


def optimize(model: nn.Module, *, runtime: str = "torch", precision: str = "fp32", compile: bool = False,
             input_size: int | tuple[int, int] | None = None) -> OptimizedModel:
    """`model` (any convzoo model, put in eval mode; runtime "torch" also turns
    its weights to channels_last, in place) ready to run fast.

    input_size: the image size the exported graph is traced at (default: the
    crop size of the model's weights, else 224); the batch size stays free.
    compile: torch.compile the model (runtime "torch" only).
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}: use one of {', '.join(RUNTIMES)}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    if compile and runtime != "torch":
        raise ValueError(f"compile=True is for runtime='torch'; {runtime} compiles the model itself")
    model = model.eval()
    size = _input_size(model, input_size)
    if runtime == "torch":
        run = _torch_runner(model, precision, compile)
    elif runtime == "onnxruntime":
        run = _onnxruntime_runner(model, precision, size)
    else:
        run = _openvino_runner(model, precision, size)
    return OptimizedModel(runtime, precision, run, size)


def _input_size(model: nn.Module, input_size) -> tuple[int, int]:
    if input_size is None:
        spec = getattr(model, "pretrained_weights", None)
        input_size = spec.preprocessing.crop_size if spec is not None else 224
    return (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)


def _in_chans(model: nn.Module) -> int:
    first_conv = getattr(model, "first_conv", None)
    return model.get_parameter(first_conv).shape[1] if first_conv else 3


def _import_extra(runtime: str, module: str):
    try:
        return __import__(module)
    except ImportError:
        raise ValueError(f"runtime {runtime!r} needs its optional dependencies: "
                         f"pip install 'convzoo[{_EXTRA[runtime]}]'") from None


# ---- torch ----------------------------------------------------------------------

def _torch_runner(model: nn.Module, precision: str, compile: bool):
    device = next(model.parameters()).device
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("fp16 runs on a GPU; on a CPU use precision='bf16' (or fp32)")
    model = model.to(memory_format=torch.channels_last)
    forward = torch.compile(model) if compile else model
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)

    @torch.inference_mode()
    def run(x: torch.Tensor) -> torch.Tensor:
        x = x.to(device).contiguous(memory_format=torch.channels_last)
        autocast = torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()
        with autocast:
            out = forward(x)
        return out.float()

    return run


# ---- ONNX Runtime ---------------------------------------------------------------------

def _onnxruntime_runner(model: nn.Module, precision: str, size: tuple[int, int]):
    ort = _import_extra("onnxruntime", "onnxruntime")
    _import_extra("onnxruntime", "onnxscript")  # the dynamo exporter writes the graph with it
    if precision != "fp32":
        raise ValueError(f"runtime 'onnxruntime' runs fp32 here (its CPU provider has no {precision} kernels for "
                         f"these graphs): use runtime='openvino' or 'torch' for {precision}")
    example = torch.zeros(2, _in_chans(model), *size)
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


# ---- OpenVINO -------------------------------------------------------------------------

def _openvino_runner(model: nn.Module, precision: str, size: tuple[int, int]):
    ov = _import_extra("openvino", "openvino")
    if precision == "fp16":
        raise ValueError("fp16 inference on OpenVINO's CPU plugin is not offered here: use precision='bf16'")
    c = _in_chans(model)
    with torch.no_grad(), warnings.catch_warnings():
        # Tracing warns about every shape-dependent Python branch (TF "SAME" padding);
        # the shapes are fixed but the batch, which those branches do not read.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        converted = ov.convert_model(model, example_input=torch.zeros(1, c, *size),
                                     input=[ov.PartialShape([-1, c, *size])])
    compiled = ov.compile_model(converted, "CPU", {"INFERENCE_PRECISION_HINT": {"fp32": "f32", "bf16": "bf16"}[precision]})
    request = compiled.create_infer_request()

    def run(x: torch.Tensor) -> torch.Tensor:
        request.infer([x.detach().cpu().float().contiguous().numpy()])
        return torch.from_numpy(request.get_output_tensor(0).data.copy())

    return run
