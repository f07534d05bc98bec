"""int8 on OpenVINO without VNNI: which of NNCF's workarounds keeps fp32's answers?

    python benchmarks/int8_without_vnni.py                                   # this CPU
    ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/int8_without_vnni.py --accuracy-control FIRST_LAYER ENABLE
        # a CPU with VNNI running the kernels of one without (Zen 3, Haswell..Skylake client)

Without VNNI, oneDNN's int8 convolutions sum u8 x s8 products in 16-bit
intermediates that saturate (OpenVINO's "Saturation (overflow) issue"), and
MobileNet-like models lose answers. NNCF's remedies, each measured here:

- overflow_fix DISABLE (none), FIRST_LAYER (7-bit weights in the first layer,
  NNCF's default), ENABLE (7-bit weights in every layer);
- --accuracy-control FIX: nncf.quantize_with_accuracy_control from that
  overflow fix, layers returned to fp32 until top-1 agreement with fp32 on
  held-out calibration images (a third of them) is within 1 point of fp32's
  (no labels needed).

Images: tests/tasks/deploy/test_optimize_int8.py's (tests/real_images.py's
first 240; every 3rd calibrates, the other 160 are scored), EfficientNet-Lite0
with its real weights. Agreement is top-1 against fp32 eager PyTorch, over all
160 and over the "confident" ones (fp32 top-1 probability >= 0.5). Speed is
ms per batch of 32, median of 5, on the machine as it is (shared machines are
noisy: compare ratios within one run). The kernels OpenVINO picked are printed,
so a capped run shows it ran without VNNI (jit_avx2_*_I8, not brgconv_avx512).
"""
from __future__ import annotations

import argparse
import collections
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

import convzoo as cz
from convzoo.utils.cpu import cpu_capabilities

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from machine import cpu_model  # noqa: E402
from real_images import real_images  # noqa: E402

CONFIDENT = 0.5
MODEL = "efficientnet_lite0"


def _kernels(compiled) -> str:
    kinds = collections.Counter()
    for op in compiled.get_runtime_model().get_ops():
        info = op.get_rt_info()
        if "Conv" in info["layerType"].astype(str):
            kinds[info["primitiveType"].astype(str)] += 1
    return ", ".join(f"{k} x{n}" for k, n in kinds.most_common())


def _score(ov, model_ir, scored: torch.Tensor, expected: torch.Tensor, confident: torch.Tensor) -> dict:
    compiled = ov.compile_model(model_ir, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()
    got = []
    for batch in scored.split(32):
        request.infer([batch.numpy()])
        got.append(torch.from_numpy(request.get_output_tensor(0).data.copy()).argmax(1))
    same = torch.cat(got) == expected
    x = scored[:32].numpy()
    request.infer([x])
    times = []
    for _ in range(5):
        start = time.perf_counter()
        request.infer([x])
        times.append(time.perf_counter() - start)
    return {"all": same.float().mean().item(), "confident": same[confident].float().mean().item(),
            "ms": 1000 * statistics.median(times), "kernels": _kernels(compiled)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fixes", nargs="*", default=["FIRST_LAYER", "ENABLE", "DISABLE"])
    p.add_argument("--accuracy-control", nargs="*", default=[], metavar="FIX",
                   help="also NNCF's accuracy control, from these overflow fixes (minutes each)")
    args = p.parse_args(argv)
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import (
        AdvancedQuantizationParameters,
        OverflowFix,
    )

    transform = cz.get_weights(MODEL).transforms()
    x = torch.stack([transform(im) for im in real_images(240)])
    calibration, scored = x[::3], torch.cat([x[1::3], x[2::3]])
    model = cz.get_model(MODEL, weights="DEFAULT").eval()
    with torch.inference_mode():
        probs = model(scored).softmax(1)
        calibration_top1 = model(calibration).argmax(1)
    expected, confident = probs.argmax(1), probs.max(1).values >= CONFIDENT
    print(f"CPU: {cpu_model()}; {cpu_capabilities().describe()}; {torch.get_num_threads()} threads")
    print(f"{MODEL}, {len(calibration)} calibration images, {len(scored)} scored ({int(confident.sum())} confident)")
    converted = ov.convert_model(model, example_input=torch.zeros(1, 3, 224, 224),
                                 input=[ov.PartialShape([-1, 3, 224, 224])])

    def quantize(fix: str):
        images = [c.unsqueeze(0).numpy() for c in calibration]
        return nncf.quantize(converted, nncf.Dataset(images), subset_size=len(images), fast_bias_correction=False,
                             advanced_parameters=AdvancedQuantizationParameters(overflow_fix=OverflowFix[fix]))

    def accuracy_control(fix: str):
        fit = [i for i in range(len(calibration)) if i % 3]
        held = [i for i in range(len(calibration)) if i % 3 == 0]

        def agreement(compiled, items):
            same = [float(np.argmax(compiled(image)[0]) == label) for image, label in items]
            return float(np.mean(same)), same

        return nncf.quantize_with_accuracy_control(
            converted, nncf.Dataset([calibration[i:i + 1].numpy() for i in fit]),
            nncf.Dataset([(calibration[i:i + 1].numpy(), int(calibration_top1[i])) for i in held], lambda it: it[0]),
            agreement, max_drop=0.01, subset_size=len(fit), fast_bias_correction=False,
            advanced_quantization_parameters=AdvancedQuantizationParameters(overflow_fix=OverflowFix[fix]))

    rows = [("fp32 (OpenVINO)", 0.0, converted)]
    for fix in args.fixes:
        start = time.perf_counter()
        q = quantize(fix)
        rows.append((f"int8 overflow_fix={fix}", time.perf_counter() - start, q))
    for fix in args.accuracy_control:
        start = time.perf_counter()
        q = accuracy_control(fix)
        rows.append((f"int8 accuracy control ({fix})", time.perf_counter() - start, q))
    print(f"\n| {'candidate':<34} | {'confident':>9} | {'all':>5} | {'quantize s':>10} | {'ms/32':>6} | kernels")
    print(f"|{'-' * 36}|{'-' * 11}|{'-' * 7}|{'-' * 12}|{'-' * 8}|---")
    for label, seconds, ir in rows:
        r = _score(ov, ir, scored, expected, confident)
        print(f"| {label:<34} | {r['confident']:>9.3f} | {r['all']:>5.3f} | {seconds:>10.0f} | {r['ms']:>6.0f} | "
              f"{r['kernels']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
