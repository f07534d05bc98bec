"""Runtime "torch": eager PyTorch made fast by its own switches.

- channels_last memory format: the layout oneDNN's (and cuDNN's) convolutions
  run fastest in, so no reorder happens around each convolution;
- bf16 (CPU with AVX-512 bf16/AMX, or GPU) and fp16 (GPU) through
  `torch.autocast`, which keeps the reductions that need it in fp32;
- optionally `torch.compile` (Inductor folds BatchNorm into the convolutions);
- int8 through torchao's PT2E flow: `torch.export`, the X86 Inductor
  quantizer's observers run over the calibration images, then `convert_pt2e`
  and `torch.compile`, which lowers the quantized patterns to oneDNN int8
  kernels. It only pays off compiled, so int8 always compiles.
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from ...shared.extras import import_extra
from .calibration import batches


def torch_runner(model: nn.Module, precision: str, compile: bool):
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


def pt2e_int8_runner(model: nn.Module, calibration: torch.Tensor, progress: bool):
    import_extra("torch int8", "torchao")
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as x86

    device = next(model.parameters()).device
    if device.type != "cpu":
        raise ValueError("int8 through torchao's X86 quantizer runs on the CPU: use device 'cpu' "
                         "(on a GPU use precision='fp16' or 'bf16')")
    example = calibration[:2].contiguous()
    with torch.no_grad():
        exported = torch.export.export(model, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},)).module()
        quantizer = x86.X86InductorQuantizer().set_global(x86.get_default_x86_inductor_quantization_config())
        observed = prepare_pt2e(exported, quantizer)
        steps = list(batches(calibration, 8))
        for x in _progress(steps, progress, "calibrating int8 (torchao)"):
            observed(x)
        quantized = torch.compile(convert_pt2e(observed))

    @torch.no_grad()
    def run(x: torch.Tensor) -> torch.Tensor:
        return quantized(x.to(device).contiguous()).float()

    return run


def _progress(items, show: bool, desc: str):
    if not show:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="batch", leave=False)
