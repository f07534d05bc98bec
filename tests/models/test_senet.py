"""SE-ResNet, SE-ResNeXt and SENet-154 against timm (timm's resnet.py builds them)."""
import dataclasses

import pytest
import timm
import torch
from timm.models.resnet import Bottleneck as TimmBottleneck
from timm.models.resnet import ResNet as TimmResNet

import convzoo as cz
from convzoo.models.resnet import ResNet
from convzoo.models.senet import VARIANTS
from parity import assert_close, assert_parity, check_anatomy, check_drop_path, count_params, randomize_

SENET_MODELS = [
    "seresnet18", "seresnet34", "seresnet50", "seresnet101", "seresnet152",
    "seresnext50_32x4d", "seresnext101_32x4d", "senet154",
]


def test_every_model_is_registered_in_the_resnet_family():
    assert set(cz.list_models("se*")) == set(SENET_MODELS)
    assert {cz.model_info(n).family for n in SENET_MODELS} == {"resnet"}
    assert cz.model_info("senet154").paper.title == "Squeeze-and-Excitation Networks"


def test_parity_small_input(tmp_path):
    assert_parity("seresnet18", timm.create_model("seresnet18", pretrained=False), tmp_path, input_size=64)


@pytest.mark.slow
@pytest.mark.parametrize("name", SENET_MODELS)
def test_parity_full_size(name, tmp_path):
    assert_parity(name, timm.create_model(name, pretrained=False), tmp_path, input_size=224)


def _small_senet154(in_chans=3):
    """SENet-154's configuration at depths (2, 1, 1, 1), cheap enough for the fast run."""
    model = ResNet(dataclasses.replace(VARIANTS["senet154"], depths=(2, 1, 1, 1)), in_chans=in_chans)
    model.family = "resnet"  # what load_weights reads to pick the converters
    return model


def test_senet154_options_match_timm_at_small_depth():
    """Every SENet-154 option (deep stem, 3x3 strided projections, halved first
    convs, 64x4d groups, SE) against timm's, and the deep stem's first conv
    adapting RGB weights to a one-channel input."""
    ref = TimmResNet(
        block=TimmBottleneck, layers=(2, 1, 1, 1), cardinality=64, base_width=4, stem_type="deep",
        down_kernel_size=3, block_reduce_first=2, block_args=dict(attn_layer="se"),
    )
    randomize_(ref).eval()
    ours = cz.load_weights(_small_senet154(), ref.state_dict()).eval()
    assert count_params(ours) == count_params(ref)
    # reduce_first=2 halves the first conv of every block, not only the first.
    assert ours.stages[0][1].conv1.conv.out_channels == ours.stages[0][1].conv2.conv.out_channels // 2
    # the widening-only projection of stage 0 stays 1x1; strided ones are 3x3.
    assert ours.stages[0][0].downsample.conv.kernel_size == (1, 1)
    assert ours.stages[1][0].downsample.conv.kernel_size == (3, 3)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert_close(ours(x), ref(x))

    grey = cz.load_weights(_small_senet154(in_chans=1), ref.state_dict()).eval()
    assert grey.first_conv == "stem.conv.conv1.conv.weight"
    with torch.no_grad():
        torch.testing.assert_close(grey(x[:, :1]), ours(x[:, :1].repeat(1, 3, 1, 1)), rtol=1e-4, atol=1e-4)


def test_se_bottleneck_width_rounds_to_multiple_of_8():
    """C/16 rounded to a multiple of 8, never below 8 (64/16 = 4 -> 8)."""
    model = cz.get_model("seresnet18")
    assert [stage[0].se.fc1.out_channels for stage in model.stages] == [8, 8, 16, 32]


def test_anatomy():
    check_anatomy("seresnet18")


def test_drop_path():
    check_drop_path("seresnet18", input_size=32)
