"""convzoo.optimize: the same model run by eager torch (channels_last, bf16),
ONNX Runtime and OpenVINO, with the answers kept."""
import builtins
from pathlib import Path

import pytest
import torch

import convzoo as cz
from convzoo.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _relative_error(got: torch.Tensor, expected: torch.Tensor) -> float:
    return ((got - expected).abs().max() / expected.abs().max()).item()


# TF "SAME" padding (Lite), squeeze-excite and hard-swish (v3 small), a plain ResNet.
@pytest.mark.parametrize("name, size", [("resnet18", 64), ("efficientnet_lite0", 96), ("mobilenet_v3_small", 64)])
@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_fp32_runtimes_match_eager(name, size, runtime):
    """fp32 within 1e-3 relative of eager, at batch 1 and 3 (the batch dimension is dynamic)."""
    torch.manual_seed(0)
    model = cz.get_model(name).eval()
    x = torch.randn(3, 3, size, size)
    with torch.no_grad():
        expected = model(x)
    fast = cz.optimize(model, runtime=runtime, input_size=size)
    assert (fast.runtime, fast.precision) == (runtime, "fp32")
    assert _relative_error(fast(x), expected) <= 1e-3
    assert _relative_error(fast(x[:1]), expected[:1]) <= 1e-3


def test_torch_channels_last_fp32_is_the_same_function():
    model = cz.get_model("resnet18").eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
    assert _relative_error(cz.optimize(model)(x), expected) <= 1e-5


@pytest.fixture(scope="module")
def photos():
    """The two example photos, preprocessed for the shipped Lite0 weights."""
    from PIL import Image

    transform = cz.get_weights("efficientnet_lite0").transforms()
    return torch.stack([transform(Image.open(EXAMPLES / f).convert("RGB")) for f in ("coffee.png", "chelsea.png")])


@pytest.mark.parametrize("runtime", ["torch", "openvino"])
def test_bf16_keeps_the_answers_on_real_photos(runtime, photos):
    model = cz.get_model("efficientnet_lite0", weights="DEFAULT").eval()
    with torch.no_grad():
        expected = model(photos).argmax(1)
    fast = cz.optimize(model, runtime=runtime, precision="bf16")
    assert torch.equal(fast(photos).argmax(1), expected)


def test_classifier_and_cli_take_a_runtime(capsys):
    clf = cz.Classifier("efficientnet_lite0", runtime="openvino")
    assert clf.predict([EXAMPLES / "coffee.png"], topk=1)[0].labels == ["espresso"]
    assert main(["predict", str(EXAMPLES / "coffee.png"), "--runtime", "onnxruntime", "--topk", "1", "--json"]) == 0
    assert '"espresso"' in capsys.readouterr().out


def test_bad_choices_are_one_line_errors():
    model = cz.get_model("resnet18")
    with pytest.raises(ValueError, match="unknown runtime 'tensorrt': use one of torch, onnxruntime, openvino"):
        cz.optimize(model, runtime="tensorrt")
    with pytest.raises(ValueError, match="fp16 runs on a GPU"):
        cz.optimize(model, precision="fp16")
    with pytest.raises(ValueError, match="compile=True is for runtime='torch'"):
        cz.optimize(model, runtime="openvino", compile=True)


def test_a_missing_runtime_names_its_extra(monkeypatch):
    real_import = builtins.__import__

    def no_openvino(name, *args, **kwargs):
        if name == "openvino":
            raise ImportError("No module named 'openvino'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_openvino)
    with pytest.raises(ValueError, match=r"pip install 'convzoo\[openvino\]'"):
        cz.optimize(cz.get_model("resnet18"), runtime="openvino")


# Random-init SE-ResNet-152's logits reach ~5e3 and both runtimes differ from
# eager by 44% of that: not yet known whether the init's scale or a real
# difference is to blame (issue 12). Every other model passes.
_NOT_YET = pytest.mark.xfail(strict=True, reason="seresnet152 at random init: runtimes differ by 44%, under study")


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
@pytest.mark.parametrize("name", [pytest.param(n, marks=_NOT_YET) if n == "seresnet152" else n
                                  for n in cz.list_models()])
def test_every_model_runs_in_fp32_through(name, runtime):
    """The issue-12 matrix: every registered model, fp32 within 1e-3 relative
    of eager, at its own input size (batch 2)."""
    torch.manual_seed(0)
    model = cz.get_model(name).eval()
    size = cz.model_info(name).input_size
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        expected = model(x)
    assert _relative_error(cz.optimize(model, runtime=runtime, input_size=size)(x), expected) <= 1e-3
