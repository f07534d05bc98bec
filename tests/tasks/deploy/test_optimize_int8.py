"""Reduced precision on real weights and real images: top-1 against fp32 eager.
(benchmarks/agreement.py runs the full 500 images on Lite0/1/2; this is its
smaller version.)

What was measured (issue 12's closing note): where fp32 is confident (top-1
probability >= 0.5) bf16 and int8 give its answer; over all these images,
many far from ImageNet (digits, faces, textures, where fp32's best two classes
are near ties), they do not reach 99%, and runtime="auto" rejects them there
(tests/tasks/deploy/runtime_auto_cases.py). The lower bounds over all images guard against
a broken path (NNCF's defaults gave 64% for int8).

int8's bound over all images depends on the CPU, so it is keyed to the
capability that decides it, VNNI (int8 sums in 32 bits; without it they pass
through 16 bits that saturate: openvino_rt.py). The bf16 bounds are not keyed:
measured alike with native bf16 and without (below)."""
import os
import subprocess
import sys

import pytest
import torch

import convzoo as cz
from convzoo.utils.cpu import cpu_capabilities

from real_images import real_images

CONFIDENT = 0.5
# OpenVINO int8 over all 160 scored images (every image where fp32 is confident is kept either way):
# - with VNNI: 0.850 on a 2-core AMD EPYC Zen 4 (avx512_vnni), no overflow fix; 0.75 was the bound from
#   a VNNI CPU before issue 32, kept.
# - without VNNI: 0.694 with 7-bit weights everywhere (OverflowFix.ENABLE) on a 2-core AMD EPYC Zen 3
#   (issue 32) and on the Zen 4 with oneDNN capped at AVX2 (benchmarks/results/int8_without_vnni.md);
#   no fix there gives 0.425 and 70% of the confident answers, which this bound and the >= 0.99 catch.
INT8_OVERALL = 0.75 if cpu_capabilities().vnni else 0.65


@pytest.fixture(scope="module")
def lite0():
    """(calibration images, scored images, fp32 eager top-1 on them, which of them fp32 is confident on)."""
    transform = cz.get_weights("efficientnet_lite0").transforms()
    x = torch.stack([transform(im) for im in real_images(240)])
    calibration, scored = x[::3], torch.cat([x[1::3], x[2::3]])  # scored on images int8 did not calibrate on
    model = cz.get_model("efficientnet_lite0", weights="DEFAULT").eval()
    with torch.inference_mode():
        probs = model(scored).softmax(1)
    return calibration, scored, probs.argmax(1), probs.max(1).values >= CONFIDENT


def _agreement(runtime, precision, lite0):
    calibration, scored, expected, confident = lite0
    fast = cz.optimize(cz.get_model("efficientnet_lite0", weights="DEFAULT"), runtime=runtime, precision=precision,
                       calibration=calibration, progress=False)
    with torch.inference_mode():
        same = fast(scored).argmax(1) == expected
    return same[confident].float().mean().item(), same.float().mean().item()


# bf16: 0.85 kept from issue 12; on the Zen 4 (native bf16) 0.925 (openvino) and 0.944 (torch) here.
# Without native bf16, bf16 rounds alike (torch, oneDNN capped at AVX512_CORE / AVX2: 0.944 / 0.938),
# and OpenVINO's plugin, without bf16 kernels, runs fp32 for a bf16 hint (both passed on issue 32's Zen 3).
@pytest.mark.parametrize("runtime, precision, overall", [("openvino", "int8", INT8_OVERALL),
                                                         ("openvino", "bf16", 0.85), ("torch", "bf16", 0.85)])
def test_reduced_precision_gives_fp32s_confident_answers(runtime, precision, overall, lite0):
    caps = cpu_capabilities()
    if (runtime, precision) == ("openvino", "bf16") and caps.isa_cap is not None and not caps.native_bf16:
        pytest.skip(f"oneDNN capped at {caps.isa_cap}: OpenVINO's bf16 kernels fail there (no CPU runs so)")
    assert lite0[3].sum() >= 20  # enough confident images for the check to mean something
    on_confident, on_all = _agreement(runtime, precision, lite0)
    assert on_confident >= 0.99
    assert on_all >= overall


@pytest.mark.slow
def test_torch_int8_through_torchao_gives_fp32s_confident_answers(lite0):
    """PT2E + X86InductorQuantizer + torch.compile (a minute to compile). Not keyed to VNNI: on the
    Zen 4, 1.00 / 0.869 (confident / all) as it is and 1.00 / 0.863 with oneDNN capped at AVX2."""
    on_confident, on_all = _agreement("torch", "int8", lite0)
    assert on_confident >= 0.95 and on_all >= 0.75


@pytest.mark.slow
@pytest.mark.skipif(not cpu_capabilities().vnni or cpu_capabilities().isa_cap is not None,
                    reason="this CPU already runs the path without VNNI in the default test run")
def test_int8_without_vnni_on_oneDNN_capped_at_avx2():
    """The CPU kind the default run here cannot see: a child process whose oneDNN is capped at AVX2
    (ONEDNN_MAX_CPU_ISA) runs the int8 kernels of a CPU without VNNI (Zen 3: same figures,
    benchmarks/results/int8_without_vnni.md), and convzoo takes that CPU's path (ENABLE)."""
    env = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2", PYTHONPATH=os.pathsep.join(sys.path))
    child = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", "-n", "0",
                            f"{__file__}::test_reduced_precision_gives_fp32s_confident_answers[openvino-int8-0.65]"],
                           env=env, capture_output=True, text=True, timeout=900, check=False)
    assert child.returncode == 0, child.stdout[-3000:] + child.stderr[-3000:]
