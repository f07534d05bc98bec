"""Output stride by dilation ("atrous" convolution, DeepLab, Chen et al. 2017):
stages that would take the network below the wanted resolution keep their
input's instead (stride 1), and their convolutions dilate by the stride given
up, so that the receptive field and the weights stay as trained."""
from __future__ import annotations

from typing import Sequence


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
