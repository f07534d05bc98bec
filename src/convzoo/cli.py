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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="convzoo", description="The classic convolutional image classifiers.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list models: name, family, params, GFLOPs, acc@1")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, e.g. 'resnet*'")
    p.add_argument("--pretrained", action="store_true", help="only models with published weights")
    p.set_defaults(run=_cmd_list)

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
