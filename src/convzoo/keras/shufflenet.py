"""ShuffleNet v2 twins, read off the same table as the PyTorch family
(models/shufflenet.py: VARIANTS).

The unit's split and shuffle act on the channel axis, which is the last one
here and the second in PyTorch. Both are written so that channel k of a Keras
map is channel k of the PyTorch map: the split takes the first and second
halves of the last axis (as `chunk(2, dim=1)`), the shuffle views the channels
as (groups, C/groups) and transposes that pair, exactly as
layers/channel_shuffle.py does on NCHW. Any other order would still run, but
the 1x1 convs after it would read the copied weights against the wrong
channels.
"""
from functools import partial

from ..models import shufflenet as torch_shufflenet
from .applications import classifier_head, register_twin
from .layers import conv_norm_act, keras, max_pool, ops
from .mobilenet import conv_pre, torch_padding


@keras.saving.register_keras_serializable(package="convzoo")
class ChannelSplit(keras.layers.Layer):
    """The two halves of the last axis, first half first (ShuffleUnit's
    `x.chunk(2, dim=1)` on NHWC)."""

    def call(self, x):
        half = x.shape[-1] // 2
        return x[..., :half], x[..., half:]

    def compute_output_shape(self, shape):
        half = shape[-1] // 2
        return (*shape[:-1], half), (*shape[:-1], shape[-1] - half)


@keras.saving.register_keras_serializable(package="convzoo")
class ChannelShuffle(keras.layers.Layer):
    """layers.channel_shuffle on NHWC: channel g * (C / groups) + i moves to
    i * groups + g. (N, H, W, C) -> (N, H, W, groups, C / groups), swap the last
    two axes, flatten them back."""

    def __init__(self, groups: int, **kwargs):
        super().__init__(**kwargs)
        self.groups = int(groups)

    def call(self, x):
        channels = x.shape[-1]
        if channels % self.groups:
            raise ValueError(f"channel shuffle: {channels} channels do not split into {self.groups} groups; "
                             f"use a width that {self.groups} divides")
        n, h, w = ops.shape(x)[:3]  # dynamic where the input size is (None, None)
        x = ops.reshape(x, (n, h, w, self.groups, channels // self.groups))
        x = ops.transpose(x, (0, 1, 2, 4, 3))
        return ops.reshape(x, (n, h, w, channels))

    def compute_output_shape(self, shape):
        return shape

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}


def _depthwise(x, stride: int, name: str):
    # 3x3 depth-wise conv + BN, no activation (as the PyTorch unit); conv2d makes it a
    # DepthwiseConv2D after an explicit ZeroPadding2D of PyTorch's amount.
    channels = x.shape[-1]
    return conv_norm_act(x, channels, 3, stride, groups=channels, act=None, name=name,
                         padding=torch_padding(3, stride))


def shuffle_unit(x, out_channels: int, stride: int, name: str):
    """models/shufflenet.ShuffleUnit: stride 1 splits the input and transforms its
    second half (`main`); stride 2 feeds the whole input to `shortcut` (3x3/2
    depth-wise -> 1x1) and `main`. Then concat (shortcut or kept half first) and
    shuffle with 2 groups."""
    branch_channels = out_channels // 2
    if stride == 1:
        kept, x = ChannelSplit(name=f"{name}-split")(x)
    else:
        kept = _depthwise(x, stride, f"{name}-shortcut-dw")
        kept = conv_norm_act(kept, branch_channels, 1, name=f"{name}-shortcut-pw")
    main = conv_norm_act(x, branch_channels, 1, name=f"{name}-main-pw1")
    main = _depthwise(main, stride, f"{name}-main-dw")
    main = conv_norm_act(main, branch_channels, 1, name=f"{name}-main-pw2")
    x = keras.layers.Concatenate(axis=-1, name=f"{name}-cat")([kept, main])
    return ChannelShuffle(2, name=f"{name}-shuffle")(x)


def build(cfg, x):
    """stem 3x3/2 conv + 3x3/2 max-pool -> three stages (the first unit of each
    strided) -> head: 1x1 conv (`head.pre`), pool, fc."""
    x = conv_norm_act(x, cfg.stem_channels, 3, 2, name="stem", padding=torch_padding(3, 2))
    x = max_pool(x, 3, 2, 1, name="stem-pool")
    stages = []
    for s, (depth, out_channels) in enumerate(zip(cfg.depths, cfg.stage_channels)):
        for b in range(depth):
            x = shuffle_unit(x, out_channels, 2 if b == 0 else 1, f"stages-{s}-{b}")
        stages.append(x)
    return stages, classifier_head(0.0, pre=conv_pre(cfg.head_channels, "relu"))


for _name, _cfg in torch_shufflenet.VARIANTS.items():
    register_twin(_name, partial(build, _cfg))
