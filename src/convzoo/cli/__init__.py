"""`convzoo` command line: a thin shell over the library.

One module per group of commands (catalog: list/info; predict; train: train/eval),
each adding its sub-parsers; `main` runs the chosen one and turns library
errors into one line on stderr and a non-zero exit code.
"""
from __future__ import annotations

import argparse
import sys

from . import catalog, predict, train


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="convzoo", description="The classic convolutional image classifiers.")
    sub = parser.add_subparsers(dest="command", required=True)
    catalog.add_list_parser(sub)
    predict.add_parser(sub)
    train.add_train_parser(sub)
    train.add_eval_parser(sub)
    catalog.add_info_parser(sub)
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
