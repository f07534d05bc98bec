"""Weights from a PyTorch twin into its Keras twin, in memory, by name: each
Keras layer holding weights is named after the PyTorch module it mirrors
(layers.torch_name), and its kind says how the tensors are laid out.

- Conv2D: OIHW -> HWIO (a grouped conv keeps I/groups input channels per kernel).
- DepthwiseConv2D: (C * m, 1, H, W) -> (H, W, C, m).
- Dense: (out, in) -> (in, out); a Dense after a Flatten of a (C, H, W) map
  (AlexNet, VGG) has its rows reordered to Keras's (H, W, C) flatten order.
- BatchNormalization: weight, bias, running mean, running variance.
- LayerNormalization: weight, bias.
- other layers with weights (layer scales...): declared by the family with
  `register_layout`. A layer may also be named after a bare nn.Parameter
  (`stages-0-blocks-0-layer_scale1`): its layout then receives that tensor.
"""
import numpy as np
import torch
from torch import nn

from .backend import import_keras

keras = import_keras()

# Keras layer class -> (PyTorch module, Keras layer) -> list of arrays in the Keras layer's weight order.
_LAYOUTS = {}


def register_layout(layer_class):
    def decorate(fn):
        _LAYOUTS[layer_class] = fn
        return fn
    return decorate


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().float().numpy()


@register_layout(keras.layers.Conv2D)
def _conv(module: nn.Conv2d, layer) -> list:
    arrays = [_np(module.weight).transpose(2, 3, 1, 0)]
    return arrays + ([_np(module.bias)] if layer.use_bias else [])


@register_layout(keras.layers.DepthwiseConv2D)
def _depthwise(module: nn.Conv2d, layer) -> list:
    w = _np(module.weight)  # (C * m, 1, H, W), output channel c * m + k reads input channel c
    channels = module.in_channels
    arrays = [w.reshape(channels, -1, *w.shape[2:]).transpose(2, 3, 0, 1)]
    return arrays + ([_np(module.bias)] if layer.use_bias else [])


@register_layout(keras.layers.Dense)
def _dense(module: nn.Linear, layer) -> list:
    w = _np(module.weight)
    chw = getattr(layer, "torch_flatten_chw", None)
    if chw is not None:  # rows in PyTorch's (C, H, W) flatten order -> Keras's (H, W, C)
        w = w.reshape(w.shape[0], *chw).transpose(0, 2, 3, 1).reshape(w.shape[0], -1)
    return [w.T] + ([_np(module.bias)] if layer.use_bias else [])


@register_layout(keras.layers.BatchNormalization)
def _batch_norm(module: nn.BatchNorm2d, layer) -> list:
    return [_np(module.weight), _np(module.bias), _np(module.running_mean), _np(module.running_var)]


@register_layout(keras.layers.LayerNormalization)
def _layer_norm(module: nn.Module, layer) -> list:
    return [_np(module.weight), _np(module.bias)]


def transfer_weights(torch_model: nn.Module, keras_model, skip: tuple[str, ...] = ()) -> None:
    """Copy every weight of `keras_model` from the module of `torch_model` its
    layer is named after. A layer with no such module, an unknown kind or a
    shape that does not fit is an error naming the layer."""
    for layer in keras_model.layers:
        if not layer.weights or layer.name.startswith(skip):
            continue
        path = layer.name.replace("-", ".")
        try:
            module = torch_model.get_submodule(path)
        except AttributeError:
            try:  # a bare nn.Parameter (ConvNeXt and VAN layer scales): its layout gets the tensor
                module = torch_model.get_parameter(path)
            except AttributeError:
                raise ValueError(f"Keras layer {layer.name!r} has no PyTorch twin module {path!r}") from None
        layout = next((fn for cls, fn in _LAYOUTS.items() if type(layer) is cls), None) or next(
            (fn for cls, fn in _LAYOUTS.items() if isinstance(layer, cls)), None)
        if layout is None:
            raise ValueError(f"no weight layout for Keras layer {layer.name!r} ({type(layer).__name__})")
        arrays = layout(module, layer)
        expected = [tuple(w.shape) for w in layer.weights]
        got = [tuple(a.shape) for a in arrays]
        if expected != got:
            raise ValueError(f"{layer.name}: PyTorch {path} gives shapes {got}, the Keras layer has {expected}")
        layer.set_weights(arrays)
