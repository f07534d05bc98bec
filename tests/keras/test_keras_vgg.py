"""Keras twins of VGG (with and without BatchNorm) and AlexNet (issue 15).

Their MLP heads flatten an adaptively pooled (C, 7, 7) / (C, 6, 6) map, so the
sizes below are chosen to cover each way the twin reproduces that pool: the
identity (224 px), a stride-k average pool (AlexNet at 419 px: 12x12 -> 6x6) and
repetition (VGG at 32 px and AlexNet at 127 px: 1x1 / 3x3 maps -> the grid).
At 224 px the flatten order of a 7x7 / 6x6 map is exercised in full."""
import pytest

import convzoo as cz
from keras_parity import assert_keras_parity, assert_stages_match

FAMILY = [n for n in cz.list_models() if cz.model_info(n).family in ("vgg", "alexnet")]
# (name, input size): the smallest model of each sub-family, plus the head's pooling paths.
# (The 132M-parameter VGGs at 224 px and AlexNet's pooling path at 419 px run under -m slow.)
FAST = [("alexnet", 224), ("alexnet", 127), ("vgg11", 32), ("vgg11_bn", 32)]
SLOW = [("alexnet", 419), *((n, 224) for n in FAMILY if n != "alexnet")]


@pytest.mark.parametrize("name,size", [*FAST, *(pytest.param(n, size, marks=pytest.mark.slow) for n, size in SLOW)])
def test_parity(name, size):
    assert_keras_parity(name, size)


def test_stages():
    assert_stages_match("alexnet", 224)


@pytest.mark.parametrize("name,size", [("vgg11", 64), ("alexnet", 160)])
def test_inexact_head_pool_is_refused(name, size):
    """A 2x2 (VGG, 64 px) or 4x4 (AlexNet, 160 px) map is pooled to 7x7 / 6x6 by
    overlapping bins of unequal size: refused rather than approximated."""
    import convzoo.keras as czk

    with pytest.raises(ValueError, match="adaptively"):
        czk.get_model(name, input_shape=(size, size, 3))


def test_every_variant_has_a_twin():
    import convzoo.keras as czk

    assert set(FAMILY) <= set(czk.list_twins())
