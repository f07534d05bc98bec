"""spatial_dims=1|3 for VGG, AlexNet and DenseNet (issue 16): the 2D code run
with 1D/3D convs, norms and pools (layers/dims.py), for signals (N, C, L) and
volumes (N, C, D, H, W).

No reference has these models in 1D or 3D, so the checks are against our 2D
model: the same state_dict keys, every k x k kernel becomes k or k x k x k (and
the MLP heads' first Linear reading channels * side^d), the same map sizes and
strides, and the 2D build itself untouched.

A 3D VGG's first Linear has 512 * 7^3 * 4096 = 719M weights (AlexNet's 226M):
building one takes ~20 s and 3 GB. By default their 3D checks therefore run on
the meta device (shapes only) and on their real convs without the head, whose
1D/3D arithmetic is checked on a narrow MLPHead; whole 3D models run under -m slow.
"""
import functools
import math
import warnings

import pytest
import torch

import convzoo as cz
from convzoo.layers.mlp_head import MLPHead
from convzoo.models.densenet import DenseNet, DenseNetConfig
from parity import assert_close, count_params, randomize_

MODELS = ["vgg11", "vgg11_bn", "alexnet", "densenet121"]
DIMS = [1, 3]
# The shortest side each accepts: VGG's five 2/2 pools need 32; AlexNet's
# 11/4 conv and three overlapping 3/2 pools need 63, as its 2D form does.
MIN_SIDE = {"vgg11": 32, "vgg11_bn": 32, "alexnet": 63}
# forward_stages' (channels, length) at length 64 (AlexNet's valid convs: 64 -> 15, then pools 7, 3, 1).
SIGNAL_MAPS_AT_64 = {
    "vgg11": [(64, 32), (128, 16), (256, 8), (512, 4), (512, 2)],
    "vgg11_bn": [(64, 32), (128, 16), (256, 8), (512, 4), (512, 2)],
    "alexnet": [(64, 7), (192, 3), (256, 1)],
    "densenet121": [(256, 16), (512, 8), (1024, 4), (1024, 2)],
}
REDUCTIONS = {"vgg11": [2, 4, 8, 16, 32], "vgg11_bn": [2, 4, 8, 16, 32], "alexnet": [8, 16, 32],
              "densenet121": [4, 8, 16, 32]}


def _on_meta(name: str, **kwargs) -> torch.nn.Module:
    """The model built on the meta device: shapes without memory or init time."""
    with torch.device("meta"):
        return cz.get_model(name, **kwargs)


@functools.cache
def _meta_model(name: str, spatial_dims: int | None = None) -> torch.nn.Module:
    """_on_meta, built once per test session (None: get_model's default, no spatial_dims argument)."""
    return _on_meta(name) if spatial_dims is None else _on_meta(name, spatial_dims=spatial_dims)


# DenseNet's code at a size that builds, scripts and checkpoints in a fraction of densenet121's time.
TINY_DENSENET = DenseNetConfig(growth_rate=8, depths=(2, 2, 2, 2), stem_width=16, bn_size=2)


def _input(spatial_dims: int, side: int, batch: int = 2, channels: int = 3, **kwargs) -> torch.Tensor:
    return torch.randn(batch, channels, *[side] * spatial_dims, generator=torch.Generator().manual_seed(1), **kwargs)


# ---- the formula: the 2D model with kernels k instead of k x k ---------------

