"""Evaluation: accuracy, per-class precision/recall/F1, confusion matrix."""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader


@torch.inference_mode()
def evaluate_model(model: nn.Module, dataset, classes: list[str], batch_size: int = 64,
                   device: torch.device | str = "cpu", workers: int = 0, progress: bool = True,
                   desc: str = "eval") -> dict:
    from tqdm.auto import tqdm

    was_training = model.training
    model.eval()
    n = len(classes)
    confusion = torch.zeros(n, n, dtype=torch.long)
    total_loss, seen = 0.0, 0
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    for x, y in tqdm(loader, desc=desc, disable=not progress, leave=False, dynamic_ncols=True):
        x = x.to(device)
        logits = model(x).float().cpu()
        total_loss += nn.functional.cross_entropy(logits, y, reduction="sum").item()
        pred = logits.argmax(1)
        confusion += torch.bincount(y * n + pred, minlength=n * n).reshape(n, n)
        seen += y.shape[0]
    model.train(was_training)
    return summarize(confusion, classes, total_loss / max(seen, 1))


def evaluate_checkpoint(checkpoint, data, batch_size: int = 64, device: str = "auto", workers: int = 0,
                        progress: bool = True) -> dict:
    """Metrics of a `convzoo train` checkpoint on a labelled folder or CSV
    (its class names and preprocessing come from the checkpoint)."""
    from ..data.datasets import load_eval_dataset
    from .checkpoint import load_checkpoint, preprocessing_of
    from .classify import resolve_device

    model, meta = load_checkpoint(checkpoint)
    dev = resolve_device(device)
    dataset = load_eval_dataset(data, meta["classes"]).with_transform(preprocessing_of(meta).transforms())
    return evaluate_model(model.to(dev), dataset, meta["classes"], batch_size, dev, workers, progress)


def summarize(confusion: torch.Tensor, classes: list[str], loss: float | None = None) -> dict:
    """Metrics from a confusion matrix (rows: true class, columns: predicted)."""
    tp = confusion.diag().double()
    predicted = confusion.sum(0).double()
    actual = confusion.sum(1).double()
    precision = torch.where(predicted > 0, tp / predicted.clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(actual > 0, tp / actual.clamp(min=1), torch.zeros_like(tp))
    f1 = torch.where(precision + recall > 0, 2 * precision * recall / (precision + recall).clamp(min=1e-12),
                     torch.zeros_like(tp))
    per_class = {c: {"precision": precision[i].item(), "recall": recall[i].item(), "f1": f1[i].item(),
                     "support": int(actual[i].item())} for i, c in enumerate(classes)}
    return {
        "accuracy": (tp.sum() / confusion.sum().clamp(min=1)).item(),
        "loss": loss,
        "macro_f1": f1.mean().item(),
        "per_class": per_class,
        "confusion_matrix": confusion.tolist(),
        "classes": list(classes),
    }


def format_report(metrics: dict) -> str:
    lines = [f"accuracy {metrics['accuracy']:.4f}   macro F1 {metrics['macro_f1']:.4f}", "",
             f"{'class':<24} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}"]
    for name, m in metrics["per_class"].items():
        lines.append(f"{name:<24} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>7.3f} {m['support']:>8}")
    lines += ["", "confusion matrix (rows: true, columns: predicted)"]
    lines += [" ".join(f"{v:>5}" for v in row) for row in metrics["confusion_matrix"]]
    return "\n".join(lines)
