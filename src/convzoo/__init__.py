"""convzoo: the classic convolutional image classifiers in one anatomy.

    import convzoo as cz
    model = cz.get_model("resnet50", weights="path/to/checkpoint.pth")
    cz.list_models("resnet*")
    cz.Classifier().predict(["photo.jpg"])          # pretrained, with its preprocessing
    cz.train(cz.TrainConfig(data="my_images/", model="efficientnet_lite0"))
    cz.bench("efficientnet_lite*", batch_sizes=(1, 32))   # latency, throughput, memory, acc@1
    cz.select("my_images/", models="efficientnet_lite*", max_latency_ms=20)   # which fits my images
    cz.export(model, "onnx", "model.onnx")          # a deployable file, checked against the model
    cz.seg.get_seg_model("efficientnet_lite0", num_classes=3, encoder_weights="DEFAULT")   # UNet / FPN
    cz.train_segmentation(cz.SegTrainConfig(data="my_masks/"))   # images/ + masks/ folders

The package is layered, each layer importing only those below it (checked by
import-linter, see docs/design.md): layers, data, utils -> net -> registry,
weights -> models -> factory -> keras, seg -> tasks -> cli.
"""
from . import seg
from .data.preprocessing import Preprocessing
from .factory import get_model, get_weights, list_models, model_info
from .net import ConvNet, StageInfo
from .registry import ModelInfo, Paper, register_model
from .tasks.choose.bench import bench
from .tasks.choose.compare import compare
from .tasks.choose.select import select
from .tasks.deploy.export import ExportError, ExportReport, export
from .tasks.deploy.optimize import OptimizedModel, RuntimeOptions, optimize
from .tasks.predict.classifier import Classifier
from .tasks.shared.decision import DecisionRule
from .tasks.train.calibrate import calibrate_checkpoint
from .tasks.train.evaluate import evaluate_checkpoint
from .tasks.train.folds import train_folds
from .tasks.train.loop import TrainConfig, train
from .tasks.train.seg import SegTrainConfig, load_seg_checkpoint, train_segmentation
from .version import __version__
from .weights import Weights, WeightsMismatchError, load_weights, register_converter, register_weights

__all__ = [
    "Classifier",
    "ConvNet",
    "DecisionRule",
    "ExportError",
    "ExportReport",
    "ModelInfo",
    "OptimizedModel",
    "Paper",
    "Preprocessing",
    "RuntimeOptions",
    "SegTrainConfig",
    "StageInfo",
    "TrainConfig",
    "Weights",
    "WeightsMismatchError",
    "__version__",
    "bench",
    "calibrate_checkpoint",
    "compare",
    "evaluate_checkpoint",
    "export",
    "get_model",
    "get_weights",
    "list_models",
    "load_seg_checkpoint",
    "load_weights",
    "model_info",
    "optimize",
    "register_converter",
    "register_model",
    "register_weights",
    "seg",
    "select",
    "train",
    "train_folds",
    "train_segmentation",
]