@pytest.mark.parametrize("spatial_dims", DIMS)
@pytest.mark.parametrize("name", MODELS)
def test_parameters_are_the_2d_ones_with_k_for_k_x_k(name, spatial_dims):
    flat, other = _meta_model(name), _meta_model(name, spatial_dims)
    expected = {}
    for key, shape in flat.state_dict().items():
        shape = tuple(shape.shape)
        if len(shape) == 4:  # a conv's (out, in, k, k)
            assert shape[2] == shape[3], key
            shape = (*shape[:2], *[shape[3]] * spatial_dims)
        elif key == "head.hidden.fc1.weight":  # VGG/AlexNet: channels * side^2 -> channels * side^d
            side = flat.head.pool.output_size
            assert shape[1] % side ** 2 == 0
            shape = (shape[0], shape[1] // side ** 2 * side ** spatial_dims)
        expected[key] = shape
    got = {key: tuple(t.shape) for key, t in other.state_dict().items()}
    assert list(got) == list(expected)  # same keys, same order: 2D weights map by name (inflation)
    assert got == expected
    assert count_params(other) == sum(math.prod(expected[key]) for key, _ in flat.named_parameters())
    assert count_params(other) != count_params(flat)


def test_a_few_counts_written_out():
    # The formula above, by hand for two. densenet121 in 1D: its 58 dense layers' 3x3 convs
    # (128 -> 32 channels) keep 3 of 9 weights per channel pair, the 7x7 stem conv 7 of 49;
    # the 1x1 convs, the BNs and the classifier are the 2D ones.
    dense_3x3, stem = 58 * 128 * 32, 64 * 3
    assert count_params(_meta_model("densenet121")) - count_params(_meta_model("densenet121", 1)) \
        == dense_3x3 * (9 - 3) + stem * (49 - 7)
    # vgg11's first Linear: 512 * 49 * 4096 -> 512 * 7 * 4096 (and 512 * 343 * 4096 in 3D).
    fc1 = _meta_model("vgg11", 3).head.hidden.fc1
    assert (fc1.in_features, fc1.out_features) == (512 * 343, 4096)


# ---- 2D unchanged -------------------------------------------------------------

@pytest.mark.parametrize("name", MODELS)
def test_spatial_dims_2_builds_the_default_model(name):
    default, flat = _meta_model(name), _meta_model(name, 2)
    assert repr(flat) == repr(default)  # every module's class and arguments
    assert list(flat.state_dict()) == list(default.state_dict())


@pytest.mark.parametrize("name", ["alexnet", "densenet121"])
def test_spatial_dims_2_outputs_are_bit_equal(name):
    default = randomize_(cz.get_model(name)).eval()
    flat = _on_meta(name, spatial_dims=2)
    flat.load_state_dict(default.state_dict(), assign=True)  # its own tensors: no second init
    x = _input(2, 64)
    with torch.no_grad():
        assert torch.equal(flat.eval()(x), default(x))


# ---- shapes: strides, map sizes, the shortest input ------------------------------

@pytest.mark.parametrize("spatial_dims", DIMS)
@pytest.mark.parametrize("name", MODELS)
def test_maps_and_strides_are_the_2d_ones(name, spatial_dims):
    flat, other = _meta_model(name), _meta_model(name, spatial_dims)
    assert [info.reduction for info in other.feature_info] == REDUCTIONS[name]
    assert other.feature_info == flat.feature_info
    assert other.encoder_info() == flat.encoder_info()
    maps_2d = flat.forward_stages(_input(2, 64, device="meta"))
    maps = other.forward_stages(_input(spatial_dims, 64, device="meta"))
    for got, want in zip(maps, maps_2d, strict=True):
        assert got.shape == (*want.shape[:2], *[want.shape[-1]] * spatial_dims)


@pytest.mark.parametrize("name", ["vgg11", "alexnet"])
def test_the_shortest_input(name):
    model, side = _meta_model(name, 1), MIN_SIDE[name]
    assert model(_input(1, side, device="meta")).shape == (2, 1000)
    with pytest.raises(RuntimeError, match="output size"):
        model(_input(1, side - 1, device="meta"))


# ---- forward and backward -----------------------------------------------------

def _check_forward_backward(forward, x: torch.Tensor, trained: torch.nn.Module) -> torch.Tensor:
    """forward(x) is finite, and backward reaches the input and every parameter of `trained`."""
    x.requires_grad_(True)
    out = forward(x)
    out.square().mean().backward()
    assert torch.isfinite(out).all() and x.grad.abs().sum() > 0
    for name, p in trained.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    return out


@pytest.mark.parametrize("name", MODELS)
def test_signals_forward_and_backward(name):
    torch.manual_seed(0)
    model = cz.get_model(name, spatial_dims=1, in_chans=2, num_classes=5).train()
    x = _input(1, 64, channels=2)
    assert _check_forward_backward(model, x, model).shape == (2, 5)
    with torch.no_grad():
        assert [out.shape[1:] for out in model.forward_stages(x)] == SIGNAL_MAPS_AT_64[name]


def test_volumes_forward_and_backward_densenet():
    torch.manual_seed(0)
    model = cz.get_model("densenet121", spatial_dims=3, in_chans=1, num_classes=4).train()
    out = _check_forward_backward(model, _input(3, 32, channels=1), model)  # batch 2: BN on the 1^3 map
    assert out.shape == (2, 4)


@pytest.mark.parametrize("name", [pytest.param("vgg11", marks=pytest.mark.slow), "vgg11_bn", "alexnet"])
def test_volumes_forward_and_backward_convs(name):
    """The real 3D convs (stem and stages); the head on the meta device (its arithmetic: the next test)."""
    model = _on_meta(name, spatial_dims=3, in_chans=1, num_classes=4)
    for part in (model.stem, model.stages):
        randomize_(part.to_empty(device="cpu"))
    model.train()
    x = _input(3, MIN_SIDE[name], batch=1, channels=1)
    features = _check_forward_backward(model.forward_features, x, torch.nn.ModuleList([model.stem, model.stages]))
    assert features.shape == (1, model.feature_info[-1].channels, 1, 1, 1)
    assert model.head(features.detach().to("meta")).shape == (1, 4)


@pytest.mark.parametrize("spatial_dims", [1, 2, 3])
def test_mlp_head_pools_to_side_d_and_reads_channels_side_d(spatial_dims):
    torch.manual_seed(0)
    head = MLPHead(8, 3, num_classes=5, hidden_features=(16,), drop_rate=0.0, spatial_dims=spatial_dims)
    assert head.hidden.fc1.in_features == 8 * 3 ** spatial_dims
    x = _input(spatial_dims, 9, channels=8)
    pooled = x.unfold(2, 3, 3)  # 9 -> 3 windows of 3 along each dim, averaged (adaptive pool at 9 -> 3)
    for dim in range(3, 2 + spatial_dims):
        pooled = pooled.unfold(dim, 3, 3)
    pooled = pooled.mean(dim=tuple(range(-spatial_dims, 0)))
    fc1, fc = head.hidden.fc1, head.fc
    want = fc(torch.relu(fc1(pooled.flatten(1))))  # channels first, then depth, height, width
    assert_close(head(x), want, rtol=1e-6)
    head(x.requires_grad_(True)).sum().backward()
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize("name, spatial_dims", [("vgg11", 1), ("alexnet", 1), ("densenet121", 3)])
def test_the_families_init_reaches_1d_and_3d_layers(name, spatial_dims):
    """VGG/AlexNet: kaiming-normal over fan-out, zero conv biases; DenseNet: over fan-in
    (not torch's default init, which a check for nn.Conv2d alone would leave)."""
    torch.manual_seed(0)
    model = cz.get_model(name, spatial_dims=spatial_dims)
    fan = {"densenet121": 1}.get(name, 0)  # dim 1 (in) for DenseNet, 0 (out) for the others
    convs = [m for m in model.modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv3d))]
    assert convs
    for conv in convs:
        w = conv.weight
        std = math.sqrt(2 / (w.shape[fan] * math.prod(w.shape[2:])))
        if w.numel() > 2000:
            assert abs(w.std().item() / std - 1) < 0.1, conv
        assert conv.bias is None or not conv.bias.any()


