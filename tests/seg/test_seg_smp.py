"""convzoo encoders in segmentation_models_pytorch (convzoo.seg.smp_adapter):
smp's Unet, FPN and DeepLabV3+ over "tu-convzoo-<name>", the maps presented
exactly as smp's own encoders present theirs (parity with the same weights),
our weights for smp's encoder_weights, and the errors for what cannot work."""
import sys
import warnings

import pytest
import torch
import torchvision

import convzoo as cz
from parity import assert_close, randomize_

smp = pytest.importorskip("segmentation_models_pytorch", reason="the [seg] extra: pip install -e '.[seg]'")
timm = pytest.importorskip("timm")
from convzoo.seg import smp_adapter  # noqa: E402
from convzoo.seg.smp_adapter import SMP_PREFIX  # noqa: E402
from convzoo.factory import takes_option  # noqa: E402

X = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module", autouse=True)
def registered():
    return smp_adapter.register()


def test_register_names_every_model_once_and_again_quietly():
    assert SMP_PREFIX + "resnet18" in smp_adapter.register()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # timm warns when a name is registered over
        assert smp_adapter.register("resnet1*") == [SMP_PREFIX + n for n in cz.list_models("resnet1*")]
    assert timm.models.is_model("convzoo-resnet18")
    with pytest.raises(ValueError, match="unknown model 'resnet17'"):
        smp_adapter.register(["resnet17"])


# The default run takes one architecture per encoder (the parity tests below build
# Unet and DeepLabV3+ over ResNet-34 besides); -m slow takes them all.
FAST = {("resnet18", "FPN"), ("efficientnet_lite0", "Unet"), ("mobilenet_v3_small", "DeepLabV3Plus")}
ENCODERS = ["resnet18", "efficientnet_lite0", "mobilenet_v3_small",
            "convnext_tiny",  # a /4 stem: smp's empty /2 placeholder
            "densenet121"]  # the /2 map before the stem's pooling


@pytest.mark.parametrize("name, arch", [
    pytest.param(name, arch, marks=() if (name, arch) in FAST else pytest.mark.slow)
    for name in ENCODERS for arch in ["Unet", "FPN", "DeepLabV3Plus"]])
