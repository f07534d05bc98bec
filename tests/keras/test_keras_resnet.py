"""Keras twins of ResNet v1.5, ResNeXt, Wide ResNet and SE-ResNet (issue 15)."""
import pytest

import convzoo as cz
from keras_parity import assert_keras_parity, assert_stages_match
from parity import fast_then_slow

FAMILY = [n for n in cz.list_models() if cz.model_info(n).family == "resnet"]
FAST = ["resnet18", "resnet50", "resnext50_32x4d", "seresnet18"]


@pytest.mark.parametrize("name", fast_then_slow(FAST, FAMILY))
def test_parity(name):
    assert_keras_parity(name)


def test_stages():
    assert_stages_match("resnet18")


@pytest.mark.parametrize("name", ["resnet50_v2", pytest.param("resnet101_v2", marks=pytest.mark.slow),
                                  pytest.param("resnet152_v2", marks=pytest.mark.slow)])
def test_parity_v2(name):
    assert_keras_parity(name)
