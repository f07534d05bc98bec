"""RegNetX and RegNetY twins, generated from the same design-space parameters
as the PyTorch family (models/regnet.py: REGNET_PARAMS, generate_stages)."""
from functools import partial

from ..models import regnet as torch_regnet
from .applications import classifier_head, register_twin
from .layers import activation, conv_norm_act, keras, squeeze_excite


def block(x, out_channels: int, stride: int, group_width: int, bottleneck_ratio: float, se_ratio: float,
          name: str):
    """models/regnet.RegNetBlock: 1x1 -> 3x3 group conv -> [SE] -> 1x1, plus the
    shortcut (a 1x1 projection where the shape changes), then ReLU."""
    in_channels = x.shape[-1]
    bottleneck = int(round(out_channels * bottleneck_ratio))
    out = conv_norm_act(x, bottleneck, 1, name=f"{name}-conv1")
    out = conv_norm_act(out, bottleneck, 3, stride, groups=bottleneck // group_width, name=f"{name}-conv2")
    if se_ratio:
        # RegNetY sizes its squeeze from the block's *input* width, not the bottleneck's.
        out = squeeze_excite(out, int(round(in_channels * se_ratio)), f"{name}-se")
    out = conv_norm_act(out, out_channels, 1, act=None, name=f"{name}-conv3")
    shortcut = x
    if stride != 1 or in_channels != out_channels:
        shortcut = conv_norm_act(x, out_channels, 1, stride, act=None, name=f"{name}-downsample")
    # (drop_path is the identity at inference, so it has no layer here.)
    out = keras.layers.Add(name=f"{name}-add")([out, shortcut])
    return activation(out, "relu", f"{name}-act")


def build(params, x):
    x = conv_norm_act(x, torch_regnet.STEM_WIDTH, 3, 2, name="stem")
    stages = []
    for i, spec in enumerate(torch_regnet.generate_stages(params)):
        for j in range(spec.depth):
            x = block(x, spec.width, 2 if j == 0 else 1, spec.group_width, spec.bottleneck_ratio,
                      params.se_ratio, f"stages-{i}-{j}")
        stages.append(x)
    return stages, classifier_head()


for _name, _params in torch_regnet.REGNET_PARAMS.items():
    register_twin(_name, partial(build, _params))