def test_smp_models_segment_and_train(name, arch):
    build = getattr(smp, arch)
    if arch == "DeepLabV3Plus" and not takes_option(name, "output_stride"):
        with pytest.raises(ValueError, match=f"{name} .* no output_stride option.* resnet"):
            build(SMP_PREFIX + name, encoder_weights=None)
        return
    model = build(SMP_PREFIX + name, encoder_weights=None, classes=3)
    maps = model.encoder(X)
    # smp's layout: the input, then /2 (empty where the model has none), /4 .. /32 (/16 at DeepLab's stride 16)
    last = 16 if arch == "DeepLabV3Plus" else 32
    assert [m.shape[-1] for m in maps] == [64, 32, 16, 8, 4, 64 // last]
    assert [m.shape[1] for m in maps] == model.encoder.out_channels
    out = model(X)
    assert out.shape == (2, 3, 64, 64)
    out.square().mean().backward()
    first_conv = model.encoder.model.get_parameter(cz.get_model(name).first_conv)
    assert first_conv.grad is not None and first_conv.grad.abs().sum() > 0


def _randomized_resnet34_state_dict():
    return randomize_(torchvision.models.resnet34(), seed=1).state_dict()


def _copy_decoder(ours, reference):
    for part in ("decoder", "segmentation_head"):
        getattr(ours, part).load_state_dict(getattr(reference, part).state_dict())


def test_unet_equals_smp_own_resnet34_unet_with_the_same_weights():
    weights = _randomized_resnet34_state_dict()
    reference = randomize_(smp.Unet("resnet34", encoder_weights=None, classes=2))
    reference.encoder.load_state_dict(dict(weights))  # torchvision's layout: smp's ResNet encoder is torchvision's
    ours = smp.Unet(SMP_PREFIX + "resnet34", encoder_weights=None, classes=2, convzoo_weights=weights)
    _copy_decoder(ours, reference)
    reference.eval(), ours.eval()
    with torch.no_grad():
        for mine, theirs in zip(ours.encoder(X), reference.encoder(X), strict=True):
            assert_close(mine, theirs)
        assert_close(ours(X), reference(X))


def test_deeplabv3plus_at_stride_16_equals_smp_over_timm_resnet34():
    """The reference is smp's timm route: timm dilates as torchvision and DeepLab do
    (the first block of a dilated stage keeps the previous dilation), as we do.
    smp's own "resnet34" encoder (make_dilated) dilates that block's first conv too:
    another function, not a reference."""
    weights = _randomized_resnet34_state_dict()
    reference = randomize_(smp.DeepLabV3Plus("tu-resnet34", encoder_weights=None, encoder_output_stride=16))
    reference.encoder.model.load_state_dict({k: v for k, v in weights.items() if not k.startswith("fc.")})
    ours = smp.DeepLabV3Plus(SMP_PREFIX + "resnet34", encoder_weights=None, encoder_output_stride=16,
                               convzoo_weights=weights)
    _copy_decoder(ours, reference)
    reference.eval(), ours.eval()
    with torch.no_grad():
        assert_close(ours(X), reference(X))


def test_encoder_weights_imagenet_are_our_default_weights_adapted_to_one_channel():
    with pytest.warns(UserWarning, match="encoder_weights"):  # smp's notice: "tu-" encoders take True or None
        model = smp.Unet(SMP_PREFIX + "efficientnet_lite0", encoder_weights="imagenet", in_channels=1)
    classifier = cz.get_model("efficientnet_lite0", weights="DEFAULT", in_chans=1)
    expected = classifier.state_dict()
    encoder = model.encoder.model.state_dict()
    assert encoder["stem.conv.weight"].shape[1] == 1
    for key, tensor in encoder.items():
        torch.testing.assert_close(tensor, expected[key], rtol=0, atol=0, msg=key)
    assert model.encoder.model.pretrained_weights == cz.get_weights("efficientnet_lite0")
    assert model(torch.randn(1, 1, 64, 64)).shape == (1, 1, 64, 64)


def test_scripts_to_the_same_output():
    model = smp.Unet(SMP_PREFIX + "resnet18", encoder_weights=None, encoder_depth=4,
                     decoder_channels=(64, 32, 16, 8)).eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script's deprecation notice
        torch.testing.assert_close(torch.jit.script(model)(X), model(X), rtol=0, atol=0)
        traced = torch.fx.symbolic_trace(model.encoder.model)
        for a, b in zip(traced(X), model.encoder.model(X), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_missing_smp_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "segmentation_models_pytorch", None)
    with pytest.raises(ValueError, match=r"pip install 'convzoo\[seg\]'"):
        smp_adapter.register(["resnet18"])


def test_output_stride_needs_a_family_that_has_it():
    with pytest.raises(ValueError, match=r"shufflenet_v2_x0_5 has no output_stride option, which DeepLabV3/V3\+ "
                                         r"need .*: use Unet/FPN, or one of .*resnet\*"):
        smp.DeepLabV3Plus(SMP_PREFIX + "shufflenet_v2_x0_5", encoder_weights=None)
    with pytest.raises(ValueError, match="output_stride must be 8, 16 or 32 .* not 4"):
        smp.encoders.get_encoder(SMP_PREFIX + "resnet18", output_stride=4)


def test_what_smp_cannot_take_is_said():
    with pytest.raises(ValueError, match=r"alexnet's maps are \[63, 31, 15, 7\] pixels wide .*unpadded convs"):
        smp.FPN(SMP_PREFIX + "alexnet", encoder_weights=None)
    with pytest.raises(ValueError, match=r"resnet18 has 5 levels .* asked for levels \(5,\)"):
        timm.create_model("convzoo-resnet18", features_only=True, out_indices=(5,))
    with pytest.raises(ValueError, match="choose the weights one way"):
        timm.create_model("convzoo-resnet18.DEFAULT", pretrained=True, convzoo_weights="IMAGENET1K_V1")
    unpublished = [n for n in ["mobilenet_v1", "resnet50_v2"] if not cz.list_models(n, pretrained=True)]
    for name in unpublished[:1]:
        with pytest.raises(ValueError, match=f"{name} has no published weights: encoder_weights=None"):
            smp.Unet(SMP_PREFIX + name, encoder_weights=True)
