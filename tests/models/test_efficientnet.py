"""EfficientNet B0-B7 and v2 S/M/L against torchvision (and timm / lukemelas layouts)."""
import pytest
import timm
import torchvision
from torch import nn

import convzoo as cz
from convzoo.layers import Conv2dSame
from convzoo.models.efficientnet import B0_ROWS, compound_scale, round_filters, round_repeats
from parity import assert_parity, check_anatomy, check_drop_path

V1 = [f"efficientnet_b{i}" for i in range(8)]
V2 = ["efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l"]
# Past ~300 px the big ones run batch 1 (2 CPU cores).
BATCH = {"efficientnet_b4": 1, "efficientnet_b5": 1, "efficientnet_b6": 1, "efficientnet_b7": 1,
         "efficientnet_v2_m": 1, "efficientnet_v2_l": 1}


@pytest.mark.parametrize("name", ["efficientnet_b0", "efficientnet_v2_s"])
def test_parity_small_input(name, tmp_path):
    assert_parity(name, torchvision.models.get_model(name), tmp_path, input_size=64)


@pytest.mark.slow
@pytest.mark.parametrize("name", V1 + V2)
def test_parity_full_size(name, tmp_path):
    size = cz.model_info(name).input_size
    assert_parity(name, torchvision.models.get_model(name), tmp_path, input_size=size, batch=BATCH.get(name, 2))


@pytest.mark.parametrize("name", V1 + V2)
def test_param_count_is_torchvision_published(name):
    published = torchvision.models.get_model_weights(name).DEFAULT
    assert cz.model_info(name).params == published.meta["num_params"]
    assert cz.model_info(name).input_size == published.transforms().crop_size[0]


def test_compound_scaling_follows_the_reference_rounding():
    # B4 (width 1.4, depth 1.8): 16*1.4 = 22.4 -> 24; 40*1.4 = 56 -> 56;
    # 112*1.4 = 156.8 -> 160; depth ceil(1.8 * repeats).
    assert [round_filters(c, 1.4) for c in (32, 16, 40, 112, 1280)] == [48, 24, 56, 160, 1792]
    assert [round_repeats(r, 1.8) for r in (1, 2, 3, 4)] == [2, 4, 6, 8]
    rows = compound_scale(B0_ROWS, 2.0, 3.1)  # B7
    assert [r.repeats for r in rows] == [4, 7, 7, 10, 10, 13, 4]
    assert [r.out_channels for r in rows] == [32, 48, 80, 160, 224, 384, 640]
    model = cz.get_model("efficientnet_b7")
    assert [s.channels for s in model.feature_info] == [32, 48, 80, 224, 640]
    assert [s.reduction for s in model.feature_info] == [2, 4, 8, 16, 32]
    assert model.stem.conv.out_channels == 64 and model.head.in_features == 2560


def test_anatomy():
    check_anatomy("efficientnet_b0")


@pytest.mark.parametrize("name", ["efficientnet_b0", "efficientnet_v2_s"])
def test_drop_path(name):
    check_drop_path(name)


def test_drop_path_rises_with_depth_as_in_the_reference():
    model = cz.get_model("efficientnet_b0", drop_path_rate=0.2)
    blocks = [b for stage in model.stages for b in stage]
    rates = [getattr(b.drop_path, "drop_prob", 0.0) for b in blocks]
    # block k of n: 0.2 * k / n, where the block has a residual connection
    expected = [0.2 * k / len(blocks) if b.has_residual else 0.0 for k, b in enumerate(blocks)]
    assert rates == pytest.approx(expected)
    assert max(rates) > 0.15


def test_timm_layout(tmp_path):
    """timm's own efficientnet_b0 (PyTorch-trained, symmetric padding, eps 1e-5)."""
    assert_parity("efficientnet_b0", timm.create_model("efficientnet_b0"), tmp_path, input_size=64)


def test_timm_tf_port_needs_same_padding_and_tf_eps(tmp_path):
    """timm's TF port of v2-S: TF "SAME" padding and eps 1e-3 via the build options."""
    assert_parity("efficientnet_v2_s", timm.create_model("tf_efficientnetv2_s"), tmp_path, input_size=33,
                  padding="same")


def test_lukemelas_layout(tmp_path):
    """lukemelas/EfficientNet-PyTorch's B0 (TF port: SAME padding, eps 1e-3)."""
    from efficientnet_lite_pytorch import EfficientNet

    reference = EfficientNet.from_name("efficientnet-b0", image_size=64)  # static SAME padding for 64 px
    reference.set_swish(memory_efficient=False)
    assert_parity("efficientnet_b0", reference, tmp_path, input_size=64, padding="same", bn_eps=1e-3)


def test_padding_option_reaches_every_spatial_conv():
    """padding="same" makes every k>1 conv pad the TensorFlow way; the default is symmetric."""
    def spatial_convs(model):
        return [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size[0] > 1]

    same = spatial_convs(cz.get_model("efficientnet_b0", padding="same"))
    symmetric = spatial_convs(cz.get_model("efficientnet_b0"))
    assert len(same) == len(symmetric) == 17  # stem + 16 depth-wise convs
    assert all(isinstance(m, Conv2dSame) for m in same)
    assert not any(isinstance(m, Conv2dSame) for m in symmetric)
