"""output_stride=16|8 by dilation (issue 16) for RegNet, ConvNeXt, ResNet v2
and DenseNet; test_output_stride.py has the ResNet family.

timm builds the same dilated RegNet, ConvNeXt and ResNet v2 (its rule for the
first dilated block is ours, layers/dilation.py): parity against it. No
reference dilates DenseNet; there the check is the property dilation exists
for, which holds for the other families too: on every k-th pixel (k = the
stride a stage gave up) the dilated network's maps are the undilated
network's, from the same weights (DeepLab's "atrous" equivalence), for inputs
whose maps keep even sizes (a multiple of 32) and but for RegNetY, whose
squeeze-excite averages the whole map.
"""
import warnings

import pytest
import timm
import torch

import convzoo as cz
from convzoo.layers.dilation import DilatedAvgPool
from convzoo.models.convnext import ConvNeXt, ConvNeXtConfig
from convzoo.models.densenet import DenseNet, DenseNetConfig
from convzoo.models.resnet_v2 import ResNetV2, ResNetV2Config
from parity import assert_close, count_params, randomize_

REDUCTIONS = {32: [4, 8, 16, 32], 16: [4, 8, 16, 16], 8: [4, 8, 8, 8]}
SIZE = 64  # a multiple of 32: every map size is SIZE / reduction exactly

# Small stand-ins where the family's smallest model costs seconds to build:
# every stage, fewer and narrower layers (same code paths).
SMALL_CONVNEXT = ConvNeXtConfig(depths=(2, 2, 3, 2), widths=(16, 32, 64, 128))
SMALL_DENSENET = DenseNetConfig(growth_rate=8, depths=(2, 2, 3, 2), stem_width=16)
SMALL_RESNET_V2 = ResNetV2Config(depths=(1, 2, 2, 1), planes=(8, 16, 32, 64), stem_width=16)

FAMILIES = {  # family: builder(output_stride=..., **kwargs)
    "regnet": lambda **kw: cz.get_model("regnet_x_400mf", **kw),
    "convnext": lambda **kw: ConvNeXt(SMALL_CONVNEXT, **kw),
    "resnet_v2": lambda **kw: ResNetV2(SMALL_RESNET_V2, **kw),
    "densenet": lambda **kw: DenseNet(SMALL_DENSENET, **kw),
}


def _image(seed: int = 0) -> torch.Tensor:
    return torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


# ---- parity with timm's output_stride ------------------------------------------
def _assert_same_network(ours, reference):
    """As many parameters, and the same logits on the same images."""
    assert count_params(ours) == count_params(reference)
    x = _image()
    with torch.no_grad():
        assert_close(ours(x), reference(x))


@pytest.mark.parametrize("output_stride", [16, 8])
@pytest.mark.parametrize("name, timm_name", [("regnet_x_400mf", "regnetx_004_tv"), ("regnet_y_400mf", "regnety_004")])
def test_dilated_regnet_matches_timm(name, timm_name, output_stride):
    reference = randomize_(timm.create_model(timm_name, output_stride=output_stride)).eval()
    ours = cz.get_model(name, weights=reference.state_dict(), output_stride=output_stride).eval()
    _assert_same_network(ours, reference)


@pytest.mark.parametrize("output_stride", [16, 8])
def test_dilated_resnet_v2_matches_timm(output_stride):
    reference = randomize_(timm.create_model(
        "resnetv2_50", layers=SMALL_RESNET_V2.depths, channels=[4 * p for p in SMALL_RESNET_V2.planes],
        stem_chs=SMALL_RESNET_V2.stem_width, output_stride=output_stride)).eval()
    ours = cz.load_weights(ResNetV2(SMALL_RESNET_V2, output_stride=output_stride), reference.state_dict()).eval()
    _assert_same_network(ours, reference)


