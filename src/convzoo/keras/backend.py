"""Keras 3 is an optional extra: import it once, with a one-line error naming
the extra when it is missing."""
import importlib
import os


def import_keras():
    try:
        # torch and torchvision (which loads triton) first: importing tensorflow before
        # triton segfaults (tensorflow/tensorflow#124205); measured: torch alone is not enough.
        import torch  # noqa: F401
        import torchvision  # noqa: F401

        # convzoo always has torch; Keras would otherwise default to TensorFlow, which may be absent.
        # (Set KERAS_BACKEND=tensorflow before importing to run the twins on TensorFlow.)
        os.environ.setdefault("KERAS_BACKEND", "torch")
        return importlib.import_module("keras")
    except ImportError:
        raise ValueError("convzoo.keras needs Keras 3: pip install 'convzoo[keras]' (and a backend: torch, "
                         "which convzoo already has, or tensorflow)") from None
