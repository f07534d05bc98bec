"""The options that several commands share, each declared once: its flag, type, check,
default and help. A command picks the ones it takes:

    add_options(p, "device", "workers", "no_progress", batch_size=64)

A name alone takes the shared default; `name=value` sets that command's own default
(eval scores in batches of 64, export writes batch 1), nothing else. tests/cli/test_options.py
fails on a shared flag that a command declares by hand.

The argparse types here turn a bad value into one line naming it and what is allowed.
"""
from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field

from ..data.images import DEFAULT_MAX_PIXELS
from ..tasks.deploy.optimize import PRECISIONS, RUNTIMES, RuntimeOptions


def _number(text: str, kind):
    """`kind`(text), accepting 1.5e8 for a whole number as well as 150000000."""
    try:
        value = float(text)
        if kind is int:
            if value != int(value):
                raise ValueError
            return int(value)
        return value
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole ' if kind is int else ''}number") from None


def positive_int(text: str) -> int:
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer (1 or more)")
    return value


def non_negative_int(text: str) -> int:
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative (0 or more)")
    return value


def non_negative_float(text: str) -> float:
    value = _number(text, float)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text} is negative (0 or more)")
    return value


def positive_float(text: str) -> float:
    value = _number(text, float)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def share(text: str) -> float:
    value = _number(text, float)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a share between 0 and 1 (0.99 is 99%)")
    return value


def fraction(text: str) -> float:
    """A target share such as a recall: more than 0, at most 1."""
    value = _number(text, float)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not allowed: give a fraction in (0, 1], e.g. 0.95 for 95%")
    return value


def threshold(text: str) -> str | float:
    """auto (the checkpoint's calibrated threshold), none (the argmax) or a probability."""
    if text in ("auto", "none"):
        return text
    value = _number(text, float)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a probability: give one between 0 and 1, auto or none")
    return value


def file_named(*suffixes: str):
    """An argparse type: a file name with one of `suffixes`, checked before any work is done
    (not after minutes of measuring)."""
    def check(text: str) -> str:
        if not text.lower().endswith(suffixes):
            raise argparse.ArgumentTypeError(f"{text}: name a {' or a '.join(suffixes)} file")
        return text

    return check


RESULTS_FILE = file_named(".csv", ".json")  # rows of bench and select


def device(text: str) -> str:
    """auto, cpu, cuda or cuda:N; whether CUDA is there is the job's check (resolve_device)."""
    if text in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", text):
        return text
    raise argparse.ArgumentTypeError(f"{text!r} is not a device: use auto, cpu, cuda or cuda:N (e.g. cuda:1)")


@dataclass(frozen=True)
class SharedOption:
    flag: str
    settings: dict = field(default_factory=dict)  # add_argument's keywords: type, action, help, ...


def _option(flag: str, **settings) -> SharedOption:
    return SharedOption(flag, settings)


SHARED = {
    "device": _option("--device", type=device, default="auto", metavar="auto|cpu|cuda|cuda:N",
                      help="where the model runs (auto: a GPU if there is one)"),
    "workers": _option("--workers", type=non_negative_int, default=0, help="data-loading processes (0: none)"),
    "batch_size": _option("--batch-size", type=positive_int, default=32, help="images per forward pass"),
    "no_progress": _option("--no-progress", dest="progress", action="store_false", help="no progress bar"),
    "model": _option("--model", default="efficientnet_lite0", help="model name (`convzoo list` shows them)"),
    "weights": _option("--weights", default=None,
                       help="a weights tag (DEFAULT, IMAGENET1K_V2, ...), a weights file, a `convzoo train` "
                            "checkpoint, or none for random weights (unset: DEFAULT, the best published ones)"),
    "checkpoint": _option("--checkpoint", help="a `convzoo train` checkpoint (.safetensors with its .json): its "
                                               "model, class names and preprocessing are used"),
    # Repeated, not nargs="+": `predict --checkpoint best.safetensors photo.png` must keep the photo an input.
    "checkpoints": _option("--checkpoint", action="append", metavar="CHECKPOINT",
                           help="a `convzoo train` checkpoint (.safetensors with its .json: model, class names, "
                                "preprocessing, decision rule); repeat it for an ensemble (e.g. the folds of "
                                "train --folds), whose probabilities are averaged"),
    "tta": _option("--tta", choices=["flip", "crops"], default=None,
                   help="test-time augmentation, probabilities averaged over the views: flip (the image and its "
                        "mirror) or crops (4 corners + centre, and their mirrors) (unset: none)"),
    "threshold": _option("--threshold", type=threshold, default=None, metavar="auto|none|P",
                         help="the decision: auto, the checkpoint's calibrated threshold (`convzoo calibrate`); "
                              "none, the most probable class; P, the positive class when its probability >= P "
                              "(unset: auto if the checkpoint has a threshold, else none)"),
    "positive": _option("--positive", metavar="CLASS",
                        help="the class that matters (a defect): thresholds and binary scores are about it "
                             "(unset: the checkpoint's, else the rarer class of a binary task)"),
    "target_recall": _option("--target-recall", type=fraction, metavar="R",
                             help="choose the threshold that catches at least this share of the positive class"),
    "target_precision": _option("--target-precision", type=fraction, metavar="P",
                                help="choose the threshold at which at least this share of the flagged images "
                                     "are positive"),
    "folds": _option("--folds", type=non_negative_int, metavar="K",
                     help="K stratified cross-validation folds of DATA: each fold is held out once, and the score "
                          "is the mean ± std over the K"),
    "image_size": _option("--image-size", type=positive_int, help="square input side, in pixels"),
    "seed": _option("--seed", type=int, default=0, help="the random seed (data split, shuffling, initialisation)"),
    "val_fraction": _option("--val-fraction", type=float, default=0.2,
                            help="the share of images held out for validation when there is no val/ folder"),
    "json": _option("--json", action="store_true", help="print JSON instead of a table"),
    "topk": _option("--topk", type=positive_int, default=5, help="classes shown per image"),
    "models": _option("--models", nargs="+", default=["efficientnet_lite*"], metavar="PATTERN",
                      help="model names or fnmatch patterns (e.g. 'resnet*'); those without published weights "
                           "are left out"),
    "max_pixels": _option("--max-pixels", type=non_negative_int, default=DEFAULT_MAX_PIXELS,
                          help="refuse images larger than this, width x height (0: no limit; guards against "
                               "decompression bombs)"),
    "plot": _option("--plot", type=file_named(".png"), metavar="FILE.png",
                    help="a Pareto plot: accuracy against batch-1 latency"),
    "threads": _option("--threads", type=positive_int, default=None, help="torch CPU threads (unset: torch's own)"),
    "rounds": _option("--rounds", type=positive_int, default=5, help="timed rounds after the warm-up"),
    # The training options' defaults are their config's (TrainConfig, SegTrainConfig): each command passes its own.
    "epochs": _option("--epochs", type=positive_int, help="passes over the training images"),
    "lr": _option("--lr", type=positive_float, help="peak learning rate"),
    "weight_decay": _option("--weight-decay", type=float, help="weight decay"),
    "overwrite": _option("--overwrite", action="store_true", help="replace the run already in --out"),
    "no_hflip": _option("--no-hflip", dest="hflip", action="store_false",
                        help="no random horizontal flips (digits, text)"),
}


