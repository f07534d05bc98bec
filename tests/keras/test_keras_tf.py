"""The Keras twins on the TensorFlow backend (`pytest -m tf`; needs
tensorflow-cpu): parity with the PyTorch twin for the smallest twin of every
family, a TFLite conversion of a twin by TensorFlow's own converter, and a
fine-tune step, save and load there.

Keras picks its backend once per process, and the default run uses the torch
backend, so this runs in a subprocess. There, torch and torchvision
(which loads triton) are imported before tensorflow: the other order
segfaults (tensorflow/tensorflow#124205)."""
import os
import subprocess
import sys

import pytest

from paths import TESTS

pytestmark = pytest.mark.tf

SCRIPT = r"""
import sys
import torch, torchvision  # before tensorflow (torchvision loads triton), see the module docstring
import numpy as np
sys.path.insert(0, {tests!r})
import keras
assert keras.backend.backend() == "tensorflow", keras.backend.backend()
import tensorflow as tf
import convzoo as cz
import convzoo.keras as czk
from keras_parity import assert_keras_parity, keras_output
from parity import randomize_, smallest_of_each_family

for name in smallest_of_each_family(czk.list_twins()):
    # VGG's head pools adaptively to 7x7: its twin is exact where the last map divides 7 (32 px: 1x1)
    size = 32 if cz.model_info(name).family == "vgg" else 64
    assert_keras_parity(name, size)
    print("parity", name, flush=True)

torch_model = randomize_(cz.get_model("resnet18")).eval()
twin = czk.from_torch(torch_model, input_shape=(64, 64, 3), classifier_activation=None)
converter = tf.lite.TFLiteConverter.from_keras_model(twin)
interpreter = tf.lite.Interpreter(model_content=converter.convert())
interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], [1, 64, 64, 3])
interpreter.allocate_tensors()
x = torch.randn(1, 3, 64, 64)
interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x.permute(0, 2, 3, 1).numpy())
interpreter.invoke()
got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
with torch.no_grad():
    expected = torch_model(x).numpy()
assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max(), np.abs(got - expected).max()
print("tflite ok", flush=True)

# What a TensorFlow user does next: fine-tune, save, load.
twin.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
images = np.random.default_rng(0).normal(size=(8, 64, 64, 3)).astype("float32")
loss = twin.fit(images, np.arange(8) % 3, batch_size=4, epochs=1, verbose=0).history["loss"][0]
assert np.isfinite(loss), loss
twin.save({tmp!r})
again = keras.saving.load_model({tmp!r})
assert np.allclose(again.predict(images, verbose=0), twin.predict(images, verbose=0), atol=1e-5)
print("fit and save ok", flush=True)
"""


def test_twins_on_the_tensorflow_backend(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    try:
        import tensorflow  # noqa: F401  (only to fail with the fix when it is missing)
    except ImportError:
        pytest.fail("-m tf needs TensorFlow: pip install tensorflow-cpu")
    done = subprocess.run([sys.executable, "-c", SCRIPT.format(tests=str(TESTS), tmp=str(tmp_path / "tuned.keras"))], env=env, capture_output=True,
                          text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "tflite ok" in done.stdout and "fit and save ok" in done.stdout
