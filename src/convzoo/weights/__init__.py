"""Weights: specs of published files, downloads, key-layout converters, loading.

This package knows nothing of the model registry: a model tells the loader its
`family` (whose converters apply) and its heads; a spec names its model.
"""
from .convert import register_converter, rename_keys
from .loading import WeightsMismatchError, load_weights, read_checkpoint
from .specs import Weights, register_weights
from .torchvision import register_torchvision_weights

__all__ = ["Weights", "WeightsMismatchError", "load_weights", "read_checkpoint", "register_converter",
           "register_torchvision_weights", "register_weights", "rename_keys"]
