"""How fast `convzoo train` fine-tunes (issue 29): its training throughput next to
a plain PyTorch loop and fastai's `fine_tune`, and its time to a given
accuracy with the engine's new defaults next to its old ones. Every figure
comes from one run on one machine.

    python benchmarks/train_speed.py                                  # both parts, the defaults below
    python benchmarks/train_speed.py --part throughput --models resnet50 --train-images 128
    python benchmarks/train_speed.py --part accuracy --epochs 4 --seeds 0 1
    python benchmarks/train_speed.py --models mobilenet_v3_large --train-images 32 --epochs 2 \\
        --part throughput --out /tmp/train_speed_smoke.md                  # a smoke test

Part 1, throughput. Per model (--models: efficientnet_lite0, resnet50,
mobilenet_v3_large), --image-size 224 px, batch 32, --epochs 2, on the same
folder of photographs, each engine in its own fresh Python process (so that
fastai's import, which patches torch, and one engine's threads or memory do
not reach the next; engines take turns model by model):
- convzoo: `cz.train(TrainConfig(...))` with its defaults (out: a temp folder,
  progress off, overwrite), image size and batch size as above;
- convzoo-old: the same with the engine settings it had before issue 29,
  `OLD_ENGINE` (amp none, channels_last off, cache off, 0 workers, the stem
  alone frozen); a field TrainConfig does not have yet is left out, and the
  report says which;
- plain: what a CNN course teaches: torchvision's ImageFolder (RandomResizedCrop,
  RandomHorizontalFlip, ToTensor, ImageNet Normalize), DataLoader(shuffle=True,
  num_workers=--plain-workers), AdamW lr 1e-3, fp32, cross-entropy; the val
  folder is evaluated after each epoch;
- fastai: `ImageDataLoaders.from_folder` (item_tfms RandomResizedCrop, ImageNet
  Normalize, fastai's default workers), `Learner(dls, model,
  CrossEntropyLossFlat(), splitter=body | head)`, `fine_tune(epochs - 1,
  freeze_epochs=1)`; its defaults otherwise (Adam, one-cycle, fp32 on CPU).
Throughput is images per second of the last epoch's training phase (epoch 1
holds the warm-up), loading included: convzoo's `history[-1]["images_per_s"]`;
the plain loop and fastai (a Callback: before_train to after_train, items
counted per batch) timed the same way, around the loop over the loader. Also
kept: each process's wall time (imports included) and the run's own (from
building the model and data to the end of the last validation).

The same weights for every engine: a model torchvision has (resnet50,
mobilenet_v3_large) starts from torchvision's random initialisation, seeded,
saved once to a .pth that convzoo loads (torchvision's key layout converts on
load) and the other engines load into torchvision's model; convzoo has
published weights for some of them, but nothing is downloaded here, and
weights do not change speed. A model torchvision lacks (efficientnet_lite0)
is convzoo's, with its packaged weights (`weights="DEFAULT"`), for every
engine. Each engine puts a fresh head for the data's classes on it.

The photographs (--train-images, default 256, plus --val-images, default 32):
scikit-image's colour photographs whose shorter side is at least 384 px, read
from the files it ships (no download): astronaut, coffee, rocket and
motorcycle_left are class "a"; motorcycle_right, hubble_deep_field, ihc
(immunohistochemistry) and retina are class "b". Image i of a split is of
class i mod 2 (so the classes are the same size), cut from photo (i // 2) mod 4
of that class: a crop of width and height each drawn uniformly from 384-640 px
(at most the photo's side), at a uniformly drawn position, saved as JPEG
quality 90 into train/<class>/ or val/<class>/; numpy's default_rng(--data-seed),
train first, then val.

Part 2, time to accuracy: convzoo's defaults (new) against OLD_ENGINE (old),
on two real sets from benchmarks/transfer_recipe.py: mnist (--per-class
digits per class, default 30, and 50 per class validate) and textures
(scikit-image's brick, grass, gravel and moon photographs in 32 px patches,
--textures-per-class from each photograph's left half train, default 64, and
every patch of the right halves validates: 512). efficientnet_lite0 with its
packaged weights, --accuracy-image-size 224 (what `convzoo train` uses
unasked), --accuracy-epochs 10 (`convzoo train`'s default: a shorter run
judges a schedule nobody trains with; at 4 the new engine was ahead of the old
on mnist and behind at 10), each --seed, the same recipe otherwise
(TrainConfig's defaults; hflip off for digits, as transfer_recipe does). Per
run and epoch: elapsed seconds since train() was called to the end of that
epoch's validation (history "elapsed_s"; where the engine does not record it
yet, the running sum of the epochs' training "seconds", which leaves out
set-up and validation: the report says which) and val accuracy. The target of
a (set, seed) is the old run's best val accuracy; each run's time to accuracy
is the elapsed time of its first epoch at or above it (None: never reached);
acceptance: old / new >= 2 with new's best accuracy >= old's. Each --candidate
KEY=VALUE ... runs one more engine per (set, seed), the new defaults with those
TrainConfig fields (a setting being considered, e.g. train_crop=160), timed to
the new run's best accuracy the same way. --old-control runs the old defaults a
second time with channels_last: the same arithmetic rounded in another order,
so the gap between the two old runs' bests is what rounding alone moves. A --targets
accuracy per set is timed besides (DAWNBench's way). With 16 texture patches
per class (64 images: 2 optimizer steps an epoch) an old run reached 0.934
after its first 2 steps and 0.71 after 4: too few steps to measure
fine-tuning, hence 64 per class (8 steps an epoch); results/
train_speed_accuracy_textures16.md keeps that run.

Writes OUT (default benchmarks/results/train_speed.md, atomically): the tables,
the machine (lscpu's CPU model, torch and its threads), the date and the
settings, then every figure as JSON in a fenced block; prints the tables.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import cpu_model  # benchmarks/machine.py, beside this script

ENGINES = ("convzoo", "convzoo-old", "plain", "fastai")
MODELS = ("efficientnet_lite0", "resnet50", "mobilenet_v3_large")
# Before issue 29: fp32, NCHW, every image decoded every epoch, no loader workers, and the stem alone frozen
# (what --freeze none did then: net.freeze(0) kept the stem frozen; "stages:0" says it outright now).
OLD_ENGINE = {"amp": "none", "channels_last": False, "cache": "off", "workers": 0, "freeze": "stages:0"}
# The old engine again with only the memory layout changed: the same arithmetic up to the order of
# its roundings, so its best val accuracy against the old run's shows how far one run's best moves
# by rounding alone (--old-control).
OLD_CONTROL = {"channels_last": True}
ENGINE_FIELDS = ("amp", "channels_last", "cache", "workers", "device", "freeze")
# scikit-image photographs whose shorter side is >= 384 px, so every crop is 384-640 px
PHOTO_CLASSES = {"a": ("astronaut.png", "coffee.png", "rocket.jpg", "motorcycle_left.png"),
                 "b": ("motorcycle_right.png", "hubble_deep_field.jpg", "ihc.png", "retina.jpg")}
CROP_SIDES = (384, 640)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
DEFAULT_OUT = Path(__file__).parent / "results" / "train_speed.md"
RESULT_MARK = "TRAIN_SPEED_RESULT "  # a worker's last stdout line: the mark, then its JSON


# ---------------------------------------------------------------------------- the data

def write_photos(root: Path, n_train: int, n_val: int, seed: int = 0) -> Path:
    """Random crops of scikit-image's photographs as JPEGs in train/ and val/ class
    folders (the module docstring says how)."""
    import skimage
    from PIL import Image

    source = Path(skimage.__file__).parent / "data"
    photos = {cls: [Image.open(source / name).convert("RGB") for name in names]
              for cls, names in PHOTO_CLASSES.items()}
    rng = np.random.default_rng(seed)
    classes = sorted(photos)
    for split, count in (("train", n_train), ("val", n_val)):
        for i in range(count):
            cls = classes[i % len(classes)]
            photo = photos[cls][(i // len(classes)) % len(photos[cls])]
            w = int(rng.integers(CROP_SIDES[0], min(CROP_SIDES[1], photo.width) + 1))
            h = int(rng.integers(CROP_SIDES[0], min(CROP_SIDES[1], photo.height) + 1))
            left, top = int(rng.integers(0, photo.width - w + 1)), int(rng.integers(0, photo.height - h + 1))
            folder = root / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            photo.crop((left, top, left + w, top + h)).save(folder / f"{i:05d}.jpg", quality=90)
    return root


def shared_weights(model: str, folder: Path, seed: int) -> tuple[str, str]:
    """(weights, what they are) that every engine starts `model` from."""
    import torch
    import torchvision

    if model not in torchvision.models.list_models():
        return "DEFAULT", "convzoo's packaged weights (DEFAULT)"
    torch.manual_seed(seed)
    path = folder / f"{model}_init.pth"
    torch.save(torchvision.models.get_model(model).state_dict(), path)
    return str(path), f"random init (torchvision's, seed {seed}), one file for every engine"


# ---------------------------------------------------------------------------- the engines (in a worker process)

def existing_fields(changes: dict) -> tuple[dict, list[str]]:
    """`changes` less the fields TrainConfig does not have (yet), and those names."""
    from convzoo.tasks.train.loop import TrainConfig

    names = {f.name for f in dataclasses.fields(TrainConfig)}
    return {k: v for k, v in changes.items() if k in names}, sorted(set(changes) - names)


def convzoo_config(spec: dict, out: str):
    """The TrainConfig of a convzoo run: its defaults, or the old engine's settings."""
    import convzoo as cz

    fields = dict(data=spec["data"], model=spec["model"], weights=spec["weights"], out=out,
                  epochs=spec["epochs"], batch_size=spec["batch_size"], image_size=spec["image_size"],
                  seed=spec["seed"], device=spec["device"], progress=False, overwrite=True)
    cfg = cz.TrainConfig(**{**fields, **spec.get("config", {})})  # a --candidate may set image_size too
    skipped = []
    if spec["engine"] == "convzoo-old":
        # --old-control: the old engine with a setting that changes no arithmetic (e.g. the memory layout)
        changes, skipped = existing_fields({**OLD_ENGINE, **spec.get("old_control", {})})
        cfg = dataclasses.replace(cfg, **changes)
    return cfg, skipped


