"""In which precision should a training run validate? Scores and time of a
fine-tuned model's validation in four ways, against `convzoo eval`'s scoring.

    python benchmarks/validation_precision.py
    python benchmarks/validation_precision.py --seeds 0 1 --epochs 10

- The set: a defect set made from a real photograph. Patches of scikit-image's
  grass photograph (--patch px, random places, JPEG quality 85); --defects of
  them get a scratch, a dark 2-pixel line of random place, length and angle,
  drawn on them (class "scratch"), the others stay "good" (--good). 20% are
  held out for validation, as `convzoo train` holds them out.
- The model: efficientnet_lite0 from its packaged ImageNet weights, fine-tuned
  by `convzoo train` with its defaults (bf16 autocast where the CPU has native
  bf16) for --epochs, once per --seed.
- The scorings of the run's best and last checkpoints, on the validation images:
  - "eval": fp32, NCHW, as `convzoo eval`, `predict` and `serve` score;
  - "bf16": bf16 autocast, channels_last: how validation ran before (the training's precision);
  - "fp32": fp32, channels_last, BatchNorm as it is (what folding saves is this over the next);
  - "fp32 folded": fp32, channels_last, each BatchNorm folded into its convolution
    (layers.fold_batchnorm): how validation runs now.
  Per scoring: how many validation images get another class than eval gives
  them, the mean and the median of the change of the logit margin (scratch
  minus good) against eval's, the accuracy, and seconds per 32 images (the
  median of --rounds timed passes over batches of 32, the four scorings
  interleaved).

Writes OUT (default benchmarks/results/validation_precision.md, atomically):
the machine (lscpu's CPU model, torch's threads), the settings, the tables,
then every figure as JSON.
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from machine import cpu_model  # benchmarks/machine.py, beside this script

import convzoo as cz
from convzoo.layers import fold_batchnorm
from convzoo.tasks.shared.checkpoint import load_checkpoint
from convzoo.utils.atomic import write_text_atomic

DEFAULT_OUT = Path(__file__).parent / "results" / "validation_precision.md"
SCORINGS = ("eval", "bf16", "fp32", "fp32 folded")


def write_scratch_set(root: Path, good: int, defects: int, patch: int, seed: int) -> Path:
    """root/good/*.jpg and root/scratch/*.jpg: patches of scikit-image's grass photograph."""
    import skimage.data
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    grass = skimage.data.grass()
    for cls, count in (("good", good), ("scratch", defects)):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            y, x = rng.integers(0, grass.shape[0] - patch), rng.integers(0, grass.shape[1] - patch)
            image = Image.fromarray(grass[y:y + patch, x:x + patch]).convert("RGB")
            if cls == "scratch":
                x0, y0 = rng.integers(patch // 10, patch - patch // 10, 2)
                dx, dy = rng.integers(-patch // 4, patch // 4, 2)
                ImageDraw.Draw(image).line([(x0, y0), (x0 + dx, y0 + dy)], fill=(40, 40, 40), width=2)
            image.save(root / cls / f"{i:04d}.jpg", quality=85)
    return root


def validation_batches(data: Path, checkpoint: Path) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The run's validation images, preprocessed as eval preprocesses them, in batches of 32."""
    from convzoo.data.preprocessing import Preprocessing
    from convzoo.tasks.train.evaluate import images_to_evaluate

    _, meta = load_checkpoint(checkpoint)
    dataset, _ = images_to_evaluate(str(data), meta)
    dataset = dataset.with_transform(Preprocessing.from_dict(meta["preprocessing"]).transforms())
    loader = torch.utils.data.DataLoader(dataset, batch_size=32, shuffle=False)
    batches, labels = [], []
    for x, y in loader:
        batches.append(x)
        labels.append(y)
    return batches, torch.cat(labels)


def scorers(checkpoint: Path) -> dict:
    """Each scoring's batch -> logits."""
    model, _ = load_checkpoint(checkpoint)
    model.eval()
    channels_last = copy.deepcopy(model).to(memory_format=torch.channels_last)
    folded = fold_batchnorm(copy.deepcopy(model)).to(memory_format=torch.channels_last)

    def eval_scoring(x):
        return model(x)

    def bf16_scoring(x):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return channels_last(x.contiguous(memory_format=torch.channels_last)).float()

    def folded_scoring(x):
        return folded(x.contiguous(memory_format=torch.channels_last))

    def fp32_scoring(x):
        return channels_last(x.contiguous(memory_format=torch.channels_last))

    return {"eval": eval_scoring, "bf16": bf16_scoring, "fp32": fp32_scoring, "fp32 folded": folded_scoring}


@torch.inference_mode()
def score(checkpoint: Path, data: Path, rounds: int) -> dict:
    batches, labels = validation_batches(data, checkpoint)
    calls = scorers(checkpoint)
    logits = {name: torch.cat([call(x) for x in batches]).float() for name, call in calls.items()}
    seconds = {name: [] for name in calls}
    for r in range(rounds):
        for name in (SCORINGS if r % 2 == 0 else SCORINGS[::-1]):  # drift favours none
            start = time.perf_counter()
            for x in batches:
                calls[name](x)
            seconds[name].append((time.perf_counter() - start) / len(labels) * 32)
    reference = logits["eval"]
    margin = reference[:, 1] - reference[:, 0]
    out = {"images": len(labels)}
    for name in SCORINGS:
        z = logits[name]
        change = (z[:, 1] - z[:, 0]) - margin
        out[name] = {"other_class": int((z.argmax(1) != reference.argmax(1)).sum()),
                     "accuracy": float((z.argmax(1) == labels).float().mean()),
                     "margin_change_mean": float(change.mean()), "margin_change_median": float(change.abs().median()),
                     "s_per_32": statistics.median(seconds[name])}
    return out


def render(report: dict) -> str:
    s = report["settings"]
    lines = ["# Validation precision (benchmarks/validation_precision.py)", "",
             f"{report['cpu']}, torch {report['torch']}, {report['threads']} threads; {report['date']}.", "",
             (f"efficientnet_lite0 fine-tuned by `convzoo train` (defaults, {s['epochs']} epochs; precision chosen: "
              f"see each row) on {s['good']} good and {s['defects']} scratched {s['patch']}-px patches of "
              "scikit-image's grass photograph, 20% validating. Against eval's scoring (fp32, NCHW): how many "
              "validation images get another class, the mean change of the logit margin (scratch - good) and "
              "the median of its size, accuracy, seconds per 32 images."), "",
             "| seed | trained in | checkpoint | scoring | other class | margin change mean | margin change median "
             "| accuracy | s / 32 images | eval time / this |", "|---|---|---|---|---|---|---|---|---|---|"]
    for row in report["rows"]:
        for which in ("best", "last"):
            scored = row[which]
            for name in SCORINGS:
                r = scored[name]
                lines.append(f"| {row['seed']} | {row['amp']} | {which} | {name} | {r['other_class']} of "
                             f"{scored['images']} | {r['margin_change_mean']:+.3f} | {r['margin_change_median']:.3f} | "
                             f"{r['accuracy']:.3f} | {r['s_per_32']:.3f} | "
                             f"{scored['eval']['s_per_32'] / r['s_per_32']:.2f} |")
    return "\n".join(lines + ["", "Every figure:", "", "```json", json.dumps(report, indent=1), "```", ""])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--epochs", type=int, default=10, help="`convzoo train`'s default")
    p.add_argument("--good", type=int, default=300)
    p.add_argument("--defects", type=int, default=30)
    p.add_argument("--patch", type=int, default=96)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    report = {"cpu": cpu_model(), "torch": torch.__version__, "threads": torch.get_num_threads(),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "settings": vars(args) | {"out": str(args.out)}, "rows": []}
    with tempfile.TemporaryDirectory(prefix="convzoo_valprec_") as tmp:
        data = write_scratch_set(Path(tmp) / "scratch", args.good, args.defects, args.patch, seed=0)
        for seed in args.seeds:
            print(f"seed {seed}: training ...", file=sys.stderr, flush=True)
            out = Path(tmp) / f"run{seed}"
            cz.train(cz.TrainConfig(data=str(data), out=str(out), seed=seed, progress=False))
            amp = json.loads((out / "best.json").read_text())["config"]["amp"]
            report["rows"].append({"seed": seed, "amp": amp,
                                   **{which: score(out / f"{which}.safetensors", data, args.rounds)
                                      for which in ("best", "last")}})
    text = render(report)
    write_text_atomic(args.out, text)
    print(text.split("\nEvery figure:")[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
