"""What each CPU kind gets, decided from its flags (convzoo.utils.cpu): int8's overflow
fix, the bf16 candidates of runtime="auto", the warning when int8 is forced. The flags
are simulated, so a machine of one kind checks every kind's choices (issue 32)."""
import warnings

import pytest
import torch

import convzoo as cz
from convzoo.tasks.deploy import optimize as optimize_pkg
from convzoo.tasks.deploy.optimize import Int8AccuracyWarning, auto, openvino_rt
from convzoo.tasks.shared.extras import has_module
from convzoo.utils import cpu
from convzoo.utils.cpu import cpu_capabilities

AVX2 = {"sse2", "sse4_2", "avx", "avx2", "fma", "f16c"}
AVX512 = AVX2 | {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"}
# (flags, VNNI, native bf16, AMX, AVX-512 core) per CPU kind; flag names as in /proc/cpuinfo.
KINDS = {
    "zen3": (AVX2, False, False, False, False),  # issue 32's CPU
    "haswell": (AVX2, False, False, False, False),
    "skylake_sp": (AVX512, False, False, False, True),  # AVX-512 without VNNI: int8 saturates too
    "alder_lake": (AVX2 | {"avx_vnni"}, True, False, False, False),
    "cascade_lake": (AVX512 | {"avx512_vnni"}, True, False, False, True),
    "zen4": (AVX512 | {"avx512_vnni", "avx512_bf16"}, True, True, False, True),
    "sapphire_rapids": (AVX512 | {"avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16"},
                        True, True, True, True),
    "arm": ({"fp", "asimd", "asimddp", "bf16", "i8mm"}, False, False, False, False),
}


def caps(kind: str, isa_cap: str | None = None) -> cpu.CpuCapabilities:
    return cpu_capabilities(flags=KINDS[kind][0], isa_cap=isa_cap)


def _what(c: cpu.CpuCapabilities) -> tuple[bool, bool, bool, bool]:
    return c.vnni, c.native_bf16, c.amx, c.avx512_core


@pytest.mark.parametrize("kind", KINDS)
def test_capabilities_from_flags(kind):
    assert _what(caps(kind)) == KINDS[kind][1:]


def test_onednn_isa_cap_removes_what_the_capped_kernels_lack(monkeypatch):
    assert not caps("zen4", "AVX2").vnni and not caps("zen4", "avx2").native_bf16
    capped = caps("sapphire_rapids", "AVX512_CORE_VNNI")
    assert _what(capped) == (True, False, False, True)
    assert _what(caps("zen3", "AVX512_CORE_AMX")) == _what(caps("zen3"))  # a cap never adds
    assert caps("zen4", "NOT_AN_ISA") == caps("zen4")  # an unknown name caps nothing
    # This machine's capabilities follow the environment's cap.
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    here = cpu_capabilities()
    assert not here.vnni and not here.native_bf16 and here.isa_cap == "AVX2"


def test_flags_are_read_from_cpuinfo(tmp_path):
    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512_vnni\n\n"
                   "processor\t: 1\nflags\t\t: fpu avx2 avx512_vnni\n")
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n")
    assert cpu.read_cpu_flags(str(x86)) == {"fpu", "avx2", "avx512_vnni"}
    assert cpu.read_cpu_flags(str(arm)) == {"fp", "asimd", "bf16", "i8mm"}
    assert cpu.read_cpu_flags(str(tmp_path / "missing")) == frozenset()
    assert cpu_capabilities(flags=cpu.read_cpu_flags(str(x86))).vnni


@pytest.mark.parametrize("kind", KINDS)
def test_int8_overflow_fix_is_chosen_by_vnni(kind):
    """With VNNI: none, as before issue 32 (nothing slower or less exact there). x86 without: 7-bit
    weights in every layer (66% -> 69% agreement on Zen 3, benchmarks/results/int8_without_vnni.md).
    ARM: NNCF's default, as before."""
    expected = "DISABLE" if KINDS[kind][1] else "FIRST_LAYER" if kind == "arm" else "ENABLE"
    assert openvino_rt.overflow_fix(caps(kind)) == expected
    assert caps(kind).x86 == (kind != "arm")


