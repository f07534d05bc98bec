"""Keras 3 (.keras): the model's Keras twin (convzoo.keras), with the weights
copied over, saved by `keras.Model.save`. Its input is channels-last (NHWC),
as Keras models take it; TensorFlow users `.fit()` it, save it again, or
convert it to TFLite with TensorFlow's converter. Read back by
`keras.saving.load_model` (after `import convzoo.keras`, which registers its
custom layers: the -inf padding before max pools, ShuffleNet's channel split
and shuffle, and the others its twins use)."""
from pathlib import Path

import numpy as np
import torch
from torch import nn


def write_keras(model: nn.Module, example: torch.Tensor, dynamic_batch: bool, path: Path) -> None:
    from ....keras import from_torch

    _, channels, height, width = example.shape
    twin = from_torch(model, input_shape=(height, width, channels), classifier_activation=None)
    twin.save(str(path))


def load_keras(path: Path):
    from ....keras.backend import import_keras

    keras = import_keras()
    import convzoo.keras  # noqa: F401  (registers convzoo's custom layers for deserialisation)

    twin = keras.saving.load_model(str(path))

    def run(x: np.ndarray) -> np.ndarray:  # NCHW in (what export verifies with), NHWC to Keras
        return keras.ops.convert_to_numpy(twin(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), training=False))
    return run
