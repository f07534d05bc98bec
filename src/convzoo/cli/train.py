"""`convzoo train` and `convzoo eval`: fine-tune on your images, evaluate a checkpoint."""
from __future__ import annotations

from ..factory import chosen_weights
from .options import Unset, add_options, add_runtime_options, runtime_options


def add_train_parser(sub) -> None:
    from ..tasks.train.loop import TrainConfig

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
    g.add_argument("--freeze", default=d.freeze, help="none | backbone (linear probe) | stages:K (stem + first K stages)")
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
    add_options(g, "no_hflip")
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
    add_options(g, "no_progress", workers=d.workers, device=d.device)
    g.add_argument("--resume", help="OUT/last.state.pt of an interrupted run (continues in OUT)")
    p.set_defaults(run=_cmd_train)


def _cmd_train(args) -> int:
    import json

    from ..tasks.train.loop import TrainConfig, train

    fields = set(TrainConfig.__dataclass_fields__)
    cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
    cfg.weights = chosen_weights(args.weights, unset=TrainConfig.weights)
    result = train(cfg)
    if result["rank"] == 0:  # under torchrun, one summary: rank 0's
        print(json.dumps({k: v for k, v in result.items() if k not in ("history", "rank")}))
    return 0


def _cmd_eval(args) -> int:
    import json

    from ..tasks.train.evaluate import evaluate_checkpoint, format_report

    metrics = evaluate_checkpoint(args.checkpoint, args.data, args.batch_size, args.device, args.workers,
                                  progress=args.progress, all_images=args.all, runtime_options=runtime_options(args))
    print(json.dumps(metrics) if args.json else format_report(metrics))
    return 0


def add_eval_parser(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a trained checkpoint on a labelled image folder or CSV",
                       description="Scores images the model did not train on: DATA/val/ if there is one, else the "
                                   "held-out split recorded in the checkpoint (the --seed and --val-fraction of "
                                   "training); --all for every image. Lists the misclassified images.")
    p.add_argument("data", help="folder of class sub-folders (or with val/), or a CSV of path,label rows")
    p.add_argument("--all", action="store_true",
                   help="every image of DATA (a separate test set; train/ and val/ both if it has them)")
    add_options(p, "device", "workers", "json", "no_progress", required=("checkpoint",), batch_size=64)
    add_runtime_options(p)
    p.set_defaults(run=_cmd_eval)
