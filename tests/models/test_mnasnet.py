"""MNASNet against torchvision."""
import pytest
import torch
import torchvision
from torch import nn

import convzoo as cz
from parity import assert_parity, check_anatomy

TORCHVISION_MODELS = ["mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3"]


def test_parity_small_input(tmp_path):
    assert_parity("mnasnet0_5", torchvision.models.mnasnet0_5(), tmp_path, input_size=64)


@pytest.mark.slow
@pytest.mark.parametrize("name", TORCHVISION_MODELS)
def test_parity_full_size(name, tmp_path):
    assert_parity(name, torchvision.models.get_model(name), tmp_path, input_size=224)


def test_legacy_stem_reads_version_1_checkpoints(tmp_path):
    """torchvision's first MNASNet kept the stem at 32/16 channels for every
    alpha; its mnasnet0_5 ImageNet file is such a checkpoint. torchvision
    rebuilds that stem when it loads one (state_dict version 1): so do we,
    with legacy_stem=True."""
    ref = torchvision.models.mnasnet0_5()
    with pytest.warns(UserWarning, match="previous version"):  # torchvision swaps in the old stem
        ref._load_from_state_dict({}, "", {"version": 1}, False, [], [], [])
    assert ref.layers[0].out_channels == 32
    ours = assert_parity("mnasnet0_5", ref, tmp_path, input_size=64, legacy_stem=True)
    assert ours.stem.conv.out_channels == 32 and ours.feature_info[0].channels == 16


@pytest.mark.parametrize("alpha, name", [(0.5, "mnasnet0_5"), (0.75, "mnasnet0_75"), (1.0, "mnasnet1_0"), (1.3, "mnasnet1_3")])
def test_width_rounding_and_strides(alpha, name):
    """Stage widths follow the MobileNet rounding of alpha x the B1 widths (torchvision's _get_depths)."""
    depths = torchvision.models.mnasnet._get_depths(alpha)  # stem, sepconv, then one per row
    model = cz.get_model(name)
    assert model.stem.conv.out_channels == depths[0]
    assert [s.channels for s in model.feature_info] == [depths[1], depths[2], depths[3], depths[5], depths[7]]
    assert [s.reduction for s in model.feature_info] == [2, 4, 8, 16, 32]
    assert model.state_dict()[model.first_conv].shape == (depths[0], 3, 3, 3)


def test_batchnorm_momentum_of_the_tf_reference():
    """BN decay 0.9997 (momentum 3e-4): running statistics barely move per step."""
    model = cz.get_model("mnasnet1_0")
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(abs(m.momentum - 3e-4) < 1e-9 for m in norms)
    model.train()
    model(torch.randn(2, 3, 64, 64) * 5 + 3)
    assert model.stem.bn.running_mean.abs().max() < 0.05  # default momentum 0.1 would move it far more


def test_anatomy():
    check_anatomy("mnasnet0_5")
