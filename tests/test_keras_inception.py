"""Keras twins of GoogLeNet (Inception v1) and Inception v3 (issue 15).

The shared `assert_keras_parity` counts every torch parameter, but the Keras
twin is the inference graph: the auxiliary classifiers (`aux_heads`, run by
the torch model in training mode only, on by default in inception_v3) are
left out of it. So the parity check here is the same protocol with the
parameter count taken over the torch model minus its auxiliary heads.
"""
import numpy as np
import pytest
import torch

import convzoo as cz
from keras_parity import assert_stages_match, keras_output, trainable_params
from parity import randomize_


def assert_inception_parity(name: str, size: int, seed: int = 0, batch: int = 2, **model_kwargs) -> None:
    import convzoo.keras as czk

    torch_model = randomize_(cz.get_model(name, **model_kwargs), seed).eval()
    keras_model = czk.from_torch(torch_model, input_shape=(size, size, 3))
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        expected = torch_model(x).numpy()
    got = keras_output(keras_model, x)
    scale = np.abs(expected).max()
    assert np.isfinite(scale) and scale > 0
    error = np.abs(got - expected).max()
    assert error <= 1e-4 * scale, f"{name}: max|keras - torch| = {error:.3g} > 1e-4 * {scale:.3g}"
    inference_params = sum(p.numel() for n, p in torch_model.named_parameters() if not n.startswith("aux_heads."))
    assert trainable_params(keras_model) == inference_params


FAMILY = [n for n in cz.list_models() if cz.model_info(n).family == "inception"]
# The smallest input each runs at: Inception v3's unpadded convs and pools need 75 px.
SIZES = {"googlenet": 64, "inception_v3": 75}
FAST = ["googlenet", "inception_v3"]


@pytest.mark.parametrize("name", [*FAST, *(pytest.param(n, marks=pytest.mark.slow) for n in FAMILY
                                          if n not in FAST)])
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
