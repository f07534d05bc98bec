"""`convzoo select`: which pretrained model fits your labelled images, within a budget."""
from __future__ import annotations

import argparse
import sys

from .options import RESULTS_FILE, Unset, add_options, positive_float

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
    add_options(p, "models")  # those without weights here are skipped, with the reason
    g = p.add_argument_group("budget")
    g.add_argument("--max-latency-ms", type=positive_float, default=None,
                   help="batch-1 latency on this machine, in ms")
    g.add_argument("--max-params", type=param_count, default=None, metavar="N", help="e.g. 5M or 5000000")
    g = p.add_argument_group("probe", "--val-fraction and --seed draw the held-out split that `convzoo train` "
                                      "would validate on")
    add_options(g, folds=5)
    add_options(g, "val_fraction", "seed", "batch_size", "workers", image_size=Unset("the weights' own crop size"))
    g = p.add_argument_group("timing")
    add_options(g, "rounds", "threads", "device")
    p.add_argument("--out", type=RESULTS_FILE, metavar="FILE.csv|FILE.json",
                   help="write the ranked rows there (atomically)")
    add_options(p, "plot", "json", "no_progress")  # the plot's accuracy is the probe's
    p.set_defaults(run=_cmd_select)


def _cmd_select(args) -> int:
    import json

    from ..tasks.choose.select import select
    from ..tasks.choose.select_output import format_selection, plot_selection, write_selection

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