def elapsed_times(history: list[dict]) -> tuple[list[float], str]:
    """Per epoch, seconds since train() was called to the end of its validation;
    an engine that does not record them gets the running sum of training seconds."""
    if all("elapsed_s" in h for h in history):
        return [h["elapsed_s"] for h in history], "elapsed_s"
    return list(np.cumsum([h["seconds"] for h in history])), "cumulative training seconds"


def run_convzoo(spec: dict) -> dict:
    import convzoo as cz

    with tempfile.TemporaryDirectory() as out:
        cfg, skipped = convzoo_config(spec, out)
        start = time.perf_counter()
        result = cz.train(cfg)
        run_s = time.perf_counter() - start
        # What the engine resolved its auto settings to (the checkpoint's config records them).
        config = json.loads((Path(out) / "last.json").read_text()).get("config", {})
        resolved = {k: config.get(k) for k in ENGINE_FIELDS if k in config}
    history = result["history"]
    elapsed, source = elapsed_times(history)
    return {"images_per_s": [h["images_per_s"] for h in history], "elapsed_s": elapsed, "elapsed_source": source,
            "val_acc": [h.get("val_acc") for h in history], "best_val_acc": result["best_val_acc"],
            "run_s": run_s, "engine": {k: getattr(cfg, k, None) for k in ENGINE_FIELDS}, "resolved": resolved,
            "old_fields_missing": skipped,
            "result": {k: v for k, v in result.items() if k not in ("history", "out")}}


