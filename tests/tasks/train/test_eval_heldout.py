"""`convzoo eval` scores images the model did not train on, and lists its mistakes."""
import json
import shutil

import pytest

from convzoo.cli import main
from convzoo.data.datasets import load_dataset
from convzoo.tasks.shared.checkpoint import read_sidecar
from convzoo.tasks.train.evaluate import format_report, images_to_evaluate
from convzoo.tasks.train.loop import train

from mnist_folder import write_mnist_folder
from test_train import _cfg, tiny  # noqa: F401  (the shared tiny MNIST fixture)

SEED, FRACTION = 7, 0.25


@pytest.fixture(scope="module")
def run(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    train(_cfg(tiny, out, epochs=1, max_steps_per_epoch=1, seed=SEED, val_fraction=FRACTION))
    return out / "best.safetensors"


def _eval_json(capsys, *args) -> dict:
    assert main(["eval", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_sidecar_records_the_held_out_split(run):
    split = read_sidecar(run)["split"]
    assert split["held_out"] and split["seed"] == SEED and split["val_fraction"] == FRACTION
    assert split["val_images"] == 6 and len(split["val_digest"]) == 16


def test_eval_without_val_folder_scores_the_held_out_images_only(tiny, run, capsys):
    dataset, evaluated = images_to_evaluate(tiny, read_sidecar(run))
    trained_on = load_dataset(tiny, FRACTION, SEED)
    assert [s.path for s in dataset.samples] == [s.path for s in trained_on.val.samples]
    assert not {s.path for s in dataset.samples} & {s.path for s in trained_on.train.samples}

    report = _eval_json(capsys, tiny, "--checkpoint", run)
    assert report["evaluated"] == {"data": str(tiny), "images": "held-out", "seed": SEED, "val_fraction": FRACTION,
                                   "count": 6}
    assert sum(c["support"] for c in report["per_class"].values()) == 6
    # Three classes and no --positive: the argmax, every metric, and no operating point of one class.
    assert report["rule"]["text"] == "argmax" and report["optimistic"] is False
    assert {"balanced_accuracy", "macro_f1", "mcc", "roc_auc", "pr_auc", "brier", "ece"} <= set(report)
    assert "operating_point" not in report
    held_out = {str(s.path) for s in trained_on.val.samples}
    assert {m["path"] for m in report["misclassified"]} <= held_out

    everything = _eval_json(capsys, tiny, "--checkpoint", run, "--all")
    assert everything["evaluated"]["images"] == "all" and everything["evaluated"]["count"] == 24
    assert sum(c["support"] for c in everything["per_class"].values()) == 24


def test_misclassified_images_are_listed_with_true_predicted_and_confidence(tiny, run, capsys):
    report = _eval_json(capsys, tiny, "--checkpoint", run, "--all")
    correct = sum(report["confusion_matrix"][i][i] for i in range(3))
    wrong = report["misclassified"]
    assert len(wrong) == 24 - correct > 0  # one step of training leaves mistakes to list
    for m in wrong:
        assert m["true"] != m["predicted"] and {m["true"], m["predicted"]} <= {"0", "1", "2"}
        assert m["path"].endswith(".png") and f"/{m['true']}/" in m["path"]
        assert 1 / 3 <= m["confidence"] <= 1
    assert [m["confidence"] for m in wrong] == sorted((m["confidence"] for m in wrong), reverse=True)

    text = format_report(report, max_misclassified=2)
    assert "evaluated 24 images" in text and "every image" in text
    assert wrong[0]["path"] in text and wrong[2]["path"] not in text
    assert f"and {len(wrong) - 2} more" in text


def test_another_dataset_warns_that_its_split_is_not_the_training_one(tiny, run, tmp_path):
    other = write_mnist_folder(tmp_path / "other", per_class=8, classes=range(3), offset=100)
    with pytest.warns(UserWarning, match="not the one this checkpoint was validated on.*--all"):
        images_to_evaluate(other, read_sidecar(run))


def test_different_classes_have_no_held_out_split(tiny, run, tmp_path, capsys):
    other = tmp_path / "two_classes"
    shutil.copytree(tiny / "0", other / "0")
    shutil.copytree(tiny / "1", other / "1")
    assert main(["eval", str(other), "--checkpoint", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pass --all" in err
    assert _eval_json(capsys, other, "--checkpoint", run, "--all")["evaluated"]["count"] == 16


def test_checkpoint_from_before_the_split_record_uses_its_config(tiny, run, tmp_path):
    old = tmp_path / "old.safetensors"
    shutil.copy(run, old)
    meta = read_sidecar(run)
    del meta["split"]
    old.with_suffix(".json").write_text(json.dumps(meta))
    dataset, evaluated = images_to_evaluate(tiny, read_sidecar(old))
    assert evaluated["images"] == "held-out"
    assert [s.path for s in dataset.samples] == [s.path for s in load_dataset(tiny, FRACTION, SEED).val.samples]


def test_eval_takes_a_runtime_and_int8_calibrates_on_the_evaluated_images(tiny, run, capsys):
    eager = _eval_json(capsys, tiny, "--checkpoint", run, "--all")
    openvino = _eval_json(capsys, tiny, "--checkpoint", run, "--all", "--runtime", "openvino")
    assert eager["runtime"] == "torch fp32" and openvino["runtime"] == "openvino fp32"
    assert openvino["confusion_matrix"] == eager["confusion_matrix"]  # fp32 is the same function
    int8 = _eval_json(capsys, tiny, "--checkpoint", run, "--all", "--runtime", "openvino", "--precision", "int8",
                      "--no-progress")
    assert int8["runtime"] == "openvino int8"
    assert abs(int8["accuracy"] - eager["accuracy"]) <= 3 / 24  # 24 images: int8 may move a few
