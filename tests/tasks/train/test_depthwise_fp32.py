"""Depthwise convolutions in fp32 under CPU bf16 autocast where a backward pass goes through
them (tasks/train/depthwise.py): what changes is only the precision they compute in under
autocast while training; forward only (validation, frozen stages) they stay in bf16, outside
autocast the model is the same function, and a deep copy (the EMA's) runs its own weights.
Nothing is timed."""
from __future__ import annotations

import copy

import pytest
import torch

import convzoo as cz
from convzoo.tasks.train.depthwise import is_depthwise, keep_depthwise_fp32


def model_and_input():
    torch.manual_seed(0)
    model = cz.get_model("mobilenet_v3_small", num_classes=3).eval()
    return model, torch.randn(2, 3, 64, 64)


def conv_output_dtypes(model: torch.nn.Module, x: torch.Tensor, grad: bool = True) -> dict[str, set]:
    """The dtypes the depthwise and the other convolutions return in one bf16-autocast forward pass,
    recording gradients (a training step's) or not (validation's)."""
    seen = {"depthwise": set(), "other": set()}
    hooks = [m.register_forward_hook(lambda m, _, out: seen["depthwise" if is_depthwise(m) else "other"].add(out.dtype))
             for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.set_grad_enabled(grad), torch.autocast("cpu", dtype=torch.bfloat16):
        model(x)
    for h in hooks:
        h.remove()
    return seen


def test_only_depthwise_convolutions_are_kept_and_the_rest_stay_bf16():
    model, x = model_and_input()
    assert conv_output_dtypes(model, x) == {"depthwise": {torch.bfloat16}, "other": {torch.bfloat16}}
    count = keep_depthwise_fp32(model)
    assert count == sum(1 for m in model.modules() if is_depthwise(m)) > 0
    assert conv_output_dtypes(model, x) == {"depthwise": {torch.float32}, "other": {torch.bfloat16}}


def test_forward_only_they_stay_bf16_validation_and_frozen_stages():
    """No backward pass goes through a convolution in validation (inference mode, no_grad) or in a
    frozen stage whose input carries no gradient: there bf16 is the faster and is kept."""
    model, x = model_and_input()
    keep_depthwise_fp32(model)
    assert conv_output_dtypes(model, x, grad=False) == {"depthwise": {torch.bfloat16}, "other": {torch.bfloat16}}
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert model(x).dtype == torch.bfloat16  # the head's Linear, after bf16 all the way
    model.freeze(len(model.stages))  # the whole backbone frozen: only the head trains
    assert conv_output_dtypes(model, x) == {"depthwise": {torch.bfloat16}, "other": {torch.bfloat16}}
    model.freeze(1)  # the stem and stage 0 frozen: the depthwise convolutions after them train in fp32
    frozen = {id(m) for m in [*model.stem.modules(), *model.stages[0].modules()]}
    seen = {}
    hooks = [m.register_forward_hook(lambda m, _, out: seen.setdefault(id(m) in frozen, set()).add(out.dtype))
             for m in model.modules() if is_depthwise(m)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(x)
    for h in hooks:
        h.remove()
    assert seen == {True: {torch.bfloat16}, False: {torch.float32}}


def test_outside_autocast_the_model_computes_exactly_what_it_did():
    model, x = model_and_input()
    with torch.no_grad():
        before = model(x)
    keys = list(model.state_dict())
    keep_depthwise_fp32(model)
    with torch.no_grad():
        assert torch.equal(model(x), before)
    assert list(model.state_dict()) == keys  # checkpoints keep their layout


def test_a_kept_convolution_equals_its_fp32_convolution_of_the_widened_input():
    conv = torch.nn.Conv2d(8, 8, 5, padding=2, groups=8)
    x = torch.randn(2, 8, 12, 12).bfloat16()
    keep_depthwise_fp32(conv)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # recording gradients: a training step's forward
        kept = conv(x).detach()
    with torch.no_grad():
        expected = torch.nn.functional.conv2d(x.float(), conv.weight, conv.bias, padding=2, groups=8)
    assert kept.dtype == torch.float32 and torch.equal(kept, expected)


def test_a_deep_copy_runs_its_own_weights():
    """The EMA is a deep copy of the model: its convolutions must not run the original's."""
    model, _ = model_and_input()
    keep_depthwise_fp32(model)
    twin = copy.deepcopy(model)
    with torch.no_grad():
        for m in twin.modules():
            if is_depthwise(m):
                m.weight.zero_()
    with torch.autocast("cpu", dtype=torch.bfloat16):  # recording gradients, so the fp32 path runs
        original = [m for m in model.modules() if is_depthwise(m)][0]
        copied = [m for m in twin.modules() if is_depthwise(m)][0]
        probe = torch.randn(1, original.in_channels, 8, 8)
        assert copied.bias is None  # a BatchNorm follows: the zeroed copy answers zeros
        assert copied(probe).dtype == torch.float32
        assert torch.count_nonzero(copied(probe)) == 0 and torch.count_nonzero(original(probe)) > 0


@pytest.mark.parametrize("conv, expected", [
    (torch.nn.Conv2d(8, 8, 3, groups=8), True),
    (torch.nn.Conv2d(8, 16, 3, groups=8), True),  # a depth multiplier of 2 is still one group per input channel
    (torch.nn.Conv2d(8, 8, 3, groups=2), False),  # grouped (ResNeXt), not depthwise
    (torch.nn.Conv2d(8, 8, 1), False),
    (torch.nn.Conv2d(1, 1, 3, groups=1), False),
])
def test_what_counts_as_depthwise(conv, expected):
    assert is_depthwise(conv) is expected