@pytest.mark.parametrize("output_stride", [16, 8])
def test_dilated_convnext_matches_timm(output_stride):
    """timm's dilated downsampling conv: 2x2 at stride 1, padded "SAME" (one
    pixel more at the bottom/right): ours pads the same way."""
    reference = randomize_(timm.models.convnext.ConvNeXt(
        depths=SMALL_CONVNEXT.depths, dims=SMALL_CONVNEXT.widths, output_stride=output_stride)).eval()
    ours = cz.load_weights(ConvNeXt(SMALL_CONVNEXT, output_stride=output_stride), reference.state_dict()).eval()
    for size in (SIZE, 56):  # 56: odd map sizes from stage 3 on
        x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(size))
        with torch.no_grad():
            assert_close(ours(x), reference(x))


# ---- every family: sizes, same weights, the undilated values on the coarse grid

# Where the undilated values sit in a dilated map: pixel `offset` + step * i.
# ConvNeXt's 2x2 downsampling conv dilated by 2 (output_stride 8, last stage)
# is padded one pixel each side, as timm's "SAME" does: the grid moves by one.
# (DenseNet, with no reference to match, pads its 2x2 pool at the bottom/right
# only and keeps the grid at 0.)
GRID_OFFSET = {("convnext", 4): 1}  # (family, step): offset

