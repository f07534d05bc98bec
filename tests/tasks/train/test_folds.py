"""`convzoo train --folds K`: K runs on stratified folds, each validating on its own
images, and folds.json with each metric's mean and std over the folds."""
import contextlib
import io
import json
import shutil

import pytest

from convzoo.cli import main
from convzoo.data.datasets import held_out_split
from convzoo.tasks.shared.checkpoint import read_sidecar
from convzoo.tasks.train.metrics import METRICS
from convzoo.tasks.train.loop import train

from test_train import _cfg, tiny  # noqa: F401  (the shared tiny MNIST fixture)

ARGS = ["--model", "resnet18", "--weights", "none", "--epochs", "1", "--batch-size", "8", "--image-size", "32",
        "--seed", "2", "--no-progress"]


@pytest.fixture(scope="module")
def folds_run(tiny, tmp_path_factory):
    """`convzoo train --folds 3` on 24 images: 16 train (two steps) and 8 validate per fold."""
    out = tmp_path_factory.mktemp("folds") / "cv"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["train", str(tiny), *ARGS, "--folds", "3", "--out", str(out)])
    assert code == 0, stderr.getvalue()
    return out, stdout.getvalue(), stderr.getvalue()


def test_three_folds_validate_on_disjoint_images_covering_the_data(tiny, folds_run):
    out, _, _ = folds_run
    vals = []
    for k in range(3):
        meta = read_sidecar(out / f"fold{k + 1}" / "best.safetensors")
        split = meta["split"]
        assert split["held_out"] and split["folds"] == 3 and split["fold"] == k and split["seed"] == 2
        redrawn = held_out_split(tiny, split)  # what eval and calibrate score for this fold
        assert redrawn.val_digest() == split["val_digest"] and split["val_images"] == 8
        assert not {s.path for s in redrawn.val.samples} & {s.path for s in redrawn.train.samples}
        vals.append({s.path for s in redrawn.val.samples})
    assert sum(map(len, vals)) == 24 and len(set.union(*vals)) == 24  # every image validated once


def test_folds_json_has_each_folds_metrics_with_mean_and_std(folds_run):
    out, stdout, stderr = folds_run
    summary = json.loads((out / "folds.json").read_text())
    assert summary["folds"] == 3 and len(summary["per_fold"]) == 3 and summary["monitor"] == "accuracy"
    assert set(summary["mean"]) == set(summary["std"]) == set(METRICS)
    accuracies = [f["metrics"]["accuracy"] for f in summary["per_fold"]]
    assert summary["mean"]["accuracy"] == pytest.approx(sum(accuracies) / 3)
    best = json.loads((out / "fold2" / "metrics.json").read_text())
    assert summary["per_fold"][1]["metrics"]["balanced_accuracy"] == best["best_val_balanced_accuracy"]
    lines = [line for line in stderr.splitlines() if "(3 folds)" in line]
    assert lines[0].startswith("accuracy ") and " ± " in lines[0]
    assert any(line.startswith("balanced_accuracy ") for line in lines)
    assert json.loads(stdout)["folds"] == 3  # one JSON summary on stdout


def test_one_fold_resumes_on_its_own_split(tiny, folds_run, tmp_path):
    out, _, _ = folds_run
    fold = tmp_path / "fold2"
    shutil.copytree(out / "fold2", fold)
    result = train(_cfg(tiny, fold, epochs=2, max_steps_per_epoch=1, seed=2, resume=str(fold / "last.state.pt")))
    assert result["epochs_run"] == 2
    split = read_sidecar(fold / "last.safetensors")["split"]
    assert split == read_sidecar(out / "fold2" / "last.safetensors")["split"]  # fold 2 of 3, not a val fraction


def test_a_reused_out_is_refused_before_any_fold_trains(tiny, folds_run, capsys):
    out, _, _ = folds_run
    before = (out / "folds.json").read_text()
    assert main(["train", str(tiny), *ARGS, "--folds", "3", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fold1 already holds a run" in err
    assert (out / "folds.json").read_text() == before


@pytest.mark.parametrize("extra, message", [
    (["--folds", "3", "--resume", "x/fold1/last.state.pt"], "convzoo: error: --folds with --resume: resume one fold"),
    (["--folds", "9"], "convzoo: error: --folds 9: class 0 has only 8 images"),
])
def test_bad_fold_settings_are_one_line(tiny, tmp_path, capsys, extra, message):
    assert main(["train", str(tiny), *ARGS, "--out", str(tmp_path / "cv"), *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(message), err


def test_a_train_val_folder_is_refused(tiny, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(tiny, data / "train")
    shutil.copytree(tiny, data / "val")
    assert main(["train", str(data), *ARGS, "--out", str(tmp_path / "cv"), "--folds", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already split into train/ and val/" in err and "CSV" in err
