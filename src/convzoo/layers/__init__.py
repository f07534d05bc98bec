"""The shared vocabulary of blocks that model families are written in."""
from .conv import ConvNormAct, create_conv2d, fold_batchnorm
from .dims import for_dims
from .drop import DropPath
from .head import ClassifierHead
from .inverted_residual import FusedInvertedResidual, InvertedResidual
from .helpers import make_act, make_divisible
from .norm import LayerNorm2d
from .padding import Conv2dSame, get_padding, pad_same
from .squeeze_excite import SqueezeExcite
from .stage import Stage

__all__ = [
    "ClassifierHead",
    "Conv2dSame",
    "ConvNormAct",
    "DropPath",
    "FusedInvertedResidual",
    "InvertedResidual",
    "LayerNorm2d",
    "SqueezeExcite",
    "Stage",
    "create_conv2d",
    "fold_batchnorm",
    "for_dims",
    "get_padding",
    "make_act",
    "make_divisible",
    "pad_same",
]
