"""MobileNet v2 and v3 against torchvision."""
import pytest
import torch
import torchvision
from torch import nn

import convzoo as cz
from parity import assert_parity, check_anatomy, check_drop_path

TORCHVISION_MODELS = ["mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large"]
FAST = ["mobilenet_v2", "mobilenet_v3_small"]


@pytest.mark.parametrize("name", FAST)
def test_parity_small_input(name, tmp_path):
    assert_parity(name, torchvision.models.get_model(name), tmp_path, input_size=64)


@pytest.mark.parametrize("name, width_mult", [("mobilenet_v2", 0.5), ("mobilenet_v2", 1.4), ("mobilenet_v3_small", 0.75)])
def test_parity_width_mult(name, width_mult, tmp_path):
    """Widths are rounded to multiples of 8 (and v2's last conv never narrows) as torchvision does."""
    ref = torchvision.models.get_model(name, width_mult=width_mult)
    assert_parity(name, ref, tmp_path, input_size=64, width_mult=width_mult)


@pytest.mark.slow
@pytest.mark.parametrize("name", TORCHVISION_MODELS)
def test_parity_full_size(name, tmp_path):
    assert_parity(name, torchvision.models.get_model(name), tmp_path, input_size=224)


@pytest.mark.parametrize("name", FAST)
def test_anatomy(name):
    check_anatomy(name)


def test_drop_path():
    check_drop_path("mobilenet_v2")


@pytest.mark.parametrize("name, channels, reductions", [
    ("mobilenet_v2", [16, 24, 32, 96, 320], [2, 4, 8, 16, 32]),
    ("mobilenet_v3_large", [16, 24, 40, 112, 160], [2, 4, 8, 16, 32]),
    ("mobilenet_v3_small", [16, 24, 48, 96], [4, 8, 16, 32]),  # its first block already strides
])
def test_stages_end_at_each_output_stride(name, channels, reductions):
    """Channels as in the papers' tables at the last block of each resolution."""
    model = cz.get_model(name)
    assert [s.channels for s in model.feature_info] == channels
    assert [s.reduction for s in model.feature_info] == reductions


@pytest.mark.parametrize("name, hidden", [("mobilenet_v3_small", 1024), ("mobilenet_v3_large", 1280)])
def test_v3_mlp_head_reset(name, hidden):
    model = cz.get_model(name).eval()
    x = torch.randn(2, 3, 64, 64)
    model.reset_classifier(0)
    with torch.no_grad():
        assert model(x).shape == (2, hidden)  # the hidden Linear's features
    model.reset_classifier(10)
    assert model.num_classes == 10 and model.head.fc.in_features == hidden


def test_v3_new_classifier_keeps_the_hidden_linear(tmp_path):
    ref = torchvision.models.mobilenet_v3_small()
    path = tmp_path / "ref.pth"
    torch.save(ref.state_dict(), path)
    model = cz.get_model("mobilenet_v3_small", weights=str(path), num_classes=10)
    assert model.head.fc.out_features == 10
    torch.testing.assert_close(model.head.hidden.weight, ref.classifier[0].weight)


def test_v3_hard_activations_and_tf_batchnorm():
    """Hard-swish / hard-sigmoid as the standard torch ops (they export to ONNX
    as HardSwish / HardSigmoid), and the TF reference's BN epsilon."""
    model = cz.get_model("mobilenet_v3_large")
    types = {type(m) for m in model.modules()}
    assert {nn.Hardswish, nn.Hardsigmoid, nn.ReLU} <= types
    leaves = [m for m in model.modules() if not list(m.children())]
    assert all(type(m).__module__.startswith("torch.nn.modules") for m in leaves), \
        {type(m).__name__ for m in leaves if not type(m).__module__.startswith("torch.nn.modules")}
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(m.eps == 1e-3 and m.momentum == 0.01 for m in norms)


def test_registered_with_paper_and_family():
    assert cz.model_info("mobilenet_v2").year == 2018
    assert cz.model_info("mobilenet_v3_large").family == "mobilenet_v3"
    assert "MobileNetV3" in cz.model_info("mobilenet_v3_small").paper.title


def test_pretrained_weights_into_grayscale_model(tmp_path):
    """`first_conv` names the stem conv: RGB weights are summed for in_chans=1."""
    ref = torchvision.models.mobilenet_v3_small()
    path = tmp_path / "rgb.pth"
    torch.save(ref.state_dict(), path)
    rgb = cz.get_model("mobilenet_v3_small", weights=str(path)).eval()
    grey = cz.get_model("mobilenet_v3_small", weights=str(path), in_chans=1).eval()
    x = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(grey(x), rgb(x.repeat(1, 3, 1, 1)), rtol=1e-4, atol=1e-4)
