"""spatial_dims=1|3: the ResNet families over signals and volumes, and 2D
weights inflated into 3D models (weights/inflate.py)."""
import warnings

import pytest
import torch
from torch import nn

import convzoo as cz
from convzoo.factory import models_taking
from convzoo.weights.inflate import inflate_state_dict

from parity import assert_close, count_params, randomize_

LENGTH, SIDE = 64, 32  # a 64-sample signal, a 32^3 volume: 2 and 1 x 1 x 1 at stride 32


def _input(spatial_dims: int, batch: int = 2, size: int | None = None) -> torch.Tensor:
    size = size or (LENGTH if spatial_dims == 1 else SIDE)
    return torch.randn(batch, 3, *[size] * spatial_dims)


def _depth_constant(image: torch.Tensor, depth: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, depth, H, W), every depth slice the image."""
    return image.unsqueeze(2).expand(-1, -1, depth, -1, -1).contiguous()


# ---- building, training, shapes ---------------------------------------------------

@pytest.mark.parametrize("spatial_dims", [1, 3])
@pytest.mark.parametrize("name", [
    "resnet18", "seresnet18",
    pytest.param("resnet50", marks=pytest.mark.slow),
    pytest.param("resnext50_32x4d", marks=pytest.mark.slow),
    pytest.param("resnet50_v2", marks=pytest.mark.slow),  # the smallest ResNet v2
    pytest.param("senet154", marks=pytest.mark.slow),  # deep stem, 3x3 projections
])
def test_forward_backward(name, spatial_dims):
    torch.manual_seed(0)
    model = cz.get_model(name, spatial_dims=spatial_dims, num_classes=5).train()
    # 16^3 (1 x 1 x 1 from stride 16 on) keeps the default run fast; the slow
    # ones get 32^3: SENet-154's 150 train-mode BatchNorms over 2 values each
    # blow its gradients up to NaN at 16 (in 2D at 16 x 16 px too).
    x = _input(spatial_dims, size=16 if spatial_dims == 3 and name in ("resnet18", "seresnet18") else None)
    logits = model(x)
    assert logits.shape == (2, 5)
    nn.functional.cross_entropy(logits, torch.tensor([1, 4])).backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    first = model.get_parameter(model.first_conv)
    assert first.dim() == 2 + spatial_dims and first.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["resnet50_v2"])
def test_preact_family_forward_1d(name):
    """ResNet v2 in the default run too, on the cheap 1D input."""
    model = cz.get_model(name, spatial_dims=1, num_classes=3).train()
    model(_input(1)).sum().backward()
    assert model.get_parameter(model.first_conv).grad.dim() == 3


def _formula_count(model_2d: nn.Module, spatial_dims: int) -> int:
    """The 2D model's parameter count with every k x k kernel k wide (1D) or
    k x k x k (3D); everything else (norms, biases, Linears) as it is."""
    total = 0
    for p in model_2d.parameters():
        if p.dim() == 4:
            out_channels, in_channels, kh, kw = p.shape
            assert kh == kw, "every kernel of these families is square"
            total += out_channels * in_channels * kh ** spatial_dims
        else:
            total += p.numel()
    return total


@pytest.mark.parametrize("name", ["resnet18", "resnext50_32x4d", "wide_resnet50_2", "seresnet50", "senet154",
                                  "resnet50_v2"])
def test_parameter_count_is_the_formula(name):
    with torch.device("meta"):  # shapes only: senet154 in milliseconds
        model_2d = cz.get_model(name)
        for spatial_dims in (1, 3):
            model = cz.get_model(name, spatial_dims=spatial_dims)
            assert count_params(model) == _formula_count(model_2d, spatial_dims), spatial_dims
            # The same tensors under the same names: only kernel ranks differ.
            assert list(model.state_dict()) == list(model_2d.state_dict())


@pytest.mark.parametrize("name", ["resnet18", "seresnet18", "resnet50_v2"])
def test_2d_model_unchanged(name):
    """spatial_dims=2 is the default network: same keys, same init, same numbers."""
    torch.manual_seed(0)
    default = cz.get_model(name).eval()
    torch.manual_seed(0)
    explicit = cz.get_model(name, spatial_dims=2).eval()
    assert list(explicit.state_dict()) == list(default.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(explicit.state_dict().values(), default.state_dict().values()))
    assert "spatial_dims" not in explicit.build_kwargs  # the default is not recorded
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(explicit(x), default(x))


@pytest.mark.parametrize("spatial_dims", [1, 3])
def test_feature_info_and_features_only(spatial_dims):
    model = cz.get_model("seresnet18", spatial_dims=spatial_dims).eval()
    assert model.build_kwargs["spatial_dims"] == spatial_dims
    assert [i.reduction for i in model.feature_info] == [4, 8, 16, 32]
    x = _input(spatial_dims, batch=1)
    size = x.shape[-1]
    with torch.no_grad():
        stages = model.forward_stages(x)
    for out, info in zip(stages, model.feature_info):
        assert out.shape[1:] == (info.channels, *[size // info.reduction] * spatial_dims)

    encoder = cz.get_model("resnet18", spatial_dims=spatial_dims, features_only=True, out_indices=(1, 3),
                           output_stride=16).eval()
    assert [i.reduction for i in encoder.feature_info] == [8, 16]
    with torch.no_grad():
        maps = encoder(x)
    assert [m.shape[1:] for m in maps] == [(128, *[size // 8] * spatial_dims), (512, *[size // 16] * spatial_dims)]


def test_scripted_and_traced_3d_resnet_equal_eager():
    model = cz.get_model("resnet18", spatial_dims=3, num_classes=4).eval()
    x = _input(3, batch=1, size=16)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice
        eager = model(x)
        torch.testing.assert_close(torch.jit.script(model)(x), eager, rtol=0, atol=0)
        torch.testing.assert_close(torch.fx.symbolic_trace(model)(x), eager, rtol=0, atol=0)
        se = cz.get_model("seresnet18", spatial_dims=1).eval()  # the SE squeeze's axes, scripted
        x1 = _input(1, batch=1)
        torch.testing.assert_close(torch.jit.script(se)(x1), se(x1), rtol=0, atol=0)


# ---- inflation --------------------------------------------------------------------

@pytest.fixture(scope="module")
def resnet18_2d():
    torch.manual_seed(0)
    return randomize_(cz.get_model("resnet18", num_classes=7)).eval()


def test_center_inflation_gives_the_2d_logits(resnet18_2d):
    """"center" convolves each depth slice with the 2D kernel alone: on a
    depth-constant volume, every slice of every layer is the 2D model's."""
    model = cz.get_model("resnet18", spatial_dims=3, weights=resnet18_2d.state_dict(), num_classes=7,
                         inflate="center").eval()
    image = torch.randn(2, 3, SIDE, SIDE)
    with torch.no_grad():
        assert_close(model(_depth_constant(image, 16)), resnet18_2d(image), rtol=1e-5)


