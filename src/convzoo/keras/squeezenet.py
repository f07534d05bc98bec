"""SqueezeNet 1.0 / 1.1 twins, read off the same configuration table as the
PyTorch family (models/squeezenet.py).

Its head is not layers.ClassifierHead: the classifier is a 1x1 conv (`head.fc`)
followed by ReLU, then the global average pool, so `head` below mirrors
SqueezeNetHead's module names instead of using applications.classifier_head.
"""
from functools import partial

from ..models import squeezenet as torch_squeezenet
from .applications import register_twin
from .layers import activation, conv2d, keras, max_pool


def fire(x, squeeze: int, expand: int, name: str):
    """Fire: 1x1 squeeze -> ReLU -> [1x1 expand, 3x3 expand (padding 1)], each with ReLU, concatenated.
    Every conv has a bias (ConvNormAct without a norm)."""
    x = activation(conv2d(x, squeeze, 1, bias=True, name=f"{name}-squeeze-conv"), "relu", f"{name}-squeeze-act")
    e1 = activation(conv2d(x, expand, 1, bias=True, name=f"{name}-expand1x1-conv"), "relu",
                    f"{name}-expand1x1-act")
    e3 = activation(conv2d(x, expand, 3, bias=True, name=f"{name}-expand3x3-conv"), "relu",
                    f"{name}-expand3x3-act")
    return keras.layers.Concatenate(axis=-1, name=f"{name}-cat")([e1, e3])


def squeezenet_head(drop_rate: float = 0.5):
    """SqueezeNetHead: dropout -> 1x1 conv classifier `head-fc` (with bias) -> ReLU -> global average pool."""
    def head(x, classes: int, name: str = "head"):
        if drop_rate:
            x = keras.layers.Dropout(drop_rate, name=f"{name}-drop")(x)
        x = keras.layers.Conv2D(classes, 1, use_bias=True, name=f"{name}-fc")(x)
        x = activation(x, "relu", f"{name}-act")
        return keras.layers.GlobalAveragePooling2D(name=f"{name}-pool")(x)
    head.pre = None  # the features are the last stage's output as they are
    return head


def build(cfg, x):
    # Stem: an unpadded stride-2 conv with bias, then ReLU.
    x = conv2d(x, cfg.stem_channels, cfg.stem_kernel_size, 2, padding=0, bias=True, name="stem-conv")
    x = activation(x, "relu", "stem-act")
    stages = []
    for i, fire_specs in enumerate(cfg.stages):
        # Index 0 of each stage is its 3x3/2 max pool, ceil mode (so no input column is dropped).
        x = max_pool(x, 3, 2, 0, f"stages-{i}-0", ceil_mode=True)
        for j, (squeeze, expand) in enumerate(fire_specs, start=1):
            x = fire(x, squeeze, expand, f"stages-{i}-{j}")
        stages.append(x)
    return stages, squeezenet_head()


for _name, _cfg in torch_squeezenet.VARIANTS.items():
    register_twin(_name, partial(build, _cfg))
