"""VAN (Visual Attention Network) twins, read off the same configuration table
as the PyTorch family (models/van.py: VARIANTS, LN_EPS).

Everything in a VAN block is a convolution, a BatchNorm or an element-wise op,
so the twin is plain Keras layers; two details need care:

- the layer scales are bare nn.Parameters of the block (`layer_scale1`,
  `layer_scale2`): ConvNeXt's LayerScale layers named after those parameters;
- GELU is nn.GELU's exact erf form: Keras 3's "gelu" (approximate=False).
"""
from functools import partial

from ..models import van as torch_van
from .applications import classifier_head, register_twin
from .convnext import LayerScale
from .layers import activation, batch_norm, conv2d, keras


def patch_embed(x, filters: int, kernel_size: int, stride: int, name: str):
    """models/van.patch_embed: conv with bias, padding k // 2, then BatchNorm (no activation)."""
    x = conv2d(x, filters, kernel_size, stride, padding=kernel_size // 2, bias=True, name=f"{name}-conv")
    return batch_norm(x, f"{name}-bn")


def spatial_attention(x, name: str):
    """SpatialAttention: 1x1 -> GELU -> LKA (5x5 dw -> 7x7 dw dilated 3 -> 1x1,
    gating its own input) -> 1x1, plus the input."""
    dim = x.shape[-1]
    y = keras.layers.Conv2D(dim, 1, name=f"{name}-proj_in")(x)
    y = activation(y, "gelu", f"{name}-act")
    gate = conv2d(y, dim, 5, groups=dim, bias=True, name=f"{name}-lka-dw")
    gate = conv2d(gate, dim, 7, groups=dim, dilation=3, bias=True, name=f"{name}-lka-dw_dilated")
    gate = keras.layers.Conv2D(dim, 1, name=f"{name}-lka-pw")(gate)
    y = keras.layers.Multiply(name=f"{name}-lka-gate")([y, gate])
    y = keras.layers.Conv2D(dim, 1, name=f"{name}-proj_out")(y)
    return keras.layers.Add(name=f"{name}-add")([y, x])


def conv_mlp(x, hidden: int, name: str):
    """ConvMlp: 1x1 expand -> 3x3 depth-wise -> GELU -> 1x1 project."""
    dim = x.shape[-1]
    y = keras.layers.Conv2D(hidden, 1, name=f"{name}-fc1")(x)
    y = conv2d(y, hidden, 3, groups=hidden, bias=True, name=f"{name}-dw")
    y = activation(y, "gelu", f"{name}-act")
    return keras.layers.Conv2D(dim, 1, name=f"{name}-fc2")(y)


def block(x, mlp_ratio: int, name: str, layer_scale_init: float):
    """VANBlock: x + scale1 * attention(BN(x)), then x + scale2 * MLP(BN(x))."""
    y = batch_norm(x, f"{name}-norm1")
    y = spatial_attention(y, f"{name}-attn")
    y = LayerScale(layer_scale_init, name=f"{name}-layer_scale1")(y)
    x = keras.layers.Add(name=f"{name}-add1")([x, y])
    y = batch_norm(x, f"{name}-norm2")
    y = conv_mlp(y, x.shape[-1] * mlp_ratio, f"{name}-mlp")
    y = LayerScale(layer_scale_init, name=f"{name}-layer_scale2")(y)
    return keras.layers.Add(name=f"{name}-add2")([x, y])


def build(cfg, x, layer_scale_init: float = 1e-2):
    # `layer_scale_init` only seeds the gains (the weights copied over replace it);
    # taken so that a PyTorch model built with it still has a twin.
    x = patch_embed(x, cfg.widths[0], 7, 4, "stem")
    stages = []
    for i, (depth, width, mlp_ratio) in enumerate(zip(cfg.depths, cfg.widths, cfg.mlp_ratios)):
        if i > 0:
            x = patch_embed(x, width, 3, 2, f"stages-{i}-downsample")
        for j in range(depth):
            x = block(x, mlp_ratio, f"stages-{i}-blocks-{j}", layer_scale_init)
        # Each stage ends with a LayerNorm over channels: the last axis here.
        x = keras.layers.LayerNormalization(axis=-1, epsilon=torch_van.LN_EPS, name=f"stages-{i}-norm")(x)
        stages.append(x)
    return stages, classifier_head()


for _name, _cfg in torch_van.VARIANTS.items():
    register_twin(_name, partial(build, _cfg))
