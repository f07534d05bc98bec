"""output_stride=16|8 by dilation, DeepLab's encoder (issue 16), for the ResNet
family (ResNet, ResNeXt, Wide ResNet, SE-ResNet): torchvision's
replace_stride_with_dilation computes the same function from the same weights."""
import pytest
import torch
import torchvision

import convzoo as cz
from parity import assert_close, randomize_

# torchvision's flags: which of stages 2, 3, 4 trade their stride for dilation.
TORCHVISION_DILATION = {16: [False, False, True], 8: [False, True, True]}


@pytest.mark.parametrize("output_stride", [16, 8])
@pytest.mark.parametrize("name", ["resnet50", "resnext50_32x4d"])
def test_dilated_resnet_matches_torchvision(name, output_stride, tmp_path):
    reference = randomize_(torchvision.models.get_model(
        name, replace_stride_with_dilation=TORCHVISION_DILATION[output_stride])).eval()
    ours = cz.get_model(name, weights=reference.state_dict(), output_stride=output_stride).eval()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert_close(ours(x), reference(x))


@pytest.mark.parametrize("name", ["resnet18", "seresnet50"])
def test_output_stride_sets_the_map_sizes_and_keeps_the_weights(name):
    plain = randomize_(cz.get_model(name)).eval()
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    for output_stride, reductions in [(32, [4, 8, 16, 32]), (16, [4, 8, 16, 16]), (8, [4, 8, 8, 8])]:
        model = cz.get_model(name, weights=plain.state_dict(), output_stride=output_stride).eval()
        assert [i.reduction for i in model.feature_info] == reductions
        with torch.no_grad():
            assert [m.shape[-1] for m in model.forward_stages(x)] == [64 // r for r in reductions]
            if output_stride == 32:  # no layer changed: the very same network
                torch.testing.assert_close(model(x), plain(x), rtol=0, atol=0)
    encoder = cz.get_model(name, features_only=True, output_stride=8)
    assert encoder.reductions == [4, 8, 8, 8]


def test_bad_output_stride_says_what_is_possible():
    with pytest.raises(ValueError, match="output_stride must be 8, 16 or 32 .* not 4"):
        cz.get_model("resnet18", output_stride=4)


def test_a_family_without_output_stride_names_those_with():
    with pytest.raises(ValueError, match=r"^vgg11 has no output_stride option: dilated encoders are .*"
                                         r"efficientnet\*.*mobilenet_v2.*resnet\*"):
        cz.get_model("vgg11", output_stride=16)
    with pytest.raises(ValueError, match="mobilenet_v1 has no output_stride option"):
        cz.get_model("mobilenet_v1", output_stride=8)


def test_the_default_output_stride_is_not_an_option_recorded():
    """output_stride=32 is the plain network, whichever family: nothing to
    record (a Keras twin mirrors build_kwargs) and nothing to refuse."""
    assert "output_stride" not in cz.get_model("squeezenet1_1", output_stride=32).build_kwargs
    assert cz.get_model("resnet18", output_stride=16).build_kwargs["output_stride"] == 16
