"""ResNet v1.5, ResNeXt, Wide ResNet and SE-ResNet twins, read off the same
configuration table as the PyTorch family (models/resnet.py, models/senet.py)."""
from ..models import resnet as torch_resnet
from .applications import classifier_head, register_twin
from .layers import activation, batch_norm, conv2d, conv_norm_act, keras, max_pool, squeeze_excite


def stem(x, cfg):
    """conv (7x7/2, or the deep 3x3 tower) -> BN -> ReLU -> 3x3/2 max pool."""
    if cfg.deep_stem:
        x = conv_norm_act(x, 64, 3, 2, name="stem-conv-conv1")
        x = conv_norm_act(x, 64, 3, name="stem-conv-conv2")
        x = conv2d(x, 128, 3, name="stem-conv-conv3")
    else:
        x = conv2d(x, 64, 7, 2, name="stem-conv")
    x = activation(batch_norm(x, "stem-bn"), "relu", "stem-act")
    return max_pool(x, 3, 2, 1, "stem-pool")


def block(x, cfg, planes: int, stride: int, name: str):
    """BasicBlock or Bottleneck, as in models/resnet.py."""
    in_channels = x.shape[-1]
    bottleneck = cfg.block is torch_resnet.Bottleneck
    expansion = 4 if bottleneck else 1
    out_channels = planes * expansion
    if bottleneck:
        width = int(planes * (cfg.base_width / 64.0)) * cfg.groups
        out = conv_norm_act(x, width // cfg.reduce_first, 1, name=f"{name}-conv1")
        out = conv_norm_act(out, width, 3, stride, groups=cfg.groups, name=f"{name}-conv2")
        out = conv_norm_act(out, out_channels, 1, act=None, name=f"{name}-conv3")
    else:
        out = conv_norm_act(x, planes // cfg.reduce_first, 3, stride, name=f"{name}-conv1")
        out = conv_norm_act(out, out_channels, 3, act=None, name=f"{name}-conv2")
    if cfg.se_ratio:
        from ..layers import make_divisible

        out = squeeze_excite(out, make_divisible(out_channels * cfg.se_ratio, 8, round_limit=0.0), f"{name}-se")
    shortcut = x
    if stride != 1 or in_channels != out_channels:
        kernel = cfg.down_kernel_size if stride != 1 else 1
        shortcut = conv_norm_act(x, out_channels, kernel, stride, act=None, name=f"{name}-downsample")
    out = keras.layers.Add(name=f"{name}-add")([out, shortcut])
    return activation(out, "relu", f"{name}-act")


def build(cfg, x):
    x = stem(x, cfg)
    stages = []
    for i, (depth, planes) in enumerate(zip(cfg.depths, (64, 128, 256, 512))):
        for j in range(depth):
            x = block(x, cfg, planes, 2 if (i > 0 and j == 0) else 1, f"stages-{i}-{j}")
        stages.append(x)
    return stages, classifier_head(cfg.drop_rate)


def _register():
    from functools import partial

    from ..models import senet as torch_senet

    configs = {name: cfg for name, (cfg, _paper) in torch_resnet.VARIANTS.items()} | torch_senet.VARIANTS
    for name, cfg in configs.items():
        register_twin(name, partial(build, cfg))


_register()