# ---- DenseNet's memory-efficient path --------------------------------------------

@pytest.mark.parametrize("spatial_dims, side", [(1, 64), (3, 32)])
def test_densenet_memory_efficient_same_results(spatial_dims, side):
    """The checkpointed bottleneck (recomputed in backward, its BN statistics
    frozen then) gives the plain path's outputs, gradients and statistics."""
    plain = randomize_(DenseNet(TINY_DENSENET, num_classes=3, spatial_dims=spatial_dims)).train()
    efficient = DenseNet(TINY_DENSENET, num_classes=3, spatial_dims=spatial_dims, memory_efficient=True).train()
    efficient.load_state_dict(plain.state_dict())
    layer, calls = efficient.stages[0].layers[0], []

    def counted_bottleneck(features, bottleneck=layer.bottleneck):
        calls.append(1)
        return bottleneck(features)

    layer.bottleneck = counted_bottleneck
    x = _input(spatial_dims, side)
    outputs = []
    for model in (plain, efficient):
        out = model(x)
        out.square().mean().backward()
        outputs.append(out.detach())
    assert len(calls) == 2  # checkpointed: run in forward, and again in backward
    assert_close(outputs[1], outputs[0], rtol=1e-6)
    for (name, p), q in zip(plain.named_parameters(), efficient.parameters(), strict=True):
        assert_close(q.grad, p.grad, rtol=1e-5)
    for (name, a), b in zip(plain.named_buffers(), efficient.buffers(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-7, msg=f"buffer {name}")


# ---- encoders, scripting --------------------------------------------------------

def test_features_only_volumes_densenet():
    torch.manual_seed(0)
    model = randomize_(cz.get_model("densenet121", spatial_dims=3, in_chans=1)).eval()
    encoder = cz.get_model("densenet121", features_only=True, spatial_dims=3, in_chans=1).eval()
    missing, unexpected = encoder.load_state_dict(model.state_dict(), strict=False)
    assert not missing and all(key.startswith("head.") for key in unexpected)
    assert encoder.reductions == REDUCTIONS["densenet121"]
    x = _input(3, 32, channels=1)
    with torch.no_grad():
        maps, stages = encoder(x), model.forward_stages(x)
    for got, want, info in zip(maps, stages, encoder.feature_info, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
        assert got.shape == (2, info.channels, *[32 // info.reduction] * 3)


@pytest.mark.parametrize("name", ["vgg11", "alexnet"])
def test_features_only_volumes_shapes(name):
    encoder = _on_meta(name, features_only=True, spatial_dims=3, out_indices=(-2, -1))
    assert encoder.reductions == REDUCTIONS[name][-2:]
    maps = encoder(_input(3, 64, device="meta"))
    assert [m.shape[1] for m in maps] == encoder.channels and all(m.dim() == 5 for m in maps)


def _scripts_and_traces_alike(model, x: torch.Tensor):
    model = randomize_(model).eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script's deprecation notice
        expected = model(x)
        torch.testing.assert_close(torch.jit.script(model)(x), expected, rtol=0, atol=0)
        torch.testing.assert_close(torch.fx.symbolic_trace(model)(x), expected, rtol=0, atol=0)


def test_scripting_densenet_code_volumes():
    _scripts_and_traces_alike(DenseNet(TINY_DENSENET, spatial_dims=3, memory_efficient=True), _input(3, 32))


def test_scripting_vgg_signals():
    _scripts_and_traces_alike(cz.get_model("vgg11_bn", spatial_dims=1), _input(1, 64))


@pytest.mark.slow
def test_scripting_densenet121_volumes():
    _scripts_and_traces_alike(cz.get_model("densenet121", spatial_dims=3, memory_efficient=True), _input(3, 32))


# ---- bad input ------------------------------------------------------------------

@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("bad", [0, 4, "3"])
def test_bad_spatial_dims(name, bad):
    with pytest.raises(ValueError, match=r"spatial_dims must be 1 \(signals\), 2 \(images\) or 3 \(volumes\)"):
        _on_meta(name, spatial_dims=bad)


# ---- whole 3D VGG / AlexNet (719M / 226M-weight first Linear): -m slow -----------------

@pytest.mark.slow
@pytest.mark.parametrize("name", ["vgg11", "vgg11_bn", "alexnet"])
def test_volumes_forward_and_backward_whole_model(name):
    torch.manual_seed(0)
    model = cz.get_model(name, spatial_dims=3, in_chans=1, num_classes=4).train()
    assert _check_forward_backward(model, _input(3, MIN_SIDE[name], batch=1, channels=1), model).shape == (1, 4)


@pytest.mark.slow
def test_scripting_vgg_volumes():
    _scripts_and_traces_alike(cz.get_model("vgg11", spatial_dims=3, num_classes=4), _input(3, 32, batch=1))
