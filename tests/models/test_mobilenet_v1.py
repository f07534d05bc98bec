"""MobileNet v1 against timm (`mobilenetv1_100`, and `mobilenetv1_125` for the width multiplier)."""
import pytest
import timm
import torch

import convzoo as cz
from parity import assert_parity, check_anatomy, count_params


def test_parity_small_input(tmp_path):
    assert_parity("mobilenet_v1", timm.create_model("mobilenetv1_100"), tmp_path, input_size=64)


def test_width_mult_parity_with_timm(tmp_path):
    """width_mult=1.25 is timm's mobilenetv1_125: same rounding of every width."""
    assert_parity("mobilenet_v1", timm.create_model("mobilenetv1_125"), tmp_path, input_size=64, width_mult=1.25)


@pytest.mark.slow
def test_parity_full_size(tmp_path):
    assert_parity("mobilenet_v1", timm.create_model("mobilenetv1_100"), tmp_path, input_size=224)


def _conv_widths(model):
    return [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)]


@pytest.mark.parametrize("width_mult", [0.5, 0.25])
def test_width_mult_thins_every_layer(width_mult):
    """The paper's alpha multiplies every width (Section 3.3); at 0.5 and 0.25
    every width of the 1.0 model divides exactly, so no rounding is involved."""
    full = cz.get_model("mobilenet_v1")
    thin = cz.get_model("mobilenet_v1", width_mult=width_mult)
    assert _conv_widths(thin) == [int(c * width_mult) for c in _conv_widths(full)]
    assert [s.channels for s in thin.feature_info] == [int(s.channels * width_mult) for s in full.feature_info]
    assert thin.head.fc.in_features == int(1024 * width_mult)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        outs = thin.eval().forward_stages(x)
    assert [o.shape[1] for o in outs] == [s.channels for s in thin.feature_info]
    # Depth-wise separable layers cost ~ alpha^2 (Section 3.3): the point-wise
    # convs dominate, so the parameter count falls close to that.
    ratio = count_params(thin.stages) / count_params(full.stages)
    assert width_mult**2 <= ratio < 1.1 * width_mult**2


def test_width_mult_rounds_to_multiples_of_8():
    model = cz.get_model("mobilenet_v1", width_mult=0.3)
    assert all(c % 8 == 0 for c in _conv_widths(model))
    assert model.stem.conv.out_channels == 16  # 32 * 0.3 = 9.6 -> 8 is >10% down, so 16


def test_paper_table1_structure():
    """Table 1: 13 depth-wise separable layers, 4.2M parameters at width 1.0."""
    model = cz.get_model("mobilenet_v1")
    depthwise = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.groups == m.in_channels > 1]
    assert len(depthwise) == 13
    assert [s.reduction for s in model.feature_info] == [2, 4, 8, 16, 32]
    assert round(count_params(model) / 1e6, 1) == 4.2


def test_anatomy():
    check_anatomy("mobilenet_v1")
