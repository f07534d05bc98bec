"""GoogLeNet (Inception v1) and Inception v3 twins, read off the same stage
tables as the PyTorch family (models/inception.py).

The twins are the inference graph: the auxiliary classifiers, which the
PyTorch model runs in training mode only, are left out (their weights are
simply not copied).

Inception modules are parallel branches concatenated on channels (PyTorch's
`Concat`, a ModuleDict): each branch's layers are named after the branch,
and the concatenation follows the branches' order in the PyTorch module.

`transform_input`: the PyTorch stem may open with an `input_transform`
(ImageNet normalisation -> the [-1, 1] range of the TF-trained weights),
present when the torch model was built with transform_input=True (as the
published weights are). The builder cannot see the torch model, so the twin
always has an `InputTransform` layer, named after the `stem` module, whose
constants come from `stem.input_transform` when there is one and are the
identity (scale 1, shift 0) when not.
"""
from functools import partial

import numpy as np

from ..models import inception as torch_inception
from . import transfer
from .applications import classifier_head, register_twin
from .layers import activation, batch_norm, keras, max_pool


# ---------------------------------------------------------------------------
# Generic pieces (non-square kernels, count_include_pad average pools, the input transform)
# ---------------------------------------------------------------------------

def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv_bn_relu(x, filters: int, kernel_size, stride: int = 1, padding=0, name: str = ""):
    """models/inception.py `conv`: ConvNormAct with BN eps 1e-3. Kernels and
    paddings may be (h, w) pairs (the 1x7 / 7x1 factorised convs), so the
    padding is a per-axis ZeroPadding2D, then a 'valid' convolution."""
    ph, pw = _pair(padding)
    if ph or pw:
        x = keras.layers.ZeroPadding2D(((ph, ph), (pw, pw)), name=f"{name}-conv-pad")(x)
    x = keras.layers.Conv2D(filters, _pair(kernel_size), stride, "valid", use_bias=False, name=f"{name}-conv")(x)
    x = batch_norm(x, f"{name}-bn", eps=1e-3)
    return activation(x, "relu", f"{name}-act")


def avg_pool_include_pad(x, kernel_size: int, stride: int, padding: int, name: str):
    """nn.AvgPool2d with count_include_pad=True (PyTorch's default): the zeros
    of the padding count in every window's mean, which is exactly a zero pad
    followed by an unpadded average pool."""
    if padding:
        x = keras.layers.ZeroPadding2D(padding, name=f"{name}-pad")(x)
    return keras.layers.AveragePooling2D(kernel_size, stride, "valid", name=name)(x)


def concat(branches, name: str):
    return keras.layers.Concatenate(axis=-1, name=f"{name}-cat")(branches)


@keras.saving.register_keras_serializable(package="convzoo")
class InputTransform(keras.layers.Layer):
    """x * scale + shift per channel (models/inception.py InputTransform).
    The constants are non-trainable weights rather than config, so that one
    graph serves torch models built with and without transform_input: the
    weight transfer fills them in (identity when the torch stem has none)."""

    def build(self, input_shape):
        channels = input_shape[-1]
        self.scale = self.add_weight(shape=(channels,), initializer="ones", trainable=False, name="scale")
        self.shift = self.add_weight(shape=(channels,), initializer="zeros", trainable=False, name="shift")

    def call(self, x):
        return x * self.scale + self.shift

    def compute_output_shape(self, shape):
        return shape


@transfer.register_layout(InputTransform)
def _input_transform(module, layer) -> list:
    # `module` is the torch stem (the layer is named "stem", which every
    # inception model has); its optional child holds the constants.
    channels = layer.weights[0].shape[0]
    transform = getattr(module, "input_transform", None)
    if transform is None:
        return [np.ones(channels, np.float32), np.zeros(channels, np.float32)]
    return [t.detach().cpu().float().numpy().reshape(-1) for t in (transform.scale, transform.shift)]


