"""`convzoo visualize`: the first layer's filters, each stage's strongest
feature maps for an image, and the per-layer table, as files."""
from __future__ import annotations

from ..factory import chosen_weights
from .options import add_options, positive_int


def add_visualize_parser(sub) -> None:
    p = sub.add_parser("visualize", help="see inside a model: first-layer filters, feature maps per stage, layer table",
                       description="Writes OUT/NAME_filters.png (the first conv's kernels), with --image "
                                   "OUT/NAME_stage{i}.png (each stage's strongest channels for that image), and "
                                   "OUT/NAME_layers.txt / .csv (per layer: output shape, params, MACs, receptive "
                                   "field). A model without published weights is drawn at random initialisation.")
    p.add_argument("name", help="model name")
    p.add_argument("--image", help="an image file: also write each stage's feature maps for it")
    add_options(p, "weights")
    p.add_argument("--top", type=positive_int, default=8,
                   help="feature maps shown per stage (the largest mean activations)")
    p.add_argument("--out", default=".", help="the folder to write into (created if missing)")
    p.set_defaults(run=_cmd_visualize)


def _cmd_visualize(args) -> int:
    from ..tasks.anatomy.visualize import visualize

    weights = chosen_weights(args.weights)
    for path in visualize(args.name, image=args.image, weights=weights, out=args.out, top=args.top).values():
        print(path)
    return 0
