"""`convzoo predict`: classify images with a pretrained model or a trained checkpoint."""
from __future__ import annotations

from ..data.sources import DEFAULT_TIMEOUT
from .options import Unset, add_options, add_runtime_options, positive_float, runtime_options


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="classify images (files, directories, URLs, - for stdin) with a pretrained model")
    p.add_argument("images", nargs="+", metavar="IMAGE_OR_DIR",
                   help="image files, folders (their image files; other files are skipped), http(s) URLs, - (stdin)")
    add_options(p, "weights", "checkpoints", "topk", "batch_size", "device", "json",
                model=Unset("efficientnet_lite0, whose weights ship with convzoo, or the checkpoint's model"))
    add_options(p, "tta", "threshold", "positive")  # --threshold and --positive: with a checkpoint
    p.add_argument("--out", metavar="FILE.csv|FILE.jsonl",
                   help="write results there (atomically; a rerun skips inputs already in it)")
    add_options(p, "max_pixels", "no_progress", workers=Unset("by the number of inputs and CPUs"))
    p.add_argument("--timeout", type=positive_float, default=DEFAULT_TIMEOUT,
                   help="seconds to wait for a URL to answer")
    add_runtime_options(p)
    p.set_defaults(run=_cmd_predict)


def _cmd_predict(args) -> int:
    from ..tasks.predict.run import PredictOptions, run_predict

    return run_predict(PredictOptions(
        inputs=args.images, model=args.model, weights=args.weights, checkpoint=args.checkpoint, topk=args.topk,
        batch_size=args.batch_size, device=args.device, json=args.json, out=args.out, workers=args.workers,
        max_pixels=args.max_pixels, timeout=args.timeout, progress=args.progress,
        runtime_options=runtime_options(args), tta=args.tta, threshold=args.threshold, positive=args.positive))
