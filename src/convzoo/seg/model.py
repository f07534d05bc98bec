"""A segmentation network: encoder -> decoder -> head, logits at the input size,
and `get_seg_model`, which builds one over any convzoo model by name."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..data.preprocessing import Preprocessing
from ..factory import default_preprocessing, get_model, get_weights
from ..net import FeatureEncoder
from ..weights.loading import is_checkpoint_path
from .decoders import DECODERS, FPNDecoder, UNetDecoder


class SegmentationModel(nn.Module):
    """encoder(x) -> maps (finest first); decoder(maps) -> one map; head -> logits,
    enlarged (bilinear) to the input's height and width: (N, num_classes, H, W)."""

    __jit_unused_properties__ = ["num_classes"]

    def __init__(self, encoder: nn.Module, decoder: nn.Module, head: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.head = head
        # The evaluation preprocessing of the encoder's weights (set by get_seg_model):
        # what training and prediction normalise images with.
        self.preprocessing: Preprocessing | None = None

    @property
    def num_classes(self) -> int:
        """Classes the head scores, one logit map each."""
        return self.head.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [N, num_classes, H, W] of a batch of images [N, C, H, W], at the input's size."""
        logits = self.head(self.decoder(self.encoder(x)))
        return F.interpolate(logits, size=[x.shape[-2], x.shape[-1]], mode="bilinear", align_corners=False)


def _default_out_indices(model, decoder: str) -> list[int] | None:
    """UNet uses every map (its finest skip is what makes edges sharp). FPN, as in
    the paper, starts at /4: a /2 level would be the costliest of the pyramid."""
    if decoder != "fpn":
        return None
    info = model.encoder_info()
    keep = [i for i, stage in enumerate(info) if stage.reduction >= 4]
    return keep or None


def get_seg_model(
    encoder_name: str,
    num_classes: int,
    *,
    decoder: str = "unet",
    encoder_weights: str | dict | None = None,
    out_indices: Sequence[int] | None = None,
    output_stride: int = 32,
    in_chans: int = 3,
    decoder_channels: Sequence[int] | int | None = None,
    **encoder_kwargs,
) -> SegmentationModel:
    """A segmentation model over the convzoo model `encoder_name`.

    encoder_weights: None (random) | "DEFAULT" | a weights tag | a checkpoint path.
    out_indices: which encoder maps the decoder gets (default: all for UNet,
    those at /4 and coarser for FPN); see `get_model(..., features_only=True)`.
    output_stride: 8 or 16 dilate the last stages (families that support it).
    decoder_channels: UNet: one width per block, coarsest first; FPN: an int,
    the pyramid's width (the merged map is half of it).
    """
    if decoder not in DECODERS:
        raise ValueError(f"unknown decoder {decoder!r}: choose one of {', '.join(sorted(DECODERS))}")
    if num_classes < 1:
        raise ValueError(f"num_classes {num_classes}: must be at least 1 (the background counts as a class)")
    if output_stride != 32:
        encoder_kwargs["output_stride"] = output_stride
    model = get_model(encoder_name, weights=encoder_weights, in_chans=in_chans, **encoder_kwargs)
    indices = out_indices if out_indices is not None else _default_out_indices(model, decoder)
    encoder = FeatureEncoder(model, indices)
    if decoder == "unet":
        if isinstance(decoder_channels, int):
            raise ValueError(f"decoder_channels {decoder_channels}: UNet takes one width per block "
                             f"({len(encoder.channels) - 1} here, coarsest first), e.g. (256, 128, 64, 32)")
        dec = UNetDecoder(encoder.channels, decoder_channels)
    else:
        if decoder_channels is not None and not isinstance(decoder_channels, int):
            raise ValueError(f"decoder_channels {tuple(decoder_channels)}: FPN takes one int, the pyramid's width")
        width = decoder_channels or 256
        dec = FPNDecoder(encoder.channels, pyramid_channels=width, segmentation_channels=max(1, width // 2))
    head = nn.Conv2d(dec.out_channels, num_classes, 3, padding=1)
    seg = SegmentationModel(encoder, dec, head)
    seg.preprocessing = encoder_preprocessing(encoder_name, encoder_weights)
    return seg


def encoder_preprocessing(encoder_name: str, encoder_weights=None) -> Preprocessing:
    """The normalisation the encoder's weights expect: a tag's own (EfficientNet-Lite's
    mean/std of 0.5, not ImageNet's), else the model's default weights' (a
    checkpoint path, or random weights: the ImageNet recipe does no harm there)."""
    if isinstance(encoder_weights, str) and not is_checkpoint_path(encoder_weights):
        return get_weights(encoder_name, encoder_weights).preprocessing
    return default_preprocessing(encoder_name)
