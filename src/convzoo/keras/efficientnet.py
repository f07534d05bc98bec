"""EfficientNet (B0-B7), EfficientNet-Lite (Lite0-4) and EfficientNet v2 (S, M, L)
twins, read off the same tables as the PyTorch families (models/efficientnet.py,
models/efficientnet_lite.py, models/efficientnet_v2.py).

One builder serves all three, as one PyTorch class does: a 3x3/2 stem, MBConv
and Fused-MBConv rows grouped into stages by stride (models/efficientnet
.stage_of_rows), then the head's 1x1 conv, pool, dropout and fc.

Padding: B0-B7 and v2 pad symmetrically like nn.Conv2d. Lite uses TensorFlow's
"SAME" (Conv2dSame), whose amount depends on the input size; with a static
input size it is written out here as an explicit (possibly asymmetric) zero
pad, so the twin computes the same on every Keras backend.
"""
from functools import partial

from torch import nn

from ..layers import make_divisible
from ..layers.padding import _same_pad_amount, get_padding
from ..models import efficientnet as torch_efficientnet
from ..models import efficientnet_lite as torch_efficientnet_lite
from ..models import efficientnet_v2 as torch_efficientnet_v2
from .applications import classifier_head, register_twin
from .layers import activation, batch_norm, keras, squeeze_excite

# The PyTorch config's activation class -> the Keras activation computing the same.
_ACTIVATIONS = {nn.SiLU: "silu", nn.ReLU6: "relu6", nn.ReLU: "relu"}


def _act_name(act_layer) -> str:
    try:
        return _ACTIVATIONS[act_layer]
    except KeyError:
        raise ValueError(f"no Keras activation for {act_layer!r}") from None


def same_padding(x, kernel_size: int, stride: int, name: str, dilation: int = 1):
    """layers.padding.pad_same for this static input size: TF's "SAME" total,
    the odd pixel at the bottom/right. Returns (x, conv padding mode): where the
    size is unknown (dynamic input), Keras's own 'same' follows the same rule."""
    height, width = x.shape[1], x.shape[2]
    if height is None or width is None:
        return x, "same"
    pad_h = _same_pad_amount(height, kernel_size, stride, dilation)
    pad_w = _same_pad_amount(width, kernel_size, stride, dilation)
    if pad_h or pad_w:
        x = keras.layers.ZeroPadding2D(((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2)),
                                       name=f"{name}-pad")(x)
    return x, "valid"


def conv_bn_act(x, filters: int, kernel_size: int, stride: int = 1, groups: int = 1, *, act: str | None, eps: float,
                padding: str | None, name: str):
    """layers.ConvNormAct with create_conv2d's padding: symmetric (get_padding,
    PyTorch's amount) or TF "SAME" for padding="same"; `{name}-conv`, `{name}-bn`."""
    conv_name = f"{name}-conv"
    if padding == "same":
        x, mode = same_padding(x, kernel_size, stride, conv_name)
    else:
        amount = get_padding(kernel_size, stride)
        if amount:
            x = keras.layers.ZeroPadding2D(amount, name=f"{conv_name}-pad")(x)
        mode = "valid"
    if groups > 1 and groups == x.shape[-1] == filters:  # depth-wise: one filter per channel
        x = keras.layers.DepthwiseConv2D(kernel_size, stride, mode, use_bias=False, name=conv_name)(x)
    else:
        x = keras.layers.Conv2D(filters, kernel_size, stride, mode, groups=groups, use_bias=False, name=conv_name)(x)
    x = batch_norm(x, f"{name}-bn", eps)
    return activation(x, act, f"{name}-act")


def mbconv(x, out_channels: int, kernel_size: int, stride: int, expanded: int, se_channels: int, *, act: str,
           eps: float, padding: str | None, name: str):
    """layers.InvertedResidual as EfficientNet builds it: [1x1 expand] -> kxk
    depth-wise -> [squeeze-excite, with the block's own activation inside] ->
    1x1 linear project, plus the input when shapes allow (DropPath is the
    identity at inference, so it has no twin)."""
    in_channels = x.shape[-1]
    out = x
    if expanded != in_channels:  # PyTorch builds `expand` only then
        out = conv_bn_act(out, expanded, 1, act=act, eps=eps, padding=None, name=f"{name}-expand")
    out = conv_bn_act(out, expanded, kernel_size, stride, groups=expanded, act=act, eps=eps, padding=padding,
                      name=f"{name}-dw")
    if se_channels:
        out = squeeze_excite(out, se_channels, f"{name}-se", act=act, gate="sigmoid")
    out = conv_bn_act(out, out_channels, 1, act=None, eps=eps, padding=None, name=f"{name}-project")
    if stride == 1 and in_channels == out_channels:
        out = keras.layers.Add(name=f"{name}-add")([out, x])
    return out


