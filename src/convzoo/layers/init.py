"""Weight initialisation shared by the families whose papers use He init."""
from __future__ import annotations

from torch import nn

from .dims import all_dims


def init_he_fan_out(model: nn.Module, linear_std: float | None = 0.01, zero_conv_bias: bool = False) -> None:
    """He-normal convs over fan-out (each conv is followed by BN and ReLU, so
    a variance-preserving scale is what matters), BatchNorm at identity, and
    classifier weights normal with `linear_std` (None: PyTorch's default).
    `zero_conv_bias` also zeroes conv biases (else they keep PyTorch's default)."""
    for m in model.modules():
        if isinstance(m, all_dims(nn.Conv2d)):  # 1D/3D models (layers/dims.py) alike
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if zero_conv_bias and m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, all_dims(nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and linear_std is not None:
            nn.init.normal_(m.weight, 0.0, linear_std)
            nn.init.zeros_(m.bias)
