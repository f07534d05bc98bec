"""Shared checks for model tests: parity with a reference, and the anatomy.

Parity (docs/design.md): randomise every parameter and buffer of the reference,
save its state_dict, load it into ours through get_model(name, weights=PATH),
and compare outputs in eval mode: max|ours - ref| <= 1e-4 * max|ref|.
"""
from __future__ import annotations

import math

import torch
from torch import nn

import convzoo as cz

RTOL = 1e-4


@torch.no_grad()
def randomize_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every floating parameter and buffer a random value, at a scale that
    keeps activations finite through a deep network (fan-in scaled weights,
    norm scales and running variances around 1)."""
    g = torch.Generator().manual_seed(seed)
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        if not t.is_floating_point():
            continue
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "running_var":
            t.copy_(torch.rand(t.shape, generator=g) + 0.5)
        elif t.ndim <= 1 and leaf in ("bias", "running_mean", "beta"):
            t.copy_(torch.randn(t.shape, generator=g) * 0.1)
        elif t.ndim <= 1 and leaf.startswith("layer_scale"):
            # Residual branches' scales, ~1e-1 (their init is 1e-6..1e-2, trained ones stay small).
            # O(1) would overflow VAN: its attention multiplies the features by a map computed
            # from them, squaring their magnitude block after block (b2, b3: inf by stage 3).
            t.copy_((torch.rand(t.shape, generator=g) + 0.5) * 0.1)
        elif t.ndim <= 1:  # norm scales
            t.copy_(torch.rand(t.shape, generator=g) + 0.5)
        else:
            fan_in = t[0].numel()
            t.copy_(torch.randn(t.shape, generator=g) / math.sqrt(fan_in))
    return model


def smallest_of_each_family(names=None) -> list[str]:
    """The model with the fewest parameters in each family (of `names`, default every model)."""
    import convzoo as cz

    smallest = {}
    for name in cz.list_models() if names is None else names:
        info = cz.model_info(name)
        if info.family not in smallest or info.params < cz.model_info(smallest[info.family]).params:
            smallest[info.family] = name
    return sorted(smallest.values())


def fast_then_slow(fast, every) -> list:
    """Parametrize values: the names in `fast` (the default run), then every
    other name of `every`, marked slow (the full-size matrix, `-m slow`)."""
    import pytest

    fast = list(fast)
    return [*fast, *(pytest.param(name, marks=pytest.mark.slow) for name in every if name not in fast)]


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def assert_close(ours: torch.Tensor, ref: torch.Tensor, rtol: float = RTOL) -> None:
    assert ours.shape == ref.shape, f"shape {tuple(ours.shape)} != reference {tuple(ref.shape)}"
    scale = ref.abs().max().item()
    err = (ours - ref).abs().max().item()
    assert math.isfinite(scale) and scale > 0, "reference output is not finite / is all zero"
    assert err <= rtol * scale, f"max|ours - ref| = {err:.3g} > {rtol} * max|ref| = {rtol * scale:.3g}"


def assert_parity(name: str, reference: nn.Module, tmp_path, input_size=224, batch: int = 2,
                  ref_forward=None, seed: int = 0, **model_kwargs) -> nn.Module:
    """Our `name` loaded from the randomised reference's state_dict computes the
    same function. Returns our model (eval mode) for further checks."""
    reference = randomize_(reference, seed).eval()
    path = tmp_path / f"{name}_reference.pth"
    torch.save(reference.state_dict(), path)
    ours = cz.get_model(name, weights=str(path), **model_kwargs).eval()
    assert count_params(ours) == count_params(reference)
    h, w = (input_size, input_size) if isinstance(input_size, int) else input_size
    x = torch.randn(batch, 3, h, w, generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        expected = (ref_forward or reference)(x)
        got = ours(x)
    assert_close(got, expected)
    return ours


def check_anatomy(name: str, input_size: int = 96, last_reduction: int = 32, **model_kwargs) -> None:
    """The generic features every model must offer, on a small input:
    forward_stages/feature_info agree, forward_features is the last stage,
    num_classes / in_chans=1 / reset_classifier work, and a training step
    (forward, backward, optimizer step) changes the weights."""
    torch.manual_seed(0)
    model = cz.get_model(name, num_classes=7, in_chans=1, **model_kwargs).eval()
    x = torch.randn(2, 1, input_size, input_size)
    with torch.no_grad():
        stages = model.forward_stages(x)
        features = model.forward_features(x)
        logits = model(x)
    assert len(stages) == len(model.feature_info) >= 3
    strides = []
    for out, info in zip(stages, model.feature_info):
        assert out.shape[1] == info.channels, f"{info.module}: {out.shape[1]} channels, feature_info says {info.channels}"
        # Unpadded ("valid") convs shave a few pixels off (AlexNet, Inception):
        # the measured stride must round to the declared power of two.
        measured = math.log2(input_size / out.shape[-1])
        assert round(measured) == math.log2(info.reduction), (
            f"{info.module}: width {out.shape[-1]} at input {input_size}, feature_info says stride {info.reduction}")
        strides.append(info.reduction)
    assert strides == sorted(set(strides)), f"stage strides must rise strictly: {strides}"
    assert strides[-1] == last_reduction  # 32 but for SqueezeNet, whose last stage is at 16
    torch.testing.assert_close(features, stages[-1])
    assert logits.shape == (2, 7)

    model.reset_classifier(3)
    with torch.no_grad():
        assert model(x).shape == (2, 3)
    model.reset_classifier(0)
    with torch.no_grad():
        pooled = model(x)
    assert pooled.ndim == 2 and pooled.shape[0] == 2

    model.reset_classifier(5)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    before = [p.detach().clone() for p in model.parameters()]
    out = model(x)
    logits = out[0] if isinstance(out, (tuple, list)) else out
    loss = nn.functional.cross_entropy(logits, torch.tensor([1, 3]))
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    changed = sum(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
    assert changed > 0.5 * len(before), f"only {changed}/{len(before)} tensors were updated"


def check_drop_path(name: str, input_size: int = 64, **model_kwargs) -> None:
    """drop_path_rate: the same input gives different outputs in training
    (branches dropped at random), identical ones in eval."""
    model = cz.get_model(name, drop_path_rate=0.5, **model_kwargs)
    assert any(type(m).__name__ == "DropPath" and m.drop_prob > 0 for m in model.modules())
    x = torch.randn(4, 3, input_size, input_size)
    model.train()
    torch.manual_seed(1)
    a = model(x)
    torch.manual_seed(2)
    b = model(x)
    a, b = (t[0] if isinstance(t, (tuple, list)) else t for t in (a, b))
    assert not torch.allclose(a, b)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x))
