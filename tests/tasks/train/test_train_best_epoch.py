"""The best checkpoint: the best val value of the monitored metric (--monitor, any
of metrics.METRICS), ties broken by lower val loss (by higher balanced accuracy for log loss)."""
import json
import math

import pytest

import convzoo.tasks.train.loop as train_module
from convzoo.cli import main
from convzoo.tasks.train.loop import BestEpoch, train
from convzoo.tasks.train.metrics import METRICS

from test_train import _cfg, tiny  # noqa: F401  (the shared tiny MNIST fixture)


def _val(**metrics):
    """Validation metrics as evaluate_model returns them: every metric 0.5 unless given; loss is log_loss."""
    val = {name: 0.5 for name in METRICS}
    val.update(metrics)
    if "loss" in metrics:
        val["log_loss"] = metrics["loss"]
    val["loss"] = val["log_loss"]
    return val


def test_accuracy_tie_goes_to_the_lower_loss():
    best = BestEpoch.of("acc", _val(accuracy=0.5, loss=1.0), epoch=1)
    assert best.monitor == "accuracy"
    assert best.is_improved_by(_val(accuracy=0.5, loss=0.8))
    assert not best.is_improved_by(_val(accuracy=0.5, loss=1.0))
    assert not best.is_improved_by(_val(accuracy=0.4, loss=0.1))
    assert best.is_improved_by(_val(accuracy=0.6, loss=2.0))


def test_monitor_loss_ranks_by_loss_with_balanced_accuracy_as_tie_break():
    best = BestEpoch.of("loss", _val(balanced_accuracy=0.5, loss=1.0), epoch=1)
    assert best.monitor == "log_loss"
    assert best.is_improved_by(_val(balanced_accuracy=0.1, loss=0.9))
    assert not best.is_improved_by(_val(balanced_accuracy=0.9, loss=1.1))
    assert best.is_improved_by(_val(balanced_accuracy=0.6, loss=1.0))
    assert not best.is_improved_by(_val(balanced_accuracy=0.5, loss=1.0))


@pytest.mark.parametrize("name", list(METRICS))
def test_every_metric_ranks_in_its_own_direction(name):
    better, worse = (0.9, 0.1) if METRICS[name].higher_is_better else (0.1, 0.9)
    best = BestEpoch.of(name, _val(**{name: worse}), epoch=1)
    assert best.is_improved_by(_val(**{name: better}))
    assert not BestEpoch.of(name, _val(**{name: better}), epoch=1).is_improved_by(_val(**{name: worse}))


def test_an_undefined_metric_ranks_below_any_defined_value_and_never_loses_the_checkpoint():
    best = BestEpoch("roc_auc")
    assert best.is_improved_by(_val(roc_auc=None))  # the first epoch is kept, undefined or not
    best = BestEpoch.of("roc_auc", _val(roc_auc=None, loss=1.0), epoch=1)
    assert best.is_improved_by(_val(roc_auc=None, loss=0.9))  # among undefined: lower loss
    assert best.is_improved_by(_val(roc_auc=0.01, loss=5.0))
    assert not BestEpoch.of("roc_auc", _val(roc_auc=0.01), epoch=1).is_improved_by(_val(roc_auc=None, loss=0.0))


def test_resume_state_keeps_the_old_keys_and_reads_states_without_the_new_ones():
    best = BestEpoch.of("macro_f1", _val(accuracy=0.7, loss=0.6, macro_f1=0.65, balanced_accuracy=0.6), epoch=3)
    state = best.state()
    assert state["best_acc"] == 0.7 and state["best_loss"] == 0.6 and state["best_epoch"] == 3
    assert state["best_metric"] == "macro_f1" and state["best_value"] == 0.65
    assert BestEpoch.from_state(state, "f1") == best
    with pytest.raises(ValueError, match=r"^--monitor accuracy: the run being resumed kept its best epoch by macro_f1"):
        BestEpoch.from_state(state, "accuracy")
    old = {"best_acc": 0.7, "best_loss": 0.6, "best_epoch": 3}  # a state from before this issue
    assert BestEpoch.from_state(old, "acc").value == 0.7
    assert BestEpoch.from_state(old, "loss").value == 0.6
    assert BestEpoch.from_state(old, "mcc").value is None and BestEpoch.from_state(old, "mcc").epoch == 3
    assert math.isinf(BestEpoch.from_state({}, "acc").loss)


