"""Receptive fields of stage outputs (issue 17, part of item 3), against values
worked out by hand with r_out = r_in + (k - 1) * j_in, j_out = j_in * s."""
import pytest
import torch
from torch import nn

import convzoo as cz
from convzoo.tasks.anatomy.receptive_field import ReceptiveField, stage_receptive_fields

HAND_COMPUTED = {
    # conv11/4 -> 11, j4; pool3/2 -> 19, j8 | conv5 -> 51; pool3/2 -> 67, j16 |
    # conv3 x3 -> 99, 131, 163; pool3/2 -> 195, j32
    "alexnet": [(19, 8), (67, 16), (195, 32)],
    # per stage: n 3x3 convs add 2n j, the 2x2/2 pool adds j and doubles it:
    # 5, 6 (j2) | 10, 14, 16 (j4) | 24, 32, 40, 44 (j8) | 60, 76, 92, 100 (j16) | 132, 164, 196, 212 (j32)
    "vgg16": [(6, 2), (16, 4), (44, 8), (100, 16), (212, 32)],
    # stem conv7/2 -> 7, j2; pool3/2 -> 11, j4 | 3 blocks' 3x3: 35 |
    # 3x3/2 (v1.5: the stride is in the 3x3) 43, j8, then 3 more: 91 |
    # 107, j16, then 5 more: 267 | 299, j32, then 2 more: 427
    "resnet50": [(35, 4), (91, 8), (267, 16), (427, 32)],
}


def test_same_padded_convs_count():
    """Lite's convs are layers.padding.Conv2dSame (TF "same" padding), traced as
    one node like any conv: stem 3x3/2 -> 3, j2; a 3x3 depthwise -> 7 | 3x3/2 -> 11, j4;
    another 3x3 -> 19 | 5x5/2 -> 35, j8; another 5x5 -> 67."""
    fields = stage_receptive_fields(cz.get_model("efficientnet_lite0"))
    assert [(f.size, f.stride) for f in fields[:3]] == [(7, 2), (19, 4), (67, 8)]
    assert [f.stride for f in fields] == [2, 4, 8, 16, 32]


@pytest.mark.parametrize("name", sorted(HAND_COMPUTED))
def test_stage_receptive_fields_match_the_hand_computed_ones(name):
    fields = stage_receptive_fields(cz.get_model(name))
    assert [(f.size, f.stride) for f in fields] == HAND_COMPUTED[name]
    assert [f.stride for f in fields] == [i.reduction for i in cz.get_model(name).feature_info]


def test_dilation_and_branches():
    """A dilated conv widens by d(k - 1) j; where branches meet, the wider one counts."""
    assert ReceptiveField(3, 2).through(kernel=3, stride=1, dilation=2) == ReceptiveField(11, 2)

    class TwoBranches(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Identity()
            self.stages = nn.ModuleList([nn.Conv2d(1, 1, 5, padding=2)])
            self.side = nn.Conv2d(1, 1, 1)

        def forward_stages(self, x):
            return [self.stages[0](x) + self.side(x)]

    assert stage_receptive_fields(TwoBranches()) == [ReceptiveField(5, 1)]
    assert TwoBranches().forward_stages(torch.zeros(1, 1, 8, 8))[0].shape == (1, 1, 8, 8)
