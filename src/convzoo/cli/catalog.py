"""`convzoo list`, `convzoo info` and `convzoo download`: what the zoo has, and its weights."""
from __future__ import annotations

import sys


def add_list_parser(sub) -> None:
    p = sub.add_parser("list", help="list models: name, family, params, GFLOPs, acc@1")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, e.g. 'resnet*'")
    p.add_argument("--pretrained", action="store_true", help="only models with published weights")
    p.set_defaults(run=_cmd_list)


def add_info_parser(sub) -> None:
    p = sub.add_parser("info", help="a model's architecture: stages, shapes, strides, params, paper, weights")
    p.add_argument("name", nargs="?", help="model name (optional with --compare)")
    p.add_argument("--layers", action="store_true",
                   help="one row per layer: output shape, params, MACs, receptive field; stage summary")
    p.add_argument("--input-size", type=int, help="the input side for --layers (default: the model's own)")
    p.add_argument("--compare", action="store_true",
                   help="lecture checks: 5x5 vs two 3x3, 7x7 vs three 3x3, depthwise-separable vs standard, "
                        "bottleneck vs basic block, measured on the zoo's layers")
    p.add_argument("--channels", type=int, default=256, help="channels C of the --compare checks")
    p.set_defaults(run=_cmd_info)


def add_download_parser(sub) -> None:
    p = sub.add_parser("download", help="fetch a model's published weights into the cache (for offline use later)")
    p.add_argument("name", help="model name")
    p.add_argument("tag", nargs="?", default="DEFAULT", help="weights tag")
    p.set_defaults(run=_cmd_download)


def _cmd_download(args) -> int:
    from ..factory import get_weights

    spec = get_weights(args.name, args.tag)
    print(spec.path(progress=True))
    return 0


def _cmd_list(args) -> int:
    from ..tasks.anatomy.summary import format_models_table, models_table

    rows = models_table(args.pattern, pretrained=args.pretrained)
    if not rows:
        print(f"no model matches {args.pattern!r}", file=sys.stderr)
        return 1
    print(format_models_table(rows))
    return 0


def _cmd_info(args) -> int:
    from ..tasks.anatomy.summary import describe_model

    if args.name is None and not args.compare:
        raise ValueError("info needs a model name or --compare: `convzoo info resnet50` or `convzoo info --compare`")
    if args.name is None and args.layers:
        raise ValueError("--layers needs a model name: `convzoo info resnet18 --layers`")
    if args.name is not None and args.layers:
        from ..tasks.anatomy.layer_table import format_layer_table, layer_table

        print(format_layer_table(layer_table(args.name, input_size=args.input_size)))
    elif args.name is not None:
        print(describe_model(args.name))
    if args.compare:
        from ..tasks.anatomy.teaching import design_comparisons, format_comparisons

        if args.name is not None:
            print()
        print(format_comparisons(design_comparisons(channels=args.channels)))
    return 0
