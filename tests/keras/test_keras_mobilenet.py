"""Keras twins of MobileNet v1, v2, v3 and MNASNet (issue 15)."""
import pytest

import convzoo as cz
from keras_parity import assert_keras_parity, assert_stages_match
from parity import fast_then_slow

FAMILY = [n for n in cz.list_models()
          if cz.model_info(n).family in ("mobilenet_v1", "mobilenet_v2", "mobilenet_v3", "mnasnet")]
# The smallest model of each sub-family.
FAST = ["mobilenet_v1", "mobilenet_v2", "mobilenet_v3_small", "mnasnet0_5"]


@pytest.mark.parametrize("name", fast_then_slow(FAST, FAMILY))
def test_parity(name):
    assert_keras_parity(name)


def test_stages():
    # v3-small: squeeze-excite, hard-swish, eps 1e-3, four stages (no stride-2 stage).
    assert_stages_match("mobilenet_v3_small")