@dataclass(frozen=True)
class Unset:
    """A command's default of None for a shared option, and what leaving it unset means there."""
    meaning: str


def add_options(parser, *names: str, required: tuple[str, ...] = (), **defaults) -> None:
    """Adds the shared options `names` to `parser` (or an argument group), those named in
    `defaults` with that command's own default (an `Unset` for None with its meaning), and
    those in `required` as required."""
    for name in list(names) + list(defaults) + list(required):
        spec = SHARED[name]
        settings = dict(spec.settings)
        if isinstance(defaults.get(name), Unset):
            settings["default"] = None
            settings["help"] = f"{settings['help']} (unset: {defaults[name].meaning})"
        elif name in defaults:
            settings["default"] = defaults[name]
        if name in required:
            settings["required"] = True
        action = parser.add_argument(spec.flag, **settings)
        action.shared_option = name  # what tests/cli/test_options.py recognises as declared here


def add_runtime_options(parser, *, named_outright: bool = False) -> None:
    """--runtime and --precision; unless `named_outright`, also --fast, --min-agreement and
    --calibration (predict, eval). bench and compare time a runtime named outright: they have
    no images to choose or calibrate on, so "auto" and int8 are not offered there."""
    group = parser.add_argument_group("inference runtime (convzoo.optimize)")
    runtimes = RUNTIMES if named_outright else ("auto",) + RUNTIMES
    precisions = [p for p in PRECISIONS if p != "int8"] if named_outright else list(PRECISIONS)
    actions = []
    if not named_outright:
        actions.append(group.add_argument(
            "--fast", action="store_true",
            help="= --runtime auto: measure the runtimes and precisions this machine offers, use the fastest whose "
                 "top-1 answers agree with fp32 on >= 99%% of the calibration images (cached per model and machine)"))
    actions.append(group.add_argument(
        "--runtime", choices=runtimes, default="torch",
        help="what runs the model: eager PyTorch, ONNX Runtime or OpenVINO (extras: pip install 'convzoo[onnx]' / "
             "'convzoo[openvino]')" + ("" if named_outright else ", or auto (= --fast)")))
    actions.append(group.add_argument(
        "--precision", choices=precisions, default=None,
        help="unset: fp32; bf16: about half the work on CPUs with AVX-512 bf16 or AMX; fp16: GPU only"
             + ("" if named_outright else "; int8: post-training quantization calibrated on your images. With "
                                          "--fast: try only this one")))
    if not named_outright:
        actions.append(group.add_argument(
            "--min-agreement", type=share, default=RuntimeOptions.min_agreement, metavar="SHARE",
            help="--fast keeps a runtime only if it gives fp32's top-1 class on this share of the calibration images"))
        actions.append(group.add_argument(
            "--calibration", metavar="DIR",
            help="images that --fast checks its answers on and int8 calibrates on (unset: the images being "
                 "processed, up to 600; int8's ranges come from 300 of them)"))
    for action in actions:
        action.shared_option = "runtime"


def runtime_options(args) -> RuntimeOptions:
    """The RuntimeOptions that a command's parsed runtime options stand for."""
    return RuntimeOptions(runtime=args.runtime, precision=args.precision, fast=getattr(args, "fast", False),
                          calibration=getattr(args, "calibration", None),
                          min_agreement=getattr(args, "min_agreement", RuntimeOptions.min_agreement))
