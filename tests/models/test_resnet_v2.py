"""Pre-activation ResNet (v2) against timm's resnetv2_50/101/152."""
import pytest
import timm
import torch

import convzoo as cz
from parity import assert_close, assert_parity, check_anatomy, check_drop_path

# ours -> timm's name for the same architecture
TIMM_NAMES = {
    "resnet50_v2": "resnetv2_50",
    "resnet101_v2": "resnetv2_101",
    "resnet152_v2": "resnetv2_152",
}


def test_every_model_is_registered():
    assert set(cz.list_models("resnet*_v2")) == set(TIMM_NAMES)
    assert {cz.model_info(n).family for n in TIMM_NAMES} == {"resnet_v2"}
    assert cz.model_info("resnet50_v2").year == 2016


def test_parity_small_input_and_final_norm_in_head(tmp_path):
    """Parity; and the last BN-ReLU is the head's (head.pre): forward_features
    is the raw residual stream of the last stage (timm's stages output, before
    its `norm`), and the pooled features of a classifier-less model are timm's
    pre-logits (after the norm)."""
    ref = timm.create_model("resnetv2_50", pretrained=False)
    ours = assert_parity("resnet50_v2", ref, tmp_path, input_size=64)  # randomises ref in place
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        features = ours.forward_features(x)
        assert_close(features, ref.stages(ref.stem(x)))
        assert (features < 0).any()  # not yet through a ReLU
        ours.reset_classifier(0)
        assert_close(ours(x), ref.forward_head(ref.forward_features(x), pre_logits=True))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(TIMM_NAMES))
def test_parity_full_size(name, tmp_path):
    assert_parity(name, timm.create_model(TIMM_NAMES[name], pretrained=False), tmp_path, input_size=224)


def test_stem_has_no_norm_and_blocks_preactivate():
    model = cz.get_model("resnet50_v2")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.stem.modules())
    assert [s.channels for s in model.feature_info] == [256, 512, 1024, 2048]
    assert model.stages[1][0].downsample.stride == (2, 2)
    assert model.stages[1][0].conv2.stride == (2, 2)  # stride on the 3x3, as timm


def test_anatomy():
    check_anatomy("resnet50_v2")


def test_drop_path():
    check_drop_path("resnet50_v2", input_size=32)