def _scripted_validation(monkeypatch, results):
    """Epoch k's validation returns _val(**results[k])."""
    calls = iter(results)

    def fake_evaluate(model, dataset, classes, *args, **kwargs):
        n = len(classes)
        return dict(_val(**next(calls)), classes=classes, per_class={},
                    confusion_matrix=[[int(i == j) for j in range(n)] for i in range(n)], misclassified=[])

    monkeypatch.setattr(train_module, "evaluate_model", fake_evaluate)


def test_tied_accuracy_keeps_the_later_lower_loss_epoch(tiny, tmp_path, monkeypatch):
    # The README's probe-then-fine-tune case: the probe epoch and the fine-tuned
    # one score the same accuracy on a small val set; the fine-tuned one has the lower loss.
    _scripted_validation(monkeypatch, [dict(accuracy=0.5, loss=1.0), dict(accuracy=0.5, loss=0.8)])
    result = train(_cfg(tiny, tmp_path / "run", probe_epochs=1, max_steps_per_epoch=1))
    assert result["best_epoch"] == 2 and result["monitor"] == "accuracy"  # auto, on balanced classes
    assert json.loads((tmp_path / "run" / "best.json").read_text())["epoch"] == 2
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["best_epoch"] == 2 and metrics["best_val_loss"] == 0.8 and metrics["monitor"] == "accuracy"


@pytest.mark.parametrize("name", ["log_loss", "macro_f1", "ece"])
def test_the_monitored_metric_keeps_its_best_epoch_over_accuracy_and_loss(tiny, tmp_path, monkeypatch, name):
    """Epoch 1 is better on the monitored metric only; epoch 2 on everything else."""
    first, second = (0.9, 0.1) if METRICS[name].higher_is_better else (0.1, 0.9)
    others = {m: (0.2 if METRICS[m].higher_is_better else 0.8) for m in METRICS if m != name}
    improved = {m: (0.8 if METRICS[m].higher_is_better else 0.2) for m in METRICS if m != name}
    _scripted_validation(monkeypatch, [{**others, name: first}, {**improved, name: second}])
    result = train(_cfg(tiny, tmp_path / "run", monitor=name, max_steps_per_epoch=1, patience=1))
    assert result["best_epoch"] == 1 and result["monitor"] == name and result["best_value"] == first
    assert result["epochs_run"] == 2
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["monitor"] == name and metrics[f"best_val_{name}"] == first and metrics["best_epoch"] == 1
    assert metrics["epochs"][1][f"val_{name}"] == second
    assert json.loads((tmp_path / "run" / "best.json").read_text())["epoch"] == 1


def test_early_stopping_follows_the_monitored_metric(tiny, tmp_path, monkeypatch):
    # Accuracy keeps rising, macro-F1 does not: --patience 1 on macro_f1 stops after epoch 2.
    _scripted_validation(monkeypatch, [dict(accuracy=0.5, macro_f1=0.6), dict(accuracy=0.6, macro_f1=0.5),
                                       dict(accuracy=0.7, macro_f1=0.4)])
    result = train(_cfg(tiny, tmp_path / "run", epochs=3, monitor="f1", patience=1, max_steps_per_epoch=1))
    assert result["epochs_run"] == 2 and result["best_epoch"] == 1


def test_unknown_monitor_is_a_one_line_cli_error(tiny, tmp_path, capsys):
    assert main(["train", str(tiny), "--monitor", "recall", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("convzoo: error: --monitor 'recall': not a metric")
    assert "balanced_accuracy" in err and not (tmp_path / "x").exists()
    with pytest.raises(ValueError, match="--monitor 'recall'"):
        train(_cfg(tiny, tmp_path / "y", monitor="recall"))
