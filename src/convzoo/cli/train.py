"""`convzoo train`: fine-tune on your images (`convzoo eval` is in cli/evaluate.py)."""
from __future__ import annotations

import argparse

from ..factory import chosen_weights
from .options import Unset, add_options


def add_train_parser(sub) -> None:
    from ..tasks.train.balance import AUTO_BALANCE, AUTO_MONITOR, SKEW_RATIO
    from ..tasks.train.engine import AMP_CHOICES, CACHE_CHOICES, MAX_AUTO_WORKERS
    from ..tasks.train.loop import TrainConfig
    from ..tasks.train.metrics import ALIASES, METRICS

    d = TrainConfig(data="")
    p = sub.add_parser("train", help="fine-tune a model on your images (folder of class sub-folders, or a CSV)",
                       description="Fine-tune or train a model. Runs unchanged under torchrun --nproc_per_node N.")
    p.add_argument("data", help="ROOT/CLASS/*.png, ROOT/{train,val}/CLASS/*, or a CSV of path,label rows")
    add_options(p, "weights", model=d.model, epochs=d.epochs, batch_size=d.batch_size,
                image_size=Unset("the weights' own crop size"))
    p.add_argument("--out", default=d.out, help="output folder: checkpoints, metrics.json, plots; one that already "
                                                "holds a run is refused (nothing is lost by a reused name) unless "
                                                "--overwrite or --resume")
    add_options(p, "overwrite", val_fraction=d.val_fraction, seed=d.seed)
    g = p.add_argument_group("transfer learning")
    g.add_argument("--freeze", default=d.freeze,
                   help="auto (pretrained: the stem and the stages at 1/4 resolution or finer; from scratch: none) "
                        "| none | backbone (linear probe) | stages:K (stem + first K stages)")
    g.add_argument("--probe-epochs", type=int, default=d.probe_epochs, help="first epochs as a linear probe")
    g.add_argument("--unfreeze-every", type=int, default=d.unfreeze_every,
                   help="gradual unfreezing: one more stage from the top every N epochs")
    g.add_argument("--layer-decay", type=float, default=d.layer_decay, help="layer-wise LR decay per stage (e.g. 0.7)")
    g = p.add_argument_group("recipe")
    g.add_argument("--optimizer", choices=["adamw", "sgd"], default=d.optimizer)
    add_options(g, lr=d.lr, weight_decay=d.weight_decay)
    g.add_argument("--momentum", type=float, default=d.momentum)
    g.add_argument("--warmup-epochs", type=float, default=d.warmup_epochs)
    g.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    g.add_argument("--mixup", type=float, default=d.mixup, help="Mixup alpha (0: off)")
    g.add_argument("--cutmix", type=float, default=d.cutmix, help="CutMix alpha (0: off)")
    g.add_argument("--randaugment", type=int, default=d.randaugment, help="RandAugment magnitude (0: off)")
    g.add_argument("--crop", choices=["scale", "resized"], default=d.crop,
                   help="scale: random crop at the evaluation scale (keeps small defects and textures as they are "
                        "at test time); resized: ImageNet's random-resized crop (zooms in up to 3.5x)")
    g.add_argument("--crop-scale", type=float, default=d.crop_scale,
                   help="smallest area fraction kept by the random-resized crop (with --crop resized)")
    g.add_argument("--train-crop", type=int, default=d.train_crop, metavar="PX",
                   help="train on PX-pixel crops, validate and predict on the full crop (with --crop scale the "
                        "objects keep their size: (PX / crop)^2 of the compute per image) (unset: the full crop)")
    add_options(g, "no_hflip")
    g.add_argument("--random-erasing", type=float, default=d.random_erasing, help="Random Erasing probability")
    g.add_argument("--drop-path-rate", type=float, default=d.drop_path_rate, help="stochastic depth")
    g.add_argument("--ema-decay", type=float, default=d.ema_decay, help="EMA of weights, e.g. 0.999 (0: off)")
    g.add_argument("--amp", choices=list(AMP_CHOICES), default=d.amp,
                   help="mixed precision; auto: where bf16 is native (a CPU with AVX-512 bf16 or AMX), the faster of "
                        "fp32 and bf16 on the run's first steps; bf16 on GPUs with it, fp16 on other CUDA GPUs; "
                        "none (fp32) elsewhere")
    g.add_argument("--grad-accum", type=int, default=d.grad_accum)
    g.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=d.channels_last,
                   help="NHWC memory layout (unset: on for CPUs and CUDA GPUs)")
    g.add_argument("--cache", choices=list(CACHE_CHOICES), default=d.cache,
                   help="memory: decode and resize every image once and keep it in memory, not once per epoch; "
                        "auto: when the set fits in a quarter of the available memory and --crop is scale")
    g = p.add_argument_group("imbalanced classes")
    g.add_argument("--balance", choices=["none", "weights", "sampler", "auto"], default=d.balance,
                   help=f"weights: class-weighted loss; sampler: class-balanced sampling; auto: {AUTO_BALANCE} when "
                        f"the largest training class has {SKEW_RATIO:g}x the images of the smallest or more, "
                        f"else none")
    g.add_argument("--monitor", default=d.monitor, metavar="METRIC",
                   help=f"what makes the best epoch (best.safetensors, --patience), on the validation images: "
                        f"{', '.join(METRICS)} (or {', '.join(ALIASES)}); ties are broken by lower val loss. "
                        f"auto: {AUTO_MONITOR} when the classes are skewed, else accuracy")
    add_options(g, "positive")
    # --folds K (0: off): one model per fold, into OUT/fold1 ... OUT/foldK; OUT/folds.json has mean and std.
    add_options(g, folds=d.folds)
    g = p.add_argument_group("engine")
    g.add_argument("--patience", type=int, default=d.patience, help="early stopping after N epochs without improvement")
    add_options(g, "no_progress", workers=Unset("0 when the images are cached in memory, else one per core, at most "
                                                f"{MAX_AUTO_WORKERS}"), device=d.device)
    g.add_argument("--resume", help="OUT/last.state.pt of an interrupted run (continues in OUT)")
    g.add_argument("--lr-find", action="store_true",
                   help="instead of training: the learning-rate range test (Smith 2017), 100 mini-batches at LRs "
                        "rising from 1e-7 to 10 with these settings; prints the suggested --lr (steepest fall of "
                        "the smoothed loss) and writes OUT/lr_find.png; nothing is trained or saved")
    g = p.add_argument_group("data check", "every run starts with one line of what `convzoo check DATA` finds "
                                           "in its split (class counts, unreadable files, copies, leakage)")
    g.add_argument("--no-check", dest="check_data", action="store_false",
                   help="skip the data check (it decodes every image once more)")
    g.add_argument("--exclude-duplicates", action="store_true",
                   help="leave out the val copy of each image also in train, and every copy of an image filed "
                        "under two classes; OUT/excluded_images.txt lists them")
    g = p.add_argument_group("logs for tools", "OUT/metrics.csv is always written (one row per epoch); put these "
                                               "flags after DATA, or write --tensorboard=DIR")
    g.add_argument("--tensorboard", nargs="?", const=True, default=d.tensorboard, metavar="DIR",
                   help="TensorBoard event files in DIR (default: OUT/tensorboard; one run per DIR: a new run "
                        "hides the events already there, a resumed one those of the epochs it trains again): every "
                        "epoch's scalars, the confusion matrix and up to 16 misclassified validation images; needs "
                        "convzoo[tensorboard]")
    g.add_argument("--mlflow", nargs="?", const=True, default=d.mlflow, metavar="URI",
                   help="an MLflow run: the settings as params, every epoch's metrics, and best.safetensors + "
                        "best.json as artifacts at the end. Default store: the file store OUT/mlruns, which works "
                        "offline with mlflow-skinny (MLflow 3's own default, sqlite:///mlflow.db, needs SQLAlchemy; "
                        "the file store is opened with MLFLOW_ALLOW_FILE_STORE=true, which convzoo sets, and read "
                        "with MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri OUT/mlruns); or a tracking "
                        "URI (http://..., sqlite:///FILE with full mlflow) or a folder; needs convzoo[mlflow]")
    p.set_defaults(run=_cmd_train)


def _cmd_train(args) -> int:
    import json
    import sys

    from ..tasks.train.loop import TrainConfig, train

    fields = set(TrainConfig.__dataclass_fields__)
    cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
    cfg.weights = chosen_weights(args.weights, unset=TrainConfig.weights)
    if args.lr_find:
        from ..tasks.train.lr_find import run_lr_find

        found = run_lr_find(cfg)
        print(json.dumps({k: v for k, v in found.items() if k not in ("lrs", "losses")}, default=str))
        return 0
    if cfg.folds:
        from ..tasks.train.folds import format_folds, train_folds

        result = train_folds(cfg)
        if result["rank"] == 0:  # the mean ± std lines with the log, the JSON summary on stdout
            print("\n".join(format_folds(result)), file=sys.stderr)
            print(json.dumps({k: v for k, v in result.items() if k not in ("per_fold", "rank")}))
        return 0
    result = train(cfg)
    if result["rank"] == 0:  # under torchrun, one summary: rank 0's
        print(json.dumps({k: v for k, v in result.items() if k not in ("history", "rank")}))
    return 0
