"""The best checkpoint: val accuracy, ties broken by lower val loss (--monitor acc|loss)."""
import json

import pytest
import torch

import convzoo.tasks.train.loop as train_module
from convzoo.cli import main
from convzoo.tasks.train.evaluate import summarize
from convzoo.tasks.train.loop import BestEpoch, train

from test_train import _cfg, tiny  # noqa: F401  (the shared tiny MNIST fixture)


def test_accuracy_tie_goes_to_the_lower_loss():
    best = BestEpoch("acc", acc=0.5, loss=1.0, epoch=1)
    assert best.is_improved_by(0.5, 0.8)
    assert not best.is_improved_by(0.5, 1.0)
    assert not best.is_improved_by(0.4, 0.1)
    assert best.is_improved_by(0.6, 2.0)


def test_monitor_loss_ranks_by_loss_with_accuracy_as_tie_break():
    best = BestEpoch("loss", acc=0.5, loss=1.0, epoch=1)
    assert best.is_improved_by(0.1, 0.9)
    assert not best.is_improved_by(0.9, 1.1)
    assert best.is_improved_by(0.6, 1.0) and not best.is_improved_by(0.5, 1.0)


def _scripted_validation(monkeypatch, results):
    """Epoch k's validation returns results[k] = (accuracy, loss)."""
    calls = iter(results)

    def fake_evaluate(model, dataset, classes, *args, **kwargs):
        acc, loss = next(calls)
        metrics = summarize(torch.eye(len(classes), dtype=torch.long), classes, loss)
        return dict(metrics, accuracy=acc)

    monkeypatch.setattr(train_module, "evaluate_model", fake_evaluate)


def test_tied_accuracy_keeps_the_later_lower_loss_epoch(tiny, tmp_path, monkeypatch):
    # The README's probe-then-fine-tune case: the probe epoch and the fine-tuned
    # one score the same accuracy on a small val set; the fine-tuned one has the lower loss.
    _scripted_validation(monkeypatch, [(0.5, 1.0), (0.5, 0.8)])
    result = train(_cfg(tiny, tmp_path / "run", probe_epochs=1, max_steps_per_epoch=1))
    assert result["best_epoch"] == 2
    assert json.loads((tmp_path / "run" / "best.json").read_text())["epoch"] == 2
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["best_epoch"] == 2 and metrics["best_val_loss"] == 0.8 and metrics["monitor"] == "acc"


def test_monitor_loss_keeps_the_lower_loss_over_the_higher_accuracy(tiny, tmp_path, monkeypatch):
    _scripted_validation(monkeypatch, [(0.6, 1.0), (0.5, 0.8)])
    result = train(_cfg(tiny, tmp_path / "run", monitor="loss", max_steps_per_epoch=1))
    assert result["best_epoch"] == 2 and result["best_val_acc"] == 0.5
    assert json.loads((tmp_path / "run" / "best.json").read_text())["epoch"] == 2


def test_unknown_monitor_is_a_one_line_cli_error(tiny, tmp_path, capsys):
    with pytest.raises(SystemExit):  # argparse's choices
        main(["train", str(tiny), "--monitor", "f1", "--out", str(tmp_path / "x")])
    assert "--monitor" in capsys.readouterr().err
    with pytest.raises(ValueError, match="--monitor 'f1'"):
        train(_cfg(tiny, tmp_path / "y", monitor="f1"))
