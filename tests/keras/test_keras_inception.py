"""Keras twins of GoogLeNet (Inception v1) and Inception v3 (issue 15).

The Keras twin is the inference graph: the auxiliary classifiers
(`aux_heads`, run by the torch model in training mode only, on by default in
inception_v3) are left out of it, so the parameter count leaves them out too.
"""
import numpy as np
import pytest
import torch

import convzoo as cz
from keras_parity import assert_keras_parity, assert_stages_match, keras_output
from parity import fast_then_slow, randomize_


def assert_inception_parity(name: str, size: int, **options) -> None:
    assert_keras_parity(name, size, untwinned=("aux_heads.",), **options)


FAMILY = [n for n in cz.list_models() if cz.model_info(n).family == "inception"]
# The smallest input each runs at: Inception v3's unpadded convs and pools need 75 px.
SIZES = {"googlenet": 64, "inception_v3": 75}
FAST = ["googlenet", "inception_v3"]


@pytest.mark.parametrize("name", fast_then_slow(FAST, FAMILY))
def test_parity(name):
    assert_inception_parity(name, SIZES.get(name, 299))


@pytest.mark.parametrize("name, size", [("googlenet", 64), pytest.param("inception_v3", 75, marks=pytest.mark.slow)])
def test_parity_with_input_transform_and_aux_heads(name, size):
    # The published weights' configuration: transform_input=True (its constants
    # travel into the twin's `stem` InputTransform layer); the aux heads are skipped.
    assert_inception_parity(name, size, transform_input=True, aux_logits=True)


def test_odd_input_size_ceil_mode_pools():
    # 77 px: GoogLeNet's ceil_mode pools round up on odd maps.
    assert_inception_parity("googlenet", 77, batch=1)


def test_stages():
    assert_stages_match("googlenet")


def test_input_transform_survives_a_keras_round_trip(tmp_path):
    import keras

    import convzoo.keras as czk

    torch_model = randomize_(cz.get_model("googlenet", transform_input=True, num_classes=10)).eval()
    model = czk.from_torch(torch_model, input_shape=(64, 64, 3))
    path = tmp_path / "googlenet.keras"
    model.save(str(path))
    again = keras.saving.load_model(str(path))
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    np.testing.assert_allclose(keras_output(again, x), keras_output(model, x), rtol=1e-5, atol=1e-5)
    scale = again.get_layer("stem").get_weights()[0]
    np.testing.assert_allclose(scale, torch_model.stem.input_transform.scale.reshape(-1).numpy())
