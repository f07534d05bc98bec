"""The best checkpoint scored once more in fp32, when validation ran in bf16 or fp16.

Validation during training runs in the training's precision (loop.validation_amp):
efficientnet_lite0's validation ran 2.1x as fast in bf16 on a 2-core Xeon with AMX. But
rounding moves images that sit near the decision boundary. On MNIST digits
(benchmarks/train_speed.py's set: 300 training images, 500 validating; lite0, seeds 0
and 1) the same weights, scored in bf16 and in fp32, differed by up to 4 of the 500
images from the third epoch on (12 in the first), in either direction. `convzoo eval`,
`predict` and `serve` score in fp32, so the run's last word on best.safetensors is its
fp32 score: logged, kept in metrics.json as "best_fp32", and written to val_report.json
and confusion_matrix.png, which describe that checkpoint (`push` puts val_report.json on
the model card).

The best epoch is still chosen by the faster scores: scoring every epoch twice would
cost more than the bf16 validation saves.
"""
from __future__ import annotations

import json
from pathlib import Path

from ...utils.atomic import write_text_atomic
from ..shared.checkpoint import load_checkpoint
from .evaluate import evaluate_model
from .records import BestEpoch, monitored, write_report


def score_best_in_fp32(out: Path, val_set, classes: list[str], cfg, ctx, positive: str | None,
                       best: BestEpoch) -> dict | None:
    """Scores OUT/best.safetensors in fp32 on `val_set`, says so in one line, rewrites
    val_report.json and confusion_matrix.png with that scoring, adds "best_fp32" to
    metrics.json, and returns {"accuracy", "log_loss", the monitored metric: value};
    None when there is no best checkpoint. `cfg` and `ctx`: the run's TrainConfig and DistContext."""
    checkpoint = Path(out) / "best.safetensors"
    if not checkpoint.is_file():
        return None
    model, _ = load_checkpoint(checkpoint)
    val = evaluate_model(model.to(ctx.device), val_set, classes, cfg.batch_size, ctx.device, workers=cfg.workers,
                         progress=cfg.progress, desc="best epoch in fp32", positive=positive, amp="none")
    write_report(out, val, classes)
    scores = {"accuracy": val["accuracy"], "log_loss": val["log_loss"], best.monitor: val.get(best.monitor)}
    metrics_path = Path(out) / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    write_text_atomic(metrics_path, json.dumps({**metrics, "best_fp32": scores}, indent=2))
    ctx.log(f"best epoch {best.epoch} scored again in fp32, as `convzoo eval` scores it: val acc "
            f"{val['accuracy']:.4f} (in {cfg.amp}: {best.acc:.4f}){monitored(best.monitor, val)}")
    return scores
