"""Keras twins of EfficientNet B0-B7, EfficientNet-Lite0-4 and EfficientNet v2 (issue 15)."""
import numpy as np
import pytest
import torch

import convzoo as cz
from keras_parity import assert_keras_parity, assert_stages_match
from parity import fast_then_slow
from paths import EXAMPLES

FAMILIES = ("efficientnet", "efficientnet_lite", "efficientnet_v2")
VARIANTS = [n for n in cz.list_models() if cz.model_info(n).family in FAMILIES]
# The smallest model of each sub-family; the rest are slow on a CPU.
FAST = ["efficientnet_b0", "efficientnet_lite0", "efficientnet_v2_s"]


@pytest.mark.parametrize("name", fast_then_slow(FAST, VARIANTS))
def test_parity(name):
    assert_keras_parity(name)


@pytest.mark.parametrize("size", [65, pytest.param(70, marks=pytest.mark.slow)])
def test_lite_same_padding_on_odd_sizes(size):
    """Lite's TF "SAME" padding is asymmetric where a stride-2 input is even and
    symmetric where it is odd: sizes that hit both cases along the network."""
    assert_keras_parity("efficientnet_lite0", size)


def test_stages():
    assert_stages_match("efficientnet_lite0")
    assert_stages_match("efficientnet_b0")


def test_every_variant_has_a_twin():
    import convzoo.keras as czk

    assert set(VARIANTS) <= set(czk.list_twins())


def test_twin_configs_are_the_registered_ones():
    """The twins are built from the very configs the PyTorch registry builds with."""
    from convzoo.keras.efficientnet import configs

    for name, cfg in configs().items():
        assert cz.model_info(name).builder.args[0] == cfg, name


@pytest.fixture(scope="module")
def lite0_pair():
    import convzoo.keras as czk

    torch_model = cz.get_model("efficientnet_lite0", weights="DEFAULT").eval()
    keras_model = czk.get_model("efficientnet_lite0", weights="DEFAULT", classifier_activation=None)
    return torch_model, keras_model


@pytest.mark.parametrize("photo", ["coffee.png", "chelsea.png"])
def test_real_lite0_weights_agree_on_photos(lite0_pair, photo):
    """The real ImageNet weights: the same top-5 classes, in the same order, from
    the same preprocessed tensor; and from the 0..255 crop through
    preprocess_input + decode_predictions."""
    import keras
    from PIL import Image
    from torchvision.transforms import v2

    import convzoo.keras as czk
    from keras_parity import keras_output

    torch_model, keras_model = lite0_pair
    image = Image.open(EXAMPLES / photo).convert("RGB")
    transforms = cz.get_weights("efficientnet_lite0").transforms()
    x = transforms(image)[None]
    with torch.no_grad():
        expected = torch_model(x).numpy()
    top5 = list(np.argsort(-expected[0])[:5])
    got = keras_output(keras_model, x)
    assert list(np.argsort(-got[0])[:5]) == top5
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()

    # The same steps up to the crop (resize, center crop), then the Keras-side normalisation.
    crop = v2.Compose(transforms.transforms[:3])(image).permute(1, 2, 0).numpy()[None].astype("float32")
    logits = keras_model(czk.preprocess_input(crop, "efficientnet_lite0"), training=False)
    decoded = czk.decode_predictions(keras.ops.convert_to_numpy(logits), top=5)[0]
    assert [i for i, _name, _score in decoded] == top5
