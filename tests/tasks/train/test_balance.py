"""Training on skewed classes: --balance weights|sampler|auto, the class-count line,
and what a run records of it; bad values are one line each."""
import json

import numpy as np
import pytest
import torch
from sklearn.utils.class_weight import compute_class_weight

from convzoo.cli import main
from convzoo.data.transforms import batch_mixer
from convzoo.tasks.train import balance
from convzoo.tasks.train.loop import train

from mnist_folder import write_mnist_folder
from test_train import _cfg, tiny  # noqa: F401  (the shared tiny MNIST fixture)

COUNTS = {"good": 45, "scratch": 5, "dent": 10}


@pytest.fixture(scope="module")
def skewed(tmp_path_factory):
    """16 zeros and 4 ones: 13 and 3 train after the 20% held out, 4.3:1."""
    root = tmp_path_factory.mktemp("skewed")
    write_mnist_folder(root, per_class=16, classes=[0])
    write_mnist_folder(root, per_class=4, classes=[1])
    return root


def test_class_weights_are_sklearns_balanced_weights():
    y = np.repeat([0, 1, 2], list(COUNTS.values()))
    expected = compute_class_weight("balanced", classes=np.arange(3), y=y)
    torch.testing.assert_close(balance.class_weights(COUNTS), torch.tensor(expected, dtype=torch.float32))
    # Their mean over the training images is 1: the loss keeps its scale.
    assert float((balance.class_weights(COUNTS)[torch.as_tensor(y)]).mean()) == pytest.approx(1.0)


def test_the_weighted_loss_is_the_hand_computed_weighted_cross_entropy():
    torch.manual_seed(0)
    logits, y = torch.randn(6, 3), torch.tensor([0, 0, 1, 2, 2, 0])
    w = balance.class_weights(COUNTS)
    logp = logits.log_softmax(1)
    hard = balance.criterion("weights", COUNTS)(logits, y)
    torch.testing.assert_close(hard, -(w[y] * logp[torch.arange(6), y]).sum() / w[y].sum())

    # Mixup's soft targets, with label smoothing: each class's term weighted, averaged over the images.
    mixed = batch_mixer(3, mixup=0.4)
    _, soft = mixed(torch.rand(6, 3, 8, 8), y)
    assert soft.shape == (6, 3) and not torch.equal(soft, soft.round())
    smoothed = soft * 0.9 + 0.1 / 3
    loss = balance.criterion("weights", COUNTS, label_smoothing=0.1)(logits, soft)
    torch.testing.assert_close(loss, -(w * smoothed * logp).sum(1).mean())
    assert balance.criterion("none", COUNTS).weight is None and balance.criterion("sampler", COUNTS).weight is None


def test_auto_balances_only_skewed_classes():
    assert balance.resolve_balance("auto", {"a": 10, "b": 9}) == ("none", "auto: classes balanced")
    assert balance.resolve_balance("auto", {"a": 15, "b": 10}) == (balance.AUTO_BALANCE, "auto: classes skewed")
    assert balance.resolve_balance("sampler", {"a": 10, "b": 10}) == ("sampler", "as asked")
    assert balance.resolve_monitor("auto", {"a": 10, "b": 9}) == "accuracy"
    assert balance.resolve_monitor("auto", COUNTS) == balance.AUTO_MONITOR
    assert balance.resolve_monitor("auc", COUNTS) == "roc_auc"
    assert balance.describe({"good": 450, "defect": 50}, "weights", "auto: classes skewed") == \
        "classes (train): good 450, defect 50 (9.0:1); balancing: weights (auto: classes skewed)"


def test_skewed_data_trains_weighted_with_mixup_and_smoothing_and_says_so(skewed, tmp_path, capsys):
    result = train(_cfg(skewed, tmp_path / "run", epochs=1, max_steps_per_epoch=1, mixup=0.2, cutmix=1.0,
                        label_smoothing=0.1))
    err = capsys.readouterr().err
    assert f"classes (train): 0 13, 1 3 (4.3:1); balancing: {balance.AUTO_BALANCE} (auto: classes skewed)" in err
    assert result["balance"] == balance.AUTO_BALANCE and result["monitor"] == balance.AUTO_MONITOR
    meta = json.loads((tmp_path / "run" / "best.json").read_text())
    assert meta["class_counts"] == {"0": 13, "1": 3} and meta["balance"] == balance.AUTO_BALANCE
    assert meta["positive"] == "1"  # the rarer class of two
    assert f"{balance.AUTO_MONITOR} " in err.split("epoch 1/1:")[1].splitlines()[0]  # beside acc in the epoch's line