def reference_model(name: str, weights: str, num_classes: int):
    """The model the plain loop and fastai train: torchvision's, from the shared
    init file, or convzoo's with its weights; a fresh head for `num_classes`."""
    import torch
    import torchvision

    import convzoo as cz

    if weights == "DEFAULT":
        model = cz.get_model(name, weights=weights, num_classes=num_classes)
        model.reset_classifier(num_classes)  # as convzoo's own build_model does
        return model
    model = torchvision.models.get_model(name, num_classes=num_classes)
    own = model.state_dict()
    state = {k: v for k, v in torch.load(weights).items() if k in own and own[k].shape == v.shape}
    missing = model.load_state_dict(state, strict=False).missing_keys
    if len(missing) > 2:  # the new classifier's weight and bias only
        raise RuntimeError(f"{name}: the shared init left {missing} unloaded")
    return model


def head_module(model):
    """The classifier fastai's splitter keeps apart from the body."""
    for name in ("head", "fc", "classifier"):
        if hasattr(model, name):
            return getattr(model, name)
    raise ValueError(f"{type(model).__name__}: no head, fc or classifier")


def run_plain(spec: dict) -> dict:
    """The loop a CNN course teaches, timed around each epoch's pass over its loader."""
    import torch
    from torch import nn
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    torch.manual_seed(spec["seed"])
    start = time.perf_counter()
    size, device = spec["image_size"], torch.device(spec["device"])
    normalize = transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    train_set = datasets.ImageFolder(Path(spec["data"]) / "train", transforms.Compose([
        transforms.RandomResizedCrop(size), transforms.RandomHorizontalFlip(), transforms.ToTensor(), normalize]))
    val_set = datasets.ImageFolder(Path(spec["data"]) / "val", transforms.Compose([
        transforms.Resize(round(size / 0.875)), transforms.CenterCrop(size), transforms.ToTensor(), normalize]))
    train_loader = DataLoader(train_set, batch_size=spec["batch_size"], shuffle=True, num_workers=spec["workers"])
    val_loader = DataLoader(val_set, batch_size=spec["batch_size"], num_workers=spec["workers"])
    model = reference_model(spec["model"], spec["weights"], len(train_set.classes)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    criterion = nn.CrossEntropyLoss()
    images_per_s, elapsed, val_acc = [], [], []
    for _ in range(spec["epochs"]):
        model.train()
        seen, t0 = 0, time.perf_counter()
        for x, y in train_loader:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            seen += len(y)
        images_per_s.append(seen / (time.perf_counter() - t0))
        val_acc.append(evaluate(model, val_loader, device))
        elapsed.append(time.perf_counter() - start)
    return {"images_per_s": images_per_s, "elapsed_s": elapsed, "val_acc": val_acc, "run_s": elapsed[-1],
            "engine": {"workers": spec["workers"], "device": str(device), "amp": "none", "channels_last": False}}


def evaluate(model, loader, device) -> float:
    import torch

    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += (model(x.to(device)).argmax(1).cpu() == y).sum().item()
            total += len(y)
    return correct / max(total, 1)


def run_fastai(spec: dict) -> dict:
    """fastai's fine_tune on the same folder and weights; a Callback times the training phases."""
    import torch
    from fastai.vision.all import (
        Callback,
        CrossEntropyLossFlat,
        ImageDataLoaders,
        Learner,
        Normalize,
        RandomResizedCrop,
        accuracy,
        find_bs,
        imagenet_stats,
    )

    class PhaseTimer(Callback):
        """Images and seconds of every training phase (fine_tune's frozen epoch, then its unfrozen ones)."""

        def __init__(self):
            super().__init__()
            self.phases = []

        def before_train(self):
            self.seen, self.t0 = 0, time.perf_counter()

        def after_batch(self):
            if self.training:
                self.seen += find_bs(self.yb)

        def after_train(self):
            self.phases.append((self.seen, time.perf_counter() - self.t0))

    torch.manual_seed(spec["seed"])
    start = time.perf_counter()
    dls = ImageDataLoaders.from_folder(spec["data"], train="train", valid="val", seed=spec["seed"],
                                       item_tfms=RandomResizedCrop(spec["image_size"]),
                                       batch_tfms=Normalize.from_stats(*imagenet_stats), bs=spec["batch_size"],
                                       device=torch.device(spec["device"]))
    model = reference_model(spec["model"], spec["weights"], len(dls.vocab))
    head = {id(p) for p in head_module(model).parameters()}

    def body_head(m):
        params = list(m.parameters())
        return [[p for p in params if id(p) not in head], [p for p in params if id(p) in head]]

    timer = PhaseTimer()
    learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(), splitter=body_head, metrics=accuracy, cbs=timer)
    with learn.no_bar(), learn.no_logging():
        learn.fine_tune(spec["epochs"] - 1, freeze_epochs=1)
    run_s = time.perf_counter() - start
    return {"images_per_s": [n / s for n, s in timer.phases], "run_s": run_s,
            "val_acc": [float(learn.recorder.values[-1][-1])] if learn.recorder.values else [],
            # (a fastai DataLoader's own .num_workers is its shard count; the workers are its fake_l's)
            "engine": {"workers": dls.train.fake_l.num_workers, "device": str(dls.device), "amp": "none",
                       "channels_last": False}}


