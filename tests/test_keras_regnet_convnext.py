"""Keras twins of RegNetX / RegNetY and ConvNeXt (issue 15)."""
import pytest

import convzoo as cz
from keras_parity import assert_keras_parity, assert_stages_match

FAMILY = [n for n in cz.list_models() if cz.model_info(n).family in ("regnet", "convnext")]
# The smallest of each sub-family: X (plain blocks), Y (squeeze-excite), ConvNeXt.
FAST = ["regnet_x_400mf", "regnet_y_400mf", "convnext_tiny"]


@pytest.mark.parametrize("name", [*FAST, *(pytest.param(n, marks=pytest.mark.slow) for n in FAMILY
                                          if n not in FAST)])
def test_parity(name):
    assert_keras_parity(name)


@pytest.mark.parametrize("name", ["regnet_y_400mf", "convnext_tiny"])
def test_stages(name):
    assert_stages_match(name)


def test_convnext_saves_and_loads(tmp_path):
    """The custom LayerScale layer survives a .keras round trip."""
    import numpy as np

    import convzoo.keras as czk
    from parity import randomize_

    keras = pytest.importorskip("keras")
    model = czk.from_torch(randomize_(cz.get_model("convnext_tiny")).eval(), input_shape=(32, 32, 3))
    path = tmp_path / "convnext_tiny.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = np.random.default_rng(0).standard_normal((1, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)),
                               rtol=0, atol=1e-6)
