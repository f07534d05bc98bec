"""Stochastic depth ("Deep Networks with Stochastic Depth", Huang et al. 2016)."""
from __future__ import annotations

import torch
from torch import nn


class DropPath(nn.Module):
    """Drop a residual branch per sample with probability `drop_prob` while training.

    Survivors are scaled by 1 / (1 - p) so the expected output is unchanged and
    nothing needs rescaling at inference (where this is the identity).
    """

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask_shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        # Scale the (N, 1, 1, 1) mask, not the activation: one full-size op, not two.
        mask = x.new_empty(mask_shape).bernoulli_(keep).div_(keep)
        return x * mask

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}"


def drop_path_rates(drop_path_rate: float, depths: list[int]) -> list[list[float]]:
    """Per-block rates rising linearly from 0 to `drop_path_rate` over the whole
    network (the "linear decay" rule of the stochastic depth paper), split by stage."""
    total = sum(depths)
    rates = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
    out, start = [], 0
    for d in depths:
        out.append(rates[start:start + d])
        start += d
    return out
