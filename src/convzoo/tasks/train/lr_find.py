"""The learning-rate range test (Smith 2017, "Cyclical Learning Rates for Training
Neural Networks", section 3.3; fastai's `lr_find`): a short mock training whose
LR grows exponentially each mini-batch, from `start_lr` to `end_lr`, recording
the loss; where the loss falls fastest is a good LR to train at.

`lr_find` runs it on any model, optimizer and loader and then puts the model
and the optimizer back exactly as they were. `run_lr_find(cfg)` (behind
`convzoo train --lr-find`) runs it on the model, optimizer and training images
that `train(cfg)` would build, and writes OUT/lr_find.png.

The curve is the bias-corrected exponential moving average of the batch losses
(fastai's `smooth_loss`, beta 0.98): mini-batch losses are too noisy to read a
slope from. The test stops once that smoothed loss is over `diverge` times the
lowest seen (fastai: 4), or is not finite.

The suggestion (`LRFindResult.suggestion`) is the LR where the smoothed loss
falls fastest against log10(LR) (fastai's `steep`, with central differences),
searched only after the warm-up and strictly before the curve's minimum. Why: the
steepest descent is where steps of that size make the most progress while the
loss still improves; from the minimum on the curve only rises, so nothing there
is a rate to train at. The warm-up is the first tenth of the steps, and at least
the first 10 (a third of a shorter curve): there the bias-corrected average holds
only a few batches, so one noisy batch moves it more than learning does (on 4
MNIST digits, batches of 8, a 50-step test found its "steepest descent" at 4e-7
without this). The minimum is also looked for after the warm-up only (a lucky
first batch is no minimum). The second figure, `min_loss_lr / 10` (fastai's
`minimum`), is a decade below the LR of the lowest loss: that loss is at the
edge of divergence, and a decade lower is the usual, more cautious choice. When
the curve never falls after its warm-up, the suggestion is that second figure
and `rule` says so.

In the LR schedule, each parameter group keeps its ratio to the first group's
LR (layer-wise LR decay: build_optimizer's first group is the head at --lr), and
the LRs recorded and suggested are the first group's: a suggestion is a --lr.
"""
from __future__ import annotations

import copy
import math
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..shared.plots import pyplot

STEEPEST = "steepest descent of the smoothed loss before its minimum"
MIN_OVER_10 = "LR of the minimum loss / 10 (the curve never fell)"


@dataclass
class LRFindResult:
    """What the range test saw: per step, the first group's LR, the smoothed loss
    (bias-corrected EMA) and the raw batch loss; the suggested LR and how it was
    chosen (module docstring), and the LR where the smoothed loss was lowest."""

    lrs: list[float]
    losses: list[float]
    raw_losses: list[float] = field(default_factory=list)
    suggestion: float = math.nan
    min_loss_lr: float = math.nan
    rule: str = STEEPEST
    diverged: bool = False  # stopped early: the loss went over `diverge` x its best, or not finite

    @property
    def min_loss_lr_over_10(self) -> float:
        """The second suggestion: a decade below the LR of the lowest smoothed loss."""
        return self.min_loss_lr / 10

    @property
    def steps(self) -> int:
        return len(self.lrs)

    def suggestion_loss(self) -> float:
        """The smoothed loss at the suggested LR (interpolated on log10 LR)."""
        return float(np.interp(math.log10(self.suggestion), np.log10(self.lrs), self.losses))

    def plot(self, path: str | os.PathLike) -> Path:
        """Write the loss-vs-LR plot (log x axis; raw batch losses faint, the smoothed
        curve bold, the suggestion and min_loss_lr / 10 marked) as a PNG, atomically."""
        from ...utils.atomic import atomic_path

        plt = pyplot()
        fig, ax = plt.subplots(figsize=(7, 4.5))
        if self.raw_losses:
            ax.plot(self.lrs, self.raw_losses, color="tab:blue", alpha=0.25, linewidth=1, label="batch loss")
        ax.plot(self.lrs, self.losses, color="tab:blue", linewidth=2, label="smoothed loss")
        ax.plot([self.suggestion], [self.suggestion_loss()], marker="o", markersize=9, color="tab:red",
                linestyle="none", label=f"suggestion {self.suggestion:.2e}")
        ax.axvline(self.suggestion, color="tab:red", linestyle="--", linewidth=1)
        if self.rule == STEEPEST:
            second = self.min_loss_lr_over_10
            ax.axvline(second, color="tab:green", linestyle=":", linewidth=1.5,
                       label=f"min-loss LR / 10: {second:.2e}")
        ax.set_xscale("log")
        ax.set(xlabel="learning rate (log scale)", ylabel="training loss",
               title="LR range test" + (" (stopped: loss diverged)" if self.diverged else ""))
        low, start = min(self.losses), self.losses[0]
        top = max(self.losses[: int(np.argmin(self.losses)) + 1])  # the diverging tail would flatten the rest
        span = max(top - low, 1e-6)
        ax.set_ylim(low - 0.1 * span, max(top, start) + 0.5 * span)
        ax.grid(alpha=0.3, which="both")
        ax.legend()
        fig.tight_layout()
        path = Path(path)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
        plt.close(fig)
        return path


