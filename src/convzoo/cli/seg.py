"""`convzoo seg-train`: train a segmentation model on a folder of images and masks."""
from __future__ import annotations

from ..factory import chosen_weights
from .options import add_options


def add_seg_train_parser(sub) -> None:
    from ..tasks.train.seg import SegTrainConfig

    d = SegTrainConfig(data="")
    p = sub.add_parser("seg-train", help="train a segmentation model (UNet/FPN over any encoder) on images + masks",
                       description="Train a segmentation model; DATA holds images/NAME.png|jpg and masks/NAME.png "
                                   "(each mask pixel its class index, 255 = don't care), both resized to --image-size "
                                   "squares. Single process.")
    p.add_argument("data", help="ROOT with images/ and masks/ sub-folders")
    p.add_argument("--val-data", default=None, help="a second such folder to validate on (default: --val-fraction)")
    add_options(p, val_fraction=d.val_fraction)
    p.add_argument("--encoder", default=d.encoder)
    p.add_argument("--decoder", default=d.decoder, choices=["unet", "fpn"])
    p.add_argument("--encoder-weights", default=d.encoder_weights,
                   help="DEFAULT | a weights tag | a checkpoint path | none (random encoder)")
    p.add_argument("--num-classes", type=int, default=None, help="default: 1 + the largest class index in the masks")
    p.add_argument("--out-indices", type=_int_list, default=None,
                   help="the encoder maps the decoder gets, e.g. 1,2,3,4 (default: all for unet, /4 and coarser for fpn)")
    p.add_argument("--decoder-channels", type=_int_list, default=None,
                   help="unet: one width per block, coarsest first (e.g. 256,128,64,32); fpn: one width (e.g. 128)")
    p.add_argument("--output-stride", type=int, choices=[8, 16, 32], default=d.output_stride,
                   help="8 or 16 dilate the encoder's last stages (families with output_stride)")
    add_options(p, epochs=d.epochs, batch_size=d.batch_size, lr=d.lr, weight_decay=d.weight_decay,
                image_size=d.image_size)
    p.add_argument("--freeze-encoder", action="store_true", help="train only the decoder and head")
    add_options(p, "no_hflip", seed=d.seed)
    p.add_argument("--out", default=d.out, help="output folder: best.safetensors + best.json, metrics.json")
    add_options(p, "overwrite", "no_progress", device=d.device, workers=d.workers)
    p.set_defaults(run=_cmd_seg_train)


def _int_list(text: str) -> list[int]:
    import argparse

    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give whole numbers separated by commas, e.g. 1,2,3") from None


def _cmd_seg_train(args) -> int:
    import json

    from ..tasks.train.seg import SegTrainConfig, train_segmentation

    fields = set(SegTrainConfig.__dataclass_fields__)
    cfg = SegTrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
    cfg.encoder_weights = chosen_weights(args.encoder_weights)
    if cfg.decoder == "fpn" and cfg.decoder_channels is not None and len(cfg.decoder_channels) == 1:
        cfg.decoder_channels = cfg.decoder_channels[0]  # FPN's width is one int
    result = train_segmentation(cfg)
    print(json.dumps({k: v for k, v in result.items() if k != "history"}))
    return 0
