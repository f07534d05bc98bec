"""`convzoo export`: a model or a trained checkpoint as a deployable file, verified."""
from __future__ import annotations

from ..factory import chosen_weights
from .options import Unset, add_options, positive_float


def add_export_parser(sub) -> None:
    from ..tasks.deploy.export import FORMATS

    p = sub.add_parser("export", help="write a model as ONNX, an ExportedProgram, TorchScript, OpenVINO IR or "
                                      "TFLite, and check the file against the model",
                       description="Writes the file (atomically), reads it back in its own runtime and compares "
                                   "the logits with the eager model's (the max relative difference is printed; "
                                   "above --tolerance nothing is written). A JSON sidecar beside it (FILE.json) "
                                   "holds the preprocessing, the class names and the input's layout, and for a "
                                   "checkpoint its decision rule (temperature and threshold: `convzoo calibrate`), "
                                   "so the file can be deployed without convzoo.")
    p.add_argument("model", nargs="?", help="a registered model name (or use --checkpoint)")
    add_options(p, "checkpoint", "weights")  # --weights goes with a model name, not with --checkpoint
    p.add_argument("--format", required=True, choices=list(FORMATS),
                   help="onnx (onnxruntime; extra [onnx]), exported-program (.pt2, torch.export), torchscript "
                        "(.pt, torch.jit), openvino (.xml + .bin; extra [openvino]), tflite (LiteRT; extra [tflite])")
    p.add_argument("--out", metavar="FILE", help="where to write (default: MODEL plus the format's suffix, here)")
    add_options(p, image_size=Unset("the weights' own crop size"))
    p.add_argument("--dynamic-batch", action="store_true",
                   help="leave the batch size free (checked at batches 1 and 3); without it, the file takes "
                        "--batch-size images; not for tflite")
    add_options(p, batch_size=1)  # the exported file's fixed batch size, without --dynamic-batch
    p.add_argument("--tolerance", type=positive_float, default=1e-3,
                   help="largest accepted max |file - eager| / max |eager|")
    p.set_defaults(run=_cmd_export)


def _cmd_export(args) -> int:
    from ..tasks.deploy.export import export

    if (args.model is None) == (args.checkpoint is None):
        raise ValueError("name a model (convzoo export resnet18 ...) or give --checkpoint PATH, not both")
    preprocessing = classes = decision = None
    if args.checkpoint and args.weights is not None:
        raise ValueError("--checkpoint brings its own model and weights: drop --weights")
    if args.checkpoint:
        from ..tasks.shared.checkpoint import load_checkpoint, preprocessing_of
        from ..tasks.shared.decision import DecisionRule

        model, meta = load_checkpoint(args.checkpoint)
        preprocessing, classes, decision = preprocessing_of(meta), meta["classes"], DecisionRule.from_meta(meta)
        if args.image_size not in (None, preprocessing.crop_size):
            raise ValueError(f"--image-size {args.image_size}: the checkpoint was trained at "
                             f"{preprocessing.crop_size}; its sidecar would not describe the file")
        model.name = meta["model"]
    else:
        from ..factory import get_model

        model = get_model(args.model, weights=chosen_weights(args.weights))
    report = export(model, args.format, args.out, image_size=args.image_size, dynamic_batch=args.dynamic_batch,
                    batch_size=args.batch_size, preprocessing=preprocessing, classes=classes, decision=decision,
                    tolerance=args.tolerance)
    print(report.summary())
    return 0
