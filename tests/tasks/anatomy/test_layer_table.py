"""The per-layer table (issue 17, item 3; `convzoo info NAME --layers`): its
MACs and parameters add up to count_macs and the model's own count, its
receptive fields agree with the stage fields and with values worked out by hand."""
import pytest
import torch
from torch import nn

import convzoo as cz
from convzoo.cli import main
from convzoo.tasks.anatomy.complexity import count_macs
from convzoo.tasks.anatomy.layer_table import format_layer_table, layer_table, layer_table_csv
from convzoo.tasks.anatomy.receptive_field import ReceptiveField, stage_receptive_fields
from test_receptive_field import HAND_COMPUTED

# Families whose layers differ in kind: plain, residual, depthwise + SE, dense
# concats, Inception branches (and auxiliary heads not run at inference),
# TF "same" padding (Conv2dSame), LayerNorm + Linear on channels-last (ConvNeXt),
# NASNet's functional pools.
FAMILIES = ["resnet18", "mobilenet_v2", "densenet121", "efficientnet_b0", "inception_v3", "efficientnet_lite0",
            "convnext_tiny", "squeezenet1_0", "nasnet_a_mobile"]


@pytest.mark.parametrize("name", FAMILIES)
def test_macs_and_params_add_up_to_the_whole_model(name):
    table = layer_table(name)
    info = cz.model_info(name)
    assert table.macs == count_macs(info.build, info.input_size)
    with torch.device("meta"):
        assert table.params == sum(p.numel() for p in cz.get_model(name).parameters())
    assert all(r.macs > 0 for r in table if r.kind.startswith(("Conv2d", "Linear")))
    model = cz.get_model(name)
    assert [s.field for s in table.stages] == stage_receptive_fields(model)
    assert [s.field.stride for s in table.stages] == [i.reduction for i in model.feature_info]


def test_inception_auxiliary_classifier_is_listed_as_not_run():
    table = layer_table("inception_v3")
    assert set(table.not_run) == {"aux_heads.mixed6e"} and table.not_run["aux_heads.mixed6e"] > 3_000_000
    assert "(not run at inference)" in format_layer_table(table)


def test_resnet18_rows_read_by_hand():
    table = layer_table("resnet18")
    conv1 = table.row("stem.conv")
    # 64 kernels of 3x7x7 = 9408 weights; each of 64x112x112 outputs takes 147 MACs.
    assert (conv1.kind, conv1.shape, conv1.params, conv1.macs) == ("Conv2d 7x7/2", (64, 112, 112), 9408,
                                                                   64 * 112 * 112 * 147)
    assert table.row("stem.bn").kind == "BatchNorm2d +ReLU" and table.row("stem.bn").params == 128
    assert (table.row("stem.pool").field, table.row("stem.pool").shape) == (ReceptiveField(11, 4), (64, 56, 56))
    fc = table.rows[-1]
    assert (fc.name, fc.shape, fc.params, fc.macs, fc.field) == ("head.fc", (1000,), 513_000, 512_000, None)
    assert [r.part for r in table][:3] == ["stem"] * 3 and table.rows[-1].part == "head"
    order = [r.part for r in table]
    assert order.index("stage 1") > order.index("stage 0") and order.count("stage 3") > 0


def test_alexnet_first_layers_by_hand():
    """r_out = r_in + (k - 1) j_in, j_out = j_in s: conv 11/4 -> 11, j4; pool 3/2 -> 19, j8; conv 5/1 -> 51, j8."""
    table = layer_table("alexnet")
    windowed = [r for r in table if r.kind.startswith(("Conv", "MaxPool"))]
    assert [(r.kind, r.field) for r in windowed[:3]] == [
        ("Conv2d 11x11/4 +ReLU", ReceptiveField(11, 4)), ("MaxPool2d 3x3/2", ReceptiveField(19, 8)),
        ("Conv2d 5x5/1 +ReLU", ReceptiveField(51, 8))]  # no norm: the ReLU folds into the conv
    assert [r.shape for r in windowed[:3]] == [(64, 55, 55), (64, 27, 27), (192, 27, 27)]
    assert windowed[0].params == 64 * 3 * 11 * 11 + 64


@pytest.mark.parametrize("name", sorted(HAND_COMPUTED))
def test_stage_rows_match_the_hand_computed_fields(name):
    table = layer_table(name)
    assert [(s.field.size, s.field.stride) for s in table.stages] == HAND_COMPUTED[name]
    # The last windowed layer of each stage carries that stage's field.
    for stage in table.stages:
        rows = [r for r in table if r.part == f"stage {stage.index}"]
        assert max(r.field.size for r in rows) == stage.field.size
        assert rows[-1].shape == stage.shape