RUNNERS = {"convzoo": run_convzoo, "convzoo-old": run_convzoo, "plain": run_plain, "fastai": run_fastai}


def worker(spec: dict) -> None:
    """One engine's run, in this fresh process; its result is the last line on stdout."""
    import warnings

    warnings.simplefilter("ignore")  # fastai's and torch's deprecation notes would bury the results
    result = RUNNERS[spec["engine"]](spec)
    print(RESULT_MARK + json.dumps(result), flush=True)


def in_process(spec: dict, timeout: float) -> dict:
    """Run `spec` in a fresh interpreter; its result, wall time and, on failure, its error."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True, text=True,
                          timeout=timeout, check=False)  # a failed run is reported, not raised
    wall = time.perf_counter() - start
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if proc.returncode or not lines:
        error = (proc.stderr or proc.stdout).strip().splitlines()[-8:]
        print(f"  failed (exit {proc.returncode}): {error[-1] if error else '?'}", file=sys.stderr, flush=True)
        return {"error": "\n".join(error), "process_s": wall}
    return {**json.loads(lines[-1][len(RESULT_MARK):]), "process_s": wall}


# ---------------------------------------------------------------------------- the two parts

def throughput_part(args, tmp: Path) -> dict:
    data = write_photos(tmp / "photos", args.train_images, args.val_images, args.data_seed)
    rows = []
    for model in args.models:
        weights, weights_note = shared_weights(model, tmp, args.data_seed)
        row = {"model": model, "weights": weights_note, "engines": {}}
        for engine in args.engines:
            print(f"throughput: {model}, {engine} ...", file=sys.stderr, flush=True)
            spec = {"engine": engine, "model": model, "weights": weights, "data": str(data), "epochs": args.epochs,
                    "batch_size": args.batch_size, "image_size": args.image_size, "seed": args.seeds[0],
                    "device": args.device, "workers": args.plain_workers}
            row["engines"][engine] = in_process(spec, args.timeout)
        row["last_epoch_images_per_s"] = {e: r["images_per_s"][-1] for e, r in row["engines"].items()
                                          if r.get("images_per_s")}
        row["ratios"] = throughput_ratios(row["last_epoch_images_per_s"])
        rows.append(row)
    return {"data": f"{args.train_images} train / {args.val_images} val photographs", "rows": rows}


def throughput_ratios(ips: dict) -> dict:
    pairs = {"convzoo/plain": ("convzoo", "plain"), "convzoo/fastai": ("convzoo", "fastai"),
             "convzoo-old/plain": ("convzoo-old", "plain"), "convzoo/convzoo-old": ("convzoo", "convzoo-old")}
    return {name: ips[a] / ips[b] for name, (a, b) in pairs.items() if a in ips and b in ips and ips[b] > 0}


def accuracy_part(args, tmp: Path) -> dict:
    from transfer_recipe import write_mnist, write_textures

    candidates = [parse_candidate(pairs) for pairs in args.candidate]
    sets = {"mnist": lambda root: write_mnist(root, per_class=args.per_class),
            "textures": lambda root: write_textures(root, train_per_class=args.textures_per_class)}
    stated = {k: float(v) for k, _, v in (t.partition("=") for t in args.targets)}
    rows = []
    for name in args.datasets:
        data = sets[name](tmp / name)
        for seed in args.seeds:
            runs = {}
            # which run -> (engine, TrainConfig fields on top of the engine's)
            plan = {"old": ("convzoo-old", {}), "new": ("convzoo", {})}
            for i, fields in enumerate(candidates):
                plan[f"candidate {i + 1}"] = ("convzoo", fields)
            if args.old_control:
                plan["old control"] = ("convzoo-old", {})
            for which, (engine, extra) in plan.items():
                print(f"accuracy: {name}, seed {seed}, {which} ...", file=sys.stderr, flush=True)
                spec = {"engine": engine, "model": args.accuracy_model, "weights": "DEFAULT", "data": str(data),
                        "epochs": args.accuracy_epochs, "batch_size": args.batch_size,
                        "image_size": args.accuracy_image_size, "seed": seed, "device": args.device,
                        # a mirrored digit is another digit (or none)
                        "config": {"hflip": name != "mnist", **extra}}
                if which == "old control":
                    spec["old_control"] = OLD_CONTROL
                runs[which] = in_process(spec, args.timeout)
            row = {"dataset": name, "seed": seed,
                   **time_to_accuracy({k: runs[k] for k in ("old", "new")}, stated.get(name)), "runs": runs}
            row["val_images"] = sum(1 for f in (data / "val").rglob("*") if f.is_file())
            if args.old_control:
                row["old_control"] = {"settings": OLD_CONTROL, "best": max(runs["old control"]["val_acc"])
                                      if "val_acc" in runs["old control"] else None}
            row["candidates"] = [candidate_against_new(runs["new"], runs[f"candidate {i + 1}"], stated.get(name))
                                 for i in range(len(candidates))]
            rows.append(row)
    return {"model": args.accuracy_model, "rows": rows, "candidates": candidates}


def parse_candidate(pairs: list[str]) -> dict:
    """--candidate KEY=VALUE ...: TrainConfig fields, each VALUE read as JSON where it parses
    (160, 0.5, true, null), else as a string ("stages:1")."""
    fields = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--candidate {pair!r}: write KEY=VALUE, e.g. train_crop=160")
        try:
            fields[key] = json.loads(value)
        except json.JSONDecodeError:
            fields[key] = value
    return fields


def candidate_against_new(new: dict, candidate: dict, stated: float | None) -> dict | None:
    """A candidate setting judged as the issue judges a default: the seconds it takes to reach
    the new defaults' best val accuracy (and the stated one), as new / candidate."""
    if "error" in candidate or "error" in new:
        return None
    runs = {"new": new, "candidate": candidate}
    target = max(runs["new"]["val_acc"])
    reached = {k: first_reached(runs[k], target) for k in ("new", "candidate")}
    best = {k: max(runs[k]["val_acc"]) for k in ("new", "candidate")}
    out = {"target": target, "best": best, "seconds_to_target": reached,
           "new_over_candidate": reached["new"] / reached["candidate"] if reached["candidate"] else None,
           "images_per_s": {k: runs[k]["images_per_s"][-1] for k in ("new", "candidate")}}
    if stated is not None:
        at = {k: first_reached(runs[k], stated) for k in ("new", "candidate")}
        out.update(stated=stated, seconds_to_stated=at,
                   stated_new_over_candidate=at["new"] / at["candidate"] if at["new"] and at["candidate"] else None)
    return out


