"""Train a segmentation model (`convzoo.seg`) on a folder of images and masks.

    result = train_segmentation(SegTrainConfig(data="my_masks/", encoder="efficientnet_lite0"))
    result["best_miou"], result["history"]

Per epoch: the mean training loss (pixel-wise cross-entropy), then validation
loss, per-class IoU and mean IoU. The best epoch by validation mean IoU is
written to OUT/best.safetensors + best.json (atomically: a killed run leaves the
previous complete file); `load_seg_checkpoint` rebuilds the model from them.
Single process (no torchrun), unlike `train`.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from ...seg.data import IGNORE_INDEX, SegmentationFolder, find_pairs, largest_class, split_pairs
from ...seg.metrics import ConfusionMatrix
from ...seg.model import SegmentationModel, get_seg_model
from ...utils.atomic import write_text_atomic
from ..shared.checkpoint import read_sidecar, save_checkpoint
from ..shared.device import resolve_device
from ..shared.seeding import seed_everything
from .optim import cosine_with_warmup


@dataclass
class SegTrainConfig:
    """One segmentation training run; `train_segmentation(cfg)` runs it (`convzoo seg-train`
    builds one from its options, each field its flag).

    `data` holds images/NAME.* and masks/NAME.png (class index per pixel, 255: don't
    care); `val_data` is a second such folder, else `val_fraction` of `data` is held
    out. The model is `get_seg_model(encoder, num_classes, decoder=..., encoder_weights=...,
    out_indices=..., decoder_channels=..., output_stride=...)`; `num_classes` defaults
    to 1 + the largest index in the masks. AdamW (`lr`, `weight_decay`) with a cosine
    schedule after `warmup_epochs`; the best epoch by validation mean IoU is written
    to `out`/best.safetensors with its JSON sidecar."""

    data: str
    encoder: str = "efficientnet_lite0"
    decoder: str = "unet"  # unet | fpn
    encoder_weights: str | None = "DEFAULT"  # DEFAULT | tag | checkpoint path | None (random)
    num_classes: int | None = None  # default: 1 + the largest index in the masks
    out_indices: list[int] | None = None  # the encoder maps the decoder gets (default: get_seg_model's)
    decoder_channels: list[int] | int | None = None  # UNet: one width per block, coarsest first; FPN: one int
    output_stride: int = 32  # 8 or 16: dilated last stages (families with output_stride)
    val_data: str | None = None  # a second folder; else val_fraction of data
    val_fraction: float = 0.2
    out: str = "runs/seg"
    epochs: int = 10
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 0.0
    image_size: int = 256
    freeze_encoder: bool = False  # train only decoder and head
    hflip: bool = True  # off where a mirror image changes the meaning (text, digits)
    seed: int = 0
    overwrite: bool = False  # replace a run already in `out` (else refused)
    device: str = "auto"
    workers: int = 0
    progress: bool = True
    max_steps_per_epoch: int | None = None  # for smoke tests



def check_seg_config(cfg: SegTrainConfig) -> None:
    for name in ("epochs", "batch_size", "image_size"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"{name} {getattr(cfg, name)}: must be at least 1")
    if cfg.lr <= 0:
        raise ValueError(f"lr {cfg.lr}: must be positive")
    existing = [name for name in SEG_RUN_FILES if (Path(cfg.out) / name).exists()]
    if existing and not cfg.overwrite:
        raise ValueError(f"out {cfg.out} already holds a run ({', '.join(existing)}): pass overwrite=True "
                         f"(--overwrite) to replace it, or another out folder")


# What a run writes in its out folder.
SEG_RUN_FILES = ("best.safetensors", "best.json", "metrics.json")


def _evaluate(model: nn.Module, loader, num_classes: int, device) -> tuple[float, ConfusionMatrix]:
    model.eval()
    matrix = ConfusionMatrix(num_classes, IGNORE_INDEX)
    loss_sum, pixels = 0.0, 0
    criterion = nn.CrossEntropyLoss(ignore_index=IGNORE_INDEX, reduction="sum")
    with torch.no_grad():
        for images, masks in loader:
            images, masks = images.to(device), masks.to(device)
            logits = model(images)
            loss_sum += float(criterion(logits, masks))
            pixels += int((masks != IGNORE_INDEX).sum())
            matrix.update(logits.argmax(1), masks)
    return loss_sum / max(1, pixels), matrix


def train_segmentation(cfg: SegTrainConfig) -> dict:
    """Train; returns {"best_miou", "best_epoch", "per_class_iou" (best epoch's),
    "history": [{"epoch", "train_loss", "val_loss", "val_miou", "val_pixel_acc",
    "seconds"}...], "checkpoint"} (also written to OUT/metrics.json)."""
    from tqdm.auto import tqdm

    check_seg_config(cfg)
    device = resolve_device(cfg.device)
    pairs = find_pairs(cfg.data)
    if cfg.val_data:
        train_pairs, val_pairs = pairs, find_pairs(cfg.val_data)
    else:
        train_pairs, val_pairs = split_pairs(pairs, cfg.val_fraction, cfg.seed)
    largest, where = largest_class(train_pairs + val_pairs)
    if cfg.num_classes is not None and largest >= cfg.num_classes:
        # Caught here, not as the loss's device-side assert halfway through an epoch.
        raise ValueError(f"{where} has class {largest}, but num_classes is {cfg.num_classes} (classes 0.."
                         f"{cfg.num_classes - 1}): pass num_classes={largest + 1} or more, or mark that region "
                         f"255 (don't care)")
    num_classes = cfg.num_classes or largest + 1
    if num_classes < 2:
        raise ValueError(f"{cfg.data}: every mask pixel is class 0; a segmentation needs at least two classes "
                         f"(pass num_classes if some are absent from these masks)")

    seed_everything(cfg.seed)
    model = get_seg_model(cfg.encoder, num_classes, decoder=cfg.decoder, encoder_weights=cfg.encoder_weights,
                          **_model_options(cfg))
    pre = model.preprocessing
    train_set = SegmentationFolder(train_pairs, cfg.image_size, train=True, mean=pre.mean, std=pre.std,
                                   hflip=cfg.hflip)
    val_set = SegmentationFolder(val_pairs, cfg.image_size, train=False, mean=pre.mean, std=pre.std)
    generator = torch.Generator().manual_seed(cfg.seed)
    # A last batch of one image would fail BatchNorm (one value per channel at the coarsest map):
    # dropped, as `train` does, unless it would leave no batch at all.
    train_loader = DataLoader(train_set, cfg.batch_size, shuffle=True, num_workers=cfg.workers, generator=generator,
                              drop_last=len(train_set) > cfg.batch_size)
    val_loader = DataLoader(val_set, cfg.batch_size, shuffle=False, num_workers=cfg.workers)
    model.to(device)

    if cfg.freeze_encoder:
        model.encoder.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = len(train_loader) if cfg.max_steps_per_epoch is None else min(len(train_loader),
                                                                                      cfg.max_steps_per_epoch)
    scheduler = cosine_with_warmup(optimizer, cfg.epochs * steps_per_epoch,
                                   round(cfg.warmup_epochs * steps_per_epoch))
    criterion = nn.CrossEntropyLoss(ignore_index=IGNORE_INDEX)
    out = Path(cfg.out)
    for name in SEG_RUN_FILES:  # an overwritten run's files go first: none is mistaken for this run's
        (out / name).unlink(missing_ok=True)
    meta = {"task": "segmentation", "encoder": cfg.encoder, "decoder": cfg.decoder, "num_classes": num_classes,
            "model_options": _model_options(cfg), "image_size": cfg.image_size, "preprocessing": asdict(pre), "config": asdict(cfg)}

    history, best_miou, best_epoch, best_iou, checkpoint = [], -math.inf, 0, [], None
    for epoch in range(1, cfg.epochs + 1):
        start = time.perf_counter()
        model.train()
        if cfg.freeze_encoder:
            model.encoder.eval()  # frozen BatchNorm statistics too, not only frozen weights
        loss_sum, seen = 0.0, 0
        bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch}/{cfg.epochs}", unit="batch",
                   disable=not cfg.progress, leave=False)
        for step, (images, masks) in enumerate(train_loader):
            if step >= steps_per_epoch:
                break
            images, masks = images.to(device), masks.to(device)
            loss = criterion(model(images), masks)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += loss.item() * len(images)
            seen += len(images)
            bar.update(1)
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}")
        bar.close()
        val_loss, matrix = _evaluate(model, val_loader, num_classes, device)
        row = {"epoch": epoch, "train_loss": loss_sum / max(1, seen), "val_loss": val_loss,
               "val_miou": matrix.mean_iou(), "val_pixel_acc": matrix.pixel_accuracy(),
               "seconds": time.perf_counter() - start}
        history.append(row)
        if cfg.progress:
            print(f"epoch {epoch}/{cfg.epochs}: train loss {row['train_loss']:.4f}  val loss {val_loss:.4f}  "
                  f"val mIoU {row['val_miou']:.4f}  pixel acc {row['val_pixel_acc']:.4f}  "
                  f"({row['seconds']:.0f} s)", flush=True)
        if row["val_miou"] > best_miou:
            best_miou, best_epoch, best_iou = row["val_miou"], epoch, matrix.iou()
            checkpoint = save_checkpoint(out, "best", model, dict(meta, epoch=epoch, val_miou=best_miou,
                                                                  per_class_iou=best_iou))
    result = {"best_miou": best_miou, "best_epoch": best_epoch, "per_class_iou": best_iou,
              "num_classes": num_classes, "history": history, "checkpoint": str(checkpoint)}
    write_text_atomic(out / "metrics.json", json.dumps(result, indent=2))
    return result


def _model_options(cfg: SegTrainConfig) -> dict:
    """The architecture options that differ from get_seg_model's defaults: what
    the checkpoint's sidecar must hold to build the same model again."""
    options = {"out_indices": cfg.out_indices, "decoder_channels": cfg.decoder_channels}
    options = {k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items() if v is not None}
    if cfg.output_stride != 32:
        options["output_stride"] = cfg.output_stride
    return options


def load_seg_checkpoint(checkpoint: str | Path) -> tuple[SegmentationModel, dict]:
    """The model of a `train_segmentation` checkpoint (best.safetensors) and its
    sidecar; the model is in eval mode, its `preprocessing` set."""
    from safetensors.torch import load_file

    from ...data.preprocessing import Preprocessing

    meta = read_sidecar(checkpoint)
    if meta.get("task") != "segmentation":
        raise ValueError(f"{checkpoint}: not a segmentation checkpoint (its sidecar has no task: segmentation); "
                         f"load classifiers with convzoo.tasks.shared.checkpoint.load_checkpoint")
    model = get_seg_model(meta["encoder"], meta["num_classes"], decoder=meta["decoder"], encoder_weights=None,
                          **meta.get("model_options", {}))
    model.load_state_dict(load_file(str(checkpoint)))
    model.preprocessing = Preprocessing.from_dict(meta["preprocessing"])
    return model.eval(), meta
