"""The export formats: for each, its file suffix, how it is written, how it is
read back in its own runtime, and whether its batch size can stay free."""
from dataclasses import dataclass
from typing import Callable

from . import keras_format, onnx_format, openvino_format, tflite_format, torch_formats


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str
    runtime: str  # what reads the file back (and verifies it here)
    write: Callable  # (model, example, dynamic_batch, path) -> None
    load: Callable  # path -> (np.ndarray batch -> np.ndarray logits)
    dynamic_batch: bool  # whether the batch dimension can be left free
    modules: tuple[str, ...] = ()  # optional dependencies it needs (each names its extra when missing)
    fixed_suffix: bool = False  # whether its runtime reads only files ending in `suffix`
    io_names: bool = False
    layout: str = "NCHW"  # the file's input layout  # whether the file names its input "image" and output "logits"


FORMATS: dict[str, Format] = {f.name: f for f in [
    Format("onnx", ".onnx", "onnxruntime", onnx_format.write_onnx, onnx_format.load_onnx, True,
           ("onnxscript", "onnxruntime"), io_names=True),
    Format("exported-program", ".pt2", "torch.export.load", torch_formats.write_exported_program,
           torch_formats.load_exported_program, True, fixed_suffix=True),
    Format("torchscript", ".pt", "torch.jit.load", torch_formats.write_torchscript, torch_formats.load_torchscript,
           True),
    Format("openvino", ".xml", "openvino", openvino_format.write_openvino, openvino_format.load_openvino, True,
           ("openvino",), fixed_suffix=True, io_names=True),
    Format("tflite", ".tflite", "ai_edge_litert", tflite_format.write_tflite, tflite_format.load_tflite, False,
           ("litert_torch", "ai_edge_litert.interpreter")),
    Format("keras", ".keras", "keras.saving.load_model", keras_format.write_keras, keras_format.load_keras, True,
           ("keras",), fixed_suffix=True, layout="NHWC"),
]}


def get_format(name: str) -> Format:
    if name not in FORMATS:
        raise ValueError(f"unknown export format {name!r}: choose one of {', '.join(FORMATS)}")
    return FORMATS[name]
