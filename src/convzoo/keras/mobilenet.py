"""MobileNet v1, v2 and v3 twins, read off the same tables as the PyTorch
families (models/mobilenet_v1.py, models/mobilenet.py).

The inverted residual block (`inverted_residual`) and the stage builder
(`mbconv_stages`) mirror layers/inverted_residual.py and
models/mobilenet.build_mbconv_stages; mnasnet.py reuses them.
"""
from dataclasses import replace
from functools import partial

from ..layers import make_divisible
from ..models import mobilenet as torch_mobilenet
from ..models import mobilenet_v1 as torch_mobilenet_v1
from .applications import classifier_head, register_twin
from .layers import activation, conv_norm_act, keras, squeeze_excite


def torch_padding(kernel_size: int, stride: int = 1, dilation: int = 1) -> int:
    """layers.padding.get_padding: what create_conv2d pads by when given no padding.
    Passed explicitly so that even kernels or strides keep the PyTorch amount."""
    return ((stride - 1) + dilation * (kernel_size - 1)) // 2


def inverted_residual(x, out_channels: int, kernel_size: int, stride: int, expanded: int, name: str, *,
                      act: str = "relu6", se_channels: int = 0, se_gate: str = "sigmoid", eps: float = 1e-5):
    """layers.InvertedResidual: [1x1 expand] -> kxk depth-wise -> [SE] -> 1x1 linear
    project, plus the input when the shapes allow. The expand conv exists only
    when the hidden width differs from the input's, as in PyTorch."""
    in_channels = x.shape[-1]
    out = x
    if expanded != in_channels:
        out = conv_norm_act(out, expanded, 1, act=act, name=f"{name}-expand", eps=eps)
    out = conv_norm_act(out, expanded, kernel_size, stride, groups=expanded, act=act, name=f"{name}-dw",
                        padding=torch_padding(kernel_size, stride), eps=eps)
    if se_channels:
        # SqueezeExcite's inner activation is always ReLU here (InvertedResidual's se_act_layer default).
        out = squeeze_excite(out, se_channels, f"{name}-se", act="relu", gate=se_gate)
    out = conv_norm_act(out, out_channels, 1, act=None, name=f"{name}-project", eps=eps)
    if stride == 1 and in_channels == out_channels:
        out = keras.layers.Add(name=f"{name}-add")([out, x])
    return out


def mbconv_stages(x, rows_by_stage, act: str, eps: float = 1e-5):
    """models/mobilenet.build_mbconv_stages: rows' channels already width-scaled;
    the hidden width is the block's input width times the row's expand ratio."""
    stages = []
    for s, rows in enumerate(rows_by_stage):
        b = 0
        for row in rows:
            for i in range(row.repeats):
                expanded = int(round(x.shape[-1] * row.expand_ratio))
                x = inverted_residual(x, row.channels, row.kernel_size, row.stride if i == 0 else 1, expanded,
                                      f"stages-{s}-{b}", act=act, eps=eps)
                b += 1
        stages.append(x)
    return stages


def conv_pre(filters: int, act: str, eps: float = 1e-5):
    """The head's `pre` 1x1 ConvNormAct (`head.pre`), applied before pooling."""
    return lambda x: conv_norm_act(x, filters, 1, act=act, name="head-pre", eps=eps)


# ---- MobileNet v1 -----------------------------------------------------------

def build_v1(x, width_mult: float = 1.0):
    def width(c: float) -> int:
        return make_divisible(c * width_mult, 8)

    x = conv_norm_act(x, width(torch_mobilenet_v1.STEM_CHANNELS), 3, 2, act="relu6", name="stem",
                      padding=torch_padding(3, 2))
    stages = []
    for s, cfg in enumerate(torch_mobilenet_v1.STAGES):
        for b in range(cfg.depth):
            stride = cfg.stride if b == 0 else 1
            name = f"stages-{s}-{b}"
            # DepthwiseSeparable: dw 3x3 (one filter per channel) then pw 1x1, both BN + ReLU6.
            x = conv_norm_act(x, x.shape[-1], 3, stride, groups=x.shape[-1], act="relu6", name=f"{name}-dw",
                              padding=torch_padding(3, stride))
            x = conv_norm_act(x, width(cfg.channels), 1, act="relu6", name=f"{name}-pw")
        stages.append(x)
    return stages, classifier_head(0.0)


