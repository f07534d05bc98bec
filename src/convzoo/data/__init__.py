"""Image input and preprocessing: files and arrays into RGB images with readable
errors, evaluation preprocessing specs, ImageNet constants, datasets, augmentation."""
from .images import ImageError, expand_inputs, to_pil_rgb
from .preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing, imagenet_categories

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "ImageError", "Preprocessing", "expand_inputs", "imagenet_categories",
           "to_pil_rgb"]
