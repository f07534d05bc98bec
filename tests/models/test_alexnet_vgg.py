"""AlexNet and VGG (A, B, D, E; with and without BN) against torchvision."""
import pytest
import torch
import torchvision

import convzoo as cz
from parity import assert_parity, check_anatomy, randomize_

VGG = [f"vgg{depth}{bn}" for depth in (11, 13, 16, 19) for bn in ("", "_bn")]
ALL = ["alexnet", *VGG]


def _assert_training_parity(ours, reference, input_size, seed=3):
    """Training mode too: the dropouts sit where torchvision's do (AlexNet drops
    the input of each hidden Linear, VGG its output), so the same seed draws the
    same masks; BN uses batch statistics in both."""
    x = torch.randn(2, 3, input_size, input_size, generator=torch.Generator().manual_seed(seed))
    ours.train()
    reference.train()
    with torch.no_grad():
        torch.manual_seed(seed)
        expected = reference(x)
        torch.manual_seed(seed)
        got = ours(x)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())


@pytest.mark.parametrize("name", ["alexnet", "vgg11_bn"])
def test_parity_small_input(name, tmp_path):
    reference = torchvision.models.get_model(name)
    ours = assert_parity(name, reference, tmp_path, input_size=64)
    _assert_training_parity(ours, reference, input_size=64)


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL)
def test_parity_full_size(name, tmp_path):
    assert_parity(name, torchvision.models.get_model(name), tmp_path, input_size=224)


def test_anatomy_alexnet():
    check_anatomy("alexnet", input_size=224)


def test_anatomy_vgg11():
    check_anatomy("vgg11", input_size=64)


def test_stages_end_at_each_max_pool():
    with torch.device("meta"):  # structure only: no memory, no init time
        alexnet = cz.get_model("alexnet")
        vgg = cz.get_model("vgg16_bn")
    assert [(s.channels, s.reduction) for s in alexnet.feature_info] == [(64, 8), (192, 16), (256, 32)]
    assert [(s.channels, s.reduction) for s in vgg.feature_info] == [
        (64, 2), (128, 4), (256, 8), (512, 16), (512, 32)]
    assert [len(stage) - 1 for stage in vgg.stages] == [2, 2, 3, 3, 3]  # Table 1, column D
    assert all(isinstance(stage[-1], torch.nn.MaxPool2d) for stage in [*alexnet.stages, *vgg.stages])


def test_head_pools_to_the_design_grid_at_any_size():
    model = cz.get_model("alexnet", num_classes=0).eval()
    for size in (64, 160):
        with torch.no_grad():
            features = model(torch.randn(1, 3, size, size))
        assert features.shape == (1, 4096)  # the last hidden layer, classifier removed
    assert model.head.hidden.fc1.in_features == 256 * 6 * 6
    with torch.device("meta"):
        assert cz.get_model("vgg11").head.hidden.fc1.in_features == 512 * 7 * 7


@pytest.fixture(scope="module")
def alexnet_checkpoint(tmp_path_factory):
    reference = randomize_(torchvision.models.alexnet())
    path = tmp_path_factory.mktemp("alexnet") / "alexnet.pth"
    torch.save(reference.state_dict(), path)
    return reference, path


def test_new_classifier_keeps_the_pretrained_hidden_layers(alexnet_checkpoint):
    reference, path = alexnet_checkpoint
    model = cz.get_model("alexnet", weights=str(path), num_classes=10)
    assert model.num_classes == 10 and model.head.fc.out_features == 10
    torch.testing.assert_close(model.head.hidden.fc1.weight, reference.classifier[1].weight)
    torch.testing.assert_close(model.head.hidden.fc2.weight, reference.classifier[4].weight)

    hidden_before = model.head.hidden.fc2.weight.clone()
    model.reset_classifier(3)
    assert model.head.fc.out_features == 3 and model.num_classes == 3
    torch.testing.assert_close(model.head.hidden.fc2.weight, hidden_before)


def test_grayscale_input_from_rgb_weights(alexnet_checkpoint):
    _, path = alexnet_checkpoint
    rgb = cz.get_model("alexnet", weights=str(path)).eval()
    grey = cz.get_model("alexnet", weights=str(path), in_chans=1).eval()
    assert grey.stem.conv.in_channels == 1
    x = torch.rand(1, 1, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(grey(x), rgb(x.repeat(1, 3, 1, 1)), rtol=1e-4, atol=1e-4)


def _meta_torchvision_state_dict(name):
    with torch.device("meta"):
        return torchvision.models.get_model(name).state_dict()


@pytest.mark.parametrize("name", VGG)
def test_every_vgg_torchvision_layout_maps_onto_ours(name):
    """Key names and shapes only (meta tensors): the converter finds the stage
    boundaries of every configuration, with and without BN."""
    with torch.device("meta"):
        model = cz.get_model(name)
    cz.load_weights(model, _meta_torchvision_state_dict(name))  # strict: raises on any misfit


def test_vgg_checkpoint_of_another_depth_is_refused():
    with torch.device("meta"):
        model = cz.get_model("vgg11")
    model.name = "vgg11"
    with pytest.raises(cz.WeightsMismatchError, match="vgg11.*(missing|unexpected)"):
        cz.load_weights(model, _meta_torchvision_state_dict("vgg13"))