# ---- MobileNet v2 -----------------------------------------------------------

def build_v2(x, width_mult: float = 1.0):
    def width(c: float) -> int:
        return make_divisible(c * width_mult, 8)

    x = conv_norm_act(x, width(32), 3, 2, act="relu6", name="stem", padding=torch_padding(3, 2))
    rows = [[replace(row, channels=width(row.channels)) for row in stage]
            for stage in torch_mobilenet.MOBILENET_V2_STAGES]
    stages = mbconv_stages(x, rows, "relu6")
    # As in PyTorch: the last conv widens with width_mult > 1 but never narrows.
    head_width = make_divisible(1280 * max(1.0, width_mult), 8)
    return stages, classifier_head(0.2, pre=conv_pre(head_width, "relu6"))


# ---- MobileNet v3 -----------------------------------------------------------

_V3_ACTIVATIONS = {"RE": "relu", "HS": "hard_swish"}  # nn.ReLU, nn.Hardswish (x * relu6(x + 3) / 6)
_V3_EPS = 1e-3  # the PyTorch family's BatchNorm eps (the TF reference's)


def mobilenet_v3_head(hidden: int, drop_rate: float, pre):
    """MobileNetV3Head: [pre 1x1 conv] -> global pool -> `hidden` Linear -> hard-swish
    -> dropout -> `fc` (the same protocol as applications.classifier_head)."""
    def head(x, classes: int, name: str = "head"):
        x = pre(x)
        x = keras.layers.GlobalAveragePooling2D(name=f"{name}-pool")(x)
        x = keras.layers.Dense(hidden, name=f"{name}-hidden")(x)
        x = activation(x, "hard_swish", f"{name}-act")
        if drop_rate:
            x = keras.layers.Dropout(drop_rate, name=f"{name}-drop")(x)
        return keras.layers.Dense(classes, name=f"{name}-fc")(x)
    head.pre = pre
    return head


def build_v3(cfg, x, width_mult: float = 1.0):
    def width(c: float) -> int:
        return make_divisible(c * width_mult, 8)

    x = conv_norm_act(x, width(cfg.stem), 3, 2, act="hard_swish", name="stem", padding=torch_padding(3, 2),
                      eps=_V3_EPS)
    stages = []
    for s, rows in enumerate(cfg.stages):
        for b, row in enumerate(rows):
            expanded = width(row.expanded)
            # SE bottleneck: a quarter of the expanded width, rounded as in PyTorch; hard-sigmoid gate.
            se_channels = make_divisible(expanded // 4, 8) if row.se else 0
            x = inverted_residual(x, width(row.out), row.kernel_size, row.stride, expanded, f"stages-{s}-{b}",
                                  act=_V3_ACTIVATIONS[row.act], se_channels=se_channels, se_gate="hard_sigmoid",
                                  eps=_V3_EPS)
        stages.append(x)
    head_conv = 6 * x.shape[-1]
    pre = conv_pre(head_conv, "hard_swish", _V3_EPS)
    return stages, mobilenet_v3_head(width(cfg.head_hidden), 0.2, pre)


def _register():
    # width_mult is a keyword: a PyTorch model built with another one gets a twin built alike.
    register_twin("mobilenet_v1", build_v1)
    register_twin("mobilenet_v2", build_v2)
    for name, cfg in torch_mobilenet.V3_VARIANTS.items():
        register_twin(name, partial(build_v3, cfg))


_register()
