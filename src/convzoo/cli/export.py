"""`convzoo export`: a model or a trained checkpoint as a deployable file, verified."""
from __future__ import annotations

from .predict import positive_float, positive_int


def add_export_parser(sub) -> None:
    from ..tasks.deploy.export import FORMATS

    p = sub.add_parser("export", help="write a model as ONNX, an ExportedProgram, TorchScript, OpenVINO IR or "
                                      "TFLite, and check the file against the model",
                       description="Writes the file (atomically), reads it back in its own runtime and compares "
                                   "the logits with the eager model's (the max relative difference is printed; "
                                   "above --tolerance nothing is written). A JSON sidecar beside it (FILE.json) "
                                   "holds the preprocessing, the class names and the input's layout, so the file "
                                   "can be deployed without convzoo.")
    p.add_argument("model", nargs="?", help="a registered model name (or use --checkpoint)")
    p.add_argument("--checkpoint", help="a `convzoo train` checkpoint (.safetensors with its .json): its model, "
                                        "class names and preprocessing")
    p.add_argument("--weights", default=None,
                   help="with a model name: weights tag, a weights file, or none for a random init "
                        "(default: DEFAULT%(default).0s)")
    p.add_argument("--format", required=True, choices=list(FORMATS),
                   help="onnx (onnxruntime; extra [onnx]), exported-program (.pt2, torch.export), torchscript "
                        "(.pt, torch.jit), openvino (.xml + .bin; extra [openvino]), tflite (LiteRT; extra [tflite])")
    p.add_argument("--out", metavar="FILE", help="where to write (default: MODEL plus the format's suffix, here)")
    p.add_argument("--image-size", type=positive_int, default=None,
                   help="square input side (default: the weights' crop size%(default).0s)")
    p.add_argument("--dynamic-batch", action="store_true",
                   help="leave the batch size free (checked at batches 1 and 3); not for tflite")
    p.add_argument("--batch-size", type=positive_int, default=1, help="the fixed batch size, without --dynamic-batch")
    p.add_argument("--tolerance", type=positive_float, default=1e-3,
                   help="largest accepted max |file - eager| / max |eager|")
    p.set_defaults(run=_cmd_export)


def _cmd_export(args) -> int:
    from ..tasks.deploy.export import export

    if (args.model is None) == (args.checkpoint is None):
        raise ValueError("name a model (convzoo export resnet18 ...) or give --checkpoint PATH, not both")
    preprocessing = classes = None
    if args.checkpoint and args.weights is not None:
        raise ValueError("--checkpoint brings its own model and weights: drop --weights")
    if args.checkpoint:
        from ..tasks.shared.checkpoint import load_checkpoint, preprocessing_of

        model, meta = load_checkpoint(args.checkpoint)
        preprocessing, classes = preprocessing_of(meta), meta["classes"]
        if args.image_size not in (None, preprocessing.crop_size):
            raise ValueError(f"--image-size {args.image_size}: the checkpoint was trained at "
                             f"{preprocessing.crop_size}; its sidecar would not describe the file")
        model.name = meta["model"]
    else:
        from ..factory import get_model

        weights = args.weights or "DEFAULT"
        weights = None if weights.lower() == "none" else weights
        model = get_model(args.model, weights=weights)
    report = export(model, args.format, args.out, image_size=args.image_size, dynamic_batch=args.dynamic_batch,
                    batch_size=args.batch_size, preprocessing=preprocessing, classes=classes,
                    tolerance=args.tolerance)
    print(report.summary())
    return 0
