"""`convzoo` command line: a thin shell over the library."""
from __future__ import annotations

import argparse
import sys


def _cmd_list(args) -> int:
    from .tasks.summary import format_models_table, models_table

    rows = models_table(args.pattern, pretrained=args.pretrained)
    if not rows:
        print(f"no model matches {args.pattern!r}", file=sys.stderr)
        return 1
    print(format_models_table(rows))
    return 0


def _cmd_info(args) -> int:
    from .tasks.summary import describe_model

    print(describe_model(args.name))
    return 0


def _cmd_predict(args) -> int:
    import json

    from .data.images import expand_inputs
    from .tasks.classify import Classifier

    paths = expand_inputs(args.images)
    if not paths:
        print("convzoo: error: no image files found in the given directories", file=sys.stderr)
        return 2
    if args.checkpoint:
        clf = Classifier.from_checkpoint(args.checkpoint, device=args.device, batch_size=args.batch_size)
    else:
        clf = Classifier(args.model, weights=args.weights, device=args.device, batch_size=args.batch_size)
    failed = 0
    for pred in clf.predict(paths, topk=args.topk, errors="report"):
        if pred.error:
            failed += 1
            print(f"convzoo: error: {pred.source}: {pred.error}", file=sys.stderr)
        if args.json:
            print(json.dumps(pred.to_dict()))
        elif not pred.error:
            print(pred.source)
            for rank, (label, idx, p) in enumerate(zip(pred.labels, pred.indices, pred.probs), 1):
                print(f"  {rank}. {label:<32} {100 * p:6.2f}%  (class {idx})")
    if failed:
        print(f"convzoo: {failed} of {len(paths)} inputs failed", file=sys.stderr)
    return 1 if failed else 0


def _add_train_parser(sub) -> None:
    from .tasks.train import TrainConfig

    d = TrainConfig(data="")
    p = sub.add_parser("train", help="fine-tune a model on your images (folder of class sub-folders, or a CSV)",
                       description="Fine-tune or train a model. Runs unchanged under torchrun --nproc_per_node N.")
    p.add_argument("data", help="ROOT/CLASS/*.png, ROOT/{train,val}/CLASS/*, or a CSV of path,label rows")
    p.add_argument("--model", default=d.model)
    p.add_argument("--weights", default=d.weights, help="DEFAULT | a weights tag | a checkpoint path | none (from scratch)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--image-size", type=int, default=None, help="crop size (default: the weights' own)")
    p.add_argument("--out", default=d.out, help="output folder: checkpoints, metrics.json, plots")
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
    g.add_argument("--crop-scale", type=float, default=d.crop_scale,
                   help="smallest area fraction kept by the random-resized crop (default 0.08)")
    g.add_argument("--no-hflip", dest="hflip", action="store_false", help="no random horizontal flips (digits, text)")
    g.add_argument("--random-erasing", type=float, default=d.random_erasing, help="Random Erasing probability")
    g.add_argument("--drop-path-rate", type=float, default=d.drop_path_rate, help="stochastic depth")
    g.add_argument("--ema-decay", type=float, default=d.ema_decay, help="EMA of weights, e.g. 0.999 (0: off)")
    g.add_argument("--amp", choices=["none", "bf16", "fp16"], default=d.amp, help="mixed precision")
    g.add_argument("--grad-accum", type=int, default=d.grad_accum)
    g.add_argument("--channels-last", action="store_true")
    g = p.add_argument_group("engine")
    g.add_argument("--patience", type=int, default=d.patience, help="early stopping after N epochs without improvement")
    g.add_argument("--workers", type=int, default=d.workers, help="data-loading processes")
    g.add_argument("--device", default=d.device, choices=["auto", "cpu", "cuda"])
    g.add_argument("--resume", help="OUT/last.state.pt of an interrupted run")
    g.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=_cmd_train)


def _cmd_train(args) -> int:
    import json

    from .tasks.train import TrainConfig, train

    fields = set(TrainConfig.__dataclass_fields__)
    cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
    cfg.progress = not args.no_progress
    if str(cfg.weights).lower() == "none":
        cfg.weights = None
    result = train(cfg)
    if result.get("rank", 0) == 0:
        print(json.dumps({k: v for k, v in result.items() if k != "history"}))
    return 0


def _cmd_eval(args) -> int:
    import json

    from .tasks.evaluate import evaluate_checkpoint, format_report

    metrics = evaluate_checkpoint(args.checkpoint, args.data, args.batch_size, args.device, args.workers)
    print(json.dumps(metrics) if args.json else format_report(metrics))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="convzoo", description="The classic convolutional image classifiers.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list models: name, family, params, GFLOPs, acc@1")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, e.g. 'resnet*'")
    p.add_argument("--pretrained", action="store_true", help="only models with published weights")
    p.set_defaults(run=_cmd_list)

    p = sub.add_parser("predict", help="classify images (files or directories) with a pretrained model")
    p.add_argument("images", nargs="+", metavar="IMAGE_OR_DIR")
    p.add_argument("--model", default="efficientnet_lite0", help="model name (default: efficientnet_lite0, weights ship with convzoo)")
    p.add_argument("--weights", default="DEFAULT", help="weights tag (DEFAULT, IMAGENET1K_V2, ...) or a checkpoint path")
    p.add_argument("--topk", type=int, default=5, help="classes to show per image (default 5)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--json", action="store_true", help="one JSON object per image instead of a table")
    p.add_argument("--checkpoint", help="a `convzoo train` checkpoint (.safetensors with its .json): its model, "
                                         "class names and preprocessing are used")
    p.set_defaults(run=_cmd_predict)

    _add_train_parser(sub)

    p = sub.add_parser("eval", help="evaluate a trained checkpoint on a labelled image folder or CSV")
    p.add_argument("data", help="folder of class sub-folders (or with val/), or a CSV of path,label rows")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(run=_cmd_eval)

    p = sub.add_parser("info", help="a model's architecture: stages, shapes, strides, params, paper, weights")
    p.add_argument("name")
    p.set_defaults(run=_cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError, RuntimeError, KeyError) as exc:
        # Library errors are written to be read: one line, the problem and the fix.
        print(f"convzoo: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
