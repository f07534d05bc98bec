"""Optimizers, schedules and the transfer-learning freeze plan."""
from __future__ import annotations

import math

import torch
from torch import nn


AUTO_FROZEN_REDUCTION = 4  # --freeze auto: the stages whose output is at 1/4 of the input or finer


def auto_freeze(model: nn.Module, pretrained: bool) -> str:
    """--freeze auto: from pretrained weights, the stem and the high-resolution stages (output
    at a quarter of the input or finer: lite0 and mobilenet_v3 the first 2, ResNets and ConvNeXt
    the first, AlexNet none) stay frozen; from scratch nothing is.

    Why: those stages are the edge and texture detectors that transfer across domains, and,
    working at the highest resolutions, their backward pass costs the most: on a 2-core Zen 4
    a bf16 channels_last training step at 224 px ran 1.42x faster for efficientnet_lite0 and
    1.35x for mobilenet_v3_large with them frozen. Detectron2 freezes the same for ResNets
    (FREEZE_AT=2); benchmarks/train_speed.py times it to an accuracy."""
    if not pretrained:
        return "none"
    return f"stages:{sum(1 for info in model.feature_info if info.reduction <= AUTO_FROZEN_REDUCTION)}"


def apply_freeze(model: nn.Module, frozen: int, freeze: str) -> None:
    """Freeze the stem and the first `frozen` stages; with --freeze none and nothing
    frozen by the schedule (the linear probe, gradual unfreezing), train everything,
    the stem too (`model.freeze(0)` would keep the stem frozen)."""
    if frozen == 0 and freeze in ("none", "", None):
        model.unfreeze()
    else:
        model.freeze(frozen)


def parse_freeze(freeze: str, n_stages: int) -> int:
    """--freeze value -> number of stages frozen (with the stem): none -> 0 (and the
    stem trains: apply_freeze), backbone -> all (linear probe), stages:K -> K.
    "auto" is resolved first (auto_freeze)."""
    if freeze in ("none", "", None):
        return 0
    if freeze == "backbone":
        return n_stages
    if freeze.startswith("stages:"):
        try:
            k = int(freeze.split(":", 1)[1])
        except ValueError:
            raise ValueError(f"--freeze {freeze!r}: K must be a number, as in stages:2") from None
        if not 0 <= k <= n_stages:
            raise ValueError(f"--freeze {freeze}: the model has {n_stages} stages, so K must be 0..{n_stages}")
        return k
    raise ValueError(f"--freeze {freeze!r}: use auto, none, backbone or stages:K")


def frozen_stage_count(epoch: int, n_stages: int, base_frozen: int, probe_epochs: int, unfreeze_every: int) -> int:
    """How many stages are frozen in `epoch` (0-based).

    Linear probe first (`probe_epochs`: the whole backbone frozen, only the new
    head learns, so its random start does not wreck pretrained features), then
    with `unfreeze_every` N, gradual unfreezing: one more stage from the top
    every N epochs, down to `base_frozen`; without it, straight to `base_frozen`.
    """
    if epoch < probe_epochs:
        return n_stages
    if unfreeze_every:
        return max(base_frozen, n_stages - 1 - (epoch - probe_epochs) // unfreeze_every)
    return base_frozen


def _param_groups(model: nn.Module, lr: float, weight_decay: float, layer_decay: float) -> list[dict]:
    """Per-depth groups for layer-wise LR decay (head: lr, last stage: lr*d,
    ..., stem: lr*d^(n+1)), each split into decayed weights and undecayed
    biases/norm scales (weight decay on those only hurts)."""
    n = len(model.stages)
    depth_of = {}
    for name, p in model.named_parameters():
        if name.startswith("stem."):
            depth = n + 1
        elif name.startswith("stages."):
            depth = n - int(name.split(".")[1])
        else:
            depth = 0
        depth_of[name] = depth
    groups: dict[tuple[int, bool], dict] = {}
    for name, p in model.named_parameters():
        no_decay = p.ndim <= 1
        key = (depth_of[name], no_decay)
        if key not in groups:
            scale = layer_decay ** depth_of[name]
            groups[key] = {"params": [], "lr": lr * scale, "initial_lr": lr * scale,
                           "weight_decay": 0.0 if no_decay else weight_decay}
        groups[key]["params"].append(p)
    return [groups[k] for k in sorted(groups)]


def build_optimizer(model: nn.Module, name: str, lr: float, weight_decay: float, momentum: float,
                    layer_decay: float = 1.0) -> torch.optim.Optimizer:
    groups = _param_groups(model, lr, weight_decay, layer_decay)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=True)
    raise ValueError(f"unknown optimizer {name!r}: use adamw or sgd")


def cosine_with_warmup(optimizer, total_steps: int, warmup_steps: int = 0, min_ratio: float = 0.0):
    """Linear warm-up from 0, then cosine decay to `min_ratio` of each group's LR."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