def test_quantization_uses_this_cpus_overflow_fix(monkeypatch):
    nncf = pytest.importorskip("nncf")
    seen = []
    monkeypatch.setattr(nncf, "quantize", lambda model, dataset, **kw: seen.append(kw["advanced_parameters"]))
    for kind, fix in (("zen3", "ENABLE"), ("cascade_lake", "DISABLE")):
        monkeypatch.setattr(openvino_rt, "cpu_capabilities", lambda kind=kind: caps(kind))
        openvino_rt._quantize(object(), torch.zeros(2, 3, 8, 8), progress=False)
        assert seen[-1].overflow_fix.name == fix


@pytest.mark.parametrize("kind, expected", [("zen3", (False, False)), ("haswell", (False, False)),
                                            ("skylake_sp", (True, False)), ("cascade_lake", (True, False)),
                                            ("zen4", (True, True)), ("sapphire_rapids", (True, True))])
def test_bf16_candidates_by_cpu(kind, expected):
    """torch's oneDNN offers bf16 from AVX-512 up (emulated without native bf16), OpenVINO only with native
    bf16: these are the libraries' own rules, unchanged by issue 32."""
    assert auto.bf16_candidates(caps(kind)) == expected


def test_bf16_rules_are_what_the_libraries_say_here():
    here = cpu_capabilities()
    if here.isa_cap is not None or not here.flags:
        pytest.skip("oneDNN is capped here, or no /proc/cpuinfo: the libraries read the CPU itself")
    torch_bf16, openvino_bf16 = auto.bf16_candidates()
    assert auto.bf16_candidates(here)[0] == torch_bf16
    if has_module("openvino"):
        assert auto.bf16_candidates(here)[1] == openvino_bf16


@pytest.mark.parametrize("kind", KINDS)
def test_auto_candidates_by_cpu(kind):
    """int8 stays a candidate everywhere (auto measures its agreement and keeps it off where it
    loses answers); bf16 follows the CPU; fp32 on every runtime installed."""
    pairs, _ = auto.candidates(torch.device("cpu"), None, torch.zeros(24, 3, 8, 8), compile=False, caps=caps(kind))
    torch_bf16, openvino_bf16 = auto.bf16_candidates(caps(kind))
    assert (("torch", "bf16") in pairs) == torch_bf16
    assert ("torch", "fp32") in pairs
    if has_module("openvino"):
        assert ("openvino", "fp32") in pairs and (("openvino", "bf16") in pairs) == openvino_bf16
        assert (("openvino", "int8") in pairs) == has_module("nncf")


@pytest.fixture
def fresh_warning(monkeypatch):
    monkeypatch.setattr(openvino_rt, "_warned_without_vnni", False)


def test_forced_int8_without_vnni_warns_once_in_one_line(fresh_warning):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        said = [openvino_rt.warn_int8_without_vnni(caps("zen3")) for _ in range(2)]
    assert said == [True, False] and len(record) == 1 and record[0].category is Int8AccuracyWarning
    text = str(record[0].message)
    assert "\n" not in text and "--fast" in text and "VNNI" in text
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        openvino_rt._warned_without_vnni = False
        assert not openvino_rt.warn_int8_without_vnni(caps("cascade_lake"))
        assert not openvino_rt.warn_int8_without_vnni(caps("arm"))


def test_optimize_warns_for_forced_int8_only(fresh_warning, monkeypatch):
    monkeypatch.setattr(openvino_rt, "cpu_capabilities", lambda: caps("zen3"))
    monkeypatch.setattr(optimize_pkg, "build_runner", lambda *a, **k: (lambda x: x))
    model = cz.get_model("resnet18")
    calibration = torch.zeros(24, 3, 32, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cz.optimize(model, runtime="openvino", precision="fp32", input_size=32)
    with pytest.warns(Int8AccuracyWarning, match="no VNNI"):
        cz.optimize(model, runtime="openvino", precision="int8", calibration=calibration, input_size=32)
    monkeypatch.setattr(openvino_rt, "_warned_without_vnni", False)
    monkeypatch.setattr(openvino_rt, "cpu_capabilities", lambda: caps("zen4"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cz.optimize(model, runtime="openvino", precision="int8", calibration=calibration, input_size=32)
