"""Keras twins of RegNetX / RegNetY and ConvNeXt (issue 15)."""
import pytest

import convzoo as cz
from keras_parity import assert_keras_parity, assert_keras_round_trip, assert_stages_match
from parity import fast_then_slow

FAMILY = [n for n in cz.list_models() if cz.model_info(n).family in ("regnet", "convnext")]
# The smallest of each sub-family: X (plain blocks), Y (squeeze-excite), ConvNeXt.
FAST = ["regnet_x_400mf", "regnet_y_400mf", "convnext_tiny"]


@pytest.mark.parametrize("name", fast_then_slow(FAST, FAMILY))
def test_parity(name):
    assert_keras_parity(name)


@pytest.mark.parametrize("name", ["regnet_y_400mf", "convnext_tiny"])
def test_stages(name):
    assert_stages_match(name)


def test_convnext_saves_and_loads(tmp_path):
    """The custom LayerScale layer survives a .keras round trip."""
    assert_keras_round_trip("convnext_tiny", tmp_path)
