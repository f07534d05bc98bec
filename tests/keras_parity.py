"""The Keras twins' parity protocol (issue 15): the PyTorch model with every
parameter and buffer randomised (parity.randomize_), its Keras twin built from
it (convzoo.keras.from_torch), the same input (NCHW for torch, NHWC for
Keras): max |keras - torch| <= 1e-4 * max |torch|, and the same number of
trainable parameters.

Keras runs on its torch backend here (no TensorFlow needed); `-m tf` runs the
same checks on the TensorFlow backend (tests/keras/test_keras_tf.py)."""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import convzoo as cz  # noqa: E402
from parity import randomize_  # noqa: E402


def keras_output(model, x_nchw: torch.Tensor):
    """The Keras model's output(s) on the NHWC version of `x`, as numpy (logits
    or a list of stage maps, those back in NCHW)."""
    import keras

    out = model(x_nchw.permute(0, 2, 3, 1).numpy(), training=False)
    as_np = keras.ops.convert_to_numpy
    if isinstance(out, (list, tuple)):
        return [as_np(o).transpose(0, 3, 1, 2) for o in out]
    return as_np(out)


def trainable_params(keras_model) -> int:
    return sum(int(np.prod(w.shape)) for w in keras_model.trainable_weights)


def assert_keras_parity(name: str, size: int = 64, seed: int = 0, batch: int = 2,
                        untwinned: tuple[str, ...] = (), **model_kwargs) -> None:
    """`untwinned`: key prefixes of PyTorch parameters the twin leaves out
    (training-only heads), not counted; `model_kwargs` go to get_model."""
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
    inference_params = sum(p.numel() for n, p in torch_model.named_parameters() if not n.startswith(untwinned))
    assert trainable_params(keras_model) == inference_params


def assert_stages_match(name: str, size: int = 64, seed: int = 0) -> None:
    """features_only=True returns what forward_stages returns."""
    import convzoo.keras as czk

    torch_model = randomize_(cz.get_model(name), seed).eval()
    keras_model = czk.from_torch(torch_model, input_shape=(size, size, 3), features_only=True)
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        expected = [t.numpy() for t in torch_model.forward_stages(x)]
    got = keras_output(keras_model, x)
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g.shape == e.shape, f"{name} stage {i}: {g.shape} vs {e.shape}"
        assert np.abs(g - e).max() <= 1e-4 * np.abs(e).max(), f"{name} stage {i}"


def assert_keras_round_trip(name: str, tmp_path, size: int = 32) -> None:
    """The twin of `name` (randomised weights) saved as .keras and loaded back
    computes the same: its custom layers (LayerScale, ChannelShuffle, ...) are
    registered for deserialisation and keep their configuration."""
    import keras

    import convzoo.keras as czk

    model = czk.from_torch(randomize_(cz.get_model(name)).eval(), input_shape=(size, size, 3))
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = np.random.default_rng(0).standard_normal((1, size, size, 3)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)),
                               rtol=0, atol=1e-6)