def input_transform(x):
    return InputTransform(name="stem")(x)


# ---------------------------------------------------------------------------
# GoogLeNet
# ---------------------------------------------------------------------------

def inception_v1(x, row, name: str, large_kernel: int = 3):
    """1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 (torchvision's "5x5") | 3x3 max pool -> 1x1."""
    b1 = conv_bn_relu(x, row.ch1x1, 1, name=f"{name}-branch1x1")
    b2 = conv_bn_relu(x, row.ch3x3_reduce, 1, name=f"{name}-branch3x3-0")
    b2 = conv_bn_relu(b2, row.ch3x3, 3, padding=1, name=f"{name}-branch3x3-1")
    b3 = conv_bn_relu(x, row.ch5x5_reduce, 1, name=f"{name}-branch5x5-0")
    b3 = conv_bn_relu(b3, row.ch5x5, large_kernel, padding=large_kernel // 2, name=f"{name}-branch5x5-1")
    b4 = max_pool(x, 3, 1, 1, f"{name}-branch_pool-0")
    b4 = conv_bn_relu(b4, row.pool_proj, 1, name=f"{name}-branch_pool-1")
    return concat([b1, b2, b3, b4], name)


def build_googlenet(stage_rows, x, drop_rate: float = 0.2, large_kernel: int = 3):
    x = input_transform(x)
    x = conv_bn_relu(x, 64, 7, 2, padding=3, name="stem-conv1")
    # Every max pool between stages uses ceil_mode (Caffe's rounding), as the torch model.
    x = max_pool(x, 3, 2, 0, "stages-0-pool1", ceil_mode=True)
    x = conv_bn_relu(x, 64, 1, name="stages-0-conv2")
    x = conv_bn_relu(x, 192, 3, padding=1, name="stages-0-conv3")
    stages = [x]
    for i, rows in enumerate(stage_rows):
        stage = i + 1
        kernel = 2 if i == 2 else 3  # 2x2/2 before inception 5a, as torchvision
        x = max_pool(x, kernel, 2, 0, f"stages-{stage}-pool{i + 2}", ceil_mode=True)
        for row in rows:
            x = inception_v1(x, row, f"stages-{stage}-{row.name}", large_kernel)
        stages.append(x)
    return stages, classifier_head(drop_rate)


# ---------------------------------------------------------------------------
# Inception v3
# ---------------------------------------------------------------------------

def _avg_pool_branch(x, out_channels: int, name: str):
    x = avg_pool_include_pad(x, 3, 1, 1, f"{name}-0")
    return conv_bn_relu(x, out_channels, 1, name=f"{name}-1")


def _chain(x, specs, name: str):
    """An nn.Sequential of convs: specs of (filters, kernel, stride, padding), named `{name}-{index}`."""
    for j, (filters, kernel, stride, padding) in enumerate(specs):
        x = conv_bn_relu(x, filters, kernel, stride, padding, name=f"{name}-{j}")
    return x


def inception_a(x, pool_features, name: str):
    return concat([
        conv_bn_relu(x, 64, 1, name=f"{name}-branch1x1"),
        _chain(x, [(48, 1, 1, 0), (64, 5, 1, 2)], f"{name}-branch5x5"),
        _chain(x, [(64, 1, 1, 0), (96, 3, 1, 1), (96, 3, 1, 1)], f"{name}-branch3x3dbl"),
        _avg_pool_branch(x, pool_features, f"{name}-branch_pool"),
    ], name)


def reduction_b(x, _, name: str):
    return concat([
        conv_bn_relu(x, 384, 3, 2, name=f"{name}-branch3x3"),
        _chain(x, [(64, 1, 1, 0), (96, 3, 1, 1), (96, 3, 2, 0)], f"{name}-branch3x3dbl"),
        max_pool(x, 3, 2, 0, f"{name}-branch_pool"),
    ], name)


def inception_c(x, c7, name: str):
    # The 7x7 factorised into 1x7 (h) and 7x1 (v): (kernel, stride, padding).
    h, v = ((1, 7), 1, (0, 3)), ((7, 1), 1, (3, 0))
    return concat([
        conv_bn_relu(x, 192, 1, name=f"{name}-branch1x1"),
        _chain(x, [(c7, 1, 1, 0), (c7, *h), (192, *v)], f"{name}-branch7x7"),
        _chain(x, [(c7, 1, 1, 0), (c7, *v), (c7, *h), (c7, *v), (192, *h)], f"{name}-branch7x7dbl"),
        _avg_pool_branch(x, 192, f"{name}-branch_pool"),
    ], name)


def reduction_d(x, _, name: str):
    return concat([
        _chain(x, [(192, 1, 1, 0), (320, 3, 2, 0)], f"{name}-branch3x3"),
        _chain(x, [(192, 1, 1, 0), (192, (1, 7), 1, (0, 3)), (192, (7, 1), 1, (3, 0)), (192, 3, 2, 0)],
               f"{name}-branch7x7x3"),
        max_pool(x, 3, 2, 0, f"{name}-branch_pool"),
    ], name)


def _split_1x3_3x1(x, name: str):
    """The torch `Concat` with branches "1x3" and "3x1" (the second module of an nn.Sequential)."""
    return concat([conv_bn_relu(x, 384, (1, 3), padding=(0, 1), name=f"{name}-1x3"),
                   conv_bn_relu(x, 384, (3, 1), padding=(1, 0), name=f"{name}-3x1")], name)


def inception_e(x, _, name: str):
    b2 = conv_bn_relu(x, 384, 1, name=f"{name}-branch3x3-0")
    b3 = _chain(x, [(448, 1, 1, 0), (384, 3, 1, 1)], f"{name}-branch3x3dbl")
    return concat([
        conv_bn_relu(x, 320, 1, name=f"{name}-branch1x1"),
        _split_1x3_3x1(b2, f"{name}-branch3x3-1"),
        _split_1x3_3x1(b3, f"{name}-branch3x3dbl-2"),
        _avg_pool_branch(x, 192, f"{name}-branch_pool"),
    ], name)


# The torch table names its module builders; each has its Keras counterpart here.
V3_BLOCKS = {torch_inception.inception_a: inception_a, torch_inception.reduction_b: reduction_b,
             torch_inception.inception_c: inception_c, torch_inception.reduction_d: reduction_d,
             torch_inception.inception_e: inception_e}


def build_inception_v3(stage_rows, x, drop_rate: float = 0.5):
    x = input_transform(x)
    x = conv_bn_relu(x, 32, 3, 2, name="stem-conv1a")
    x = conv_bn_relu(x, 32, 3, name="stem-conv2a")
    x = conv_bn_relu(x, 64, 3, padding=1, name="stem-conv2b")
    # Plain floor-mode, unpadded max pools here (unlike GoogLeNet's ceil_mode ones).
    x = max_pool(x, 3, 2, 0, "stages-0-pool1")
    x = conv_bn_relu(x, 80, 1, name="stages-0-conv3b")
    x = conv_bn_relu(x, 192, 3, name="stages-0-conv4a")
    stages = [x]
    for i, rows in enumerate(stage_rows):
        stage = i + 1
        if stage == 1:
            x = max_pool(x, 3, 2, 0, "stages-1-pool2")
        for block_name, make_block, arg in rows:
            x = V3_BLOCKS[make_block](x, arg, f"stages-{stage}-{block_name}")
        stages.append(x)
    return stages, classifier_head(drop_rate)


register_twin("googlenet", partial(build_googlenet, torch_inception.GOOGLENET_STAGES))
register_twin("inception_v3", partial(build_inception_v3, torch_inception.INCEPTION_V3_STAGES))
