"""Fine-tune (or train) a zoo model on an image folder or CSV.

One function, `train(TrainConfig)`, behind `convzoo train`; it runs unchanged
under `torchrun --nproc_per_node N` (DistributedDataParallel: gloo on CPU,
nccl on GPU; only rank 0 writes files or prints progress).

Reproducibility: every epoch starts by seeding all RNGs from (seed, epoch), so
an epoch's shuffling, augmentation and dropout do not depend on history, and a
run resumed from an epoch's checkpoint ends at the same weights as one never
interrupted.

Skewed classes are trained for (balance.py: --balance, --monitor auto); balanced
data trains as it always did. `--folds K` (folds.py) runs this loop once per fold.
An epoch's pass over the batches is epoch.py's; the logs that tools read
(metrics.csv: records.py; TensorBoard, MLflow: tracking.py) are written after each epoch.
"""
from __future__ import annotations

import copy
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from ...data.cache import cached, estimated_bytes, fits_in_memory, split_fixed
from ...data.datasets import DatasetError, check_folds, load_dataset
from ...data.preprocessing import Preprocessing
from ...data.transforms import batch_mixer, train_transforms
from ...factory import default_preprocessing, get_model, get_weights
from ...layers import fold_batchnorm
from ...utils.cpu import available_cores
from ...version import __version__
from ...weights.loading import is_checkpoint_path
from ..shared.checkpoint import calibrated_checkpoints, load_training_state, save_checkpoint, save_training_state
from ..shared.decision import check_positive, default_positive
from ..shared.distributed import DistContext, init_distributed
from ..shared.seeding import seed_everything
from . import balance as balancing
from .data_check import check_training_data, write_excluded
from .depthwise import keep_depthwise_fp32
from .engine import TRIAL_STEPS, EngineChoice, PrecisionTrial, auto_workers, check_engine_choices, choose_engine
from .epoch import TrainingRun, loss_and_logits, make_ema, train_loader, train_one_epoch
from .evaluate import evaluate_model
from .metrics import METRICS
from .optim import apply_freeze, auto_freeze, build_optimizer, cosine_with_warmup, frozen_stage_count, parse_freeze
from .records import RUN_FILES, BestEpoch, clear_previous_run, monitored, write_metrics, write_report
from .tracking import Tracker


@dataclass
class TrainConfig:
    """Everything one fine-tuning run needs; `train(cfg)` runs it (`convzoo train` builds one
    from its options, each field its flag: `probe_epochs` is `--probe-epochs`).

    `data` is a folder of class sub-folders, one with train/ and val/, or a CSV of
    path,label rows; without val/, `val_fraction` of it is held out (stratified, by
    `seed`). `model` and `weights` choose the network and its start (DEFAULT: the best
    published weights; None: from scratch); `out` receives the checkpoints, metrics and
    plots. The other fields are the transfer strategy (`freeze`, `probe_epochs`,
    `unfreeze_every`, `layer_decay`), the recipe (optimizer, schedule, augmentation),
    imbalanced classes (`balance`, `monitor`, `positive`), cross-validation (`folds`),
    the engine (device, workers, `resume`, `patience`) and logs (`tensorboard`,
    `mlflow`); the training guide and `convzoo train --help` say what each does."""

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
    freeze: str = "auto"  # auto | none | backbone | stages:K (optim.auto_freeze: pretrained -> the high-res stages)
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
    # Training crops smaller than the evaluation crop (Touvron et al. 2019, train/test resolution):
    # with crop="scale" the objects keep their size and the network sees less around them, for
    # (train_crop / crop)^2 of the compute. benchmarks/train_speed.py --candidate measures it.
    train_crop: int | None = None  # None: the evaluation crop
    hflip: bool = True  # off for images whose mirror image is another class (digits, text)
    random_erasing: float = 0.0
    drop_path_rate: float = 0.0
    ema_decay: float = 0.0
    amp: str = "auto"  # auto | none | bf16 | fp16 (engine.py: auto is bf16 where it is native)
    grad_accum: int = 1
    channels_last: bool | None = None  # None: auto (engine.py: on for CPUs and CUDA)
    cache: str = "auto"  # auto | memory | off: decoded images kept in memory (data/cache.py, engine.py)
    # imbalanced classes
    balance: str = "auto"  # none | weights (class-weighted loss) | sampler (class-balanced draws) | auto (balance.py)
    monitor: str = "auto"  # best epoch and --patience: any metric of metrics.METRICS (or alias); auto: balance.py
    positive: str | None = None  # the class binary scores are about (default: the rarer of two)
    folds: int = 0  # K >= 2: stratified K-fold cross-validation (folds.train_folds runs them; train() runs `fold`)
    fold: int = 0  # with folds: the fold (0-based) validated on
    patience: int = 0  # early stopping: epochs without improvement of the monitored metric (0: off)
    overwrite: bool = False  # replace a run already in `out` (else refused, so no run is lost by a typo)
    workers: int | None = None  # DataLoader workers; None: auto (engine.py)
    device: str = "auto"
    resume: str | None = None
    progress: bool = True
    max_steps_per_epoch: int | None = None  # for smoke tests
    # the data check (data_check.py, tasks/check): one line at the start; --exclude-duplicates
    check_data: bool = True  # False: --no-check (skips decoding every image once more)
    exclude_duplicates: bool = False  # leave out val copies of train images and images under two classes
    # logs for tools (tracking.py): TensorBoard events, an MLflow run
    tensorboard: bool | str = False  # True: OUT/tensorboard; or a folder
    mlflow: bool | str = False  # True: a file store in OUT/mlruns; or a tracking URI (or folder)
    extra: dict = field(default_factory=dict)



