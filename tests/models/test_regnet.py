"""RegNetX / RegNetY against torchvision (and timm's torchvision-width models),
and the design-space generator against the reference models' actual layers."""
import gc
import time

import pytest
import timm
import torch
import torchvision

import convzoo as cz
from convzoo.layers import SqueezeExcite
from convzoo.models.regnet import REGNET_PARAMS, RegNetParams, generate_stages
from parity import assert_close, assert_parity, check_anatomy, check_drop_path, count_params, randomize_

X_MODELS = ["regnet_x_400mf", "regnet_x_800mf", "regnet_x_1_6gf", "regnet_x_3_2gf",
            "regnet_x_8gf", "regnet_x_16gf", "regnet_x_32gf"]
Y_MODELS = ["regnet_y_400mf", "regnet_y_800mf", "regnet_y_1_6gf", "regnet_y_3_2gf",
            "regnet_y_8gf", "regnet_y_16gf", "regnet_y_32gf", "regnet_y_128gf"]
HUGE = {"regnet_y_128gf"}  # 644M parameters: 2.6 GB per copy


@pytest.mark.parametrize("name", ["regnet_x_400mf", "regnet_y_400mf"])
def test_parity_small_input(name, tmp_path):
    assert_parity(name, torchvision.models.get_model(name), tmp_path, input_size=64)


def test_parity_timm_layout(tmp_path):
    """timm's `_tv` models have torchvision's widths and timm's key names."""
    assert_parity("regnet_x_400mf", timm.create_model("regnetx_004_tv"), tmp_path, input_size=64)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in X_MODELS + Y_MODELS if n not in HUGE])
def test_parity_full_size(name, tmp_path):
    assert_parity(name, torchvision.models.get_model(name), tmp_path, input_size=224)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HUGE))
def test_parity_full_size_huge(name, tmp_path):
    """assert_parity's check with one image and at most two model copies in
    memory at a time: the reference's output is computed, the reference saved
    and freed before ours is built."""
    start = time.perf_counter()
    reference = randomize_(torchvision.models.get_model(name)).eval()
    ref_params = count_params(reference)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = reference(x)
    path = tmp_path / f"{name}_reference.pth"
    torch.save(reference.state_dict(), path)
    del reference
    gc.collect()
    ours = cz.get_model(name, weights=str(path)).eval()
    path.unlink()
    assert count_params(ours) == ref_params
    with torch.no_grad():
        assert_close(ours(x), expected)
    print(f"{name}: {ref_params / 1e6:.0f}M parameters, parity checked in {time.perf_counter() - start:.0f} s")


def test_anatomy():
    check_anatomy("regnet_y_400mf", input_size=64)


def test_drop_path():
    check_drop_path("regnet_x_400mf")


def _torchvision_stages(model):
    """(width, depth, group width) of each stage, read off torchvision's layers."""
    stages = []
    for stage in model.trunk_output.children():
        blocks = list(stage.children())
        conv3x3 = blocks[0].f.b[0]
        stages.append((blocks[0].f.c[0].out_channels, len(blocks), conv3x3.out_channels // conv3x3.groups))
    return stages


# Two plain cases and the three models where the group-width rounding is not
# plain rounding (half-up in regnet_x_400mf, regnet_y_800mf; the 90% floor in regnet_y_8gf).
@pytest.mark.parametrize("name", ["regnet_x_3_2gf", "regnet_y_400mf", "regnet_x_400mf", "regnet_y_800mf", "regnet_y_8gf"])
def test_generator_reproduces_reference_stages(name):
    reference = torchvision.models.get_model(name)
    params = REGNET_PARAMS[name]
    specs = generate_stages(params)
    assert [(s.width, s.depth, s.group_width) for s in specs] == _torchvision_stages(reference)
    # and the SE widths (RegNetY): a quarter of each block's *input* width
    ours = cz.get_model(name)
    ref_se = [m.fc1.out_channels for m in reference.modules() if type(m).__name__ == "SqueezeExcitation"]
    our_se = [m.fc1.out_channels for m in ours.modules() if isinstance(m, SqueezeExcite)]
    assert our_se == ref_se and (bool(our_se) == (params.se_ratio > 0))


def test_generator_quantised_linear_rule():
    """The paper's rule on a hand-checkable case: w0=24, wa=36, wm=2.5, d=6.
    u_j = 24, 60, 96, 132, 168, 204; log_2.5(u_j/24) = 0, 1, 1.51, 1.86, 2.12, 2.33
    -> s_j = 0, 1, 2, 2, 2, 2 -> widths 24, 60, 150 -> multiples of 8: 24, 64 (60/8=7.5
    rounds to even, 8), 152."""
    specs = generate_stages(RegNetParams(6, 24, 36.0, 2.5, group_width=8))
    assert [(s.width, s.depth) for s in specs] == [(24, 1), (64, 1), (152, 4)]
    with pytest.raises(ValueError):
        generate_stages(RegNetParams(6, 20, 36.0, 2.5, group_width=8))  # w0 not a multiple of 8


def test_every_model_is_generated():
    """One table, one generator: each registered RegNet is built from its row."""
    assert set(cz.list_models("regnet_*")) == set(REGNET_PARAMS) == set(X_MODELS + Y_MODELS)
    model = cz.get_model("regnet_y_400mf")
    specs = generate_stages(REGNET_PARAMS["regnet_y_400mf"])
    assert [s.channels for s in model.feature_info] == [s.width for s in specs]
    assert [len(stage) for stage in model.stages] == [s.depth for s in specs]