def first_reached(run: dict, target: float) -> float | None:
    hit = [t for t, acc in zip(run["elapsed_s"], run["val_acc"]) if acc >= target]
    return hit[0] if hit else None


def time_to_accuracy(runs: dict, stated: float | None = None) -> dict:
    """When each run first reaches the old run's best val accuracy (the strict target), and a
    stated accuracy for the set (DAWNBench's way: one both should reach, whatever the noise
    between two runs' last decimals)."""
    if any("error" in r for r in runs.values()):
        return {"target": None, "seconds_to_target": {}, "old_over_new": None}
    target = max(runs["old"]["val_acc"])
    reached = {which: first_reached(r, target) for which, r in runs.items()}
    ratio = reached["old"] / reached["new"] if reached["new"] and reached["old"] else None
    best = {which: max(r["val_acc"]) for which, r in runs.items()}
    out = {"target": target, "best": best, "seconds_to_target": reached, "old_over_new": ratio,
           "meets": bool(ratio and ratio >= 2 and best["new"] >= best["old"])}
    if stated is not None:
        at = {which: first_reached(r, stated) for which, r in runs.items()}
        out.update(stated=stated, seconds_to_stated=at,
                   stated_old_over_new=at["old"] / at["new"] if at["old"] and at["new"] else None)
    return out