def suggest(lrs: list[float], losses: list[float]) -> tuple[float, float, str]:
    """(suggested LR, LR of the minimum loss, rule) of a range-test curve (module docstring)."""
    loss = np.asarray(losses, dtype=float)
    skip = warmup_steps(len(loss))
    lowest = skip + int(np.argmin(loss[skip:]))
    min_lr = float(lrs[lowest])
    if lowest <= skip:  # no point after the warm-up and before the minimum: the curve never fell
        return min_lr / 10, min_lr, MIN_OVER_10
    slope = np.gradient(loss, np.log10(np.asarray(lrs, dtype=float)))
    return float(lrs[skip + int(np.argmin(slope[skip:lowest]))]), min_lr, STEEPEST


def warmup_steps(n: int) -> int:
    """The first points of an n-point curve that no suggestion reads (module docstring)."""
    return min(max(n // 10, min(10, n // 3)), n - 1)


def lr_find(model: nn.Module, optimizer: torch.optim.Optimizer, loader, criterion, device, *,
            start_lr: float = 1e-7, end_lr: float = 10.0, num_steps: int = 100, smooth: float = 0.98,
            diverge: float = 4.0, progress: bool = True) -> LRFindResult:
    """The LR range test: `num_steps` mini-batches (the loader cycled if it is shorter)
    at LRs growing exponentially from `start_lr` to `end_lr` (both included), each
    group keeping its ratio to the first group's LR; stops early once the smoothed
    loss exceeds `diverge` x its best. Afterwards the model's state_dict (weights,
    BatchNorm statistics), every module's train/eval mode, the parameters' gradients,
    the optimizer's state and LRs and torch's random generators are as they were.
    Trains in train mode (frozen BatchNorm stays as the model keeps it) on whatever
    the parameters' requires_grad say."""
    if not 0 < start_lr < end_lr:
        raise ValueError(f"lr_find: need 0 < start_lr < end_lr, got {start_lr} and {end_lr}")
    if num_steps < 2:
        raise ValueError(f"lr_find: num_steps {num_steps}: need at least 2")
    if not 0 <= smooth < 1 or diverge <= 1:
        raise ValueError(f"lr_find: smooth must be in [0, 1) and diverge over 1, got {smooth} and {diverge}")
    device = torch.device(device)
    saved = _snapshot(model, optimizer)
    rng_devices = [device] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=rng_devices):
            curve = _run(model, optimizer, loader, criterion, device,
                         (start_lr, end_lr, num_steps, smooth, diverge), progress)
    finally:
        _restore(model, optimizer, saved)
    if not curve.lrs:
        raise ValueError("lr_find: the loss was not finite from the first batch: check the data and the model")
    curve.suggestion, curve.min_loss_lr, curve.rule = suggest(curve.lrs, curve.losses)
    return curve


def _snapshot(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    return {"model": copy.deepcopy(model.state_dict()), "optimizer": copy.deepcopy(optimizer.state_dict()),
            "modes": [(m, m.training) for m in model.modules()],
            "grads": [(p, None if p.grad is None else p.grad.detach().clone()) for p in model.parameters()]}


def _restore(model: nn.Module, optimizer: torch.optim.Optimizer, saved: dict) -> None:
    optimizer.zero_grad(set_to_none=True)
    with torch.no_grad():
        model.load_state_dict(saved["model"])  # copies into the model's own tensors: bitwise the saved values
    optimizer.load_state_dict(saved["optimizer"])  # replaces the state (moments, step) and the groups' LRs
    for module, mode in saved["modes"]:
        module.training = mode  # as each module was, not as model.train() would set them
    for p, grad in saved["grads"]:
        p.grad = grad


def _run(model: nn.Module, optimizer: torch.optim.Optimizer, loader, criterion, device: torch.device,
         schedule: tuple[float, float, int, float, float], progress: bool) -> LRFindResult:
    """The mock training; schedule: (start_lr, end_lr, num_steps, smooth, diverge)."""
    from tqdm.auto import tqdm

    from .epoch import loss_and_logits

    start_lr, end_lr, num_steps, smooth, diverge = schedule
    base = optimizer.param_groups[0]["lr"]
    ratios = [g["lr"] / base if base > 0 else 1.0 for g in optimizer.param_groups]
    aux_weight = getattr(model, "aux_loss_weight", 0.0)
    result = LRFindResult([], [])
    avg, best = 0.0, math.inf
    model.train(True)  # the model's own train(): a ConvNet keeps its frozen BatchNorm in eval mode
    batches = _cycle(loader)
    bar = tqdm(total=num_steps, desc="lr find", disable=not progress, leave=False, dynamic_ncols=True)
    for step in range(num_steps):
        lr = start_lr * (end_lr / start_lr) ** (step / (num_steps - 1))
        for group, ratio in zip(optimizer.param_groups, ratios):
            group["lr"] = lr * ratio
        x, y = next(batches)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        loss, _ = loss_and_logits(model(x), y, criterion, aux_weight)
        value = loss.item()
        if not math.isfinite(value):
            result.diverged = True
            break
        loss.backward()
        optimizer.step()
        avg = smooth * avg + (1 - smooth) * value
        smoothed = avg / (1 - smooth ** (step + 1))
        result.lrs.append(lr)
        result.losses.append(smoothed)
        result.raw_losses.append(value)
        best = min(best, smoothed)
        bar.update(1)
        bar.set_postfix(lr=f"{lr:.1e}", loss=f"{smoothed:.4f}")
        if smoothed > diverge * best:
            result.diverged = True
            break
    bar.close()
    return result


def _cycle(loader):
    """The loader's batches, again from the top (a new pass, a new shuffle) whenever it ends."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ValueError("lr_find: the loader gives no batches (fewer images than one batch, with drop_last?)")


def run_lr_find(cfg, *, start_lr: float = 1e-7, end_lr: float = 10.0, num_steps: int = 100) -> dict:
    """`convzoo train --lr-find`: the range test on what `train(cfg)` would train: the
    same training split, training transforms and batches (--balance sampler's draws
    too), the model with its --freeze stages frozen, --optimizer with its weight decay,
    momentum and --layer-decay groups, and the loss (class weights, label smoothing);
    seeded by --seed, on --device, in one process. Mixup/cutmix, AMP, gradient
    accumulation, EMA, the linear probe and gradual unfreezing are not simulated.
    Writes OUT/lr_find.png and prints the suggestion; returns {"suggested_lr",
    "min_loss_lr" (the LR of the lowest loss), "min_loss_lr_over_10", "plot", "steps",
    "diverged", "rule", "lrs", "losses" (the smoothed curve)}."""
    from ...data.datasets import load_dataset
    from ..shared.device import resolve_device
    from ..shared.distributed import DistContext
    from ..shared.seeding import seed_everything
    from . import balance as balancing
    from ...utils.cpu import available_cores
    from .engine import auto_channels_last, auto_workers
    from .epoch import train_loader
    from .loop import build_model, training_preprocessing, training_transforms
    from .optim import apply_freeze, auto_freeze, build_optimizer, parse_freeze

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size > 1:
        raise ValueError(f"--lr-find runs in one process, not under torchrun ({world_size} processes): run "
                         f"`convzoo train --lr-find` without torchrun, then train with torchrun at the LR it suggests")
    if cfg.batch_size < 1:
        raise ValueError(f"--batch-size {cfg.batch_size}: must be at least 1")
    balancing.check_balance(cfg.balance)
    device = resolve_device(cfg.device)
    # The engine's auto settings that matter here (AMP is not simulated; no cache for 100 steps).
    cfg = replace(cfg, channels_last=cfg.channels_last if cfg.channels_last is not None else auto_channels_last(device),
                  workers=cfg.workers if cfg.workers is not None else auto_workers(False, available_cores()))
    split = load_dataset(cfg.data, cfg.val_fraction, cfg.seed, folds=cfg.folds, fold=cfg.fold)
    counts = split.train.class_counts()
    balance, _ = balancing.resolve_balance(cfg.balance, counts)
    balancing.check_counts(counts, balance)
    pre = training_preprocessing(cfg)
    train_set = split.train.with_transform(training_transforms(pre, cfg))
    seed_everything(cfg.seed)
    model = build_model(cfg, len(split.classes)).to(device)
    freeze = auto_freeze(model, cfg.weights is not None) if cfg.freeze == "auto" else cfg.freeze
    apply_freeze(model, parse_freeze(freeze, len(model.stages)), freeze)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.momentum, cfg.layer_decay)
    ctx = DistContext(0, 1, 0, device)
    # drop_last as train() has it: a full batch each step, unless the split is under one batch
    loader = train_loader(train_set, cfg, ctx, 0, balance)
    criterion = balancing.criterion(balance, counts, cfg.label_smoothing, device)
    result = lr_find(model, optimizer, loader, criterion, device, start_lr=start_lr, end_lr=end_lr,
                     num_steps=num_steps, progress=cfg.progress)
    plot = result.plot(Path(cfg.out) / "lr_find.png")
    stopped = " (stopped early: the loss diverged)" if result.diverged else ""
    print(f"lr find: {result.steps} steps from {start_lr:.0e} to {result.lrs[-1]:.2e}{stopped}; "
          f"suggested --lr {result.suggestion:.2e} ({result.rule}); lowest loss at {result.min_loss_lr:.2e}, "
          f"a decade below: {result.min_loss_lr_over_10:.2e}; plot: {plot}", file=sys.stderr, flush=True)
    return {"suggested_lr": result.suggestion, "min_loss_lr": result.min_loss_lr,
            "min_loss_lr_over_10": result.min_loss_lr_over_10, "plot": str(plot), "steps": result.steps,
            "diverged": result.diverged, "rule": result.rule, "lrs": result.lrs, "losses": result.losses}


__all__ = ["LRFindResult", "lr_find", "run_lr_find", "suggest"]
