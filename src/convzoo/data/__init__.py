"""Image input: loading files and arrays into RGB images, with readable errors."""
from .images import ImageError, expand_inputs, to_pil_rgb

__all__ = ["ImageError", "expand_inputs", "to_pil_rgb"]