@pytest.mark.parametrize("family", list(FAMILIES))
def test_output_stride_sets_the_map_sizes_and_keeps_the_weights(family):
    build = FAMILIES[family]
    plain = randomize_(build()).eval()
    x = _image(1)
    with torch.no_grad():
        plain_maps = plain.forward_stages(x)
        for output_stride, reductions in REDUCTIONS.items():
            model = build(output_stride=output_stride)
            model.load_state_dict(plain.state_dict())  # strict: the same keys and shapes
            model.eval()
            assert [i.reduction for i in model.feature_info] == reductions
            maps = model.forward_stages(x)
            assert [m.shape[-1] for m in maps] == [SIZE // r for r in reductions]
            if output_stride == 32:  # no layer changed: the very same network
                torch.testing.assert_close(model(x), plain(x), rtol=0, atol=0)
            for i, (ours, undilated) in enumerate(zip(maps, plain_maps)):
                step = ours.shape[-1] // undilated.shape[-1]  # the stride given up before this stage
                if step == 1:  # before the dilation point: untouched
                    torch.testing.assert_close(ours, undilated, rtol=0, atol=0)
                else:
                    offset = GRID_OFFSET.get((family, step), 0)
                    assert_close(ours[..., offset::step, offset::step], undilated)


def test_regnet_y_squeeze_excite_sees_the_whole_map():
    """The one exception to the coarse grid: RegNetY's squeeze-excite pools
    the whole (now finer) map, so its dilated values are close, not equal."""
    plain = randomize_(cz.get_model("regnet_y_400mf")).eval()
    model = cz.get_model("regnet_y_400mf", weights=plain.state_dict(), output_stride=16).eval()
    x = _image(3)
    with torch.no_grad():
        last, undilated = model.forward_stages(x)[-1], plain.forward_stages(x)[-1]
    assert last.shape[-1] == 2 * undilated.shape[-1]
    assert (last[..., ::2, ::2] - undilated).abs().max() > 1e-4 * undilated.abs().max()


@pytest.mark.parametrize("name", ["regnet_y_400mf", "convnext_tiny", "resnet50_v2", "densenet121"])
def test_features_only_output_stride_8(name):
    encoder = cz.get_model(name, features_only=True, output_stride=8).eval()
    assert encoder.reductions[-4:] == [4, 8, 8, 8]  # RegNet's encoder also gives its stride-2 stem
    with torch.no_grad():
        maps = encoder(torch.randn(1, 3, 32, 32))
    assert [m.shape[-1] for m in maps] == [32 // r for r in encoder.reductions]


@pytest.mark.parametrize("name", ["regnet_x_400mf", "convnext_tiny", "resnet50_v2", "densenet121"])
def test_bad_output_stride_says_what_is_possible(name):
    with pytest.raises(ValueError, match="output_stride must be 8, 16 or 32 .* not 4"):
        cz.get_model(name, output_stride=4)


# ---- DenseNet's dilated pool, scripting --------------------------------------

@pytest.mark.parametrize("spatial_dims", [1, 2, 3])
def test_dilated_avg_pool_is_the_strided_pool_on_the_coarse_grid(spatial_dims):
    x = torch.randn(2, 3, *[8] * spatial_dims)
    strided = getattr(torch.nn.functional, f"avg_pool{spatial_dims}d")(x, 2)
    pooled = DilatedAvgPool(1, spatial_dims)(x)
    assert pooled.shape == x.shape
    assert_close(pooled[(..., *[slice(None, None, 2)] * spatial_dims)], strided)


def test_dilated_avg_pool_averages_pixels_dilation_apart_and_repeats_the_edge():
    x = torch.arange(36.0).reshape(1, 1, 6, 6)
    pooled = DilatedAvgPool(2)(x)
    assert pooled[0, 0, 1, 1] == (x[0, 0, 1, 1] + x[0, 0, 1, 3] + x[0, 0, 3, 1] + x[0, 0, 3, 3]) / 4
    assert pooled[0, 0, 5, 5] == x[0, 0, 5, 5]  # past the corner: the corner itself
    assert pooled[0, 0, 5, 0] == (x[0, 0, 5, 0] + x[0, 0, 5, 2]) / 2  # bottom edge: the row's own pixels


@pytest.mark.parametrize("family", ["densenet", "convnext"])
def test_dilated_model_scripts_and_traces_to_eager(family):
    model = randomize_(FAMILIES[family](output_stride=8)).eval()
    x = _image(4)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script's deprecation notice
        expected = model(x)
        torch.testing.assert_close(torch.jit.script(model)(x), expected, rtol=0, atol=0)
        torch.testing.assert_close(torch.fx.symbolic_trace(model)(x), expected, rtol=0, atol=0)


# ---- every model of the four families (-m slow) -------------------------------

EVERY_MODEL = sorted(n for n in cz.list_models() if cz.model_info(n).family in FAMILIES)
HUGE = {"regnet_y_128gf"}  # 644M parameters: shapes on the meta device only


@pytest.mark.slow
@pytest.mark.parametrize("name", EVERY_MODEL)
def test_every_model_dilates_with_the_same_weights(name):
    with torch.device("meta"):
        layout = {k: v.shape for k, v in cz.get_model(name).state_dict().items()}
        for output_stride in (16, 8):
            model = cz.get_model(name, output_stride=output_stride)
            assert {k: v.shape for k, v in model.state_dict().items()} == layout
            assert [i.reduction for i in model.feature_info] == REDUCTIONS[output_stride]
    if name in HUGE:
        return
    model = cz.get_model(name, output_stride=8).eval()
    with torch.no_grad():
        maps = model.forward_stages(torch.randn(1, 3, SIZE, SIZE))
    assert [m.shape[-1] for m in maps] == [SIZE // r for r in REDUCTIONS[8]]
    assert all(torch.isfinite(m).all() for m in maps)


@pytest.mark.slow
@pytest.mark.parametrize("output_stride", [16, 8])
@pytest.mark.parametrize("name, timm_name", [("convnext_tiny", "convnext_tiny"), ("resnet101_v2", "resnetv2_101"),
                                             ("regnet_y_1_6gf", "regnety_016")])
def test_full_size_model_matches_timm(name, timm_name, output_stride):
    reference = randomize_(timm.create_model(timm_name, output_stride=output_stride)).eval()
    ours = cz.get_model(name, weights=reference.state_dict(), output_stride=output_stride).eval()
    x = _image(5)
    with torch.no_grad():
        assert_close(ours(x), reference(x))