def training_preprocessing(cfg: TrainConfig) -> Preprocessing:
    """The pretrained weights' own preprocessing (a tag's, or the model's
    default for a checkpoint path or from scratch), at --image-size if given."""
    if cfg.weights is not None and not is_checkpoint_path(cfg.weights):
        base = get_weights(cfg.model, cfg.weights).preprocessing
    else:
        base = default_preprocessing(cfg.model)
    if cfg.image_size:
        return Preprocessing(cfg.image_size, round(cfg.image_size / 0.875), base.interpolation, base.mean, base.std)
    return base


def training_crop(pre: Preprocessing, cfg: TrainConfig) -> Preprocessing:
    """The training images' preprocessing: `pre` with its crop at --train-crop (the resize
    before it unchanged, so a crop of the same scale), or `pre` itself."""
    return replace(pre, crop_size=cfg.train_crop) if cfg.train_crop else pre


def training_transforms(pre: Preprocessing, cfg: TrainConfig):
    """The training images' transforms from the run's settings: what train and lr_find both feed."""
    return train_transforms(training_crop(pre, cfg), cfg.randaugment, cfg.random_erasing, cfg.hflip,
                            (cfg.crop_scale, 1.0), cfg.crop)


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


# The networks here reduce their input 32x: below 32 px the last stage has nothing left to see.
MIN_TRAIN_CROP = 32


def check_config(cfg: TrainConfig) -> None:
    """Settings that cannot train, refused in one line before any work."""
    for name in ("epochs", "batch_size", "grad_accum"):
        if getattr(cfg, name) < 1:
            flag = "--" + name.replace("_", "-")
            raise ValueError(f"{flag} {getattr(cfg, name)}: must be at least 1")
    if cfg.train_crop is not None and cfg.train_crop < MIN_TRAIN_CROP:
        raise ValueError(f"--train-crop {cfg.train_crop}: must be at least {MIN_TRAIN_CROP} px "
                         "(unset: train on the evaluation crop)")
    balancing.check_balance(cfg.balance)
    balancing.check_monitor(cfg.monitor)
    check_engine_choices(cfg.amp, cfg.cache)
    if cfg.folds:
        check_folds(cfg.folds, cfg.fold)
    if cfg.folds and cfg.resume:
        raise ValueError("--folds with --resume: resume one fold on its own, with --resume OUT/foldN/last.state.pt "
                         "--out OUT/foldN and without --folds (it trains on that fold's split again)")
    existing = [name for name in RUN_FILES if (Path(cfg.out) / name).exists()]
    if existing and not cfg.resume and not cfg.overwrite:
        raise ValueError(f"--out {cfg.out} already holds a run ({', '.join(existing[:3])}): pass --overwrite to "
                         f"replace it, --resume {Path(cfg.out) / 'last.state.pt'} to continue it, or another --out")


