"""Runtime "openvino": the model converted by `openvino.convert_model` straight
from PyTorch (batch dimension dynamic) and compiled for the CPU. OpenVINO folds
BatchNorm into the convolutions itself.

- fp32 / bf16: the compiled model's inference-precision hint ("bf16" runs
  bf16 kernels on CPUs with AVX-512 bf16 or AMX, and is refused elsewhere by
  the capability check in auto.py).
- int8: NNCF's post-training quantization of the converted model: activation
  ranges from the calibration images, then the int8 graph compiled in fp32 for
  the layers it leaves unquantized (measured: a bf16 hint on top slows
  EfficientNet down). Two of NNCF's defaults are changed, both measured on the
  real Lite0 weights and 400 real images (top-1 agreement with fp32, int8
  calibrated on 100 others): its full bias correction instead of the fast one
  (fast: 64%, full: 84%), and, on CPUs with VNNI (AVX-512 VNNI, AVX-VNNI,
  AMX), no "overflow fix" (7-bit weights in the first layer, needed only
  without VNNI; 64% -> 71% alone).
"""
from __future__ import annotations

import logging
import warnings

import torch
from torch import nn

from ...shared.extras import import_extra

_PRECISION_HINT = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}


def openvino_runner(model: nn.Module, precision: str, size: tuple[int, int], in_chans: int,
                    calibration: torch.Tensor | None = None, progress: bool = True):
    ov = import_extra("runtime 'openvino'", "openvino")
    if precision == "fp16":
        raise ValueError("fp16 inference on OpenVINO's CPU plugin is not offered here: use precision='bf16'")
    with torch.no_grad(), warnings.catch_warnings():
        # Tracing warns about every shape-dependent Python branch (TF "SAME" padding);
        # the shapes are fixed but the batch, which those branches do not read.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        converted = ov.convert_model(model, example_input=torch.zeros(1, in_chans, *size),
                                     input=[ov.PartialShape([-1, in_chans, *size])])
    if precision == "int8":
        converted = _quantize(converted, calibration, progress)
    compiled = ov.compile_model(converted, "CPU", {"INFERENCE_PRECISION_HINT": _PRECISION_HINT[precision]})
    request = compiled.create_infer_request()

    def run(x: torch.Tensor) -> torch.Tensor:
        request.infer([x.detach().cpu().float().contiguous().numpy()])
        return torch.from_numpy(request.get_output_tensor(0).data.copy())

    return run


def cpu_has_bf16() -> bool:
    """Whether OpenVINO's CPU plugin has native bf16 kernels here (else it emulates slowly)."""
    ov = import_extra("runtime 'openvino'", "openvino")
    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def _quantize(converted, calibration: torch.Tensor, progress: bool):
    nncf = import_extra("int8 on OpenVINO", "nncf")
    logging.getLogger("nncf").setLevel(logging.WARNING)  # its INFO lines would bury the progress bars
    # One image per item: NNCF's subset_size counts items, and its statistics are per image.
    images = [x.unsqueeze(0).numpy() for x in calibration.float()]
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix

    overflow_fix = OverflowFix.DISABLE if cpu_has_vnni() else OverflowFix.FIRST_LAYER
    with _nncf_progress(nncf, progress):
        return nncf.quantize(converted, nncf.Dataset(images), subset_size=len(images), fast_bias_correction=False,
                             advanced_parameters=AdvancedQuantizationParameters(overflow_fix=overflow_fix))


def cpu_has_vnni() -> bool:
    """Whether int8 dot products cannot overflow here (VNNI accumulates in 32 bits)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return any(flag in flags for flag in ("avx512_vnni", "avx_vnni", "amx_int8"))


def _nncf_progress(nncf, show: bool):
    """NNCF draws its own progress bars (statistics collection, bias correction);
    they are silenced when the caller asked for no progress."""
    import contextlib
    import io

    if show:
        return contextlib.nullcontext()
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    return stack
