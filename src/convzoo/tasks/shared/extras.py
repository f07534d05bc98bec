"""The runtimes beside torch are optional extras; a missing one is one clear line."""
from __future__ import annotations

import importlib
import importlib.util

EXTRA_OF_MODULE = {"onnxruntime": "onnx", "onnxscript": "onnx", "onnx": "onnx", "openvino": "openvino",
                   "nncf": "openvino", "torchao": "int8", "litert_torch": "tflite",
                   "ai_edge_litert.interpreter": "tflite", "keras": "keras",
                   "tensorboard": "tensorboard", "torch.utils.tensorboard": "tensorboard", "mlflow": "mlflow"}


def import_extra(what: str, module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ValueError(f"{what} needs the optional dependency {module!r}: "
                         f"pip install 'convzoo[{EXTRA_OF_MODULE[module]}]'") from None


def has_module(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or blocked (sys.modules[name] = None)
        return False
