"""One training epoch: the objects a run builds once and every epoch updates
(`TrainingRun`), an epoch's batches, mixed precision, the loss of models with
auxiliary classifiers, and the pass over the batches. loop.py runs the epochs;
`cfg` here is its TrainConfig (not imported: loop imports this module)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from ...data.sampling import ClassBalancedSampler
from ..shared.distributed import DistContext
from .engine import PrecisionTrial

if TYPE_CHECKING:
    from torch.optim.swa_utils import AveragedModel


@dataclass
class TrainingRun:
    """The objects a training run builds once, before its first epoch, and that
    every epoch uses and updates in place: the model, its optimizer, LR schedule,
    gradient scaler and EMA, the batch mixer and the loss; with the run's settings
    (its TrainConfig) and process context."""

    cfg: Any  # the run's TrainConfig (loop.py)
    ctx: DistContext
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    ema: AveragedModel | None  # None: --ema-decay 0
    mixer: Callable | None  # mixup / cutmix; None: both off
    criterion: nn.Module
    steps_per_epoch: int  # optimizer steps an epoch makes; the cosine schedule ends at the last one
    trial: PrecisionTrial | None = None  # --amp auto measuring fp32 against bf16 on the first steps (engine.py)

    def step_amp(self) -> str:
        """The precision of the next training step: the trial's while it runs, else --amp's."""
        return self.trial.amp() if self.trial is not None else self.cfg.amp

    @property
    def eval_model(self) -> nn.Module:
        """The weights that are validated and saved: the EMA's when there is one."""
        return self.ema.module if self.ema is not None else self.model

    def training_state(self) -> dict:
        """What `restore` reads back: the weights, and where the optimizer, schedule and EMA stand."""
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "ema": self.ema.state_dict() if self.ema is not None else None}

    def restore(self, state: dict) -> None:
        """Continue from a `training_state` saved at the end of an epoch."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])


def make_ema(model: nn.Module, decay: float):
    """The exponential moving average of `model`'s weights (and buffers); None for decay 0."""
    if not decay:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def train_loader(dataset, cfg, ctx: DistContext, epoch: int, balance: str = "none") -> DataLoader:
    """An epoch's batches, shuffled by (seed, epoch); with --balance sampler, drawn
    class-balanced (with replacement) by the same seed, this process's share under torchrun."""
    if balance == "sampler":
        sampler = ClassBalancedSampler(dataset.labels, cfg.seed * 1000 + epoch, rank=ctx.rank,
                                       world_size=ctx.world_size)
    elif ctx.world_size > 1:
        sampler = DistributedSampler(dataset, ctx.world_size, ctx.rank, shuffle=True, seed=cfg.seed, drop_last=True)
        sampler.set_epoch(epoch)
    else:
        sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(cfg.seed * 1000 + epoch))
    return DataLoader(dataset, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.workers,
                      drop_last=len(dataset) > cfg.batch_size * ctx.world_size, persistent_workers=False,
                      pin_memory=ctx.device.type == "cuda")


def loss_and_logits(out, target, criterion, aux_loss_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The training loss and the main classifier's logits. For models with
    auxiliary classifiers (GoogLeNet, Inception v3: a tuple of logits in
    training), their losses count too, weighted by the model's own `aux_loss_weight`."""
    if not isinstance(out, (tuple, list)):
        return criterion(out, target), out
    main, *aux = out
    return criterion(main, target) + aux_loss_weight * sum(criterion(a, target) for a in aux), main


def autocast(amp: str, device: torch.device):
    """The forward pass's precision: --amp none | bf16 | fp16."""
    if amp == "none":
        return torch.autocast(device.type, enabled=False)
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


def train_one_epoch(run: TrainingRun, wrapped: nn.Module, loader: DataLoader, epoch: int, frozen: int) -> dict:
    """One pass over `loader`, at most `run.steps_per_epoch` optimizer steps.

    wrapped: `run.model` as this epoch's processes run it (DistributedDataParallel
        under torchrun), rebuilt each epoch since freezing changes what trains.
    frozen: the stages frozen this epoch, shown on the progress bar."""
    from tqdm.auto import tqdm

    cfg, ctx, model, optimizer = run.cfg, run.ctx, run.model, run.optimizer
    model.train()
    total_loss, correct, seen, step = 0.0, 0, 0, 0
    lr_used = optimizer.param_groups[0]["lr"]  # the head's LR (layer decay scales the others down)
    start = time.perf_counter()
    bar = tqdm(total=run.steps_per_epoch, desc=f"epoch {epoch + 1}/{cfg.epochs}"
               + (f" ({frozen} stages frozen)" if frozen else ""), disable=not (cfg.progress and ctx.is_main),
               leave=False, dynamic_ncols=True)
    optimizer.zero_grad(set_to_none=True)
    for i, (x, y) in enumerate(loader):
        step_start = time.perf_counter()  # after loading: the trial times the arithmetic alone
        x, y = x.to(ctx.device, non_blocking=True), y.to(ctx.device, non_blocking=True)
        if cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        target = y
        if run.mixer is not None:
            x, target = run.mixer(x, y)
        amp = run.step_amp()
        with autocast(amp, ctx.device):
            loss, logits = loss_and_logits(wrapped(x), target, run.criterion, model.aux_loss_weight)
        run.scaler.scale(loss / cfg.grad_accum).backward()
        if (i + 1) % cfg.grad_accum == 0:
            lr_used = optimizer.param_groups[0]["lr"]  # read before scheduler.step() sets the next step's
            run.scaler.step(optimizer)
            run.scaler.update()
            optimizer.zero_grad(set_to_none=True)
            run.scheduler.step()
            if run.ema is not None:
                run.ema.update_parameters(model)
            step += 1
        total_loss += loss.item() * y.shape[0]  # .item() waits for the step to finish
        if run.trial is not None and run.trial.deciding:
            run.trial.record(time.perf_counter() - step_start)
        correct += (logits.argmax(1) == y).sum().item()
        seen += y.shape[0]
        elapsed = time.perf_counter() - start
        bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.3f}",
                        img_s=f"{seen * ctx.world_size / elapsed:.1f}", lr=f"{lr_used:.2e}")
        if (i + 1) % cfg.grad_accum == 0:
            bar.update(1)
        if step >= run.steps_per_epoch:
            break
    bar.close()
    elapsed = time.perf_counter() - start
    return {"train_loss": total_loss / max(seen, 1), "train_acc": correct / max(seen, 1),
            "images_per_s": seen * ctx.world_size / elapsed, "lr": lr_used, "seconds": elapsed}
