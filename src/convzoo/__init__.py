"""convzoo: the classic convolutional image classifiers in one anatomy.

    import convzoo as cz
    model = cz.get_model("resnet50", weights="path/to/checkpoint.pth")
    cz.list_models("resnet*")
    cz.Classifier().predict(["photo.jpg"])          # pretrained, with its preprocessing
    cz.train(cz.TrainConfig(data="my_images/", model="efficientnet_lite0"))
"""
__version__ = "0.1.0"  # before the imports: tasks.train records it in checkpoints

from .net import ConvNet, StageInfo
from .registry import ModelInfo, Paper, get_model, list_models, model_info, register_model
from .weights.loading import WeightsMismatchError, load_weights
from .weights.specs import get_weights
from .tasks.classify import Classifier
from .tasks.evaluate import evaluate_checkpoint
from .tasks.train import TrainConfig, train


__all__ = [
    "Classifier",
    "TrainConfig",
    "evaluate_checkpoint",
    "train",
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
