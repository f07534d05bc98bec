"""Keras 3 is an optional extra: import it once, with a one-line error naming
the extra when it is missing."""
import importlib


def import_keras():
    try:
        # torch first: importing tensorflow before triton segfaults (tensorflow/tensorflow#124205)
        import torch  # noqa: F401

        return importlib.import_module("keras")
    except ImportError:
        raise ValueError("convzoo.keras needs Keras 3: pip install 'convzoo[keras]' (and a backend: torch, "
                         "which convzoo already has, or tensorflow)") from None
