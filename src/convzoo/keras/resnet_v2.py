"""Pre-activation ResNet (v2) twins, read off models/resnet_v2.py's table."""
from functools import partial

from ..models import resnet_v2 as torch_resnet_v2
from .applications import classifier_head, register_twin
from .layers import activation, batch_norm, conv2d, keras, max_pool


def bn_relu(x, name: str):
    """BatchNormReLU: one PyTorch module (a BatchNorm2d), so the BN layer takes its name."""
    return activation(batch_norm(x, name), "relu", f"{name}-relu")


def preact_bottleneck(x, planes: int, stride: int, name: str):
    in_channels, out_channels = x.shape[-1], planes * 4
    preact = bn_relu(x, f"{name}-norm1")
    shortcut = x
    if stride != 1 or in_channels != out_channels:  # the projection reads the pre-activation
        shortcut = conv2d(preact, out_channels, 1, stride, name=f"{name}-downsample")
    out = conv2d(preact, planes, 1, name=f"{name}-conv1")
    out = conv2d(bn_relu(out, f"{name}-norm2"), planes, 3, stride, name=f"{name}-conv2")
    out = conv2d(bn_relu(out, f"{name}-norm3"), out_channels, 1, name=f"{name}-conv3")
    return keras.layers.Add(name=f"{name}-add")([out, shortcut])


def build(cfg, x):
    x = conv2d(x, cfg.stem_width, 7, 2, name="stem-conv")
    x = max_pool(x, 3, 2, 1, "stem-pool")
    stages = []
    for i, (depth, planes) in enumerate(zip(cfg.depths, cfg.planes)):
        for j in range(depth):
            x = preact_bottleneck(x, planes, 2 if (i > 0 and j == 0) else 1, f"stages-{i}-{j}")
        stages.append(x)
    # The head's BN-ReLU (`head.pre`) comes before pooling: the last stage's output is not yet activated.
    return stages, classifier_head(cfg.drop_rate, pre=lambda t: bn_relu(t, "head-pre"))


for _name, _cfg in torch_resnet_v2.VARIANTS.items():
    register_twin(_name, partial(build, _cfg))
