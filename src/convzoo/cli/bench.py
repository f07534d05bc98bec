"""`convzoo bench` and `convzoo compare`: which model to use, measured here."""
from __future__ import annotations

import argparse
import sys

from ..tasks.choose.reference_models import LIBRARIES
from ..tasks.deploy.optimize import PRECISIONS, RUNTIMES
from .predict import positive_int


def batch_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of positive batch sizes, e.g. 1,32")
    return sizes


def _add_runtime_choice(p) -> None:
    # Only runtimes named outright: "auto" and int8 choose or calibrate on images, which bench has none of.
    g = p.add_argument_group("inference runtime (convzoo.optimize)")
    g.add_argument("--runtime", choices=RUNTIMES, default="torch", help="what runs inference")
    g.add_argument("--precision", choices=[p for p in PRECISIONS if p != "int8"], default="fp32",
                   help="bf16: CPUs with AVX-512 bf16/AMX, or a GPU; fp16: GPU only")


def add_bench_parser(sub) -> None:
    p = sub.add_parser("bench", help="measure models here: params, GFLOPs, latency, throughput, memory, acc@1")
    p.add_argument("patterns", nargs="+", metavar="PATTERN", help="model names or fnmatch patterns, e.g. 'resnet*'")
    p.add_argument("--batch-sizes", type=batch_sizes, default="1,32", metavar="N,N",
                   help="latency at the smallest, throughput and memory at the largest")
    p.add_argument("--image-size", type=positive_int, default=None,
                   help="square input side; unset: each model's DEFAULT weights' crop size%(default).0s")
    _add_runtime_choice(p)
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads; unset: torch's own choice%(default).0s")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--train", action="store_true",
                   help="also training throughput: forward, backward and an SGD step at the largest batch size")
    p.add_argument("--rounds", type=positive_int, default=5, help="timed rounds after the warm-up")
    p.add_argument("--out", metavar="FILE.csv|FILE.json", help="write the rows there (atomically)")
    p.add_argument("--plot", metavar="FILE.png",
                   help="Pareto plot: acc@1 against batch-1 latency (models without published accuracy left out)")
    p.add_argument("--vs", choices=LIBRARIES,
                   help="also time this library's same-named model in the same rounds; adds ours/theirs ratios")
    p.add_argument("--no-memory", dest="memory", action="store_false",
                   help="skip the peak-memory measurement (a fresh process per model)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(run=_cmd_bench)


def add_compare_parser(sub) -> None:
    p = sub.add_parser("compare", help="classify one image with several pretrained models, side by side")
    p.add_argument("image", help="an image file or URL")
    p.add_argument("--models", nargs="+", default=["efficientnet_lite*"], metavar="PATTERN",
                   help="model names or fnmatch patterns; models without published weights are skipped")
    p.add_argument("--topk", type=positive_int, default=5)
    p.add_argument("--repeats", type=positive_int, default=3, help="timed runs per model, after one warm-up")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--json", action="store_true", help="the rows as JSON instead of a table")
    _add_runtime_choice(p)
    p.set_defaults(run=_cmd_compare)


def _cmd_bench(args) -> int:
    from ..tasks.choose.bench import bench
    from ..tasks.choose.bench_output import format_bench_table, write_results

    if args.out and not args.out.lower().endswith((".csv", ".json")):
        raise ValueError(f"--out {args.out}: name a .csv or a .json file")  # before the measuring, not after
    if args.plot and not args.plot.lower().endswith(".png"):
        raise ValueError(f"--plot {args.plot}: name a .png file")
    rows = bench(args.patterns, batch_sizes=args.batch_sizes, image_size=args.image_size, runtime=args.runtime,
                 precision=args.precision, threads=args.threads, device=args.device, train=args.train,
                 rounds=args.rounds, vs=args.vs, memory=args.memory, progress=args.progress)
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

    rows = compare(args.image, args.models, topk=args.topk, runtime=args.runtime, precision=args.precision,
                   device=args.device, repeats=args.repeats)
    print(json.dumps(rows, indent=1) if args.json else format_comparison(rows))
    return 0