def fused_mbconv(x, out_channels: int, kernel_size: int, stride: int, expanded: int, *, act: str, eps: float,
                 padding: str | None, name: str):
    """layers.FusedInvertedResidual: kxk conv -> 1x1 linear project; with
    expand ratio 1 just the kxk conv (with its activation) to the output width."""
    in_channels = x.shape[-1]
    if expanded != in_channels:
        out = conv_bn_act(x, expanded, kernel_size, stride, act=act, eps=eps, padding=padding, name=f"{name}-fused")
        out = conv_bn_act(out, out_channels, 1, act=None, eps=eps, padding=None, name=f"{name}-project")
    else:
        out = conv_bn_act(x, out_channels, kernel_size, stride, act=act, eps=eps, padding=padding,
                          name=f"{name}-fused")
    if stride == 1 and in_channels == out_channels:
        out = keras.layers.Add(name=f"{name}-add")([out, x])
    return out


def build(cfg, x):
    """models/efficientnet.EfficientNet from its EfficientNetConfig."""
    act, eps, padding = _act_name(cfg.act_layer), cfg.bn_eps, cfg.padding
    x = conv_bn_act(x, cfg.stem_channels, 3, 2, act=act, eps=eps, padding=padding, name="stem")
    stage_index = torch_efficientnet.stage_of_rows([row.stride for row in cfg.rows])
    stages, position = [], [0] * (stage_index[-1] + 1)
    for row, s in zip(cfg.rows, stage_index):
        for i in range(row.repeats):
            in_channels = x.shape[-1]
            stride = row.stride if i == 0 else 1
            # The same width rules as models/efficientnet._make_block.
            expanded = make_divisible(in_channels * row.expand_ratio, 8)
            name = f"stages-{s}-{position[s]}"
            if row.kind == "fused":
                x = fused_mbconv(x, row.out_channels, row.kernel_size, stride, expanded, act=act, eps=eps,
                                 padding=padding, name=name)
            else:
                se_channels = max(1, int(in_channels * row.se_ratio)) if row.se_ratio else 0
                x = mbconv(x, row.out_channels, row.kernel_size, stride, expanded, se_channels, act=act, eps=eps,
                           padding=padding, name=name)
            position[s] += 1
        if s == len(stages):
            stages.append(x)
        else:
            stages[s] = x  # a later row of the same stage
    head_channels = cfg.head_channels

    def pre(t):  # the head's 1x1 ConvNormAct (`head.pre`), part of the features
        return conv_bn_act(t, head_channels, 1, act=act, eps=eps, padding=None, name="head-pre")

    return stages, classifier_head(cfg.drop_rate, pre=pre)


def configs() -> dict:
    """Every registered variant's EfficientNetConfig, built from the PyTorch tables
    the way each PyTorch file builds it."""
    out = {}
    for name, (width, depth, _size, drop, eps) in torch_efficientnet.V1_VARIANTS.items():
        out[name] = torch_efficientnet.efficientnet_config(width, depth, drop, eps)
    for name, (width, depth, _size, drop) in torch_efficientnet_lite.LITE_VARIANTS.items():
        out[name] = torch_efficientnet_lite.efficientnet_lite_config(width, depth, drop)
    for name, (rows, stem, drop, _size) in torch_efficientnet_v2.V2_VARIANTS.items():
        # As models/efficientnet_v2.py registers them: a 1280-wide head, swish, BN eps 1e-3.
        out[name] = torch_efficientnet.EfficientNetConfig(rows, stem, 1280, drop, nn.SiLU, bn_eps=1e-3)
    return out


def _register():
    for name, cfg in configs().items():
        register_twin(name, partial(build, cfg))


_register()
