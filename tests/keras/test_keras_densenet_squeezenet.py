"""Keras twins of DenseNet-BC and SqueezeNet 1.0 / 1.1 (issue 15)."""
import pytest

import convzoo as cz
from keras_parity import assert_keras_parity, assert_stages_match
from parity import fast_then_slow

FAMILY = [n for n in cz.list_models() if cz.model_info(n).family in ("densenet", "squeezenet")]
# The smallest of each family; 64 px is enough for both (DenseNet ends at 2x2, SqueezeNet at 3x3).
FAST = ["densenet121", "squeezenet1_0", "squeezenet1_1"]


@pytest.mark.parametrize("name", fast_then_slow(FAST, FAMILY))
def test_parity(name):
    assert_keras_parity(name)


@pytest.mark.parametrize("name", ["densenet121", "squeezenet1_1"])
def test_stages(name):
    assert_stages_match(name)
