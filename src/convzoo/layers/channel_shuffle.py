"""Channel shuffle ("ShuffleNet", Zhang et al. 2017; "ShuffleNet V2", Ma et al. 2018).

Grouped (or split) convolutions only mix channels within their group; shuffling
interleaves the groups so that the next layer sees channels from every group.
Viewing the channels as a (groups, channels_per_group) matrix, the shuffle is
its transpose: written with reshape/transpose only, so it traces and exports
(ONNX) like any standard op.
"""
from __future__ import annotations

import torch
from torch import nn


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the `groups` channel groups of `x` (N, C, H, W): channel
    `g * (C // groups) + i` moves to position `i * groups + g`."""
    # No Python arithmetic or branch on the shape: torch.fx traces this as it is
    # (reshape itself rejects a width that `groups` does not divide).
    n, c, h, w = x.shape
    x = x.reshape(n, groups, -1, h, w).transpose(1, 2)
    return x.reshape(n, c, h, w)


class ChannelShuffle(nn.Module):
    """`channel_shuffle` as a module (no parameters)."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_shuffle(x, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"
