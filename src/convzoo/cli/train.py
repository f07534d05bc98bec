"""`convzoo train` and `convzoo eval`: fine-tune on your images, evaluate a checkpoint."""
from __future__ import annotations


def add_train_parser(sub) -> None:
    from ..tasks.train.loop import TrainConfig

    d = TrainConfig(data="")
    p = sub.add_parser("train", help="fine-tune a model on your images (folder of class sub-folders, or a CSV)",
                       description="Fine-tune or train a model. Runs unchanged under torchrun --nproc_per_node N.")
    p.add_argument("data", help="ROOT/CLASS/*.png, ROOT/{train,val}/CLASS/*, or a CSV of path,label rows")
    p.add_argument("--model", default=d.model)
    p.add_argument("--weights", default=d.weights, help="DEFAULT | a weights tag | a checkpoint path | none (from scratch)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--image-size", type=int, default=None, help="crop size (default: the weights' own)")
    p.add_argument("--out", default=d.out, help="output folder: checkpoints, metrics.json, plots; one that already "
                                                "holds a run is refused (nothing is lost by a reused name) unless "
                                                "--overwrite or --resume")
    p.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    p.add_argument("--val-fraction", type=float, default=d.val_fraction, help="held out when there is no val/ folder")
    p.add_argument("--seed", type=int, default=d.seed)
    g = p.add_argument_group("transfer learning")
    g.add_argument("--freeze", default=d.freeze, help="none | backbone (linear probe) | stages:K (stem + first K stages)")
    g.add_argument("--probe-epochs", type=int, default=d.probe_epochs, help="first epochs as a linear probe")
    g.add_argument("--unfreeze-every", type=int, default=d.unfreeze_every,
                   help="gradual unfreezing: one more stage from the top every N epochs")
    g.add_argument("--layer-decay", type=float, default=d.layer_decay, help="layer-wise LR decay per stage (e.g. 0.7)")
    g = p.add_argument_group("recipe")
    g.add_argument("--optimizer", choices=["adamw", "sgd"], default=d.optimizer)
    g.add_argument("--lr", type=float, default=d.lr)
    g.add_argument("--weight-decay", type=float, default=d.weight_decay)
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
    g.add_argument("--no-hflip", dest="hflip", action="store_false", help="no random horizontal flips (digits, text)")
    g.add_argument("--random-erasing", type=float, default=d.random_erasing, help="Random Erasing probability")
    g.add_argument("--drop-path-rate", type=float, default=d.drop_path_rate, help="stochastic depth")
    g.add_argument("--ema-decay", type=float, default=d.ema_decay, help="EMA of weights, e.g. 0.999 (0: off)")
    g.add_argument("--amp", choices=["none", "bf16", "fp16"], default=d.amp, help="mixed precision")
    g.add_argument("--grad-accum", type=int, default=d.grad_accum)
    g.add_argument("--channels-last", action="store_true")
    g = p.add_argument_group("engine")
    g.add_argument("--patience", type=int, default=d.patience, help="early stopping after N epochs without improvement")
    g.add_argument("--monitor", choices=["acc", "loss"], default=d.monitor,
                   help="what makes the best epoch (best.safetensors, --patience): val accuracy, ties broken by "
                        "lower val loss (default), or val loss")
    g.add_argument("--workers", type=int, default=d.workers, help="data-loading processes")
    g.add_argument("--device", default=d.device, choices=["auto", "cpu", "cuda"])
    g.add_argument("--resume", help="OUT/last.state.pt of an interrupted run (continues in OUT)")
    g.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=_cmd_train)


def _cmd_train(args) -> int:
    import json

    from ..tasks.train.loop import TrainConfig, train

    fields = set(TrainConfig.__dataclass_fields__)
    cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
    cfg.progress = not args.no_progress
    if str(cfg.weights).lower() == "none":
        cfg.weights = None
    result = train(cfg)
    if result["rank"] == 0:  # under torchrun, one summary: rank 0's
        print(json.dumps({k: v for k, v in result.items() if k not in ("history", "rank")}))
    return 0


def _cmd_eval(args) -> int:
    import json

    from ..tasks.train.evaluate import evaluate_checkpoint, format_report

    metrics = evaluate_checkpoint(args.checkpoint, args.data, args.batch_size, args.device, args.workers,
                                  progress=args.progress, all_images=args.all, runtime=args.runtime, precision=args.precision,
                                  fast=args.fast, calibration=args.calibration, min_agreement=args.min_agreement)
    print(json.dumps(metrics) if args.json else format_report(metrics))
    return 0


def add_eval_parser(sub) -> None:
    from .predict import add_runtime_options

    p = sub.add_parser("eval", help="evaluate a trained checkpoint on a labelled image folder or CSV",
                       description="Scores images the model did not train on: DATA/val/ if there is one, else the "
                                   "held-out split recorded in the checkpoint (the --seed and --val-fraction of "
                                   "training); --all for every image. Lists the misclassified images.")
    p.add_argument("data", help="folder of class sub-folders (or with val/), or a CSV of path,label rows")
    p.add_argument("--all", action="store_true",
                   help="every image of DATA (a separate test set; train/ and val/ both if it has them)")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    add_runtime_options(p)
    p.set_defaults(run=_cmd_eval)