def train(cfg: TrainConfig, ctx: DistContext | None = None) -> dict:
    """Run training; returns the final metrics (also written to OUT/metrics.json),
    and "rank": under torchrun every process returns, only rank 0's is the run's.
    ctx: the processes to run in (folds.py trains every fold in one); default: join
    torchrun's, or run alone, for this run only. With cfg.folds, trains fold cfg.fold
    (folds.train_folds trains them all)."""
    check_config(cfg)
    if ctx is not None:
        return _train(cfg, ctx)
    ctx = init_distributed(cfg.device)
    try:
        return _train(cfg, ctx)
    finally:
        ctx.close()


def trial_allowed(cfg: TrainConfig, ctx: DistContext, train_size: int) -> bool:
    """Whether --amp auto may measure fp32 against bf16 on the run's first steps
    (engine.PrecisionTrial): not under torchrun (the processes could choose
    differently), nor in a run too short to train as many steps after the trial as in it."""
    per_epoch = max(1, train_size // cfg.batch_size)
    if cfg.max_steps_per_epoch:
        per_epoch = min(per_epoch, cfg.max_steps_per_epoch * cfg.grad_accum)
    return cfg.amp == "auto" and ctx.world_size == 1 and cfg.epochs * per_epoch >= 2 * TRIAL_STEPS


def validation_model(eval_model: nn.Module) -> nn.Module:
    """What an epoch's validation scores: a copy of the weights, in fp32 (as eval, predict and
    serve score them) with each BatchNorm folded into its convolution, which buys back part
    of what fp32 costs (layers.fold_batchnorm). Not in the training's bf16: a fine-tuned
    lite0 scored in bf16 gave another class than in fp32 to up to 5 of 66 images of a
    defect set, so the best epoch, --patience and the printed scores would be another
    model's (benchmarks/validation_precision.py)."""
    return fold_batchnorm(copy.deepcopy(eval_model).eval())


def resolve_engine(cfg: TrainConfig, ctx: DistContext, split, train_tf, pre: Preprocessing
                   ) -> tuple[EngineChoice, TrainConfig]:
    """The engine settings (engine.py) for this machine and data, and `cfg` with them filled
    in (so the checkpoint's config records what ran, not "auto"; amp stays "auto" until the
    run's PrecisionTrial, if it has one, has chosen)."""
    cacheable = split_fixed(train_tf) is not None
    fits = False
    if cfg.cache == "auto" and cacheable:
        fits = fits_in_memory(estimated_bytes(split.train, pre.resize_size)
                              + estimated_bytes(split.val, pre.resize_size))
    engine = choose_engine(cfg.amp, cfg.channels_last, cfg.cache, cfg.workers, device=ctx.device,
                           cacheable=cacheable, cache_fits=fits, world_size=ctx.world_size,
                           trial=trial_allowed(cfg, ctx, len(split.train)))
    return engine, replace(cfg, amp=engine.amp, channels_last=engine.channels_last,
                           cache="memory" if engine.cache else "off", workers=engine.workers)


def _train(cfg: TrainConfig, ctx: DistContext) -> dict:
    started = time.perf_counter()
    out = Path(cfg.out)
    # Read (and vet) the resume state first: a refused file stops before any work.
    state = load_training_state(cfg.resume) if cfg.resume else None
    if state is not None and (state.get("split") or {}).get("folds"):  # one fold of --folds K, on its own split
        cfg = replace(cfg, folds=state["split"]["folds"], fold=state["split"]["fold"])
    tracker = Tracker(cfg, ctx.is_main)  # a missing extra (--tensorboard, --mlflow) stops here, in one line
    with warnings.catch_warnings():
        if not ctx.is_main:  # every process reads the data; one is enough to warn about it
            warnings.simplefilter("ignore")
        split = load_dataset(cfg.data, cfg.val_fraction, cfg.seed, folds=cfg.folds, fold=cfg.fold)
    check_positive(cfg.positive, split.classes)  # a --positive that names no class stops before the check's work
    pre = training_preprocessing(cfg)
    check_workers = cfg.workers if cfg.workers is not None else auto_workers(False, available_cores(), ctx.world_size)
    split = check_training_data(split, ctx, out, image_size=pre.crop_size, exclude=cfg.exclude_duplicates,
                                check=cfg.check_data, workers=check_workers, progress=cfg.progress)
    classes = split.classes
    counts = split.train.class_counts()
    positive = check_positive(cfg.positive, classes) or default_positive(classes, counts)
    balance, why = balancing.resolve_balance(cfg.balance, counts)
    balancing.check_counts(counts, balance)
    monitor = balancing.resolve_monitor(cfg.monitor, counts, state)
    if cfg.overwrite and not cfg.resume and ctx.is_main:
        clear_previous_run(out)
    if ctx.is_main:
        write_excluded(out, split)
    train_tf = training_transforms(pre, cfg)
    seed_everything(cfg.seed)
    model = build_model(cfg, len(classes)).to(ctx.device)
    n_stages = len(model.stages)
    if cfg.freeze == "auto":  # resolved here, so the checkpoint's config records what was frozen
        cfg = replace(cfg, freeze=auto_freeze(model, pretrained=cfg.weights is not None))
    base_frozen = parse_freeze(cfg.freeze, n_stages)
    criterion = balancing.criterion(balance, counts, cfg.label_smoothing, ctx.device)
    engine, cfg = resolve_engine(cfg, ctx, split, train_tf, pre)
    if engine.cache:
        train_set = cached(split.train, train_tf, progress=cfg.progress and ctx.is_main, desc="decoding train images once")
        val_set = cached(split.val, pre.transforms(), progress=cfg.progress and ctx.is_main,
                         desc="decoding val images once")
    else:
        train_set = split.train.with_transform(train_tf)
        val_set = split.val.with_transform(pre.transforms())
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if ctx.device.type == "cpu" and cfg.amp in ("auto", "bf16"):  # "auto" here: the trial times bf16 with it
        keep_depthwise_fp32(model)
    optimizer = build_optimizer(model, cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.momentum, cfg.layer_decay)
    # Optimizer steps an epoch really makes (the loader drops a last partial batch;
    # a partial accumulation is not stepped), so the cosine schedule ends at the last step.
    steps_per_epoch = max(1, len(train_loader(train_set, cfg, ctx, 0, balance)) // cfg.grad_accum)
    if cfg.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, cfg.max_steps_per_epoch)
    run = TrainingRun(
        cfg, ctx, model, optimizer,
        scheduler=cosine_with_warmup(optimizer, cfg.epochs * steps_per_epoch, int(cfg.warmup_epochs * steps_per_epoch)),
        ema=make_ema(model, cfg.ema_decay),
        scaler=torch.amp.GradScaler("cuda", enabled=cfg.amp == "fp16" and ctx.device.type == "cuda"),
        mixer=batch_mixer(len(classes), cfg.mixup, cfg.cutmix),
        criterion=criterion,
        steps_per_epoch=steps_per_epoch,
        trial=PrecisionTrial(engine.amp_trial) if engine.amp_trial else None)

    meta = {"model": cfg.model, "classes": classes, "preprocessing": pre.to_dict(), "in_chans": 3,
            "convzoo_version": __version__, "config": asdict(cfg), "split": split.record(cfg.val_fraction, cfg.seed, cfg.folds, cfg.fold),
            "class_counts": counts, "balance": balance, "positive": positive}
    history, start_epoch, stale = [], 0, 0
    best = BestEpoch(monitor)
    if state is not None:
        run.restore(state)
        history, stale = state["history"], state["stale"]
        best = BestEpoch.from_state(state, monitor)
        start_epoch = state["epoch"] + 1
        ctx.log(f"resumed from {cfg.resume} at epoch {start_epoch + 1}")
    # `convzoo calibrate` fitted these sidecars' decision rules to weights this run will replace
    calibrated = calibrated_checkpoints(out) if state is not None and ctx.is_main else set()

    fold = f" (fold {cfg.fold + 1} of {cfg.folds}, into {out})" if cfg.folds else ""
    ctx.log(f"{cfg.model}: {len(split.train)} train / {len(split.val)} val images{fold}, {len(classes)} classes, "
            f"{pre.crop_size}px, {ctx.world_size} process(es) on {ctx.device}")
    ctx.log(balancing.describe(counts, balance, why) + f"; best epoch by val {monitor}")
    ctx.log(engine.describe() + (f" ({'; '.join(engine.reasons)})" if engine.reasons else ""))
    undefined_said = False
    tracker.cfg = cfg  # the engine as resolved: the logs record what ran, not "auto"
    try:
        tracker.start(classes, val_set, pre, history, state)
        for epoch in range(start_epoch, cfg.epochs):
            seed_everything(cfg.seed * 1000 + epoch)
            frozen = frozen_stage_count(epoch, n_stages, base_frozen, cfg.probe_epochs, cfg.unfreeze_every)
            apply_freeze(model, frozen, cfg.freeze)
            wrapped = ctx.wrap(model)
            loader = train_loader(train_set, cfg, ctx, epoch, balance)
            stats = train_one_epoch(run, wrapped, loader, epoch, frozen)
            if cfg.amp == "auto" and run.trial is not None and not run.trial.deciding:
                # The first steps have measured the precisions: from here on the run records its choice.
                cfg = run.cfg = replace(cfg, amp=run.trial.chosen)
                meta["config"] = asdict(cfg)
                tracker.cfg = cfg
                tracker.log_param("amp_chosen", cfg.amp)
                ctx.log(run.trial.line)
            eval_model = run.eval_model
            val = evaluate_model(validation_model(eval_model), val_set, classes, cfg.batch_size, ctx.device,
                                 workers=cfg.workers, progress=cfg.progress and ctx.is_main,
                                 desc=f"epoch {epoch + 1} val", positive=positive) if ctx.is_main else None
            record = {"epoch": epoch + 1, "frozen_stages": frozen, **stats,
                      "elapsed_s": time.perf_counter() - started}  # wall time since train() began, setup included
            if val is not None:
                record.update(val_loss=val["loss"], val_acc=val["accuracy"],
                              **{f"val_{name}": val.get(name) for name in METRICS})
            history.append(record)
            improved = ctx.broadcast_flag(val is not None and best.is_improved_by(val))
            stale = 0 if improved else stale + 1
            if ctx.is_main:
                if val.get(monitor) is None and not undefined_said:
                    why_undefined = (val.get("undefined") or {}).get(monitor, "undefined")
                    ctx.log(f"val {monitor} is {why_undefined}; epochs are ranked by val loss until it is defined")
                    undefined_said = True
                epoch_meta = dict(meta, epoch=epoch + 1, metrics=record)
                if improved:
                    best = BestEpoch.of(monitor, val, epoch + 1)
                    save_checkpoint(out, "best", eval_model, epoch_meta)
                    write_report(out, val, classes)
                save_checkpoint(out, "last", eval_model, epoch_meta)
                for stem in sorted(calibrated & ({"best", "last"} if improved else {"last"})):
                    ctx.log(f"{out / stem}.json: its calibrated decision rule was fitted to the weights now replaced, "
                            f"so it is dropped; run `convzoo calibrate {out / stem}.safetensors DATA` again")
                    calibrated.discard(stem)
                save_training_state(out / "last.state.pt", {
                    "epoch": epoch, **run.training_state(), "history": history, "stale": stale, **best.state(),
                    "split": meta["split"], **tracker.state(),
                })
                write_metrics(out, history, best, n_stages)
                tracker.log_epoch(record, val)
                ctx.log(f"epoch {epoch + 1}/{cfg.epochs}: train loss {stats['train_loss']:.4f}"
                        f" acc {stats['train_acc']:.4f} | val loss {val['loss']:.4f} acc {val['accuracy']:.4f}"
                        f"{monitored(monitor, val)} | lr {stats['lr']:.2e} | {stats['images_per_s']:.1f} img/s"
                        f"{' *best*' if improved else ''}")
            if cfg.patience and ctx.broadcast_flag(stale >= cfg.patience):
                ctx.log(f"early stop: no improvement for {cfg.patience} epochs")
                break
            ctx.barrier()
    except BaseException as exc:
        tracker.finish("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    tracker.finish()
    return {"rank": ctx.rank, "best_val_acc": best.acc, "best_val_loss": best.loss, "best_epoch": best.epoch,
            "monitor": best.monitor, "best_value": best.value, "balance": balance,
            "epochs_run": len(history), "history": history, "out": str(out)}


__all__ = ["DatasetError", "TrainConfig", "TrainingRun", "build_model", "loss_and_logits", "train",
           "training_preprocessing"]
