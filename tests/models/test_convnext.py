"""ConvNeXt against torchvision (and timm, and the authors' key layout);
LayerNorm2d against nn.LayerNorm over permuted channels."""
import re

import pytest
import timm
import torch
import torchvision
from torch import nn

import convzoo as cz
from convzoo.layers.norm import LayerNorm2d
from convzoo.models.convnext import ConvNeXt, ConvNeXtConfig
from parity import assert_close, assert_parity, check_anatomy, check_drop_path, count_params, randomize_

MODELS = ["convnext_tiny", "convnext_small", "convnext_base", "convnext_large"]


def test_parity_small_input(tmp_path):
    assert_parity("convnext_tiny", torchvision.models.convnext_tiny(), tmp_path, input_size=64)


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_parity_full_size(name, tmp_path):
    assert_parity(name, torchvision.models.get_model(name), tmp_path, input_size=224)


# The layout tests use a small ConvNeXt (every stage, fewer and narrower
# blocks): the key names are what they test, and this keeps them fast.
SMALL = ConvNeXtConfig(depths=(2, 2, 3, 2), widths=(16, 32, 64, 128))


def small_timm_reference() -> nn.Module:
    return randomize_(timm.models.convnext.ConvNeXt(depths=SMALL.depths, dims=SMALL.widths)).eval()


def assert_loads_and_agrees(state_dict, reference: nn.Module) -> None:
    ours = cz.load_weights(ConvNeXt(SMALL), state_dict).eval()
    assert count_params(ours) == count_params(reference)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert_close(ours(x), reference(x))


def test_timm_layout_loads():
    ref = small_timm_reference()
    assert_loads_and_agrees(ref.state_dict(), ref)


# timm key -> the authors' key (facebookresearch/ConvNeXt, models/convnext.py),
# written out here independently of the converter under test.
_TIMM_TO_ORIGINAL = [
    (r"stem\.([01])\.(.+)", r"downsample_layers.0.\1.\2"),
    (r"stages\.(\d)\.downsample\.([01])\.(.+)", r"downsample_layers.\1.\2.\3"),
    (r"stages\.(\d)\.blocks\.(\d+)\.conv_dw\.(.+)", r"stages.\1.\2.dwconv.\3"),
    (r"stages\.(\d)\.blocks\.(\d+)\.norm\.(.+)", r"stages.\1.\2.norm.\3"),
    (r"stages\.(\d)\.blocks\.(\d+)\.mlp\.fc([12])\.(.+)", r"stages.\1.\2.pwconv\3.\4"),
    (r"stages\.(\d)\.blocks\.(\d+)\.gamma", r"stages.\1.\2.gamma"),
    (r"head\.norm\.(.+)", r"norm.\1"),
    (r"head\.fc\.(.+)", r"head.\1"),
]


def _rename(key: str, rules) -> str:
    for pattern, repl in rules:
        if re.fullmatch(pattern, key):
            return re.sub(pattern, repl, key)
    raise AssertionError(f"no rule for {key}")


def test_original_layout_checkpoint_loads(tmp_path):
    """A checkpoint in the authors' layout, wrapped in {"model": ...} as theirs
    are, loads and computes what the timm model with the same weights computes."""
    ref = small_timm_reference()
    original = {_rename(k, _TIMM_TO_ORIGINAL): v for k, v in ref.state_dict().items()}
    assert {"downsample_layers.0.0.weight", "downsample_layers.3.1.weight", "stages.2.2.pwconv2.weight",
            "stages.0.0.gamma", "norm.weight", "head.weight"} <= set(original)
    path = tmp_path / "convnext_1k_224_ema.pth"
    torch.save({"model": original}, path)
    assert_loads_and_agrees(str(path), ref)


def test_anatomy():
    check_anatomy("convnext_tiny", input_size=64)


def test_drop_path():
    check_drop_path("convnext_tiny")


def test_drop_path_rises_linearly_to_the_rate():
    with torch.device("meta"):
        model = cz.get_model("convnext_tiny", drop_path_rate=0.2)
    rates = [m.drop_prob for m in model.modules() if type(m).__name__ == "DropPath"]
    assert len(rates) == 3 + 3 + 9 + 3 - 1  # the first block's rate is 0: no DropPath
    assert rates[-1] == pytest.approx(0.2) and rates == sorted(rates)


def test_runs_channels_last_after_the_stem():
    """The design choice that makes LayerNorm2d cheap (layers/norm.py): after
    the stem's LayerNorm the feature maps stay in channels_last memory, so no
    LayerNorm has to copy. A `.contiguous()` slipped in would undo it."""
    model = cz.get_model("convnext_tiny").eval()
    with torch.no_grad():
        stages = model.forward_stages(torch.randn(1, 3, 64, 64))
    assert all(s.is_contiguous(memory_format=torch.channels_last) for s in stages)


# ---- LayerNorm2d -------------------------------------------------------------

@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_layernorm2d_equals_layernorm_over_permuted_channels(memory_format):
    torch.manual_seed(0)
    channels, eps = 48, 1e-6
    ours = LayerNorm2d(channels, eps=eps)
    ref = nn.LayerNorm(channels, eps=eps)
    with torch.no_grad():
        ours.weight.copy_(torch.rand(channels) + 0.5)
        ours.bias.copy_(torch.randn(channels))
    ref.load_state_dict(ours.state_dict())  # same parameter names and shapes

    x = (torch.randn(3, channels, 9, 11) * 4 + 2).contiguous(memory_format=memory_format)
    x_ours, x_ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_ours = ours(x_ours)
    y_ref = ref(x_ref.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    assert y_ours.shape == x.shape
    assert_close(y_ours, y_ref)

    grad = torch.randn_like(y_ref)
    y_ours.backward(grad)
    y_ref.backward(grad)
    assert_close(x_ours.grad, x_ref.grad)
    assert_close(ours.weight.grad, ref.weight.grad)
    assert_close(ours.bias.grad, ref.bias.grad)


def test_layernorm2d_normalises_each_pixel_over_channels():
    norm = LayerNorm2d(16, eps=0.0)  # weight 1, bias 0: the plain standardisation
    x = torch.randn(2, 16, 5, 5) * 3 + 7
    y = norm(x)
    torch.testing.assert_close(y.mean(1), torch.zeros(2, 5, 5), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(1, correction=0), torch.ones(2, 5, 5), atol=1e-4, rtol=0)
