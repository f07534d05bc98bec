"""Lecture checks (issue 17, item 4): the measured counts are the textbook
formulas, written out again here, and the blocks are the zoo's own."""
import pytest
import torch

import convzoo as cz
from convzoo.cli import main
from convzoo.models.mobilenet_v1 import DepthwiseSeparable
from convzoo.models.resnet import BasicBlock, Bottleneck
from convzoo.tasks.anatomy.teaching import design_comparisons, format_comparisons

from paths import ROOT

SIZE = 8  # small maps: the counts do not depend on the size, the MACs scale with it


def _by_title(comparisons):
    five, seven, separable, bottleneck = comparisons
    assert "5x5" in five.title and "7x7" in seven.title
    assert "depthwise" in separable.title and "bottleneck" in bottleneck.title
    return five, seven, separable, bottleneck


@pytest.mark.parametrize("c", [4, 12, 64, 256])
def test_conv_weights_and_macs_are_the_closed_forms(c):
    """A bias, a wrong `groups` or a wrong bottleneck width would break these."""
    five, seven, separable, bottleneck = _by_title(design_comparisons(channels=c, size=SIZE))
    closed_forms = {
        (five, "first"): 25 * c * c, (five, "second"): 2 * 9 * c * c,
        (seven, "first"): 49 * c * c, (seven, "second"): 3 * 9 * c * c,
        (separable, "first"): 9 * c * c, (separable, "second"): 9 * c + c * c,
        (bottleneck, "first"): 2 * 9 * c * c,
        (bottleneck, "second"): c * (c // 4) + 9 * (c // 4) ** 2 + (c // 4) * c,
    }
    # BatchNorm's scale and shift, per channel of each norm; no conv has a bias
    norm_channels = {
        (five, "first"): c, (five, "second"): 2 * c, (seven, "first"): c, (seven, "second"): 3 * c,
        (separable, "first"): c, (separable, "second"): 2 * c,
        (bottleneck, "first"): 2 * c, (bottleneck, "second"): c // 4 + c // 4 + c,
    }
    for (comp, which), weights in closed_forms.items():
        alt = getattr(comp, which)
        assert alt.conv_weights == alt.expected_conv_weights == weights, (comp.title, which)
        assert alt.params == weights + 2 * norm_channels[comp, which], (comp.title, which)
        # every conv keeps the map's size: one MAC per weight per output pixel
        assert alt.macs == weights * SIZE * SIZE, (comp.title, which)
    for comp in (five, seven, separable, bottleneck):
        assert comp.ratio == pytest.approx(float(comp.expected_ratio), rel=1e-12)
    assert five.ratio == pytest.approx(0.72) and seven.ratio == pytest.approx(27 / 49)
    assert separable.ratio == pytest.approx(1 / c + 1 / 9)


def test_resnet50_numbers_of_the_lecture():
    *_, bottleneck = design_comparisons(channels=256, size=SIZE)
    assert bottleneck.second.conv_weights == 69_632 and bottleneck.first.conv_weights == 1_179_648


def test_receptive_fields_and_output_shapes():
    """Two 3x3 see 5 pixels like one 5x5, three see 7 like one 7x7; the
    bottleneck block sees 3, the basic block 5. Both alternatives of each
    check give the same shape, on the meta device and on real numbers."""
    c = 8
    comparisons = design_comparisons(channels=c, size=SIZE)
    fields = [(comp.first.receptive_field, comp.second.receptive_field) for comp in comparisons]
    assert fields == [(5, 5), (7, 7), (3, 3), (5, 3)]
    x = torch.randn(1, c, SIZE, SIZE)
    for comp in comparisons:
        for alt in (comp.first, comp.second):
            assert alt.output_shape == (1, c, SIZE, SIZE)
            with torch.no_grad():
                assert alt.module(x).shape == alt.output_shape


def _shapes(module):
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def test_the_blocks_are_the_zoos_own():
    """The ResNet and MobileNet blocks are the ones inside the zoo's models:
    same classes, same tensors (names and shapes) as a block of a real stage."""
    with torch.device("meta"):
        resnet50, resnet18, mobilenet = (cz.get_model(n) for n in ("resnet50", "resnet18", "mobilenet_v1"))
    *_, bottleneck256 = design_comparisons(channels=256, size=SIZE)
    *_, bottleneck64 = design_comparisons(channels=64, size=SIZE)
    _, _, separable512, _ = design_comparisons(channels=512, size=SIZE)

    block = resnet50.stages[0][1]  # 256 -> 64 -> 64 -> 256, identity shortcut
    assert type(bottleneck256.second.module) is type(block) is Bottleneck
    assert _shapes(bottleneck256.second.module) == _shapes(block)
    block = resnet18.stages[0][1]  # two 3x3 at 64
    assert type(bottleneck64.first.module) is type(block) is BasicBlock
    assert _shapes(bottleneck64.first.module) == _shapes(block)
    block = mobilenet.stages[3][1]  # 512 -> 512, stride 1
    assert type(separable512.second.module) is type(block) is DepthwiseSeparable
    assert _shapes(separable512.second.module) == _shapes(block)


def test_bad_channels_is_one_line():
    with pytest.raises(ValueError, match="multiple of 4"):
        design_comparisons(channels=30)
    with pytest.raises(ValueError, match="format"):
        format_comparisons([])


def test_cli_info_compare_prints_the_known_numbers(capsys):
    assert main(["info", "--compare"]) == 0
    out = capsys.readouterr().out
    for known in ("1,638,400", "1,179,648", "69,632", "67,840", "ratio 0.7200", "ratio 0.5510", "17/288",
                  "(1, 256, 56, 56)", "lesson:"):
        assert known in out, known
    assert main(["info", "--compare", "--channels", "64"]) == 0
    assert "102,400" in capsys.readouterr().out  # 25 * 64^2


def test_cli_info_without_name_or_compare_is_one_line(capsys):
    assert main(["info"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--compare" in err and "model name" in err


def test_readme_shows_the_real_output(capsys):
    """The anatomy page's excerpt of `convzoo info --compare` (docs/anatomy.md) is what it prints."""
    import re

    readme = (ROOT / "docs" / "anatomy.md").read_text()
    (excerpt,) = re.findall(r"## Lecture checks\n.+?```text\n(.+?)\n```", readme, re.S)
    assert main(["info", "--compare", "--channels", "256"]) == 0
    out = capsys.readouterr().out.splitlines()
    shown = [line for line in excerpt.splitlines() if line != "..."]
    assert len(shown) >= 8 and all(line in out for line in shown), [line for line in shown if line not in out]
