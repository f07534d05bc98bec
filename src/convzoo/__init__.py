"""convzoo: the classic convolutional image classifiers in one anatomy.

    import convzoo as cz
    model = cz.get_model("resnet50", weights="path/to/checkpoint.pth")
    cz.list_models("resnet*")
"""
from .net import ConvNet, StageInfo
from .registry import ModelInfo, Paper, get_model, list_models, model_info, register_model
from .weights.loading import WeightsMismatchError, load_weights
from .weights.specs import get_weights

__version__ = "0.1.0"

__all__ = [
    "ConvNet",
    "ModelInfo",
    "Paper",
    "StageInfo",
    "WeightsMismatchError",
    "get_model",
    "get_weights",
    "list_models",
    "load_weights",
    "model_info",
    "register_model",
]
