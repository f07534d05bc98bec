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
  (fast: 64%, full: 84%), and the "overflow fix" chosen by the CPU
  (`overflow_fix`): on CPUs with VNNI (AVX-512 VNNI, AVX-VNNI, AMX) none
  (NNCF's default, 7-bit weights in the first layer, is needed only without
  VNNI; 64% -> 71% alone); without VNNI, where u8 x s8 products are summed in
  16 bits that saturate, 7-bit weights in every layer (ENABLE). Measured on
  the 160 scored images of tests/tasks/deploy/test_optimize_int8.py
  (benchmarks/results/int8_without_vnni.md), top-1 agreement with fp32 over
  all / where fp32 is confident: first layer only 66% / 100%, every layer
  69% / 100%, none 43% / 70%, on a Zen 3 and on a Zen 4 with oneDNN capped at
  AVX2 alike, with the same int8 kernels (so the same speed). NNCF's accuracy
  control (layers returned to fp32 until top-1 agreement with fp32 on a held-out
  third of the calibration images is within 1 point) is not taken: on the
  AVX2-capped Zen 4 it could not reach that with any int8 layer left and gave
  back the fp32 model, after 4 minutes. int8 without VNNI still loses
  answers: runtime="auto" measures them and keeps it off where it does, and
  forcing it warns once (`warn_int8_without_vnni`).
"""
from __future__ import annotations

import logging
import warnings

import torch
from torch import nn

from ....utils.cpu import CpuCapabilities, cpu_capabilities
from ...shared.extras import import_extra

_PRECISION_HINT = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}


def openvino_runner(model: nn.Module, precision: str, size: tuple[int, int], in_chans: int,
                    calibration: torch.Tensor | None = None, progress: bool = True):
    ov = import_extra("runtime 'openvino'", "openvino")
    if precision == "fp16":
        raise ValueError("fp16 inference on OpenVINO's CPU plugin is not offered here: use precision='bf16'")
    from ..export.openvino_format import convert_from_torch  # the export's conversion, warnings kept quiet

    with torch.no_grad():
        converted = convert_from_torch(ov, model, torch.zeros(1, in_chans, *size), [-1, in_chans, *size])
    if precision == "int8":
        converted = _quantize(converted, calibration, progress)
    compiled = ov.compile_model(converted, "CPU", {"INFERENCE_PRECISION_HINT": _PRECISION_HINT[precision]})
    request = compiled.create_infer_request()

    def run(x: torch.Tensor) -> torch.Tensor:
        request.infer([x.detach().cpu().float().contiguous().numpy()])
        return torch.from_numpy(request.get_output_tensor(0).data.copy())

    return run


def cpu_has_bf16() -> bool:
    """Whether OpenVINO's CPU plugin has native bf16 kernels here (else it emulates slowly).
    The plugin reads the CPU itself, not oneDNN's ISA cap (ONEDNN_MAX_CPU_ISA), under which
    its bf16 kernels fail: a cap without bf16 counts."""
    ov = import_extra("runtime 'openvino'", "openvino")
    caps = cpu_capabilities()
    if caps.isa_cap is not None and not caps.native_bf16:
        return False
    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def _quantize(converted, calibration: torch.Tensor, progress: bool):
    nncf = import_extra("int8 on OpenVINO", "nncf")
    logging.getLogger("nncf").setLevel(logging.WARNING)  # its INFO lines would bury the progress bars
    # One image per item: NNCF's subset_size counts items, and its statistics are per image.
    images = [x.unsqueeze(0).numpy() for x in calibration.float()]
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix

    fix = OverflowFix[overflow_fix()]
    with _nncf_progress(nncf, progress):
        return nncf.quantize(converted, nncf.Dataset(images), subset_size=len(images), fast_bias_correction=False,
                             advanced_parameters=AdvancedQuantizationParameters(overflow_fix=fix))


def overflow_fix(caps: CpuCapabilities | None = None) -> str:
    """NNCF's OverflowFix (by name) for int8 on a CPU with `caps` (default: this one):
    none with VNNI, 7-bit weights in every layer on x86 without (measured: module
    docstring); elsewhere (ARM, or flags unknown) NNCF's default, the first layer, as before."""
    caps = caps or cpu_capabilities()
    if caps.vnni:
        return "DISABLE"
    return "ENABLE" if caps.x86 else "FIRST_LAYER"


class Int8AccuracyWarning(UserWarning):
    """int8 was asked for by name on a CPU where it loses accuracy (no VNNI)."""


_warned_without_vnni = False


def warn_int8_without_vnni(caps: CpuCapabilities | None = None, stacklevel: int = 3) -> bool:
    """Warn, once a process, that int8 asked for by name on a CPU without VNNI loses accuracy;
    True if it warned."""
    global _warned_without_vnni
    caps = caps or cpu_capabilities()
    if _warned_without_vnni or caps.vnni or not caps.x86:
        return False
    _warned_without_vnni = True
    warnings.warn("int8 loses accuracy on this CPU (no VNNI: its int8 sums saturate); --fast (runtime='auto') "
                  "checks int8's answers against fp32 and keeps it only where they agree",
                  Int8AccuracyWarning, stacklevel=stacklevel)
    return True


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
