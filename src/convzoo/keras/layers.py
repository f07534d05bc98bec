"""The Keras twins' vocabulary: convolutions, norms and pools written so that
they compute exactly what their PyTorch counterparts do.

Names: every Keras layer that holds weights is named after the PyTorch module
it mirrors, with "-" for "." (`stages.0.0.conv1.conv` -> `stages-0-0-conv1-conv`;
Keras refuses dots in names). transfer.py copies the weights by these names.

Padding is always explicit (a Pad2D layer, then a 'valid' op): PyTorch pads
symmetrically, while Keras 'same' pads one pixel more at the bottom/right for
strided ops on even inputs, which shifts the sampling grid.
"""
from .backend import import_keras

keras = import_keras()
ops = keras.ops


def torch_name(*parts) -> str:
    return "-".join(str(p) for p in parts if p != "")


@keras.saving.register_keras_serializable(package="convzoo")
class Pad2D(keras.layers.Layer):
    """Constant padding of an NHWC tensor: (top, bottom, left, right) with `value`
    (-inf before a max pool, as PyTorch's MaxPool2d pads)."""

    def __init__(self, padding, value: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.padding = tuple(int(p) for p in padding)
        self.value = float(value)

    def call(self, x):
        top, bottom, left, right = self.padding
        return ops.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]], constant_values=self.value)

    def compute_output_shape(self, shape):
        top, bottom, left, right = self.padding
        grow = lambda size, extra: None if size is None else size + extra  # noqa: E731
        return (shape[0], grow(shape[1], top + bottom), grow(shape[2], left + right), shape[3])

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "value": self.value}


def pad(x, amount: int, name: str, value: float = 0.0):
    """Symmetric padding by `amount` (Keras's own ZeroPadding2D for zeros, so that a
    saved model needs convzoo only where -inf padding is used)."""
    if not amount:
        return x
    if value == 0.0:
        return keras.layers.ZeroPadding2D(amount, name=f"{name}-pad")(x)
    return Pad2D((amount,) * 4, value, name=f"{name}-pad")(x)


def conv2d(x, filters: int, kernel_size: int, stride: int = 1, padding: int | None = None, groups: int = 1,
           dilation: int = 1, bias: bool = False, name: str = ""):
    """nn.Conv2d: symmetric zero padding (default: 'same' size for odd kernels), then a
    'valid' convolution; a grouped conv with one channel per group is a DepthwiseConv2D."""
    if padding is None:
        padding = (dilation * (kernel_size - 1)) // 2
    x = pad(x, padding, name)
    in_channels = x.shape[-1]
    if groups > 1 and groups == in_channels:
        return keras.layers.DepthwiseConv2D(kernel_size, stride, "valid", depth_multiplier=filters // in_channels,
                                            dilation_rate=dilation, use_bias=bias, name=name)(x)
    return keras.layers.Conv2D(filters, kernel_size, stride, "valid", dilation_rate=dilation, groups=groups,
                               use_bias=bias, name=name)(x)


def batch_norm(x, name: str, eps: float = 1e-5):
    # PyTorch's momentum 0.1 weighs the new batch; Keras's momentum weighs the old average.
    return keras.layers.BatchNormalization(epsilon=eps, momentum=0.9, name=name)(x)


ACTIVATIONS = {"relu": "relu", "relu6": "relu6", "silu": "silu", "sigmoid": "sigmoid",
               "hard_sigmoid": "hard_sigmoid", "hard_swish": "hard_swish", "gelu": "gelu"}


def activation(x, kind: str | None, name: str):
    if kind is None:
        return x
    # ("gelu": Keras 3's default is the exact erf form, as PyTorch's nn.GELU.)
    return keras.layers.Activation(ACTIVATIONS[kind], name=name)(x)


def conv_norm_act(x, filters: int, kernel_size: int, stride: int = 1, groups: int = 1, act: str | None = "relu",
                  name: str = "", padding: int | None = None, dilation: int = 1, eps: float = 1e-5):
    """layers.ConvNormAct: `{name}-conv`, `{name}-bn`, then the activation."""
    x = conv2d(x, filters, kernel_size, stride, padding, groups, dilation, name=f"{name}-conv")
    x = batch_norm(x, f"{name}-bn", eps)
    return activation(x, act, f"{name}-act")


def max_pool(x, kernel_size: int, stride: int, padding: int, name: str, ceil_mode: bool = False):
    """nn.MaxPool2d: -inf padding; ceil_mode adds the extra bottom/right padding
    that lets the last window start inside the (left-padded) input."""
    extra = 0
    if ceil_mode:
        size = x.shape[1] + 2 * padding
        remainder = (size - kernel_size) % stride
        extra = (stride - remainder) % stride if remainder else 0
    if padding or extra:
        x = Pad2D((padding, padding + extra, padding, padding + extra), float("-inf"), name=f"{name}-pad")(x)
    return keras.layers.MaxPooling2D(kernel_size, stride, "valid", name=name)(x)


def squeeze_excite(x, reduced: int, name: str, act: str = "relu", gate: str = "sigmoid"):
    """layers.SqueezeExcite: global mean -> 1x1 conv `fc1` -> act -> 1x1 conv `fc2` -> gate, scaling x."""
    channels = x.shape[-1]
    s = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}-pool")(x)
    s = keras.layers.Conv2D(reduced, 1, name=f"{name}-fc1")(s)
    s = activation(s, act, f"{name}-act")
    s = keras.layers.Conv2D(channels, 1, name=f"{name}-fc2")(s)
    s = activation(s, gate, f"{name}-gate")
    return keras.layers.Multiply(name=f"{name}-scale")([x, s])