def test_a_model_instance_keeps_its_tensors_and_mode():
    model = cz.get_model("mobilenet_v3_small").train()
    before = model.stem.conv.weight.clone()
    table = layer_table(model, input_size=64)
    assert model.training and model.stem.conv.weight.device.type == "cpu"
    assert torch.equal(model.stem.conv.weight, before)
    assert table.input_shape == (3, 64, 64) and table.stages[-1].shape[1:] == (2, 2)


def test_encoders_are_refused_in_one_line():
    with pytest.raises(ValueError, match="features_only"):
        layer_table(cz.get_model("resnet18", features_only=True))


def test_text_and_csv():
    table = layer_table("resnet18")
    text = format_layer_table(table)
    assert text.splitlines()[0].startswith("resnet18 on a 3x224x224 input: 11.7M parameters, 1.8G MACs")
    assert "stage 3  output 512x7x7" in text and "receptive field 435 px, stride 32" in text
    csv = layer_table_csv(table).splitlines()
    assert csv[0] == "layer,part,type,output,params,macs,rf_size,rf_stride"
    assert csv[1] == f"stem.conv,stem,Conv2d 7x7/2,64x112x112,9408,{64 * 112 * 112 * 147},7,2"
    assert len(csv) == len(table) + 1


def test_cli_info_layers(capsys):
    assert main(["info", "resnet18", "--layers"]) == 0
    out = capsys.readouterr().out
    conv1 = next(line for line in out.splitlines() if line.startswith("stem.conv "))
    assert conv1.split()[1:5] == ["Conv2d", "7x7/2", "64x112x112", "9.4K"]
    assert "head.fc" in out and "stage 0  output 64x56x56" in out
    assert main(["info", "resnet18", "--layers", "--input-size", "128"]) == 0
    conv1 = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("stem.conv "))
    assert conv1.split()[3] == "64x64x64"


def test_grouped_and_dilated_kinds():
    class Tiny(nn.Module):
        first_conv = "stem.weight"

        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.stages = nn.ModuleList([nn.Sequential(nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=8),
                                                       nn.Conv2d(8, 16, 3, stride=2, groups=2))])
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(16, 4))

        def forward_stages(self, x):
            return [self.stages[0](self.stem(x))]

        def forward_head(self, x):
            return self.head(x)

    table = layer_table(Tiny(), input_size=16)
    assert [r.kind for r in table] == ["Conv2d 3x3/1", "Conv2d 3x3/1 d2 dw", "Conv2d 3x3/2 g2",
                                       "AdaptiveAvgPool2d ->1", "Linear 16->4"]
    # 3 -> 3 + 2*2 = 7 -> 7 + 2 = 9 (j2); after the global pool every value sees the whole image.
    assert [r.field for r in table] == [ReceptiveField(3, 1), ReceptiveField(7, 1), ReceptiveField(9, 2), None, None]
    assert table[2].macs == 16 * 7 * 7 * (8 // 2) * 9


def test_bare_parameters_get_rows_of_their_own():
    """ConvNeXt's LayerNorm2d and layer scale use their parameters in functional
    code: rows named after their modules, not folded into a neighbour's count."""
    table = layer_table("convnext_tiny")
    modules = dict(cz.get_model("convnext_tiny").named_modules())
    assert all(r.params == sum(p.numel() for p in modules[r.name].parameters()) for r in table
               if r.kind.startswith(("Conv2d", "Linear", "LayerNorm")))
    assert (table.row("stem.conv").params, table.row("stem.norm").kind, table.row("stem.norm").params) == (
        96 * 3 * 4 * 4 + 96, "LayerNorm2d", 192)
    assert table.row("stages.0.blocks.0").kind == "ConvNeXtBlock .layer_scale"


@pytest.mark.slow
@pytest.mark.parametrize("name", cz.list_models())
def test_every_model_adds_up_to_the_complexity_table(name):
    """Every model: the rows' MACs and parameters give the packaged table's
    figures (measured by count_macs), and every stage has a spatial field."""
    from convzoo.registry import complexity_table

    table = layer_table(name)
    known = complexity_table()[name]
    assert table.params == known["params"]
    assert round(table.macs / 1e9, 6) == known["gflops"][str(cz.model_info(name).input_size)]
    assert all(s.field is not None and s.field.size > 1 for s in table.stages)
