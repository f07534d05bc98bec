"""Output stride by dilation ("atrous" convolution, DeepLab, Chen et al. 2017):
stages that would take the network below the wanted resolution keep their
input's instead (stride 1), and their convolutions dilate by the stride given
up, so that the receptive field and the weights stay as trained."""


def dilated_stage_plan(output_stride: int, stem_stride: int, stage_strides: tuple[int, ...]
                       ) -> list[tuple[int, int, int]]:
    """Per stage: (stride, dilation of its convs, dilation of its first block's
    strided conv), for a network whose stem reduces by `stem_stride` and whose
    stages by `stage_strides`. The first block's conv keeps the previous
    dilation: it sees the map at the resolution the stage receives, as the
    undilated block's strided conv did (torchvision's, timm's and DeepLab's choice)."""
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
