"""`convzoo explain`: a Grad-CAM heat map of the top class over the image."""
from __future__ import annotations

from ..factory import chosen_weights
from .options import add_options


def add_explain_parser(sub) -> None:
    p = sub.add_parser("explain", help="Grad-CAM: where the model looked for its top class (needs [explain])",
                       description="Writes OUT/IMAGE-STEM_MODEL_gradcam.png: the image under a heat map of the "
                                   "pixels that raised the top class's score (Grad-CAM, via torchcam).")
    p.add_argument("image", help="an image file")
    add_options(p, "model", "weights")
    p.add_argument("--out", default=".", help="the folder to write the PNG into")
    p.set_defaults(run=_cmd_explain)


def _cmd_explain(args) -> int:
    from pathlib import Path

    from ..tasks.anatomy.explain import explain

    result = explain(args.image, model=args.model, weights=chosen_weights(args.weights))
    path = result.save(Path(args.out) / f"{Path(args.image).stem}_{args.model}_gradcam.png")
    print(f"{path}: {result.label} ({result.probability:.1%}), Grad-CAM of {args.model}'s last stage")
    return 0
