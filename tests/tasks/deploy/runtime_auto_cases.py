"""runtime="auto" / fast=True / --fast: the fastest runtime that keeps fp32's answers, chosen and cached.

These tests run in a pytest process of their own: test_runtime_auto.py starts
one on them (a plain `pytest` does not collect this file, its name does not
start with test_). In one pytest process, after these tests, the DataLoader
workers forked by test_predict_distributed.py crashed the parent (SIGSEGV, no
Python traceback). It was not reproduced outside pytest (OpenVINO, ONNX
Runtime, NNCF int8 or bf16 autocast, then forked workers: all clean) and is
under study (issue 12's closing note)."""
import json
import warnings

import pytest
import torch

import convzoo as cz
from convzoo.cli import main
from convzoo.tasks.deploy.optimize import RuntimeChoiceWarning, auto

from paths import EXAMPLES
from real_images import real_images

SIZE = 64


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVZOO_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def calibration():
    torch.manual_seed(0)
    return torch.randn(24, 3, SIZE, SIZE)


@pytest.fixture
def cheap_candidates(monkeypatch):
    """Beside torch (fp32, and bf16 where the CPU has it) only OpenVINO fp32: for the
    tests of what feeds the choice (a Classifier's images, the command line), not of the
    candidates themselves. ONNX Runtime's export and NNCF's int8 cost efficientnet_lite0
    at 224 px about 14 s and 25 s on a 2-core Xeon; test_optimize.py and
    test_optimize_int8.py build those, and the first test here measures every candidate."""
    real_extra_pairs = auto._extra_pairs

    def extra_pairs(skipped, openvino_bf16):
        return [p for p in real_extra_pairs(skipped, openvino_bf16) if p == ("openvino", "fp32")]

    monkeypatch.setattr(auto, "_extra_pairs", extra_pairs)


@pytest.fixture
def builds(monkeypatch):
    """Every runner auto builds, by label; int8 on OpenVINO made instant and wrong."""
    real_build = auto.build_runner
    built = []

    def build(model, runtime, precision, **kwargs):
        built.append(f"{runtime} {precision}")
        if (runtime, precision) == ("openvino", "int8"):
            return lambda x: torch.randn(x.shape[0], 1000)
        return real_build(model, runtime, precision, **kwargs)

    monkeypatch.setattr(auto, "build_runner", build)
    return built


def test_auto_chooses_the_fastest_that_agrees_and_says_why_not_a_faster_one(home, calibration, builds):
    model = cz.get_model("resnet18").eval()
    with pytest.warns(RuntimeChoiceWarning, match=r"openvino int8 was faster but agreed with fp32 on \d+\.\d+% of 24"):
        fast = cz.optimize(model, runtime="auto", calibration=calibration, input_size=SIZE, batch_size=8,
                           progress=False)
    measured = {m.label: m for m in fast.measured}
    assert set(measured) == set(builds) and {"torch fp32", "onnxruntime fp32", "openvino fp32"} <= set(measured)
    assert measured["openvino int8"].agreement < 0.5 and not measured["openvino int8"].keeps_answers()
    keeping = [m for m in fast.measured if m.keeps_answers()]
    assert all(m.images == 24 and m.agreement >= 0.99 for m in keeping)
    assert f"{fast.runtime} {fast.precision}" == min(keeping, key=lambda m: m.seconds_per_batch).label
    with torch.no_grad():
        assert torch.equal(fast(calibration).argmax(1), model(calibration).argmax(1))

    # Cached per model and machine: the second call builds the chosen runner only.
    entry, = json.loads((home / "runtime_choices.json").read_text()).values()
    assert entry["chosen"]["runtime"] == fast.runtime and entry["machine"]["threads"] == torch.get_num_threads()
    builds.clear()
    again = cz.optimize(model, runtime="auto", calibration=calibration, input_size=SIZE, batch_size=8,
                        progress=False)
    assert builds == [f"{fast.runtime} {fast.precision}"] and "cached" in again.note
    # ... and not for other weights, which may answer differently.
    builds.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeChoiceWarning)
        cz.optimize(cz.get_model("resnet18"), runtime="auto", calibration=calibration, input_size=SIZE,
                    batch_size=8, progress=False)
    assert len(builds) > 1


