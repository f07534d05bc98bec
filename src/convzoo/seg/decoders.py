"""Decoders that turn an encoder's maps (finest first, as `FeatureEncoder`
returns them) into one map at the finest map's resolution.

- `UNetDecoder` (Ronneberger et al. 2015, "U-Net"): from the coarsest map,
  repeatedly enlarge to the next finer map's size, concatenate that map (the
  skip connection) and mix with two 3x3 conv-BN-ReLU.
- `FPNDecoder` (Lin et al. 2017, "Feature Pyramid Networks"), with the
  semantic-segmentation branch of Kirillov et al. 2019 ("Panoptic FPN"): 1x1
  lateral convs to a common width, a top-down pathway that adds each coarser
  level (enlarged) into the next finer one, 3x3 smoothing, then every level
  brought to the finest resolution and summed.

Both take the maps' channels (`encoder.channels`) and work for any number of
maps and any input size: maps are enlarged to their neighbour's exact size
(not a fixed x2), so odd sizes, where a stride-2 conv rounds up, still line
up. Neither goes above the finest map's resolution: `SegmentationModel`
enlarges the logits to the input size (the finest map is /2 or /4 for most
encoders, where a bilinear enlargement of the logits costs nothing and
loses little).

Kept scriptable: loops run over ModuleLists front to back (TorchScript cannot
reverse one), so blocks are stored coarse-to-fine.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def _check_channels(encoder_channels: Sequence[int], who: str) -> list[int]:
    channels = [int(c) for c in encoder_channels]
    if not channels or any(c < 1 for c in channels):
        raise ValueError(f"{who}: encoder_channels {tuple(encoder_channels)} must be one positive count per "
                         f"encoder map (pass encoder.channels)")
    return channels


class UNetBlock(nn.Module):
    """Enlarge `x` to the skip's size, concatenate the skip, two conv-BN-ReLU."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = conv_bn_relu(in_channels + skip_channels, out_channels)
        self.conv2 = conv_bn_relu(out_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        # Nearest, as U-Net's up-sampling: the convs that follow smooth it, and
        # bilinear would only blur what the skip brings sharp.
        x = F.interpolate(x, size=[skip.shape[-2], skip.shape[-1]], mode="nearest")
        x = torch.cat([x, skip], dim=1)
        return self.conv2(self.conv1(x))


class UNetDecoder(nn.Module):
    """U-Net's expanding path over the encoder's maps.

    encoder_channels: the maps' channels, finest first (`encoder.channels`).
    decoder_channels: the width after each block, coarsest block first; one per
    skip (len(encoder_channels) - 1). Default: 256 halving per block, at least 16.
    Output: `out_channels` (the last block's width) at the finest map's size.
    """

    def __init__(self, encoder_channels: Sequence[int], decoder_channels: Sequence[int] | None = None):
        super().__init__()
        channels = _check_channels(encoder_channels, "UNetDecoder")
        n_blocks = len(channels) - 1
        if decoder_channels is None:
            decoder_channels = [max(16, 256 >> i) for i in range(n_blocks)]
        decoder_channels = [int(c) for c in decoder_channels]
        if len(decoder_channels) != n_blocks or any(c < 1 for c in decoder_channels):
            raise ValueError(f"UNetDecoder: decoder_channels {tuple(decoder_channels)} must be {n_blocks} positive "
                             f"widths, one per skip of the encoder's {len(channels)} maps (coarsest first)")
        skips = channels[-2::-1] if n_blocks else []  # coarse to fine, the coarsest map excluded
        ins = [channels[-1], *decoder_channels[:-1]]
        self.blocks = nn.ModuleList(UNetBlock(i, s, o) for i, s, o in zip(ins, skips, decoder_channels))
        self.out_channels = decoder_channels[-1] if n_blocks else channels[-1]

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """One map [N, out_channels, h, w] at the finest input map's size, from the
        encoder's maps (finest first)."""
        x = features[-1]
        n = len(features)
        for i, block in enumerate(self.blocks):
            x = block(x, features[n - 2 - i])
        return x


class FPNDecoder(nn.Module):
    """A feature pyramid over the encoder's maps, merged for segmentation.

    encoder_channels: the maps' channels, finest first (`encoder.channels`).
    pyramid_channels: the common width of the pyramid's levels (P2..P5 in the paper).
    segmentation_channels: each level's width after its 3x3 conv-BN-ReLU, before
    they are enlarged to the finest level and summed (`out_channels`).
    """

    def __init__(self, encoder_channels: Sequence[int], pyramid_channels: int = 256,
                 segmentation_channels: int = 128, dropout: float = 0.0):
        super().__init__()
        channels = _check_channels(encoder_channels, "FPNDecoder")
        if pyramid_channels < 1 or segmentation_channels < 1:
            raise ValueError(f"FPNDecoder: pyramid_channels {pyramid_channels} and segmentation_channels "
                             f"{segmentation_channels} must be positive")
        coarse_to_fine = channels[::-1]
        self.laterals = nn.ModuleList(nn.Conv2d(c, pyramid_channels, 1) for c in coarse_to_fine)
        # The paper's 3x3 on each merged level "to reduce the aliasing effect of upsampling".
        self.smooth = nn.ModuleList(
            nn.Conv2d(pyramid_channels, pyramid_channels, 3, padding=1) for _ in coarse_to_fine)
        self.segmentation = nn.ModuleList(
            conv_bn_relu(pyramid_channels, segmentation_channels) for _ in coarse_to_fine)
        self.dropout = nn.Dropout2d(dropout)
        self.out_channels = segmentation_channels

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """One map [N, out_channels, h, w] at the finest input map's size: the pyramid's
        levels, each brought to that size and summed."""
        n = len(features)
        finest = features[0]
        size = [finest.shape[-2], finest.shape[-1]]
        top = torch.zeros(0)
        merged = torch.zeros(0)
        for i, (lateral, smooth, segmentation) in enumerate(zip(self.laterals, self.smooth, self.segmentation)):
            level = features[n - 1 - i]
            p = lateral(level)
            if i > 0:
                p = p + F.interpolate(top, size=[level.shape[-2], level.shape[-1]], mode="nearest")
            top = p
            y = segmentation(smooth(p))
            if i < n - 1:
                y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
            merged = y if i == 0 else merged + y
        return self.dropout(merged)


DECODERS = {"unet": UNetDecoder, "fpn": FPNDecoder}
