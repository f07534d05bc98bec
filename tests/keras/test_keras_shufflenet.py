"""Keras twins of ShuffleNet v2: the channel split and shuffle on the last axis
give PyTorch's channel order (issue 15)."""
import numpy as np
import pytest
import torch

import convzoo as cz
from keras_parity import assert_keras_parity, assert_keras_round_trip, assert_stages_match, keras_output
from parity import fast_then_slow, randomize_

FAMILY = [n for n in cz.list_models() if cz.model_info(n).family == "shufflenet"]
FAST = ["shufflenet_v2_x0_5"]


def test_every_variant_has_a_twin():
    import convzoo.keras as czk

    assert len(FAMILY) == 4 and set(FAMILY) <= set(czk.list_twins())


@pytest.mark.parametrize("name", fast_then_slow(FAST, FAMILY))
def test_parity(name):
    assert_keras_parity(name)


def test_stages():
    assert_stages_match("shufflenet_v2_x0_5")


def test_from_a_finetuned_model_any_input_size():
    """A 2-class model's twin, built for (None, None, 3), gives its logits at two
    sizes (the shuffle reshapes with the runtime height and width)."""
    import convzoo.keras as czk

    torch_model = randomize_(cz.get_model("shufflenet_v2_x0_5", num_classes=2), seed=3).eval()
    twin = czk.from_torch(torch_model, input_shape=(None, None, 3))
    assert twin.output_shape == (None, 2)
    for size in (32, 48):
        x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(size))
        with torch.no_grad():
            expected = torch_model(x).numpy()
        assert np.abs(keras_output(twin, x) - expected).max() <= 1e-4 * np.abs(expected).max()


def test_saves_and_loads(tmp_path):
    """The custom ChannelSplit / ChannelShuffle layers survive a .keras round trip."""
    assert_keras_round_trip("shufflenet_v2_x0_5", tmp_path)
