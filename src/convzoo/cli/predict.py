"""`convzoo predict`: classify images with a pretrained model or a trained checkpoint."""
from __future__ import annotations

import argparse

from ..tasks.deploy.optimize import PRECISIONS, RUNTIMES


def add_parser(sub) -> None:
    from ..data.images import DEFAULT_MAX_PIXELS
    from ..data.sources import DEFAULT_TIMEOUT

    p = sub.add_parser("predict", help="classify images (files, directories, URLs, - for stdin) with a pretrained model")
    p.add_argument("images", nargs="+", metavar="IMAGE_OR_DIR",
                   help="image files, folders (their image files; other files are skipped), http(s) URLs, - (stdin)")
    p.add_argument("--model", help="model name (default: efficientnet_lite0, weights ship with convzoo)")
    p.add_argument("--weights", help="weights tag (DEFAULT, IMAGENET1K_V2, ...), a weights file, a `convzoo train` "
                                     "checkpoint, or none (default: DEFAULT)")
    p.add_argument("--checkpoint", help="a `convzoo train` checkpoint (.safetensors with its .json): its model, "
                                        "class names and preprocessing are used (not with --model/--weights)")
    p.add_argument("--topk", type=positive_int, default=5, help="classes to show per image (default 5)")
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--json", action="store_true", help="one JSON object per image instead of a table")
    p.add_argument("--out", metavar="FILE.csv|FILE.jsonl",
                   help="write results there (atomically; a rerun skips inputs already in it)")
    p.add_argument("--workers", type=non_negative_int, default=None,
                   help="processes decoding images in parallel (default: by the number of inputs and CPUs)")
    p.add_argument("--max-pixels", type=non_negative_int, default=DEFAULT_MAX_PIXELS,
                   help=f"refuse images larger than this, width x height (default {DEFAULT_MAX_PIXELS:.2g}; 0: no limit)")
    p.add_argument("--timeout", type=positive_float, default=DEFAULT_TIMEOUT,
                   help=f"seconds to wait for a URL to answer (default {DEFAULT_TIMEOUT:g})")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    add_runtime_options(p)
    p.set_defaults(run=_cmd_predict)


def add_runtime_options(p) -> None:
    """--fast / --runtime / --precision / --calibration, shared by predict and eval."""
    g = p.add_argument_group("inference runtime (convzoo.optimize)")
    g.add_argument("--fast", action="store_true",
                   help="= --runtime auto: measure the runtimes and precisions this machine offers, use the fastest "
                        "whose top-1 answers agree with fp32 on >= 99%% of the calibration images (cached per model "
                        "and machine)")
    g.add_argument("--runtime", choices=("auto",) + RUNTIMES, default="torch",
                   help="what runs the model: eager PyTorch, ONNX Runtime or OpenVINO (extras: pip install "
                        "'convzoo[onnx]' / 'convzoo[openvino]'), or auto (= --fast)")
    g.add_argument("--precision", choices=PRECISIONS, default=None,
                   help="fp32 (the default%(default).0s); bf16: about half the work on CPUs with AVX-512 bf16 or AMX; fp16: GPU only; "
                        "int8: post-training quantization calibrated on your images. With --fast: try only this one")
    g.add_argument("--min-agreement", type=share, default=0.99, metavar="SHARE",
                   help="--fast keeps a runtime only if it gives fp32's top-1 class on this share of the "
                        "calibration images")
    g.add_argument("--calibration", metavar="DIR",
                   help="images that int8 calibrates on and --fast checks its answers on (default: the images "
                        "being processed, up to 300%(default).0s)")


def share(text: str) -> float:
    value = _number(text, float)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a share between 0 and 1 (0.99 is 99%)")
    return value


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


def positive_float(text: str) -> float:
    value = _number(text, float)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


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


def _cmd_predict(args) -> int:
    from ..tasks.predict.run import PredictOptions, run_predict

    return run_predict(PredictOptions(
        inputs=args.images, model=args.model, weights=args.weights, checkpoint=args.checkpoint, topk=args.topk,
        batch_size=args.batch_size, device=args.device, json=args.json, out=args.out, workers=args.workers,
        max_pixels=args.max_pixels, timeout=args.timeout, progress=args.progress, runtime=args.runtime,
        precision=args.precision, fast=args.fast, calibration=args.calibration,
        min_agreement=args.min_agreement))
