"""Small arithmetic helpers shared by the families."""
from __future__ import annotations

from torch import nn


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None, round_limit: float = 0.9) -> int:
    """Round a channel count to a multiple of `divisor` (hardware-friendly widths).

    As in the MobileNet v2 reference: never go below `min_value` (default:
    `divisor`), and never round down by more than 10% of the original value.
    """
    min_value = min_value or divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < round_limit * value:
        rounded += divisor
    return rounded


def make_act(act_layer, inplace: bool = True) -> nn.Module:
    """Instantiate an activation, in place where the activation supports it."""
    try:
        return act_layer(inplace=inplace)
    except TypeError:  # activations without an inplace flag (GELU, Sigmoid, ...)
        return act_layer()
