"""The model protocol (ConvNet's declared attributes), the weights registry
being live, converters as rule tables, and a whole family added from outside.

Regression tests for two bugs of the old wiring:
- a model built by `model_info(name).build()` (not `get_model`) could not load
  foreign checkpoints: converters were found only through `model.name`;
- weights registered after the first weights query were invisible.
"""
import pytest
import torch
import torchvision
from torch import nn

import convzoo as cz
from convzoo.layers import ClassifierHead, ConvNormAct


def test_model_built_from_model_info_loads_a_torchvision_checkpoint():
    reference = torchvision.models.resnet18().eval()
    model = cz.model_info("resnet18").build().eval()
    cz.load_weights(model, reference.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x))


def test_model_built_from_its_class_loads_a_torchvision_checkpoint():
    """The family is declared on the class: no registry involved at all."""
    from convzoo.models.resnet import BasicBlock, ResNet, ResNetConfig

    model = ResNet(ResNetConfig(BasicBlock, (2, 2, 2, 2)))
    assert model.family == "resnet" and model.name is None
    cz.load_weights(model, torchvision.models.resnet18().state_dict())


def test_weights_registered_after_a_query_are_seen(scratch_registries, tmp_path):
    assert "resnet152_v2" not in cz.list_models(pretrained=True)  # the first query
    with pytest.raises(ValueError, match="no published weights"):
        cz.get_weights("resnet152_v2")
    spec = cz.register_weights(cz.Weights(
        model="resnet152_v2", tag="MINE", url="https://example.invalid/resnet152_v2-0123456789.pth",
        preprocessing=cz.Preprocessing(224, 256), layout="convzoo"))
    assert "resnet152_v2" in cz.list_models(pretrained=True)
    assert cz.get_weights("resnet152_v2") is spec and cz.get_weights("resnet152_v2", "MINE") is spec


# ---- a toy family, added from outside the package -------------------------------------

class ToyNet(cz.ConvNet):
    """stem (stride 2) -> two stages (strides 4, 8) -> pool, fc."""

    family = "toynet"

    def __init__(self, width: int = 8, num_classes: int = 10, in_chans: int = 3):
        stem = ConvNormAct(in_chans, width, 3, 2)
        stages = [ConvNormAct(width, 2 * width, 3, 2), ConvNormAct(2 * width, 4 * width, 3, 2)]
        super().__init__(stem, stages, ClassifierHead(4 * width, num_classes))


class ForeignToyNet(nn.Sequential):
    """The same network as another library would lay it out (its own key names)."""

    def __init__(self, width: int = 8, num_classes: int = 10):
        def conv_bn(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

        super().__init__(conv_bn(3, width), conv_bn(width, 2 * width), conv_bn(2 * width, 4 * width),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(4 * width, num_classes))


FOREIGN_RULES = [
    (r"0\.0\.(.+)", r"stem.conv.\1"),
    (r"0\.1\.(.+)", r"stem.bn.\1"),
    (r"([12])\.0\.(.+)", lambda m: f"stages.{int(m[1]) - 1}.conv.{m[2]}"),
    (r"([12])\.1\.(.+)", lambda m: f"stages.{int(m[1]) - 1}.bn.{m[2]}"),
    (r"5\.(.+)", r"head.fc.\1"),
]


def test_a_toy_family_plugs_in_with_register_calls_only(scratch_registries, tmp_path):
    torch.manual_seed(0)
    foreign = ForeignToyNet().eval()
    for m in foreign.modules():  # non-trivial BN statistics, so that a mix-up shows
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    checkpoint = tmp_path / "toynet-foreign.pth"
    torch.save(foreign.state_dict(), checkpoint)

    cz.register_model("toynet_s", ToyNet, family="toynet", paper=cz.Paper("A toy", 2026), input_size=64)
    cz.register_converter("toynet", "foreign", rules=FOREIGN_RULES)
    cz.register_weights(cz.Weights(model="toynet_s", tag="FOREIGN", url="https://example.invalid/toynet-foreign.pth",
                                   preprocessing=cz.Preprocessing(64, 73), layout="foreign",
                                   local_file=lambda: checkpoint))

    assert "toynet_s" in cz.list_models("toy*", pretrained=True)
    info = cz.model_info("toynet_s")
    assert info.family == "toynet" and info.params == sum(p.numel() for p in ToyNet().parameters())
    model = cz.get_model("toynet_s", weights="DEFAULT").eval()
    assert model.name == "toynet_s" and model.pretrained_weights is cz.get_weights("toynet_s")
    assert [(s.channels, s.reduction) for s in model.feature_info] == [(16, 4), (32, 8)]
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), foreign(x))
    # Transfer learning works the same for it: everything but the classifier loads.
    five = cz.get_model("toynet_s", weights="DEFAULT", num_classes=5)
    torch.testing.assert_close(five.stem.conv.weight, model.stem.conv.weight)


def test_a_converter_that_raises_is_reported_with_its_layout(scratch_registries):
    def broken(state_dict):
        raise KeyError("stem.conv.weight was never there")

    cz.register_converter("toynet", "broken", transform=broken)
    with pytest.raises(cz.WeightsMismatchError, match=r"converter 'broken' raised KeyError: .*never there"):
        cz.load_weights(ToyNet(), ForeignToyNet(width=4).state_dict())


def test_register_converter_needs_rules_or_a_transform():
    with pytest.raises(ValueError, match="rules= or transform="):
        cz.register_converter("toynet", "empty")


# ---- derived facts ---------------------------------------------------------------------

def test_feature_info_is_measured_without_touching_the_model():
    model = cz.get_model("resnet18").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert [(s.channels, s.reduction) for s in model.feature_info] == [(64, 4), (128, 8), (256, 16), (512, 32)]
    assert model.training and all(m.training for m in model.modules())
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]) and v.device.type == "cpu", k


def test_classifier_prefixes_come_from_the_heads():
    assert cz.get_model("resnet18").classifier_prefixes == ("head.fc.",)
    googlenet = cz.get_model("googlenet", aux_logits=True)
    assert set(googlenet.classifier_prefixes) == {"head.fc.", "aux_heads.inception4a.fc.", "aux_heads.inception4d.fc."}


def _first_conv_run(model: nn.Module, in_chans: int, size: int) -> str:
    """Name of the first convolution that sees the input in a forward pass (meta device)."""
    seen = []
    hooks = [m.register_forward_pre_hook(lambda mod, args, name=name: seen.append(name))
             for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model.eval()(torch.empty(1, in_chans, size, size, device="meta"))
    for hook in hooks:
        hook.remove()
    return seen[0]


@pytest.mark.parametrize("name", cz.list_models())
def test_first_conv_names_the_conv_that_sees_the_image(name):
    """`first_conv` (adapted for in_chans != 3) is the weight of the first conv run."""
    with torch.device("meta"):
        model = cz.get_model(name, in_chans=2)
    module_name, leaf = model.first_conv.rsplit(".", 1)
    assert leaf == "weight" and model.get_parameter(model.first_conv).shape[1] == 2
    size = max(cz.model_info(name).input_size, 224)
    assert _first_conv_run(model, 2, size) == module_name
