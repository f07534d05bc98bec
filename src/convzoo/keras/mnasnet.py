"""MNASNet twins (the B1 variant, no squeeze-excite), read off models/mnasnet.py's
table with the inverted residual blocks of mobilenet.py."""
from dataclasses import replace
from functools import partial

from ..layers import make_divisible
from ..models import mnasnet as torch_mnasnet
from .applications import classifier_head, register_twin
from .layers import conv_norm_act
from .mobilenet import conv_pre, mbconv_stages, torch_padding


def build(alpha: float, x, legacy_stem: bool = False):
    """stem 3x3/2 conv -> SepConv + MBConv rows -> head 1x1 conv (1280) -> pool, dropout, fc.

    legacy_stem (torchvision's mnasnet0_5 checkpoint): the stem conv and the
    SepConv keep 32 and 16 channels whatever alpha is."""
    def width(c: float) -> int:
        return make_divisible(c * alpha, 8)

    # BN eps stays PyTorch's default 1e-5 (the family only changes the momentum).
    stem_width = torch_mnasnet.STEM_WIDTH if legacy_stem else width(torch_mnasnet.STEM_WIDTH)
    x = conv_norm_act(x, stem_width, 3, 2, act="relu", name="stem", padding=torch_padding(3, 2))
    rows = [[replace(row, channels=width(row.channels)) for row in stage] for stage in torch_mnasnet.MNASNET_STAGES]
    if legacy_stem:
        rows[0] = list(torch_mnasnet.MNASNET_STAGES[0])
    stages = mbconv_stages(x, rows, "relu")
    return stages, classifier_head(0.2, pre=conv_pre(torch_mnasnet.HEAD_WIDTH, "relu"))


def _register():
    for alpha, suffix in [(0.5, "0_5"), (0.75, "0_75"), (1.0, "1_0"), (1.3, "1_3")]:
        register_twin(f"mnasnet{suffix}", partial(build, alpha))


_register()