# ---------------------------------------------------------------------------- the report

def fmt(x, spec=".1f") -> str:
    return "-" if x is None else format(x, spec)


def render_throughput(part: dict, epochs: int) -> list[str]:
    lines = ["## Throughput: images/s of a fine-tuning epoch", "",
             (f"{part['data']}; images/s of epoch {epochs}'s training phase (loading included), each engine in "
              "its own process. Wall s: the run's own (model and data built, every epoch trained and validated) / "
              "the whole process (imports included)."), "",
             ("| model | weights | convzoo | convzoo-old | plain | fastai | convzoo / plain | convzoo / fastai "
              "| convzoo-old / plain | wall s convzoo / old / plain / fastai |"),
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in part["rows"]:
        ips, ratios, engines = row["last_epoch_images_per_s"], row["ratios"], row["engines"]
        walls = " / ".join(f"{fmt(engines[e].get('run_s'), '.0f')} ({fmt(engines[e].get('process_s'), '.0f')})"
                           if e in engines else "-" for e in ENGINES)
        lines.append(f"| {row['model']} | {row['weights']} | " + " | ".join(fmt(ips.get(e)) for e in ENGINES)
                     + f" | {fmt(ratios.get('convzoo/plain'), '.2f')} | {fmt(ratios.get('convzoo/fastai'), '.2f')} "
                     f"| {fmt(ratios.get('convzoo-old/plain'), '.2f')} | {walls} |")
    lines.append("")
    for row in part["rows"]:
        r = row["ratios"]
        if "convzoo/plain" in r and "convzoo/fastai" in r:
            ok = r["convzoo/plain"] >= 2 and r["convzoo/fastai"] >= 2
            lines.append(f"- {row['model']}: convzoo / plain {r['convzoo/plain']:.2f}x, convzoo / fastai "
                         f"{r['convzoo/fastai']:.2f}x ({'meets' if ok else 'does NOT meet'} the 2x target on both).")
        for engine, result in row["engines"].items():
            if "error" in result:
                lines.append(f"- {row['model']}, {engine}: FAILED: {result['error'].splitlines()[-1]}")
    lines.append("- What trains differs by the engines' defaults: convzoo's `--freeze auto` keeps the stem and the "
                 "high-resolution stages frozen when it starts from weights (a weights file counts: the recipe is "
                 "the same whatever the numbers in it), the plain loop trains every layer, fastai's fine_tune "
                 "trains its unfrozen model in this epoch. The time-to-accuracy part judges that recipe.")
    engines = {e: r.get("engine") for row in part["rows"] for e, r in row["engines"].items() if r.get("engine")}
    missing = {f for row in part["rows"] for r in row["engines"].values() for f in r.get("old_fields_missing", [])}
    lines.append("- Engine settings: " + "; ".join(f"{e} {json.dumps(s)}" for e, s in engines.items()) + ".")
    for row in part["rows"]:
        resolved = row["engines"].get("convzoo", {}).get("resolved")
        if resolved:
            lines.append(f"- {row['model']}: convzoo's auto settings resolved to {json.dumps(resolved)}.")
    if missing:
        lines.append(f"- TrainConfig has no {', '.join(sorted(missing))} field yet: convzoo-old ran without "
                     "setting it.")
    return lines


def render_accuracy(part: dict, epochs: int) -> list[str]:
    lines = ["## Time to accuracy: convzoo's new engine defaults against the old", "",
             (f"{part['model']}, packaged weights, {epochs} epochs per run. Target: the old run's best val "
              "accuracy; seconds: when a run's validation first reaches it."), "",
             ("| set | seed | target | old best | new best | old s to target | new s to target | old / new "
              "| meets (>= 2x, new best >= old) | stated target | old s | new s | old / new | elapsed from |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in part["rows"]:
        runs = row["runs"]
        if row["target"] is None:
            errors = "; ".join(f"{k}: {r['error'].splitlines()[-1]}" for k, r in runs.items() if "error" in r)
            lines.append(f"| {row['dataset']} | {row['seed']} | FAILED: {errors} ||||||||||||")
            continue
        sources = sorted({r["elapsed_source"] for r in runs.values() if "elapsed_source" in r})
        lines.append(f"| {row['dataset']} | {row['seed']} | {row['target']:.4f} | {row['best']['old']:.4f} "
                     f"| {row['best']['new']:.4f} | {fmt(row['seconds_to_target']['old'])} "
                     f"| {fmt(row['seconds_to_target']['new'])} | {fmt(row['old_over_new'], '.2f')} "
                     f"| {'yes' if row['meets'] else 'no'} | {fmt(row.get('stated'), '.2f')} "
                     f"| {fmt(row.get('seconds_to_stated', {}).get('old'))} "
                     f"| {fmt(row.get('seconds_to_stated', {}).get('new'))} "
                     f"| {fmt(row.get('stated_old_over_new'), '.2f')} | {', '.join(sources)} |")
    if any("old_control" in row for row in part["rows"]):
        lines += [""] + render_old_control(part)
    for i, fields in enumerate(part.get("candidates", [])):
        lines += [""] + render_candidate(part, i, fields)
    if any(r.get("elapsed_source") == "cumulative training seconds" for row in part["rows"]
           for r in row["runs"].values()):
        lines += ["", ("- The engine does not record elapsed_s yet: times are the running sum of the epochs' "
                       "training seconds (no set-up, no validation).")]
    return lines


def render_old_control(part: dict) -> list[str]:
    """The old engine run twice, the second time with a change of layout only: how far the best val
    accuracy of one recipe moves between runs that differ only in rounding."""
    settings = next(row["old_control"]["settings"] for row in part["rows"] if "old_control" in row)
    lines = [f"### The old engine's own scatter: the old defaults again with {json.dumps(settings)}", "",
             ("The same recipe, seed and arithmetic; only the order of the roundings differs. The gap between "
              "the two old runs is what one run's best moves by rounding alone."), "",
             "| set | seed | old best | old control best | new best | old - control (images) |",
             "|---|---|---|---|---|---|"]
    for row in part["rows"]:
        control = row.get("old_control", {}).get("best")
        if row["target"] is None or control is None:
            continue
        n_val = row.get("val_images")
        gap = f"{(row['best']['old'] - control) * n_val:+.0f}" if n_val else "-"
        lines.append(f"| {row['dataset']} | {row['seed']} | {row['best']['old']:.4f} | {control:.4f} "
                     f"| {row['best']['new']:.4f} | {gap} |")
    return lines


def render_candidate(part: dict, i: int, fields: dict) -> list[str]:
    named = ", ".join(f"{k}={v}" for k, v in fields.items())
    lines = [f"### Candidate {i + 1}: the new defaults with {named}", "",
             ("Target: the new defaults' best val accuracy in the same (set, seed); new / candidate >= 1 "
              "with the candidate's best >= new's would make it pay. img/s: the last epoch's training."), "",
             ("| set | seed | target | new best | candidate best | new s | candidate s | new / candidate "
              "| stated | new s | candidate s | new / candidate | img/s new | img/s candidate |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in part["rows"]:
        c = row["candidates"][i]
        if c is None:
            lines.append(f"| {row['dataset']} | {row['seed']} | FAILED ||||||||||||")
            continue
        lines.append(f"| {row['dataset']} | {row['seed']} | {c['target']:.4f} | {c['best']['new']:.4f} "
                     f"| {c['best']['candidate']:.4f} | {fmt(c['seconds_to_target']['new'])} "
                     f"| {fmt(c['seconds_to_target']['candidate'])} | {fmt(c['new_over_candidate'], '.2f')} "
                     f"| {fmt(c.get('stated'), '.2f')} | {fmt(c.get('seconds_to_stated', {}).get('new'))} "
                     f"| {fmt(c.get('seconds_to_stated', {}).get('candidate'))} "
                     f"| {fmt(c.get('stated_new_over_candidate'), '.2f')} | {fmt(c['images_per_s']['new'])} "
                     f"| {fmt(c['images_per_s']['candidate'])} |")
    return lines


def render(report: dict) -> str:
    s = report["settings"]
    lines = ["# Fine-tuning speed (benchmarks/train_speed.py)", "",
             (f"{report['cpu']}, {report['cpus']} logical CPUs; torch {report['torch']}, torchvision "
              f"{report['torchvision']}, fastai {report['fastai']}, convzoo {report['convzoo']}; "
              f"OMP_NUM_THREADS={report['omp_num_threads'] or 'unset'}, torch intra-op {report['threads']}; "
              f"device {s['device']}; batch {s['batch_size']}; load average before {report['loadavg_before'][0]:.2f}; "
              f"{report['date']}."), ""]
    if "throughput" in report:
        lines += render_throughput(report["throughput"], s["epochs"]) + [""]
    if "accuracy" in report:
        lines += render_accuracy(report["accuracy"], s["accuracy_epochs"]) + [""]
    lines += ["Every figure:", "", "```json", json.dumps(report, indent=1), "```", ""]
    return "\n".join(lines)


def versions() -> dict:
    import importlib.metadata

    import torch
    import torchvision

    import convzoo

    try:  # the accuracy part runs convzoo alone: fastai is needed only by the throughput part's fastai engine
        fastai = importlib.metadata.version("fastai")
    except importlib.metadata.PackageNotFoundError:
        fastai = "not installed"
    return {"torch": torch.__version__, "torchvision": torchvision.__version__, "fastai": fastai,
            "convzoo": convzoo.__version__, "threads": torch.get_num_threads()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=["throughput", "accuracy", "all"], default="all")
    p.add_argument("--models", nargs="+", default=list(MODELS), help="throughput: the models (default: all three)")
    p.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES, help="throughput: the engines")
    p.add_argument("--train-images", type=int, default=256, help="throughput: training photographs (default 256)")
    p.add_argument("--val-images", type=int, default=32, help="throughput: validation photographs (default 32)")
    p.add_argument("--epochs", type=int, default=2, help="throughput: epochs per run, the last one measured (>= 2)")
    p.add_argument("--image-size", type=int, default=224, help="throughput: training crop, px (default 224)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--plain-workers", type=int, default=2, help="the plain loop's DataLoader workers (default 2)")
    p.add_argument("--datasets", nargs="+", default=["mnist", "textures"], choices=["mnist", "textures"],
                   help="accuracy: the sets (benchmarks/transfer_recipe.py)")
    p.add_argument("--accuracy-epochs", type=int, default=10,
                   help="accuracy: epochs per run (default 10, convzoo train's default)")
    p.add_argument("--accuracy-image-size", type=int, default=224,
                   help="accuracy: px (default 224, the Lite0 weights' crop size: what `convzoo train` uses unasked)")
    p.add_argument("--targets", nargs="+", default=["mnist=0.9", "textures=0.8"], metavar="SET=ACC",
                   help="accuracy: a stated val accuracy per set, timed besides the old run's best "
                        "(default mnist=0.9 textures=0.8)")
    p.add_argument("--accuracy-model", default="efficientnet_lite0")
    p.add_argument("--candidate", nargs="+", action="append", default=[], metavar="KEY=VALUE",
                   help="accuracy: also run the new defaults with these TrainConfig fields (e.g. train_crop=160) "
                        "and time them to the new defaults' best; repeat for several candidates")
    p.add_argument("--old-control", action="store_true",
                   help="accuracy: also run the old defaults with channels_last (the same arithmetic, rounded in "
                        "another order), to show how far one run's best moves by rounding alone")
    p.add_argument("--per-class", type=int, default=30, help="accuracy: MNIST training images per digit (default 30)")
    p.add_argument("--textures-per-class", type=int, default=64,
                   help="accuracy: training patches per texture (default 64, at most 128)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1],
                   help="accuracy: one run per seed; throughput uses the first (default 0 1)")
    p.add_argument("--data-seed", type=int, default=0, help="the photographs' crops and the shared init")
    p.add_argument("--device", default="cpu", help="every engine's device (default cpu)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds one engine's run may take")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"the markdown report (default {DEFAULT_OUT})")
    p.add_argument("--worker", help=argparse.SUPPRESS)  # internal: one engine's run, as JSON
    args = p.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return 0
    if args.epochs < 2:
        p.error("--epochs: at least 2 (the first epoch holds the warm-up)")

    from convzoo.utils.atomic import write_text_atomic

    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu_model(),
              "cpus": os.cpu_count(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), **versions(),
              "loadavg_before": [round(x, 2) for x in os.getloadavg()],
              "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "worker"}}
    with tempfile.TemporaryDirectory() as tmp:
        if args.part in ("throughput", "all"):
            report["throughput"] = throughput_part(args, Path(tmp))
        if args.part in ("accuracy", "all"):
            report["accuracy"] = accuracy_part(args, Path(tmp))
    report["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    text = render(report)
    write_text_atomic(args.out, text)
    print(text.split("\nEvery figure:")[0])
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
