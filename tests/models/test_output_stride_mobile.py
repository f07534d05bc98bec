"""output_stride=16|8 by dilation (issue 16) for the inverted-residual families:
MobileNet v2/v3, MNASNet, EfficientNet v1/v2/Lite. timm's builder computes
the same function from the same weights (its rule: the block that gives up its
stride keeps the previous dilation); torchvision's MobileNetV3(dilated=True)
also dilates that block, which dilate_strided_block=True reproduces."""
import pytest
import timm
import torch
import torchvision

import convzoo as cz
from convzoo.layers.dilation import dilated_block_plan
from convzoo.models.efficientnet import convert_timm
from parity import assert_close, randomize_


def _image(size=64, seed=0, batch=2):
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", ["mobilenet_v3_large", "mobilenet_v3_small"])
def test_torchvision_dilated_mobilenet_v3(name):
    reference = randomize_(torchvision.models.get_model(name, dilated=True)).eval()
    ours = cz.get_model(name, weights=reference.state_dict(), output_stride=16, dilate_strided_block=True).eval()
    with torch.no_grad():
        assert_close(ours(_image()), reference(_image()))
    # Without the option, the first block of the last stage is not dilated: another function.
    plain_rule = cz.get_model(name, weights=reference.state_dict(), output_stride=16).eval()
    with torch.no_grad():
        assert not torch.allclose(plain_rule(_image()), reference(_image()), rtol=1e-3, atol=1e-3)


# ours, timm's, and the build options that make ours compute timm's function.
TIMM_TWINS = {
    "efficientnet_b0": ("efficientnet_b0", {}),
    "mobilenet_v2": ("mobilenetv2_100", {}),
    "mnasnet1_0": ("mnasnet_100", {}),
    "efficientnet_lite0": ("tf_efficientnet_lite0", {}),  # TF "SAME" padding
    "efficientnet_v2_s": ("tf_efficientnetv2_s", {"padding": "same", "bn_eps": 1e-3}),
}
DEFAULT_RUN = [("efficientnet_b0", 16), ("efficientnet_b0", 8), ("mobilenet_v2", 8), ("mnasnet1_0", 16),
               ("efficientnet_lite0", 8), ("efficientnet_v2_s", 8)]
SLOW_RUN = [(name, os) for name in TIMM_TWINS for os in (16, 8) if (name, os) not in DEFAULT_RUN]


def _check_timm_parity(name, output_stride):
    timm_name, options = TIMM_TWINS[name]
    reference = randomize_(timm.create_model(timm_name, output_stride=output_stride)).eval()
    # timm's key layout is the same for all of these; the converter maps it to ours.
    weights = convert_timm(reference.state_dict())
    ours = cz.get_model(name, weights=weights, output_stride=output_stride, **options).eval()
    with torch.no_grad():
        assert_close(ours(_image()), reference(_image()))


@pytest.mark.parametrize("name, output_stride", DEFAULT_RUN)
def test_matches_timm(name, output_stride):
    _check_timm_parity(name, output_stride)


@pytest.mark.slow
@pytest.mark.parametrize("name, output_stride", SLOW_RUN)
def test_matches_timm_slow(name, output_stride):
    _check_timm_parity(name, output_stride)


@pytest.mark.parametrize("output_stride", [16, 8])
def test_mobilenet_v3_matches_timm_features(output_stride):
    """timm's MobileNetV3 takes output_stride only as a feature extractor,
    whose last map is after the 1x1 conv that is our head.pre."""
    reference = randomize_(timm.create_model("mobilenetv3_large_100", features_only=True,
                                             output_stride=output_stride, bn_eps=1e-3)).eval()
    state = reference.state_dict()
    weights = convert_timm({k: v for k, v in state.items() if not k.startswith("blocks.6.")})
    weights.update({k.replace("blocks.6.0.conv.", "head.pre.conv.").replace("blocks.6.0.bn1.", "head.pre.bn."): v
                    for k, v in state.items() if k.startswith("blocks.6.")})
    ours = cz.get_model("mobilenet_v3_large", output_stride=output_stride).eval()
    missing, unexpected = ours.load_state_dict(weights, strict=False)
    assert not unexpected and all(k.startswith(("head.hidden.", "head.fc.")) for k in missing)
    with torch.no_grad():
        theirs = reference(_image())
        maps = ours.forward_stages(_image())
        # timm's maps: blocks 0, 1, 2, 4 (the ends of our stages 0-3), then 6 (our head.pre).
        for mine, ref in zip([*maps[:4], ours.head.pre(maps[4])], theirs):
            assert_close(mine, ref)


