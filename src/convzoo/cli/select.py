"""`convzoo select`: which pretrained model fits your labelled images, within a budget."""
from __future__ import annotations

import argparse
import sys

from .predict import positive_float, positive_int

_SCALES = {"K": 1e3, "M": 1e6, "G": 1e9}


def param_count(text: str) -> int:
    """'4M', '3.5e6', '800K' or '4000000' -> a whole number of parameters."""
    body, scale = text.strip(), 1.0
    if body[-1:].upper() in _SCALES:
        body, scale = body[:-1], _SCALES[body[-1].upper()]
    try:
        value = float(body) * scale
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a parameter count: e.g. 5M, 800K or 4000000")
    return int(value)


def add_select_parser(sub) -> None:
    p = sub.add_parser("select", help="which pretrained model fits your images best: linear probe, latency, budget",
                       description="For each candidate with pretrained weights: a linear probe on its frozen "
                                   "features, cross-validated on your labelled images, its batch-1 latency here "
                                   "and its size; ranked, with the most accurate one within the budget "
                                   "recommended. Exits 1 when no candidate fits the budget. Needs scikit-learn: "
                                   "pip install 'convzoo[select]'.")
    p.add_argument("data", help="ROOT/CLASS/*.png, ROOT/{train,val}/CLASS/*, or a CSV of path,label rows "
                                "(what `convzoo train` reads)")
    p.add_argument("--models", nargs="+", default=["efficientnet_lite*"], metavar="PATTERN",
                   help="model names or fnmatch patterns; those without weights here are skipped, with the reason")
    g = p.add_argument_group("budget")
    g.add_argument("--max-latency-ms", type=positive_float, default=None,
                   help="batch-1 latency on this machine, in ms%(default).0s")
    g.add_argument("--max-params", type=param_count, default=None, metavar="N", help="e.g. 5M or 5000000%(default).0s")
    g = p.add_argument_group("probe")
    g.add_argument("--folds", type=positive_int, default=5, help="stratified cross-validation folds")
    g.add_argument("--image-size", type=positive_int, default=None,
                   help="square crop side; unset: each weights' own crop size%(default).0s")
    g.add_argument("--val-fraction", type=float, default=0.2,
                   help="held-out share for the held-out accuracy: the images `convzoo train` validates on")
    g.add_argument("--seed", type=int, default=0, help="the held-out split's and the folds' shuffling")
    g.add_argument("--batch-size", type=positive_int, default=32, help="images per forward pass")
    g.add_argument("--workers", type=int, default=0, help="data-loading processes")
    g = p.add_argument_group("timing")
    g.add_argument("--rounds", type=positive_int, default=5, help="timed rounds after the warm-up")
    g.add_argument("--threads", type=positive_int, default=None,
                   help="torch CPU threads; unset: torch's own choice%(default).0s")
    g.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--out", metavar="FILE.csv|FILE.json", help="write the ranked rows there (atomically)")
    p.add_argument("--plot", metavar="FILE.png", help="Pareto plot: probe accuracy against batch-1 latency")
    p.add_argument("--json", action="store_true", help="the result as JSON instead of a table")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    p.set_defaults(run=_cmd_select)


def _cmd_select(args) -> int:
    import json

    from ..tasks.choose.select import select
    from ..tasks.choose.select_output import format_selection, plot_selection, write_selection

    if args.out and not args.out.lower().endswith((".csv", ".json")):
        raise ValueError(f"--out {args.out}: name a .csv or a .json file")  # before the measuring, not after
    if args.plot and not args.plot.lower().endswith(".png"):
        raise ValueError(f"--plot {args.plot}: name a .png file")
    result = select(args.data, args.models, max_latency_ms=args.max_latency_ms, max_params=args.max_params,
                    folds=args.folds, image_size=args.image_size, val_fraction=args.val_fraction, seed=args.seed,
                    batch_size=args.batch_size, workers=args.workers, device=args.device, threads=args.threads,
                    rounds=args.rounds, progress=args.progress)
    print(json.dumps(result.to_dict(), indent=1) if args.json else format_selection(result))
    if args.out:
        print(f"wrote {write_selection(result, args.out)}", file=sys.stderr)
    if args.plot:
        plot_selection(result, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    # Like grep's "no match": a script can tell that nothing fits without reading the table.
    return 0 if result.recommendation else 1