def test_mean_inflation_is_exact_where_the_window_stays_inside(resnet18_2d):
    """"mean" (I3D) sums k copies of kernel/k: exact on each depth slice whose
    window never reaches the zero padding, wrong at the border.

    Depth 64: the stem conv (7, stride 2, pad 3) gives 32 slices, slice o
    reading input slices 2o-3..2o+3, inside for o in 2..30; its max-pool (3,
    stride 2, pad 1) gives 16, q reading conv slices 2q-1..2q+1: exact for q in
    2..14. Stage 0 (two basic blocks, four 3x3 convs) narrows that by one
    slice a side per conv: 6..10."""
    model = cz.get_model("resnet18", spatial_dims=3, weights=resnet18_2d.state_dict(), num_classes=7,
                         inflate="mean").eval()
    image = torch.randn(1, 3, 16, 16)
    volume = _depth_constant(image, 64)
    with torch.no_grad():
        stem_2d, stem_3d = resnet18_2d.stem(image), model.stem(volume)
        stage_2d, stage_3d = resnet18_2d.stages[0](stem_2d), model.stages[0](stem_3d)
    for exact, out_3d, out_2d in [(range(2, 15), stem_3d, stem_2d), (range(6, 11), stage_3d, stage_2d)]:
        for d in exact:
            assert_close(out_3d[:, :, d], out_2d, rtol=1e-5)
        # ...and the border slices, whose windows read padding, do differ: the logits do too.
        assert (out_3d[:, :, 0] - out_2d).abs().max() > 1e-2 * out_2d.abs().max()


def test_inflation_reads_torchvision_keys_and_adapts_in_chans():
    """A torchvision-layout checkpoint (the DEFAULT weights' layout) inflates
    too, and in_chans=1 sums the inflated RGB kernels: a grey volume gives
    the 2D RGB model's logits on the grey image."""
    import torchvision

    reference = randomize_(torchvision.models.resnet18(num_classes=6)).eval()
    model = cz.get_model("resnet18", spatial_dims=3, in_chans=1, weights=reference.state_dict(), num_classes=6,
                         inflate="center").eval()
    grey = torch.randn(1, 1, SIDE, SIDE)
    with torch.no_grad():
        assert_close(model(_depth_constant(grey, 8)), reference(grey.expand(-1, 3, -1, -1)), rtol=1e-5)