def test_balanced_data_trains_as_before(tiny, tmp_path, capsys):
    result = train(_cfg(tiny, tmp_path / "run", epochs=1, max_steps_per_epoch=1))
    assert "classes (train): 0 6, 1 6, 2 6 (1.0:1); balancing: none (auto: classes balanced)" in capsys.readouterr().err
    assert result["balance"] == "none" and result["monitor"] == "accuracy"
    meta = json.loads((tmp_path / "run" / "best.json").read_text())
    assert meta["positive"] is None and meta["balance"] == "none"  # three classes: no positive by default


def test_sampler_and_a_named_positive(skewed, tmp_path):
    result = train(_cfg(skewed, tmp_path / "run", epochs=1, max_steps_per_epoch=1, balance="sampler", positive="0",
                        monitor="pr_auc"))
    assert result["balance"] == "sampler" and result["monitor"] == "pr_auc"
    meta = json.loads((tmp_path / "run" / "best.json").read_text())
    assert meta["balance"] == "sampler" and meta["positive"] == "0"


def test_resume_reads_a_state_from_before_the_new_keys(skewed, tmp_path):
    out = tmp_path / "run"
    train(_cfg(skewed, out, epochs=1, max_steps_per_epoch=1))
    state = torch.load(out / "last.state.pt", weights_only=True)
    for key in ("best_metric", "best_value", "best_balanced_accuracy", "split"):
        del state[key]
    torch.save(state, out / "last.state.pt")
    result = train(_cfg(skewed, out, epochs=2, max_steps_per_epoch=1, resume=str(out / "last.state.pt")))
    # Runs before --monitor took every metric monitored accuracy; auto keeps doing so for them.
    assert result["epochs_run"] == 2 and result["monitor"] == "accuracy" and result["balance"] == balance.AUTO_BALANCE
    metrics = json.loads((out / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2] and "val_mcc" in metrics["epochs"][1]


@pytest.mark.parametrize("argv, message", [
    (["--balance", "x"], "convzoo train: error: argument --balance: invalid choice: 'x'"),
    (["--folds", "1"], "convzoo: error: --folds 1: use 2 or more"),
    (["--monitor", "nope"], "convzoo: error: --monitor 'nope': not a metric; use one of accuracy, balanced_accuracy"),
    (["--positive", "defect"], "convzoo: error: --positive 'defect' is not a class"),
])
def test_bad_values_are_one_line_each(skewed, tmp_path, capsys, argv, message):
    args = ["train", str(skewed), "--model", "resnet18", "--weights", "none", "--epochs", "1", "--image-size", "32",
            "--out", str(tmp_path / "x"), "--no-progress", *argv]
    try:
        code = main(args)
    except SystemExit as exit_:  # argparse's own check (choices)
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith(message), err
    if argv[0] == "--positive":
        assert "the classes are 0, 1" in err
    assert not (tmp_path / "x").exists()


def test_the_curves_show_the_monitored_metric_beside_accuracy():
    import matplotlib.pyplot as plt

    from convzoo.tasks.train.plots import curves_figure

    history = [{"epoch": e, "frozen_stages": 0, "train_loss": 1.0, "val_loss": 0.9, "train_acc": 0.6, "val_acc": 0.8,
                "val_mcc": v} for e, v in ((1, -0.2), (2, 0.4))]
    fig = curves_figure(history, best_epoch=2, monitor="mcc")
    _, acc = fig.axes
    lines = [line for line in acc.get_lines() if line.get_label() == "val mcc"]
    assert len(lines) == 1 and list(lines[0].get_ydata()) == [-0.2, 0.4]
    assert acc.get_title() == "accuracy and mcc" and acc.get_ylim()[0] <= -0.2
    plt.close(fig)
