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
    clf = Classifier(args.model, weights=args.weights, device=args.device, batch_size=args.batch_size)
    failed = 0
    for pred in clf.predict(paths, topk=args.topk, errors="report"):
        if pred.error:
            failed += 1
            print(f"convzoo: error: {pred.source}: {pred.error}", file=sys.stderr)
            if args.json:
                print(json.dumps(pred.to_dict()))
        elif args.json:
            print(json.dumps(pred.to_dict()))
        else:
            print(pred.source)
            for rank, (label, idx, p) in enumerate(zip(pred.labels, pred.indices, pred.probs), 1):
                print(f"  {rank}. {label:<32} {100 * p:6.2f}%  (class {idx})")
    if failed:
        print(f"convzoo: {failed} of {len(paths)} inputs failed", file=sys.stderr)
    return 1 if failed else 0


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
    p.set_defaults(run=_cmd_predict)

    p = sub.add_parser("info", help="a model's architecture: stages, shapes, strides, params, paper, weights")
    p.add_argument("name")
    p.set_defaults(run=_cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        # Library errors are written to be read: one line, the problem and the fix.
        print(f"convzoo: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
