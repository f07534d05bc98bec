"""`convzoo` command line: a thin shell over the library.

One module per group of commands (catalog: list/info; predict; train: train;
evaluate: eval/calibrate; seg: seg-train; explain; serve; visualize;
bench: bench/compare; select; export; check; push),
each adding its sub-parsers; `main` runs the chosen one and turns library
errors into one line on stderr and a non-zero exit code.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import warnings
from contextlib import contextmanager

from ..version import __version__
from . import bench, catalog, check, evaluate, explain, export, predict, push, seg, select, serve, train, visualize

# One example per command, shown at the end of its --help.
EXAMPLES = {
    "list": "convzoo list 'efficientnet*' --pretrained",
    "predict": "convzoo predict examples/coffee.png examples/chelsea.png --topk 3",
    "train": "convzoo train my_images/ --model efficientnet_lite0 --epochs 5 --out runs/mine",
    "seg-train": "convzoo seg-train my_masks/ --encoder efficientnet_lite0 --decoder unet --epochs 5 --out runs/seg",
    "eval": "convzoo eval my_images/ --checkpoint runs/mine/best.safetensors",
    "calibrate": "convzoo calibrate runs/mine/best.safetensors my_images/ --target-recall 0.95",
    "info": "convzoo info resnet50",
    "download": "convzoo download resnet50 IMAGENET1K_V2",
    "bench": "convzoo bench 'efficientnet_lite*' resnet18 mobilenet_v3_small --batch-sizes 1,32 --out results.csv "
             "--plot pareto.png",
    "compare": "convzoo compare examples/coffee.png --models 'efficientnet_lite*' --topk 3",
    "select": "convzoo select my_images/ --models 'efficientnet_lite*' mobilenet_v3_large --max-latency-ms 20 "
              "--out ranking.csv --plot select.png",
    "check": "convzoo check my_images/ --image-size 224",
    "export": "convzoo export efficientnet_lite0 --format onnx --dynamic-batch --out lite0.onnx",
    "explain": "convzoo explain examples/chelsea.png --model efficientnet_lite0 --out heatmaps/",
    "serve": "convzoo serve --models 'efficientnet_lite*' resnet50 --port 8000",
    "visualize": "convzoo visualize efficientnet_lite0 --image examples/chelsea.png --out inside/",
    "push": "convzoo push runs/mine/best.safetensors my-name/my-classifier --private",
}


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows each option's default once, and keeps the example's line as written.

    A default is shown only where it is a value: not for flags (True/False), not for
    None (the help says what unset means), and not where the help already names it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default is None or isinstance(action.default, bool) or re.search(r"\bdefault\b|\bunset\b", text):
            return text
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        """A bad option is one line, like every other convzoo error (argparse would print
        the whole usage first), and exits 2."""
        self.exit(2, f"{self.prog}: error: {message} (`{self.prog} --help` lists the options)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="convzoo", description="The classic convolutional image classifiers.",
                     epilog="example:\n  convzoo predict examples/coffee.png")
    parser.add_argument("--version", action="version", version=f"convzoo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    catalog.add_list_parser(sub)
    predict.add_parser(sub)
    train.add_train_parser(sub)
    evaluate.add_eval_parser(sub)
    evaluate.add_calibrate_parser(sub)
    seg.add_seg_train_parser(sub)
    catalog.add_info_parser(sub)
    catalog.add_download_parser(sub)
    bench.add_bench_parser(sub)
    bench.add_compare_parser(sub)
    select.add_select_parser(sub)
    check.add_check_parser(sub)
    export.add_export_parser(sub)
    explain.add_explain_parser(sub)
    serve.add_serve_parser(sub)
    visualize.add_visualize_parser(sub)
    push.add_push_parser(sub)
    for name, command in sub.choices.items():
        if name in EXAMPLES:
            command.epilog = f"example:\n  {EXAMPLES[name]}"
    return parser


@contextmanager
def one_line_warnings():
    """Warnings as one `convzoo: warning: ...` line on stderr, from rank 0 only
    under torchrun: not Python's `file:line: UserWarning: ...` and source line.
    (The library keeps raising ordinary warnings, for Python callers to filter.)"""
    def show(message, category, filename, lineno, file=None, line=None):
        if int(os.environ.get("RANK", "0")) == 0:
            print(f"convzoo: warning: {' '.join(str(message).split())}", file=sys.stderr, flush=True)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with one_line_warnings():
            return args.run(args)
    except (ValueError, FileNotFoundError, RuntimeError, KeyError) as exc:
        # Library errors are written to be read: one line, the problem and the fix.
        print(f"convzoo: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
