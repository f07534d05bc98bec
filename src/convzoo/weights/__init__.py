"""Weights: loading checkpoints of any supported key layout, converters, specs."""
from .convert import register_converter, rename_keys
from .loading import WeightsMismatchError, load_weights, read_checkpoint

__all__ = ["WeightsMismatchError", "load_weights", "read_checkpoint", "register_converter", "rename_keys"]
