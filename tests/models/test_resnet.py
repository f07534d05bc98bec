"""ResNet v1, ResNeXt and Wide ResNet against torchvision."""
import pytest
import torch
import torchvision

import convzoo as cz
from parity import assert_parity, check_anatomy, check_drop_path

TORCHVISION_MODELS = [
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d",
    "wide_resnet50_2", "wide_resnet101_2",
]
FAST = ["resnet18", "resnext50_32x4d"]


@pytest.mark.parametrize("name", FAST)
def test_parity_small_input(name, tmp_path):
    assert_parity(name, torchvision.models.get_model(name), tmp_path, input_size=64)


@pytest.mark.slow
@pytest.mark.parametrize("name", TORCHVISION_MODELS)
def test_parity_full_size(name, tmp_path):
    assert_parity(name, torchvision.models.get_model(name), tmp_path, input_size=224)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_anatomy(name):
    check_anatomy(name)


def test_drop_path():
    check_drop_path("resnet18")


def test_stride_and_channels_match_torchvision_layers():
    ours = cz.get_model("resnet50").eval()
    assert [s.channels for s in ours.feature_info] == [256, 512, 1024, 2048]
    assert [s.reduction for s in ours.feature_info] == [4, 8, 16, 32]


def test_pretrained_weights_into_grayscale_model(tmp_path):
    """RGB weights loaded into in_chans=1 give, on a grey image, what the RGB
    model gives on the same image repeated over three channels."""
    ref = torchvision.models.resnet18()
    path = tmp_path / "rgb.pth"
    torch.save(ref.state_dict(), path)
    rgb = cz.get_model("resnet18", weights=str(path)).eval()
    grey = cz.get_model("resnet18", weights=str(path), in_chans=1).eval()
    x = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(grey(x), rgb(x.repeat(1, 3, 1, 1)), rtol=1e-4, atol=1e-4)


def test_new_classifier_keeps_backbone(tmp_path):
    ref = torchvision.models.resnet18()
    path = tmp_path / "ref.pth"
    torch.save(ref.state_dict(), path)
    model = cz.get_model("resnet18", weights=str(path), num_classes=10)
    assert model.head.fc.out_features == 10
    torch.testing.assert_close(model.stem.conv.weight, ref.conv1.weight)


def test_wrong_weights_name_the_keys(tmp_path):
    path = tmp_path / "resnet50.pth"
    torch.save(torchvision.models.resnet50().state_dict(), path)
    with pytest.raises(cz.WeightsMismatchError, match=r"resnet18.*(missing|unexpected|wrong shapes)"):
        cz.get_model("resnet18", weights=str(path))
