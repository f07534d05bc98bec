"""`convzoo eval` on a skewed two-class set: every metric in the text and JSON
reports, the rule it scored, the operating point and its curves, --tta and
ensembles, and one line for each bad input.

The checkpoints are random resnet18s saved with a sidecar (no training): what is
tested is the reporting, not the model."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convzoo import get_model
from convzoo.cli import main
from convzoo.data.datasets import held_out_split
from convzoo.data.preprocessing import Preprocessing
from convzoo.tasks.shared.checkpoint import save_checkpoint
from convzoo.tasks.train.evaluate import format_report, images_to_evaluate
from convzoo.tasks.train.metrics import HEADLINE, METRICS

from mnist_folder import mnist_digits


def write_parts(root: Path, counts: dict, offset: int = 0) -> Path:
    """Real MNIST digits as ROOT/<class>/<i>.png: {class: (digit, how many)}."""
    images, labels = mnist_digits()
    for name, (digit, n) in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in np.flatnonzero(labels == digit)[offset:offset + n]:
            Image.fromarray(images[i].reshape(28, 28).astype(np.uint8)).save(root / name / f"{i}.png")
    return root


SKEWED = {"good": (0, 18), "defect": (1, 6)}


def make_checkpoint(folder: Path, seed: int = 0, classes=("good", "defect"), **meta) -> Path:
    """A random resnet18 checkpoint at 32 px, with a sidecar as `convzoo train` writes it."""
    import torch

    torch.manual_seed(seed)
    model = get_model("resnet18", weights=None, num_classes=len(classes))
    sidecar = {"model": "resnet18", "classes": list(classes), "preprocessing": Preprocessing(32, 37).to_dict(),
               "in_chans": 3, "class_counts": {c: 90 if i == 0 else 10 for i, c in enumerate(classes)},
               "config": {"hflip": True}, **meta}
    return save_checkpoint(folder, "best", model, sidecar)


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """DATA with a val/ folder (24 images, 6 defects), and a separate test folder."""
    root = tmp_path_factory.mktemp("parts")
    write_parts(root / "data" / "val", SKEWED)
    write_parts(root / "test", SKEWED, offset=40)
    return root


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("ck"))


def exit_code(argv: list[str]) -> int:
    """main's exit code, or argparse's (a bad option exits before main runs the command)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def eval_json(capsys, *args, warning: str | None = None) -> dict:
    """`convzoo eval ... --json`'s report; `warning`: a text its one warning line must hold."""
    assert main(["eval", *map(str, args), "--json", "--no-progress"]) == 0
    out, err = capsys.readouterr()
    if warning is not None:
        assert err.count("\n") == 1 and err.startswith("convzoo: warning: ") and warning in err, err
    return json.loads(out)


def test_the_reports_carry_every_metric_the_rule_and_the_operating_point(parts, checkpoint, tmp_path, capsys):
    report = eval_json(capsys, parts / "data", "--checkpoint", checkpoint, "--plots", tmp_path)
    assert set(METRICS) <= set(report) and report["count"] == 24
    assert report["evaluated"]["images"] == "val/"
    assert report["rule"]["text"] == "argmax" and report["rule"]["threshold"] is None
    assert set(report["threshold_free"]) == {"roc_auc", "pr_auc", "log_loss", "brier", "ece"}
    assert report["optimistic"] is False
    section = report["operating_point"]
    assert section["positive"] == "defect" and section["positives"] == 6  # the rarer class, by the training counts
    assert {0.1, 0.5, 0.9} <= {round(row["threshold"], 4) for row in section["table"]}
    assert set(section["table"][0]) >= {"threshold", "precision", "recall", "fpr", "flagged", "missed"}
    assert report["plots"] == {"roc": str(tmp_path / "roc_curve.png"), "pr": str(tmp_path / "pr_curve.png")}
    for path in report["plots"].values():
        assert Image.open(path).format == "PNG"

    text = format_report(report)
    for name in ("accuracy", "balanced accuracy", "macro-F1", "MCC", "ROC-AUC", "PR-AUC", "log loss", "Brier",
                 "ECE"):
        assert name in text, name
    assert len(HEADLINE) == 6 and "decision: argmax" in text
    assert "operating point of defect" in text and "threshold precision  recall     FPR  flagged" in text
    assert "confusion matrix" in text and str(tmp_path / "roc_curve.png") in text


def test_the_curves_go_beside_the_checkpoint_by_default(parts, tmp_path, capsys):
    checkpoint = make_checkpoint(tmp_path / "run")
    report = eval_json(capsys, parts / "test", "--all", "--checkpoint", checkpoint)
    assert report["plots"]["roc"] == str(tmp_path / "run" / "roc_curve.png")
    assert (tmp_path / "run" / "pr_curve.png").is_file()


