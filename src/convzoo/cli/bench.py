"""`convzoo bench` and `convzoo compare`: which model to use, measured here."""
from __future__ import annotations

import argparse
import sys

from ..tasks.choose.reference_models import LIBRARIES
from .options import RESULTS_FILE, Unset, add_options, add_runtime_options, positive_int, runtime_options


def batch_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of positive batch sizes, e.g. 1,32")
    return sizes


def add_bench_parser(sub) -> None:
    p = sub.add_parser("bench", help="measure models here: params, GFLOPs, latency, throughput, memory, acc@1")
    p.add_argument("patterns", nargs="+", metavar="PATTERN", help="model names or fnmatch patterns, e.g. 'resnet*'")
    p.add_argument("--batch-sizes", type=batch_sizes, default="1,32", metavar="N,N",
                   help="latency at the smallest, throughput and memory at the largest")
    add_options(p, image_size=Unset("the weights' own crop size"))
    add_runtime_options(p, named_outright=True)
    add_options(p, "threads", "device")
    p.add_argument("--train", action="store_true",
                   help="also training throughput: forward, backward and an SGD step at the largest batch size")
    add_options(p, "rounds")
    p.add_argument("--out", type=RESULTS_FILE, metavar="FILE.csv|FILE.json",
                   help="write the rows there (atomically)")
    add_options(p, "plot")  # models without a published accuracy are left out of it
    p.add_argument("--vs", choices=LIBRARIES,
                   help="also time this library's same-named model in the same rounds; adds ours/theirs ratios")
    p.add_argument("--no-memory", dest="memory", action="store_false",
                   help="skip the peak-memory measurement (a fresh process per model)")
    add_options(p, "no_progress")
    p.set_defaults(run=_cmd_bench)


def add_compare_parser(sub) -> None:
    p = sub.add_parser("compare", help="classify one image with several pretrained models, side by side")
    p.add_argument("image", help="an image file or URL")
    add_options(p, "models", "topk")
    p.add_argument("--repeats", type=positive_int, default=3, help="timed runs per model, after one warm-up")
    add_options(p, "device", "json")
    add_runtime_options(p, named_outright=True)
    p.set_defaults(run=_cmd_compare)


def _cmd_bench(args) -> int:
    from ..tasks.choose.bench import bench
    from ..tasks.choose.bench_output import format_bench_table, write_results

    rows = bench(args.patterns, batch_sizes=args.batch_sizes, image_size=args.image_size, threads=args.threads,
                 device=args.device, train=args.train, rounds=args.rounds, vs=args.vs, memory=args.memory,
                 progress=args.progress, runtime_options=runtime_options(args))
    print(format_bench_table(rows))
    if args.out:
        print(f"wrote {write_results(rows, args.out)}", file=sys.stderr)
    if args.plot:
        from ..tasks.choose.pareto import plot_pareto

        left_out = plot_pareto(rows, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
        if left_out:
            print(f"convzoo: left out of the plot (no published acc@1): {', '.join(left_out)}", file=sys.stderr)
    return 0


def _cmd_compare(args) -> int:
    import json

    from ..tasks.choose.compare import compare, format_comparison

    rows = compare(args.image, args.models, topk=args.topk, device=args.device, repeats=args.repeats,
                   runtime_options=runtime_options(args))
    print(json.dumps(rows, indent=1) if args.json else format_comparison(rows))
    return 0
