"""DenseNet-BC twins, read off the same configuration table as the PyTorch
family (models/densenet.py).

Each dense layer reads the concatenation of everything its block has produced
so far; Keras has no list-taking layer, so the concatenation is written out as
its own (weightless) layer before every dense layer. `memory_efficient` is a
training-memory option of the PyTorch model only: it computes the same values,
so the twin has nothing to mirror.
"""
from functools import partial

from ..models import densenet as torch_densenet
from .applications import classifier_head, register_twin
from .layers import activation, batch_norm, conv2d, conv_norm_act, keras, max_pool


def norm_act_conv(x, filters: int, kernel_size: int, name: str):
    """models/densenet.norm_act_conv: the pre-activation unit `{name}-bn`, `{name}-act`, `{name}-conv`
    (bias-free conv, padded to keep the size)."""
    x = batch_norm(x, f"{name}-bn")
    x = activation(x, "relu", f"{name}-act")
    return conv2d(x, filters, kernel_size, name=f"{name}-conv")


def concat(features, name: str):
    # A block's first layer sees only the stage input: nothing to concatenate.
    if len(features) == 1:
        return features[0]
    return keras.layers.Concatenate(axis=-1, name=f"{name}-cat")(features)


def dense_stage(x, cfg, num_layers: int, transition: bool, name: str):
    """DenseStage: [transition: BN-ReLU-1x1 conv to half the channels, 2x2/2 avg pool] -> dense block."""
    if transition:
        x = norm_act_conv(x, x.shape[-1] // 2, 1, f"{name}-transition")
        # nn.AvgPool2d(2, 2): no padding, so Keras's 'valid' pool is the same (floor on odd sizes).
        x = keras.layers.AveragePooling2D(2, 2, "valid", name=f"{name}-transition-pool")(x)
    features = [x]
    for j in range(num_layers):
        layer = f"{name}-layers-{j}"
        out = concat(features, layer)
        out = norm_act_conv(out, cfg.bn_size * cfg.growth_rate, 1, f"{layer}-conv1")
        out = norm_act_conv(out, cfg.growth_rate, 3, f"{layer}-conv2")
        # (drop_rate: dropout is the identity in inference; it holds no weights.)
        features.append(out)
    return concat(features, name)


def final_norm(x):
    """The head's `pre`: the last BN + ReLU (`head.pre.bn`, `head.pre.act`)."""
    return activation(batch_norm(x, "head-pre-bn"), "relu", "head-pre-act")


def build(cfg, x):
    # stem: 7x7/2 conv (padding 3), BN, ReLU, 3x3/2 max pool (padding 1).
    x = conv_norm_act(x, cfg.stem_width, 7, 2, name="stem", padding=3)
    x = max_pool(x, 3, 2, 1, "stem-pool")
    stages = []
    for i, depth in enumerate(cfg.depths):
        x = dense_stage(x, cfg, depth, i > 0, f"stages-{i}")
        stages.append(x)
    return stages, classifier_head(0.0, pre=final_norm)


for _name, _cfg in torch_densenet.VARIANTS.items():
    register_twin(_name, partial(build, _cfg))