def test_tta_and_an_ensemble_of_two_checkpoints(parts, checkpoint, tmp_path, capsys):
    other = make_checkpoint(tmp_path / "other", seed=1)
    plain = eval_json(capsys, parts / "test", "--all", "--checkpoint", checkpoint, "--plots", tmp_path)
    flip = eval_json(capsys, parts / "test", "--all", "--checkpoint", checkpoint, "--tta", "flip", "--plots", tmp_path)
    both = eval_json(capsys, parts / "test", "--all", "--checkpoint", checkpoint, "--checkpoint", other,
                     "--tta", "crops", "--plots", tmp_path)
    assert flip["tta"] == "flip" and both["tta"] == "crops"
    assert both["checkpoints"] == [str(checkpoint), str(other)] and both["count"] == 24
    assert flip["log_loss"] != plain["log_loss"]  # the mirrored views were averaged in


def test_an_ensemble_of_folds_has_no_common_held_out_images(tmp_path, capsys):
    data = write_parts(tmp_path / "all", SKEWED)
    folds = [make_checkpoint(tmp_path / f"fold{k}", split={"held_out": True, "folds": 3, "fold": k, "seed": 0})
             for k in range(2)]
    assert main(["eval", str(data), "--checkpoint", str(folds[0]), "--checkpoint", str(folds[1])]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--all" in err and "held out different images" in err


def test_a_fold_checkpoint_is_scored_on_its_own_held_out_fold(tmp_path):
    data = write_parts(tmp_path / "all", SKEWED)
    record = {"held_out": True, "folds": 3, "fold": 1, "seed": 0}
    dataset, evaluated = images_to_evaluate(data, {"classes": ["defect", "good"], "split": record})
    assert [s.path for s in dataset.samples] == [s.path for s in held_out_split(data, record).val.samples]
    assert evaluated == {"data": str(data), "images": "held-out", "seed": 0, "folds": 3, "fold": 1, "count": 8}
    assert "held-out fold 2 of 3" in format_report({**_minimal(), "evaluated": evaluated})


def test_a_target_on_the_scored_images_is_met_and_marked_optimistic(parts, checkpoint, tmp_path, capsys):
    report = eval_json(capsys, parts / "test", "--all", "--checkpoint", checkpoint, "--target-recall", "0.8",
                       "--plots", tmp_path, warning="threshold chosen on the images it is scored on: optimistic")
    assert report["optimistic"] is True and "convzoo calibrate" in report["optimistic_why"]
    assert report["rule"]["threshold"] is not None and report["rule"]["chosen_on"]["target"] == {"recall": 0.8}
    assert report["per_class"]["defect"]["recall"] >= 0.8
    assert report["operating_point"]["rule"]["recall"] >= 0.8
    assert "OPTIMISTIC" in format_report(report) and "(chosen for recall 0.8)" in format_report(report)


def test_one_class_in_the_images_is_reported_not_a_crash(checkpoint, tmp_path, capsys):
    only_good = tmp_path / "only_good"
    write_parts(only_good, {"good": (0, 6)})
    report = eval_json(capsys, only_good, "--all", "--checkpoint", checkpoint, "--plots", tmp_path / "curves")
    assert report["roc_auc"] is None and "defect" in report["undefined"]["roc_auc"]
    assert "skipped" in report["plots"] and not (tmp_path / "curves").exists()
    text = format_report(report)
    assert "ROC-AUC undefined" in text and "ROC-AUC, PR-AUC undefined: the images hold no defect" in text


@pytest.mark.parametrize("args, message", [
    (["--positive", "nosuchclass"], "the classes are good, defect"),
    (["--target-recall", "1.5"], "give a fraction in (0, 1]"),
    (["--threshold", "auto"], "convzoo calibrate"),
    (["--target-recall", "0.9", "--target-precision", "0.9"], "not allowed with"),
    (["--threshold", "0.3", "--target-recall", "0.9"], "give one of them"),
])
def test_bad_input_gets_one_line(parts, checkpoint, capsys, args, message):
    assert exit_code(["eval", str(parts / "test"), "--all", "--checkpoint", str(checkpoint), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_a_target_for_a_multiclass_model_needs_its_class(parts, tmp_path, capsys):
    three = make_checkpoint(tmp_path / "three", classes=("good", "defect", "scratch"))
    assert main(["eval", str(parts / "test"), "--all", "--checkpoint", str(three), "--target-recall", "0.9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--positive NAME" in err and "good, defect, scratch" in err
    report = eval_json(capsys, parts / "test", "--all", "--checkpoint", three)
    assert "operating_point" not in report and "plots" not in report  # no positive class: no curves
    report = eval_json(capsys, parts / "test", "--all", "--checkpoint", three, "--target-precision", "0.2",
                       "--positive", "defect", "--plots", tmp_path, warning="optimistic")
    assert report["operating_point"]["positive"] == "defect" and report["rule"]["positive"] == "defect"


def _minimal() -> dict:
    return {"accuracy": 1.0, "classes": ["a", "b"], "confusion_matrix": [[1, 0], [0, 1]],
            "per_class": {c: {"precision": 1, "recall": 1, "f1": 1, "support": 1} for c in "ab"}}
