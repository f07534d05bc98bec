"""convzoo.keras's keras.applications-style API, the .keras round trip, one
`fit` step, and `convzoo export --format keras` (issue 15)."""
import json
import sys

import numpy as np
import pytest
import torch

import convzoo as cz
from convzoo.data.preprocessing import imagenet_categories
from keras_parity import keras_output
from parity import randomize_


@pytest.fixture(scope="module")
def czk():
    import convzoo.keras as czk

    return czk


def test_options_follow_keras_applications(czk):
    shape = (64, 64, 3)
    x = np.random.default_rng(0).normal(size=(2, *shape)).astype("float32")
    probs = keras_output(czk.get_model("resnet18", input_shape=shape, classes=7), torch.from_numpy(x).permute(0, 3, 1, 2))
    assert probs.shape == (2, 7) and np.allclose(probs.sum(-1), 1, atol=1e-5)  # softmax by default
    for pooling in ("avg", "max"):
        pooled = czk.get_model("resnet18", input_shape=shape, include_top=False, pooling=pooling)
        assert tuple(pooled.output.shape) == (None, 512)
    unpooled = czk.get_model("resnet18", input_shape=shape, include_top=False)
    assert tuple(unpooled.output.shape) == (None, 2, 2, 512)
    stages = czk.get_model("resnet18", input_shape=shape, features_only=True)
    assert [tuple(o.shape)[1:] for o in stages.outputs] == [(16, 16, 64), (8, 8, 128), (4, 4, 256), (2, 2, 512)]


def test_bad_requests_are_clear(czk):
    with pytest.raises(ValueError, match=r"no Keras twin of 'resnet81'\. Did you mean: resnet18"):
        czk.get_model("resnet81")
    with pytest.raises(ValueError, match="pooling must be None, 'avg' or 'max', not 'mean'"):
        czk.get_model("resnet18", include_top=False, pooling="mean", input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match="from_torch needs a model built by convzoo.get_model"):
        czk.from_torch(torch.nn.Conv2d(3, 3, 1))


def test_preprocess_and_decode_agree_with_the_torch_twin(czk):
    """preprocess_input normalises with the torch twin's mean/std;
    decode_predictions names ImageNet's classes, best first."""
    rng = np.random.default_rng(1)
    crop = rng.integers(0, 256, size=(1, 8, 8, 3)).astype("float32")
    pre = cz.get_weights("efficientnet_lite0").preprocessing
    expected = (crop / 255 - np.array(pre.mean)) / np.array(pre.std)
    np.testing.assert_allclose(czk.preprocess_input(crop, "efficientnet_lite0"), expected, rtol=1e-6, atol=1e-6)
    scores = np.zeros((1, 1000), "float32")
    scores[0, [281, 967, 5]] = [0.2, 0.7, 0.1]
    top = czk.decode_predictions(scores, top=3)[0]
    assert [(i, round(p, 3)) for i, _, p in top] == [(967, 0.7), (281, 0.2), (5, 0.1)]
    assert top[0][1] == imagenet_categories()[967]


def _tiny_digits():
    """20 real handwritten digits (scikit-learn's), 0s and 1s, as 32x32 RGB."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    keep = np.flatnonzero(digits.target < 2)[:20]
    images = torch.from_numpy(digits.images[keep]).float()[:, None] / 16
    images = torch.nn.functional.interpolate(images, size=32, mode="bilinear").repeat(1, 3, 1, 1)
    return images.permute(0, 2, 3, 1).numpy(), digits.target[keep]


def test_a_fine_tuned_twin_trains_saves_and_loads(czk, tmp_path):
    """From a convzoo PyTorch model: one `fit` step on real digits moves the
    weights and gives a finite loss; the .keras file loads back to the same model."""
    import keras

    model = czk.from_torch(randomize_(cz.get_model("resnet18", num_classes=2)).eval(), input_shape=(32, 32, 3))
    x, y = _tiny_digits()
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=keras.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    before = [w.copy() for w in model.get_layer("head-fc").get_weights()]
    history = model.fit(x, y, batch_size=10, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_layer("head-fc").get_weights()))
    path = tmp_path / "digits.keras"
    model.save(str(path))
    again = keras.saving.load_model(str(path))
    images = torch.from_numpy(x[:4]).permute(0, 3, 1, 2)
    np.testing.assert_allclose(keras_output(again, images), keras_output(model, images), rtol=1e-5, atol=1e-5)


def test_export_keras_writes_a_verified_channels_last_file(tmp_path):
    model = randomize_(cz.get_model("resnet50_v2")).eval()
    report = cz.export(model, "keras", tmp_path / "r50v2.keras", image_size=64, dynamic_batch=True, tolerance=1e-4)
    assert report.max_relative_difference <= 1e-4 and report.batch_sizes == [1, 3]
    meta = json.loads((tmp_path / "r50v2.keras.json").read_text())
    assert meta["input"]["layout"] == "NHWC" and meta["input"]["shape"] == ["batch", 64, 64, 3]
    import keras

    loaded = keras.saving.load_model(str(tmp_path / "r50v2.keras"))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x).numpy()
    assert np.abs(keras_output(loaded, x) - expected).max() <= 1e-4 * np.abs(expected).max()


def test_export_keras_refuses_a_model_without_a_twin(tmp_path):
    with pytest.raises(cz.ExportError, match="cannot export nasnet_a_mobile to keras: ValueError: no Keras twin"):
        cz.export(cz.get_model("nasnet_a_mobile"), "keras", tmp_path / "n.keras", image_size=64)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_keras_names_its_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "keras", None)
    with pytest.raises(ValueError, match=r"format 'keras' needs the optional dependency 'keras': "
                                         r"pip install 'convzoo\[keras\]'"):
        cz.export(cz.get_model("resnet18"), "keras", tmp_path / "r.keras")


@pytest.mark.parametrize("name, options, stem_width", [("mnasnet0_5", {"legacy_stem": True}, 32),
                                                       ("mobilenet_v2", {"width_mult": 0.75}, 24)])
def test_a_twin_is_built_as_its_pytorch_model_was(czk, name, options, stem_width):
    """torchvision's mnasnet0_5 checkpoint needs legacy_stem=True (32/16-channel
    first layers), a slimmer MobileNet a width_mult: get_model records the
    options and the Keras builder takes them too."""
    torch_model = randomize_(cz.get_model(name, **options)).eval()
    assert all(torch_model.build_kwargs[k] == v for k, v in options.items())
    twin = czk.from_torch(torch_model, input_shape=(64, 64, 3))
    assert twin.get_layer("stem-conv").kernel.shape[-1] == stem_width
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = torch_model(x).numpy()
    assert np.abs(keras_output(twin, x) - expected).max() <= 1e-4 * np.abs(expected).max()


def test_a_pytorch_option_the_twin_does_not_mirror_is_refused(czk):
    with pytest.raises(ValueError, match="the Keras twin of resnet50 cannot be built with output_stride=16"):
        czk.from_torch(cz.get_model("resnet50", output_stride=16), input_shape=(64, 64, 3))