def test_inflation_keeps_the_body_for_another_num_classes(resnet18_2d):
    model = cz.get_model("resnet18", spatial_dims=3, weights=resnet18_2d.state_dict(), num_classes=3, inflate="mean")
    assert model.head.fc.out_features == 3
    stem = resnet18_2d.stem.conv.weight
    torch.testing.assert_close(model.stem.conv.weight, stem.unsqueeze(2).expand(-1, -1, 7, -1, -1) / 7)


def test_1d_or_3d_checkpoint_loads_as_it_is():
    """Weights of the model's own rank need no option."""
    saved = randomize_(cz.get_model("seresnet18", spatial_dims=1, num_classes=3)).state_dict()
    loaded = cz.get_model("seresnet18", spatial_dims=1, num_classes=3, weights=saved).state_dict()
    assert all(torch.equal(loaded[k], saved[k]) for k in saved)


class _FlatPoolNet(nn.Module):
    """VGG's shape of classifier: a conv, an s x s (x s) pool flattened, a Linear on C*s*s (*s)."""

    first_conv = "conv.weight"

    def __init__(self, spatial_dims: int, side: int = 3):
        super().__init__()
        self.conv = cz.layers.dims.for_dims(nn.Conv2d, spatial_dims)(3, 4, 1)
        self.pool = cz.layers.dims.for_dims(nn.AdaptiveAvgPool2d, spatial_dims)(side)
        self.fc = nn.Linear(4 * side ** spatial_dims, 5)

    def forward(self, x):
        return self.fc(self.pool(self.conv(x)).flatten(1))


@pytest.mark.parametrize("mode", ["mean", "center"])
def test_linear_on_a_flattened_pool_is_inflated(mode):
    torch.manual_seed(0)
    net_2d, net_3d = _FlatPoolNet(2).eval(), _FlatPoolNet(3).eval()
    inflated = inflate_state_dict(net_2d.state_dict(), net_3d, mode)
    assert inflated["fc.weight"].shape == (5, 4 * 27)
    net_3d.load_state_dict(inflated)
    image = torch.randn(2, 3, 9, 9)
    with torch.no_grad():
        assert_close(net_3d(_depth_constant(image, 9)), net_2d(image), rtol=1e-5)


# ---- errors -----------------------------------------------------------------------

def test_errors_name_the_fix(resnet18_2d):
    state_dict = resnet18_2d.state_dict()
    with pytest.raises(ValueError, match=r'2D weights .* pass inflate="mean"'):
        cz.get_model("resnet18", spatial_dims=3, weights=state_dict, num_classes=7)
    with pytest.raises(ValueError, match="build it with spatial_dims=2"):
        cz.get_model("resnet18", spatial_dims=1, weights=state_dict, num_classes=7)
    with pytest.raises(ValueError, match="needs spatial_dims=3, not 1"):
        cz.get_model("resnet18", spatial_dims=1, weights=state_dict, inflate="mean")
    with pytest.raises(ValueError, match="needs spatial_dims=3, not 2"):
        cz.get_model("resnet18", weights=state_dict, inflate="mean")
    with pytest.raises(ValueError, match="inflate needs 2D weights"):
        cz.get_model("resnet18", spatial_dims=3, inflate="mean")
    with pytest.raises(ValueError, match="'mean' .* or 'center'"):
        cz.get_model("resnet18", spatial_dims=3, weights=state_dict, num_classes=7, inflate="max")
    with pytest.raises(ValueError, match="spatial_dims must be 1"):
        cz.get_model("resnet18", spatial_dims=4)


def test_unfit_shapes_are_named():
    with torch.device("meta"):
        model_3d = cz.get_model("resnet18", spatial_dims=3)
    state_dict = {"stem.conv.weight": torch.zeros(64, 3, 5, 5), "stem.bn.weight": torch.zeros(32)}
    with pytest.raises(ValueError, match=r"stem\.conv\.weight \(64, 3, 5, 5\) vs \(64, 3, 7, 7, 7\), "
                                         r"stem\.bn\.weight \(32,\) vs \(64,\)"):
        inflate_state_dict(state_dict, model_3d)


def test_family_without_spatial_dims_lists_those_with():
    with pytest.raises(ValueError, match=r"^mobilenet_v2 has no spatial_dims option: 1D/3D models are .*resnet\*"):
        cz.get_model("mobilenet_v2", spatial_dims=3)
    listed = models_taking("spatial_dims").split(", ")
    assert {"resnet*", "resnext*", "wide_resnet*", "seresnet*", "seresnext*", "senet154"} <= set(listed)
    assert not any(name.startswith(("mobilenet", "efficientnet", "regnet")) for name in listed)
    assert cz.get_model("mobilenet_v2", spatial_dims=2).build_kwargs.get("spatial_dims") is None