FAMILIES = ["mobilenet_v2", "mobilenet_v3", "mnasnet", "efficientnet", "efficientnet_lite", "efficientnet_v2"]
# The default run's share (its time): one model of each builder, TF "SAME" padding
# included; MNASNet shares MobileNet v2's, v2 EfficientNet's (both also checked
# against timm above), and every model is checked under -m slow.
DEFAULT_ANATOMY = ["mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "efficientnet_lite0"]


def _check_anatomy(name, size=64):
    plain = randomize_(cz.get_model(name)).eval()
    x = _image(size, seed=1, batch=1)
    with torch.no_grad():
        plain_maps = plain.forward_stages(x)
        plain_logits = plain(x)
    plain_reductions = [size // m.shape[-1] for m in plain_maps]  # (feature_info's meta pass costs time)
    for output_stride in (32, 16, 8):
        reductions = [min(r, output_stride) for r in plain_reductions]
        model = cz.get_model(name, weights=plain.state_dict(), output_stride=output_stride).eval()
        assert [i.reduction for i in model.feature_info] == reductions
        assert model.build_kwargs.get("output_stride", 32) == output_stride  # 32, the default, is not recorded
        with torch.no_grad():
            maps = model.forward_stages(x)
            assert [m.shape[-1] for m in maps] == [-(-size // r) for r in reductions]
            # The stages down to the dilation point are the plain ones: bit-equal maps.
            undilated = [i for i, r in enumerate(plain_reductions) if r <= output_stride]
            assert len(undilated) < len(maps) or output_stride == 32
            for i in undilated:
                torch.testing.assert_close(maps[i], plain_maps[i], rtol=0, atol=0)
            if output_stride == 32:  # no layer changed: the very same network
                torch.testing.assert_close(model(x), plain_logits, rtol=0, atol=0)
    encoder = cz.get_model(name, weights=plain.state_dict(), features_only=True, output_stride=8).eval()
    assert encoder.reductions[-3:] == [8, 8, 8]
    with torch.no_grad():
        assert [m.shape[-1] for m in encoder(x)] == [size // r for r in encoder.reductions]


@pytest.mark.parametrize("name", DEFAULT_ANATOMY)
def test_output_stride_sets_the_map_sizes_and_keeps_the_weights(name):
    _check_anatomy(name)


def _every_model_of_these_families():
    names = [name for name in cz.list_models() if cz.model_info(name).family in FAMILIES]
    assert {cz.model_info(name).family for name in names} == set(FAMILIES)
    return [name for name in names if name not in DEFAULT_ANATOMY]


@pytest.mark.slow
@pytest.mark.parametrize("name", _every_model_of_these_families())
def test_output_stride_every_model(name):
    _check_anatomy(name)


def test_block_plan_dilates_from_the_block_that_gives_up_its_stride():
    # stem /2, then strides 2 and 2 inside the second stage (not at its start), then 2.
    strides = [[2, 1], [1, 2, 1, 2], [2, 1]]
    assert dilated_block_plan(32, 2, strides) == [[(2, 1), (1, 1)], [(1, 1), (2, 1), (1, 1), (2, 1)], [(2, 1), (1, 1)]]
    assert dilated_block_plan(8, 2, strides) == [[(2, 1), (1, 1)], [(1, 1), (2, 1), (1, 1), (1, 1)],
                                                 [(1, 2), (1, 4)]]
    # torchvision's MobileNetV3 rule: the block that gives up its stride dilates too.
    assert dilated_block_plan(8, 2, strides, dilate_strided_block=True)[1:] == [
        [(1, 1), (2, 1), (1, 1), (1, 2)], [(1, 4), (1, 4)]]


@pytest.mark.parametrize("name", ["mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0"])
def test_bad_output_stride_says_what_is_possible(name):
    with pytest.raises(ValueError, match="output_stride must be 8, 16 or 32 .* not 4"):
        cz.get_model(name, output_stride=4)


def test_dilated_model_scripts_and_traces():
    model = randomize_(cz.get_model("efficientnet_lite0", output_stride=8)).eval()  # dilated TF "SAME" convs too
    x = _image(48)
    with torch.no_grad():
        eager = model(x)
        torch.testing.assert_close(torch.jit.script(model)(x), eager)
        torch.testing.assert_close(torch.fx.symbolic_trace(model)(x), eager)
