"""ShuffleNet V2 against torchvision, and the channel shuffle."""
import pytest
import torch
import torchvision
from torchvision.models.shufflenetv2 import channel_shuffle as tv_channel_shuffle

import convzoo as cz
from convzoo.layers.channel_shuffle import ChannelShuffle, channel_shuffle
from parity import assert_parity, check_anatomy

MODELS = ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0"]


def test_parity_small_input(tmp_path):
    assert_parity("shufflenet_v2_x0_5", torchvision.models.get_model("shufflenet_v2_x0_5"), tmp_path, input_size=64)


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_parity_full_size(name, tmp_path):
    assert_parity(name, torchvision.models.get_model(name), tmp_path, input_size=224)


def test_anatomy():
    check_anatomy("shufflenet_v2_x1_0", input_size=64)


def test_paper_table5_widths():
    """Table 5: output widths of stages 2-4 and conv5 for each multiplier."""
    table = {"x0_5": (48, 96, 192, 1024), "x1_0": (116, 232, 464, 1024),
             "x1_5": (176, 352, 704, 1024), "x2_0": (244, 488, 976, 2048)}
    for suffix, widths in table.items():
        model = cz.get_model(f"shufflenet_v2_{suffix}")
        assert tuple(s.channels for s in model.feature_info) == widths[:3]
        assert model.head.in_features == widths[3]
        assert [len(stage) for stage in model.stages] == [4, 8, 4]


def test_channel_shuffle_interleaves_groups():
    """Channel g * (C/groups) + i goes to i * groups + g."""
    c, groups = 12, 3
    x = torch.arange(c, dtype=torch.float32).view(1, c, 1, 1).expand(2, c, 2, 2)
    out = channel_shuffle(x, groups)
    per_group = c // groups
    expected = [g * per_group + i for i in range(per_group) for g in range(groups)]
    assert out[0, :, 0, 0].tolist() == expected
    # shuffling by C/groups undoes it (transposing the matrix back)
    torch.testing.assert_close(channel_shuffle(out, per_group), x)
    torch.testing.assert_close(out, tv_channel_shuffle(x.contiguous(), groups))
    with pytest.raises(RuntimeError, match="invalid for input"):  # 12 channels, 5 groups
        channel_shuffle(x, 5)


def test_channel_shuffle_exports_with_standard_ops():
    """torch.export (the ONNX exporter's front end) sees only core aten ops,
    with a dynamic batch and spatial size."""
    batch, size = torch.export.Dim("batch"), torch.export.Dim("size", min=2)
    program = torch.export.export(ChannelShuffle(2), (torch.randn(2, 8, 4, 4),),
                                  dynamic_shapes=({0: batch, 2: size, 3: size},))
    x = torch.randn(3, 8, 5, 5)
    torch.testing.assert_close(program.module()(x), channel_shuffle(x, 2))
    targets = {str(n.target) for n in program.graph.nodes if n.op == "call_function"}
    assert targets and all(t.startswith("aten.") for t in targets), targets
