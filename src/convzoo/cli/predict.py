"""`convzoo predict`: classify images with a pretrained model or a trained checkpoint."""
from __future__ import annotations

import sys


def add_parser(sub) -> None:
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


def _cmd_predict(args) -> int:
    import json

    from ..data.images import expand_inputs
    from ..tasks.classify import Classifier

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
