"""ConvNeXt twins, read off the same configuration table as the PyTorch family
(models/convnext.py: VARIANTS).

The PyTorch block already works channels-last (LayerNorm and the MLP as
nn.LayerNorm / nn.Linear on the NHWC view), so in Keras it is simply
LayerNormalization and Dense over the last axis; every LayerNorm uses the
reference code's eps, 1e-6, not Keras's default 1e-3.
"""
from functools import partial

from ..models import convnext as torch_convnext
from . import transfer
from .applications import register_twin
from .layers import conv2d, keras


@keras.saving.register_keras_serializable(package="convzoo")
class LayerScale(keras.layers.Layer):
    """A learnt per-channel gain on the last axis (ConvNeXt's `layer_scale`,
    VAN's `layer_scale1/2`: a bare nn.Parameter of the block, shape (C,)).
    The layer is named after that parameter; transfer.py hands it the tensor."""

    def __init__(self, init_value: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        self.init_value = float(init_value)

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), name="scale",
                                     initializer=keras.initializers.Constant(self.init_value))

    def call(self, x):
        return x * self.scale

    def compute_output_shape(self, shape):
        return shape

    def get_config(self):
        return {**super().get_config(), "init_value": self.init_value}


@transfer.register_layout(LayerScale)
def _layer_scale(parameter, layer) -> list:
    return [parameter.detach().cpu().float().numpy().reshape(-1)]


def layer_norm(x, name: str):
    return keras.layers.LayerNormalization(axis=-1, epsilon=torch_convnext.LN_EPS, name=name)(x)


def block(x, name: str, mlp_ratio: int = 4):
    """ConvNeXtBlock: 7x7 depth-wise conv -> LayerNorm -> Dense(4C) -> GELU ->
    Dense(C) -> layer scale, plus the input."""
    dim = x.shape[-1]
    y = conv2d(x, dim, 7, padding=3, groups=dim, bias=True, name=f"{name}-dw_conv")
    y = layer_norm(y, f"{name}-norm")
    y = keras.layers.Dense(mlp_ratio * dim, name=f"{name}-mlp-fc1")(y)
    # "gelu" is Keras 3's exact erf form (approximate=False by default), as nn.GELU;
    # the tanh approximation would differ by ~1e-3 and miss the tolerance.
    y = keras.layers.Activation("gelu", name=f"{name}-mlp-act")(y)
    y = keras.layers.Dense(dim, name=f"{name}-mlp-fc2")(y)
    y = LayerScale(name=f"{name}-layer_scale")(y)
    return keras.layers.Add(name=f"{name}-add")([x, y])


def norm_head(drop_rate: float = 0.0):
    """models/convnext.NormClassifierHead: pool -> LayerNorm -> [dropout] -> fc.
    The norm acts on the pooled vector, so it is not a `pre` layer: with
    include_top=False the features stay un-normalised, as forward_features."""
    def head(x, classes: int, name: str = "head"):
        x = keras.layers.GlobalAveragePooling2D(name=f"{name}-pool")(x)
        x = layer_norm(x, f"{name}-norm")
        if drop_rate:
            x = keras.layers.Dropout(drop_rate, name=f"{name}-drop")(x)
        return keras.layers.Dense(classes, name=f"{name}-fc")(x)
    head.pre = None
    return head


def build(cfg, x):
    # Patchify stem: 4x4/4 conv (with bias, no padding) -> LayerNorm over channels.
    x = conv2d(x, cfg.widths[0], 4, 4, padding=0, bias=True, name="stem-conv")
    x = layer_norm(x, "stem-norm")
    stages = []
    for i, (depth, width) in enumerate(zip(cfg.depths, cfg.widths)):
        if i > 0:
            # Stages 2-4 open with LayerNorm *then* the 2x2/2 conv (norm before the resolution drop).
            x = layer_norm(x, f"stages-{i}-downsample-norm")
            x = conv2d(x, width, 2, 2, padding=0, bias=True, name=f"stages-{i}-downsample-conv")
        for j in range(depth):
            x = block(x, f"stages-{i}-blocks-{j}")
        stages.append(x)
    return stages, norm_head()


for _name, _cfg in torch_convnext.VARIANTS.items():
    register_twin(_name, partial(build, _cfg))
