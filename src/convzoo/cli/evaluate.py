"""`convzoo eval` and `convzoo calibrate`: score a trained checkpoint, fit its decision rule."""
from __future__ import annotations

from .options import add_options, add_runtime_options, non_negative_int, runtime_options


def add_eval_parser(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a trained checkpoint on a labelled image folder or CSV",
                       description="Scores images the model did not train on: DATA/val/ if there is one, else the "
                                   "held-out split recorded in the checkpoint (the --seed and --val-fraction, or the "
                                   "fold, of training); --all for every image. Reports accuracy, balanced accuracy, "
                                   "macro-F1, MCC, ROC-AUC, PR-AUC, log loss, Brier and ECE, scores the checkpoint's "
                                   "decision rule (`convzoo calibrate`) and says which it used, and for the positive "
                                   "class prints a threshold table and writes ROC and PR curves. Lists the "
                                   "misclassified images. --report DIR writes all of it as an HTML page that opens "
                                   "offline, with the mistakes' images and Grad-CAM heat maps.")
    p.add_argument("data", help="folder of class sub-folders (or with val/), or a CSV of path,label rows")
    p.add_argument("--all", action="store_true",
                   help="every image of DATA (a separate test set; train/ and val/ both if it has them)")
    add_options(p, "device", "workers", "json", "no_progress", "tta", required=("checkpoints",), batch_size=64)
    g = p.add_argument_group("decision rule")
    add_options(g, "threshold", "positive")
    targets = g.add_mutually_exclusive_group()
    add_options(targets, "target_recall", "target_precision")
    g.add_argument("--plots", metavar="DIR",
                   help="folder for roc_curve.png and pr_curve.png (unset: the first checkpoint's folder)")
    r = p.add_argument_group("HTML report (needs torchcam: the [explain] extra)")
    r.add_argument("--report", metavar="DIR",
                   help="write DIR/index.html and its images: metrics, per-class table, confusion matrix, curves, "
                        "reliability diagram, the mistakes (most confident first) and each class's surest correct "
                        "images, each beside its Grad-CAM map; self-contained (opens offline). A new or empty folder, "
                        "or an old report, replaced only once the new one is complete")
    r.add_argument("--report-top", type=non_negative_int, default=100, metavar="N",
                   help="the most mistakes the report shows (it counts the rest)")
    add_runtime_options(p)
    p.set_defaults(run=_cmd_eval)


def _cmd_eval(args) -> int:
    import json

    from ..tasks.train.evaluate import evaluate_checkpoint, format_report

    report = None
    if args.report is not None:  # checked before any image is scored
        from ..tasks.train.report import HtmlReport

        report = HtmlReport(args.report, top=args.report_top, progress=args.progress)
    metrics = evaluate_checkpoint(args.checkpoint, args.data, args.batch_size, args.device, args.workers,
                                  progress=args.progress, all_images=args.all, tta=args.tta, threshold=args.threshold,
                                  positive=args.positive, target_recall=args.target_recall,
                                  target_precision=args.target_precision, plots_dir=args.plots,
                                  runtime_options=runtime_options(args), report=report)
    print(json.dumps(metrics) if args.json else format_report(metrics))
    if report is not None and not args.json:
        print(f"\nreport: {metrics['report']}")
    return 0


def add_calibrate_parser(sub) -> None:
    p = sub.add_parser("calibrate", help="fit a checkpoint's temperature and decision threshold on validation images",
                       description="Fits a temperature (so that probabilities mean what they say) and, with "
                                   "--target-recall or --target-precision, the threshold on the positive class's "
                                   "probability, on the images `convzoo eval` scores without --all (DATA/val/, or the "
                                   "held-out split recorded at training; never training images). Both are written "
                                   "into the checkpoint's JSON sidecar, atomically; predict, eval, serve and export "
                                   "then use them.")
    p.add_argument("checkpoint", help="a `convzoo train` checkpoint (.safetensors with its .json)")
    p.add_argument("data", help="the labelled data: a folder with val/, or the training folder or CSV whose held-out "
                                "split the checkpoint records")
    targets = p.add_mutually_exclusive_group()
    add_options(targets, "target_recall", "target_precision")
    add_options(p, "positive", "tta", "device", "workers", "json", "no_progress", batch_size=64)
    p.set_defaults(run=_cmd_calibrate)


def _cmd_calibrate(args) -> int:
    import json

    from ..tasks.train.calibrate import calibrate_checkpoint, format_calibration

    result = calibrate_checkpoint(args.checkpoint, args.data, args.batch_size, args.device, args.workers,
                                  progress=args.progress, tta=args.tta, positive=args.positive,
                                  target_recall=args.target_recall, target_precision=args.target_precision)
    print(json.dumps(result) if args.json else format_calibration(result))
    return 0
