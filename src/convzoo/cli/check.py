"""`convzoo check`: what is wrong with a dataset, before training on it."""
from __future__ import annotations

import argparse

from .options import add_options, non_negative_int


def near_bits(text: str) -> int:
    value = non_negative_int(text)
    if value >= 256:
        raise argparse.ArgumentTypeError(f"{text} bits: the perceptual hash has 256, give 0 to 255")
    return value


DESCRIPTION = """Decodes every image once and reports class counts, the imbalance ratio, and:
  errors (exit 1): unreadable or truncated files; one image filed under two classes;
    the same image in train and val (identical pixels, or a resized or re-encoded
    copy: perceptual hashes within --near-threshold bits)
  warnings (exit 0): copies within a class; images much smaller than the model's
    input, i.e. a side under half of --image-size; CMYK, 16-bit, palette and
    transparent images
  notes: every image greyscale, for an RGB model
--workers decodes in that many processes."""


def add_check_parser(sub) -> None:
    from ..tasks.check import DEFAULT_IMAGE_SIZE, NEAR_THRESHOLD

    p = sub.add_parser("check", help="find what is wrong with a dataset: unreadable files, train/val leakage, an "
                                     "image under two classes, duplicates, tiny images, odd modes",
                       description=DESCRIPTION)
    p.add_argument("data", help="ROOT/CLASS/*.png, ROOT/{train,val}/CLASS/*, or a CSV of path,label rows "
                                "(what `convzoo train` reads); train/ and val/ are checked for leakage")
    add_options(p, "json", "workers", "no_progress", image_size=DEFAULT_IMAGE_SIZE)
    p.add_argument("--near-threshold", type=near_bits, default=NEAR_THRESHOLD, metavar="BITS",
                   help="how many of the perceptual hash's 256 bits two images may differ in and still count as "
                        "copies (measured: distinct MNIST digits of one class are 20 or more apart; enlarged, "
                        "re-encoded JPEG copies of digits and photos within 12)")
    p.set_defaults(run=_cmd_check)


def _cmd_check(args) -> int:
    import json

    from ..tasks.check import check_dataset
    from ..tasks.check.output import format_report, report_to_dict

    report = check_dataset(args.data, image_size=args.image_size, workers=args.workers, progress=args.progress,
                           near_threshold=args.near_threshold)
    print(json.dumps(report_to_dict(report), indent=1) if args.json else format_report(report))
    # Like a linter: errors fail a script's step, warnings do not.
    return 1 if report.errors else 0