def test_auto_without_calibration_images_tries_fp32_only_and_says_so(home, builds):
    with pytest.warns(RuntimeChoiceWarning, match="not tried: no calibration images"):
        fast = cz.optimize(cz.get_model("resnet18"), runtime="auto", input_size=SIZE, batch_size=4, progress=False)
    assert {m.precision for m in fast.measured} == {"fp32"} and fast.precision == "fp32"
    assert all(m.agreement is None for m in fast.measured)


def test_auto_with_a_precision_tries_that_one_beside_fp32_eager(home, calibration, builds):
    fast = cz.optimize(cz.get_model("resnet18"), runtime="auto", precision="bf16", calibration=calibration,
                       input_size=SIZE, batch_size=8, progress=False)
    assert {m.label for m in fast.measured} <= {"torch fp32", "torch bf16", "openvino bf16"}
    assert "torch fp32" in {m.label for m in fast.measured}


def test_a_failing_candidate_is_reported_and_the_others_still_run(home, calibration, builds, monkeypatch):
    built_by_fixture = auto.build_runner  # int8 made instant (builds): this test is about the failure

    def build(model, runtime, precision, **kwargs):
        if runtime == "onnxruntime":
            raise RuntimeError("exporter broke\nsecond line")
        return built_by_fixture(model, runtime, precision, **kwargs)

    monkeypatch.setattr(auto, "build_runner", build)
    with pytest.warns(RuntimeChoiceWarning, match=r"onnxruntime fp32 failed \(RuntimeError: exporter broke\)"):
        fast = cz.optimize(cz.get_model("resnet18"), runtime="auto", calibration=calibration, input_size=SIZE,
                           batch_size=8, progress=False, cache=False)
    assert fast.runtime != "onnxruntime" and not (home / "runtime_choices.json").exists()
    assert "failed: RuntimeError: exporter broke" in fast.measurements_table()
    assert "openvino fp32" in builds and {m.label for m in fast.measured if m.seconds_per_batch} >= {"torch fp32",
                                                                                                  "openvino fp32"}


def test_classifier_fast_calibrates_on_the_images_it_predicts(home, lite0_classifier, cheap_candidates):
    images = real_images(24)
    plain = lite0_classifier  # conftest.py: the default efficientnet_lite0, shared
    fast = cz.Classifier("efficientnet_lite0", fast=True, progress=False)
    assert not fast.ready
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeChoiceWarning)
        got = [p.indices[0] for p in fast.predict(images, topk=1)]
    assert fast.ready and fast.optimized.measured[0].images == 24
    assert "openvino fp32" in {m.label for m in fast.optimized.measured}
    expected = [p.indices[0] for p in plain.predict(images, topk=1)]
    assert sum(a == b for a, b in zip(got, expected)) >= 23  # the choice kept >= 99% of 24 (all, or all but 0)
    with pytest.raises(ValueError, match="fast=True chooses the runtime itself"):
        cz.Classifier("efficientnet_lite0", fast=True, runtime="openvino")


def test_predict_fast_on_the_command_line_says_what_it_chose(home, capsys, cheap_candidates):
    photos = [str(EXAMPLES / "coffee.png"), str(EXAMPLES / "chelsea.png")]
    assert main(["predict", *photos, "--fast", "--topk", "1", "--json", "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert [json.loads(line)["labels"] for line in captured.out.splitlines()] == [["espresso"], ["tiger cat"]]
    runtime_line, = [line for line in captured.err.splitlines() if line.startswith("convzoo: runtime:")]
    assert "chose " in runtime_line and "not tried: only 2 calibration images" in runtime_line
