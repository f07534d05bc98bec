"""Output stride by dilation ("atrous" convolution, DeepLab, Chen et al. 2017):
stages that would take the network below the wanted resolution keep their
input's instead (stride 1), and their convolutions dilate by the stride given
up, so that the receptive field and the weights stay as trained."""
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def dilated_stage_plan(output_stride: int, stem_stride: int, stage_strides: tuple[int, ...]
                       ) -> list[tuple[int, int, int]]:
    """Per stage: (stride, dilation of its convs, dilation of its first block's
    strided conv), for a network whose stem reduces by `stem_stride` and whose
    stages by `stage_strides`. The first block's conv keeps the previous
    dilation: it sees the map at the resolution the stage receives, as the
    undilated block's strided conv did (torchvision's ResNets', timm's and DeepLab's choice)."""
    full = stem_stride
    for s in stage_strides:
        full *= s
    if output_stride not in (8, 16, 32) or output_stride > full or output_stride < stem_stride:
        raise ValueError(f"output_stride must be 8, 16 or 32 (at most this network's {full} and at least its "
                         f"stem's {stem_stride}), not {output_stride}")
    plan, reduction, dilation = [], stem_stride, 1
    for s in stage_strides:
        previous = dilation
        if reduction * s > output_stride:
            dilation *= s
            s = 1
        reduction *= s
        plan.append((s, dilation, previous))
    return plan


class DilatedAvgPool(nn.Module):
    """What a 2x2 stride-2 average pool becomes in a dilated stage: the mean of
    the pixels `dilation` apart, at stride 1 (the input map's size kept).

    Output pixel i averages input pixels i and i + dilation (per spatial dim),
    as the strided pool averaged 2i and 2i + 1 of a map `dilation` times
    coarser: on every stride-th pixel the dilated network computes the
    undilated one's values, and fills in between. The pixels past the
    bottom/right edge repeat the edge (an average of what is there, not a
    fade to zero); on a map of even size nothing on that coarse grid reads
    them (of an odd one, the strided pool drops the last row). No weights, so a
    checkpoint's keys do not change. `spatial_dims` 1, 2 or 3 (the mean is
    separable: one pass per dim); nn.AvgPool has no dilation."""

    def __init__(self, dilation: int, spatial_dims: int = 2):
        super().__init__()
        self.dilation = dilation
        self.spatial_dims = spatial_dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.dilation
        x = F.pad(x, [0, d] * self.spatial_dims, mode="replicate")  # (0, d) on each spatial dim
        for i in range(self.spatial_dims):
            dim = x.dim() - 1 - i
            size = x.size(dim) - d
            x = 0.5 * (x.narrow(dim, 0, size) + x.narrow(dim, d, size))
        return x


def dilated_block_plan(output_stride: int, stem_stride: int, block_strides: Sequence[Sequence[int]],
                       dilate_strided_block: bool = False) -> list[list[tuple[int, int]]]:
    """Per block of each stage: (stride, dilation of its spatial conv), for
    networks whose blocks have one spatial conv each (the inverted residuals of
    MobileNet, MNASNet, EfficientNet) and whose strides `block_strides` (one
    list per stage) may sit in any block.

    The rule is dilated_stage_plan's with every block as a stage of its own: a
    block that gives up its stride keeps the previous dilation (timm, TF
    DeepLab), the blocks after it take the new one. `dilate_strided_block`:
    that block takes the new one too, as torchvision's MobileNetV3(dilated=True)
    does (the backbone of its DeepLabV3 and LR-ASPP checkpoints)."""
    flat = dilated_stage_plan(output_stride, stem_stride, tuple(s for stage in block_strides for s in stage))
    steps = iter(flat)
    plan = []
    for stage in block_strides:
        plan.append([])
        for _ in stage:
            stride, dilation, previous = next(steps)
            plan[-1].append((stride, dilation if dilate_strided_block else previous))
    return plan
