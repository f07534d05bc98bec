"""Fine-tune (or train) a zoo model on an image folder or CSV.

One function, `train(TrainConfig)`, behind `convzoo train`; it runs unchanged
under `torchrun --nproc_per_node N` (DistributedDataParallel: gloo on CPU,
nccl on GPU; only rank 0 writes files or prints progress).

Reproducibility: every epoch starts by seeding all RNGs from (seed, epoch), so
an epoch's shuffling, augmentation and dropout do not depend on history, and a
run resumed from an epoch's checkpoint ends at the same weights as one never
interrupted.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from ...data.datasets import DatasetError, load_dataset
from ...data.preprocessing import Preprocessing
from ...data.transforms import batch_mixer, train_transforms
from ...factory import default_preprocessing, get_model, get_weights
from ...version import __version__
from ...weights.loading import is_checkpoint_path
from ..shared.checkpoint import load_training_state, save_checkpoint, save_training_state
from ..shared.distributed import DistContext, init_distributed
from ..shared.seeding import seed_everything
from .evaluate import evaluate_model
from .optim import build_optimizer, cosine_with_warmup, frozen_stage_count, parse_freeze
from .records import RUN_FILES, BestEpoch, clear_previous_run, write_metrics, write_report

if TYPE_CHECKING:
    from torch.optim.swa_utils import AveragedModel


@dataclass
class TrainConfig:
    data: str
    model: str = "efficientnet_lite0"
    weights: str | None = "DEFAULT"  # DEFAULT | tag | checkpoint path | None (from scratch)
    out: str = "runs/train"
    epochs: int = 10
    batch_size: int = 32
    image_size: int | None = None  # default: the weights' crop size
    val_fraction: float = 0.2
    seed: int = 0
    # transfer strategy
    freeze: str = "none"  # none | backbone | stages:K
    probe_epochs: int = 0  # first epochs with the whole backbone frozen (linear probe)
    unfreeze_every: int = 0  # gradual unfreezing: one more stage from the top every N epochs
    layer_decay: float = 1.0  # layer-wise LR decay per stage, from the head down
    # recipe
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.05
    momentum: float = 0.9
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    mixup: float = 0.0
    cutmix: float = 0.0
    randaugment: int = 0
    # Transfer default: a random crop at the evaluation scale (data/transforms.py
    # says why); "resized" is ImageNet-from-scratch's random-resized crop, from
    # `crop_scale` of the area. benchmarks/transfer_recipe.py compares the two.
    crop: str = "scale"  # scale | resized
    crop_scale: float = 0.08  # smallest area fraction of the random-resized crop (crop="resized")
    hflip: bool = True  # off for images whose mirror image is another class (digits, text)
    random_erasing: float = 0.0
    drop_path_rate: float = 0.0
    ema_decay: float = 0.0
    amp: str = "none"  # none | bf16 | fp16
    grad_accum: int = 1
    channels_last: bool = False
    patience: int = 0  # early stopping: epochs without improvement (0: off)
    monitor: str = "acc"  # best epoch: acc (ties broken by lower val loss) | loss (ties by higher acc)
    overwrite: bool = False  # replace a run already in `out` (else refused, so no run is lost by a typo)
    workers: int = 0
    device: str = "auto"
    resume: str | None = None
    progress: bool = True
    max_steps_per_epoch: int | None = None  # for smoke tests
    extra: dict = field(default_factory=dict)



def _preprocessing(cfg: TrainConfig) -> Preprocessing:
    """The pretrained weights' own preprocessing (a tag's, or the model's
    default for a checkpoint path or from scratch), at --image-size if given."""
    if cfg.weights is not None and not is_checkpoint_path(cfg.weights):
        base = get_weights(cfg.model, cfg.weights).preprocessing
    else:
        base = default_preprocessing(cfg.model)
    if cfg.image_size:
        return Preprocessing(cfg.image_size, round(cfg.image_size / 0.875), base.interpolation, base.mean, base.std)
    return base


def build_model(cfg: TrainConfig, num_classes: int) -> nn.Module:
    kwargs = {"drop_path_rate": cfg.drop_path_rate} if cfg.drop_path_rate else {}
    model = get_model(cfg.model, weights=cfg.weights, num_classes=num_classes, **kwargs)
    if cfg.weights is not None:
        # A fresh classifier at PyTorch's default (fan-in) scale: some families
        # initialise theirs for 1000 classes from scratch (EfficientNet: uniform
        # +-1/sqrt(classes), +-0.3 for 10 classes), which on pretrained features
        # starts fine-tuning from logits in the tens.
        model.reset_classifier(num_classes)
    return model


def check_config(cfg: TrainConfig) -> None:
    """Settings that cannot train, refused in one line before any work."""
    for name in ("epochs", "batch_size", "grad_accum"):
        if getattr(cfg, name) < 1:
            flag = "--" + name.replace("_", "-")
            raise ValueError(f"{flag} {getattr(cfg, name)}: must be at least 1")
    if cfg.monitor not in ("acc", "loss"):
        raise ValueError(f"--monitor {cfg.monitor!r}: use acc (val accuracy, ties broken by val loss) or loss")
    existing = [name for name in RUN_FILES if (Path(cfg.out) / name).exists()]
    if existing and not cfg.resume and not cfg.overwrite:
        raise ValueError(f"--out {cfg.out} already holds a run ({', '.join(existing[:3])}): pass --overwrite to "
                         f"replace it, --resume {Path(cfg.out) / 'last.state.pt'} to continue it, or another --out")


def train(cfg: TrainConfig) -> dict:
    """Run training; returns the final metrics (also written to OUT/metrics.json),
    and "rank": under torchrun every process returns, only rank 0's is the run's."""
    check_config(cfg)
    ctx = init_distributed(cfg.device)
    try:
        return _train(cfg, ctx)
    finally:
        ctx.close()


@dataclass
class TrainingRun:
    """The objects a training run builds once, before its first epoch, and that
    every epoch uses and updates in place: the model, its optimizer, LR schedule,
    gradient scaler and EMA, the batch mixer and the loss; with the run's settings
    and process context."""

    cfg: TrainConfig
    ctx: DistContext
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    ema: AveragedModel | None  # None: --ema-decay 0
    mixer: Callable | None  # mixup / cutmix; None: both off
    criterion: nn.Module
    steps_per_epoch: int  # optimizer steps an epoch makes; the cosine schedule ends at the last one

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


def _train(cfg: TrainConfig, ctx: DistContext) -> dict:
    out = Path(cfg.out)
    # Read (and vet) the resume state first: a refused file stops before any work.
    state = load_training_state(cfg.resume) if cfg.resume else None
    with warnings.catch_warnings():
        if not ctx.is_main:  # every process reads the data; one is enough to warn about it
            warnings.simplefilter("ignore")
        split = load_dataset(cfg.data, cfg.val_fraction, cfg.seed)
    if cfg.overwrite and not cfg.resume and ctx.is_main:
        clear_previous_run(out)
    classes = split.classes
    pre = _preprocessing(cfg)
    train_set = split.train.with_transform(
        train_transforms(pre, cfg.randaugment, cfg.random_erasing, cfg.hflip, (cfg.crop_scale, 1.0),
                         cfg.crop))
    val_set = split.val.with_transform(pre.transforms())

    seed_everything(cfg.seed)
    model = build_model(cfg, len(classes)).to(ctx.device)
    n_stages = len(model.stages)
    base_frozen = parse_freeze(cfg.freeze, n_stages)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.momentum, cfg.layer_decay)
    # Optimizer steps an epoch really makes (the loader drops a last partial batch;
    # a partial accumulation is not stepped), so the cosine schedule ends at the last step.
    steps_per_epoch = max(1, len(_train_loader(train_set, cfg, ctx, 0)) // cfg.grad_accum)
    if cfg.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, cfg.max_steps_per_epoch)
    run = TrainingRun(
        cfg, ctx, model, optimizer,
        scheduler=cosine_with_warmup(optimizer, cfg.epochs * steps_per_epoch, int(cfg.warmup_epochs * steps_per_epoch)),
        ema=_make_ema(model, cfg.ema_decay),
        scaler=torch.amp.GradScaler("cuda", enabled=cfg.amp == "fp16" and ctx.device.type == "cuda"),
        mixer=batch_mixer(len(classes), cfg.mixup, cfg.cutmix),
        criterion=nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing),
        steps_per_epoch=steps_per_epoch)

    meta = {"model": cfg.model, "classes": classes, "preprocessing": pre.to_dict(), "in_chans": 3,
            "convzoo_version": __version__, "config": asdict(cfg), "split": _split_record(split, cfg)}
    history, start_epoch, stale = [], 0, 0
    best = BestEpoch(cfg.monitor)
    if state is not None:
        run.restore(state)
        history, stale = state["history"], state["stale"]
        best = BestEpoch(cfg.monitor, state["best_acc"], state.get("best_loss", math.inf), state.get("best_epoch", 0))
        start_epoch = state["epoch"] + 1
        ctx.log(f"resumed from {cfg.resume} at epoch {start_epoch + 1}")

    ctx.log(f"{cfg.model}: {len(split.train)} train / {len(split.val)} val images, {len(classes)} classes, "
            f"{pre.crop_size}px, {ctx.world_size} process(es) on {ctx.device}")
    for epoch in range(start_epoch, cfg.epochs):
        seed_everything(cfg.seed * 1000 + epoch)
        frozen = frozen_stage_count(epoch, n_stages, base_frozen, cfg.probe_epochs, cfg.unfreeze_every)
        model.freeze(frozen)  # 0: everything trainable
        wrapped = ctx.wrap(model)
        loader = _train_loader(train_set, cfg, ctx, epoch)
        stats = _train_one_epoch(run, wrapped, loader, epoch, frozen)
        eval_model = run.eval_model
        val = evaluate_model(eval_model, val_set, classes, cfg.batch_size, ctx.device, workers=cfg.workers,
                             progress=cfg.progress and ctx.is_main, desc=f"epoch {epoch + 1} val") if ctx.is_main else None
        record = {"epoch": epoch + 1, "frozen_stages": frozen, **stats}
        if val is not None:
            record.update(val_loss=val["loss"], val_acc=val["accuracy"])
        history.append(record)
        improved = ctx.broadcast_flag(val is not None and best.is_improved_by(val["accuracy"], val["loss"]))
        stale = 0 if improved else stale + 1
        if ctx.is_main:
            epoch_meta = dict(meta, epoch=epoch + 1, metrics=record)
            if improved:
                best = BestEpoch(cfg.monitor, val["accuracy"], val["loss"], epoch + 1)
                save_checkpoint(out, "best", eval_model, epoch_meta)
                write_report(out, val, classes)
            save_checkpoint(out, "last", eval_model, epoch_meta)
            save_training_state(out / "last.state.pt", {
                "epoch": epoch, **run.training_state(), "history": history, "stale": stale, **best.state(),
            })
            write_metrics(out, history, best, n_stages)
            ctx.log(f"epoch {epoch + 1}/{cfg.epochs}: train loss {stats['train_loss']:.4f} acc {stats['train_acc']:.4f}"
                    f" | val loss {val['loss']:.4f} acc {val['accuracy']:.4f} | lr {stats['lr']:.2e}"
                    f" | {stats['images_per_s']:.1f} img/s{' *best*' if improved else ''}")
        if cfg.patience and ctx.broadcast_flag(stale >= cfg.patience):
            ctx.log(f"early stop: no improvement for {cfg.patience} epochs")
            break
        ctx.barrier()
    return {"rank": ctx.rank, "best_val_acc": best.acc, "best_val_loss": best.loss, "best_epoch": best.epoch,
            "epochs_run": len(history), "history": history, "out": str(out)}


def _split_record(split, cfg: TrainConfig) -> dict:
    """Which images validated this run, for `convzoo eval` to evaluate the same
    held-out images (never the training ones) when given the same data."""
    if not split.held_out:
        return {"held_out": False, "val_images": len(split.val)}
    return {"held_out": True, "val_fraction": cfg.val_fraction, "seed": cfg.seed, "val_images": len(split.val),
            "val_digest": split.val_digest()}


def _make_ema(model: nn.Module, decay: float):
    if not decay:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def _train_loader(dataset, cfg: TrainConfig, ctx: DistContext, epoch: int) -> DataLoader:
    if ctx.world_size > 1:
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


def _autocast(cfg: TrainConfig, device: torch.device):
    if cfg.amp == "none":
        return torch.autocast(device.type, enabled=False)
    dtype = torch.bfloat16 if cfg.amp == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


def _train_one_epoch(run: TrainingRun, wrapped: nn.Module, loader: DataLoader, epoch: int, frozen: int) -> dict:
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
        x, y = x.to(ctx.device, non_blocking=True), y.to(ctx.device, non_blocking=True)
        if cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        target = y
        if run.mixer is not None:
            x, target = run.mixer(x, y)
        with _autocast(cfg, ctx.device):
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
        total_loss += loss.item() * y.shape[0]
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


__all__ = ["DatasetError", "TrainConfig", "build_model", "train"]
