"""`convzoo calibrate` fits a temperature and a threshold on validation images and
saves them in the checkpoint's sidecar, atomically; eval, predict and the
Classifier then answer with that rule, and eval marks a score taken on the
images it was fitted on as optimistic."""
import hashlib
import json
import shutil

import pytest
import torch
from convzoo.cli import main
from convzoo.data.images import load_image
from convzoo.tasks.predict.classifier import Classifier
from convzoo.tasks.shared.checkpoint import read_sidecar, update_sidecar
from convzoo.tasks.train.calibrate import fit_view_temperature, view_probabilities
from convzoo.tasks.train.metrics import fit_temperature

from test_eval_imbalance import SKEWED, eval_json, exit_code, make_checkpoint, parts, write_parts  # noqa: F401


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def calibrate_json(capsys, *args) -> dict:
    assert main(["calibrate", *map(str, args), "--json", "--no-progress"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def calibrated(parts, tmp_path_factory):
    """A checkpoint calibrated for recall 0.8 on DATA/val/, and its weights' hash before."""
    checkpoint = make_checkpoint(tmp_path_factory.mktemp("calibrated"))
    before = _sha(checkpoint)
    assert main(["calibrate", str(checkpoint), str(parts / "data"), "--target-recall", "0.8", "--no-progress"]) == 0
    return checkpoint, before


def test_calibrate_writes_the_decision_into_the_sidecar_and_leaves_the_weights(calibrated):
    checkpoint, before = calibrated
    assert _sha(checkpoint) == before
    assert sorted(p.name for p in checkpoint.parent.iterdir()) == ["best.json", "best.safetensors"]  # no temp file
    meta = read_sidecar(checkpoint)
    assert meta["classes"] == ["good", "defect"] and meta["class_counts"] == {"good": 90, "defect": 10}  # kept
    decision = meta["decision"]
    assert decision["positive"] == "defect" and 0 < decision["threshold"] < 1 and decision["temperature"] > 0
    chosen_on = decision["chosen_on"]
    assert chosen_on["images"] == 24 and chosen_on["target"] == {"recall": 0.8}
    assert len(chosen_on["fingerprints"]) == 24 and all(len(f) == 16 for f in chosen_on["fingerprints"])
    assert chosen_on["log_loss_after"] <= chosen_on["log_loss_before"]  # temperature scaling minimises it
    assert {"ece_before", "ece_after", "data"} <= set(chosen_on)


def test_the_sidecar_update_is_atomic(tmp_path, monkeypatch):
    checkpoint = make_checkpoint(tmp_path)
    sidecar = checkpoint.with_suffix(".json").read_text()

    def killed(*args):
        raise OSError("killed mid-write")

    monkeypatch.setattr("convzoo.utils.atomic.os.replace", killed)
    with pytest.raises(OSError, match="killed"):
        update_sidecar(checkpoint, {"decision": {"threshold": 0.5}})
    assert checkpoint.with_suffix(".json").read_text() == sidecar
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.json", "best.safetensors"]


def test_eval_scores_the_saved_rule_and_says_which(calibrated, parts, tmp_path, capsys):
    checkpoint, _ = calibrated
    decision = read_sidecar(checkpoint)["decision"]
    report = eval_json(capsys, parts / "test", "--all", "--checkpoint", checkpoint, "--plots", tmp_path)
    assert report["optimistic"] is False
    assert report["rule"]["threshold"] == decision["threshold"] and report["rule"]["temperature"] == decision[
        "temperature"]
    assert report["rule"]["text"].startswith("defect when its probability >= ")
    assert "(chosen for recall 0.8)" in report["rule"]["text"] and "fingerprints" not in report["rule"]["chosen_on"]
    starred = [row for row in report["operating_point"]["table"] if row["threshold"] == decision["threshold"]]
    assert len(starred) == 1 and report["operating_point"]["rule"]["threshold"] == decision["threshold"]
    argmax = eval_json(capsys, parts / "test", "--all", "--checkpoint", checkpoint, "--threshold", "none",
                       "--plots", tmp_path)
    assert argmax["rule"]["threshold"] is None and argmax["rule"]["text"].startswith("argmax, temperature ")
    eval_json(capsys, parts / "test", "--all", "--checkpoint", checkpoint, "--tta", "flip", "--plots", tmp_path,
              warning="chosen with --tta unset, and is used with --tta flip")


def test_eval_on_the_images_calibrate_used_is_marked_optimistic(calibrated, parts, tmp_path, capsys):
    checkpoint, _ = calibrated
    report = eval_json(capsys, parts / "data", "--checkpoint", checkpoint, "--plots", tmp_path,
                       warning="24 of the 24 scored images")
    assert report["optimistic"] is True and "optimistic" in report["optimistic_why"]
    # The same images under other names, mixed with new ones, are recognised by their bytes.
    mixed = tmp_path / "mixed"
    for k, image in enumerate(sorted((parts / "data" / "val" / "defect").glob("*.png"))[:3]):
        (mixed / "defect").mkdir(parents=True, exist_ok=True)
        shutil.copy(image, mixed / "defect" / f"copy{k}.png")
    write_parts(mixed, {"good": (0, 5)}, offset=80)
    report = eval_json(capsys, mixed, "--all", "--checkpoint", checkpoint, "--plots", tmp_path,
                       warning="3 of the 8 scored images")
    assert report["optimistic"] is True


def test_predict_answers_with_the_decision_and_its_calibrated_probability(calibrated, parts):
    checkpoint, _ = calibrated
    decision = read_sidecar(checkpoint)["decision"]
    clf = Classifier.from_checkpoint(checkpoint, device="cpu", progress=False)
    images = sorted((parts / "test").rglob("*.png"))
    predictions = clf.predict(images, topk=2)
    with torch.no_grad():
        x = torch.stack([clf.transform(load_image(p)) for p in images])
        probs = (clf.model(x) / decision["temperature"]).softmax(1)
    for prediction, row in zip(predictions, probs):
        flagged = row[1].item() >= decision["threshold"]
        assert prediction.decision == ("defect" if flagged else "good")
        assert prediction.probability == pytest.approx(row[1 if flagged else 0].item(), abs=1e-5)
        assert prediction.probs[0] == pytest.approx(row.max().item(), abs=1e-5)  # the top-k are calibrated too


def test_without_a_target_only_the_temperature_is_fitted(calibrated, parts, tmp_path, capsys):
    checkpoint = tmp_path / "best.safetensors"
    shutil.copy(calibrated[0], checkpoint)
    shutil.copy(calibrated[0].with_suffix(".json"), checkpoint.with_suffix(".json"))
    result = calibrate_json(capsys, checkpoint, parts / "data")
    assert result["threshold"] is None and result["temperature"] > 0 and result["operating_point"] is None
    decision = read_sidecar(checkpoint)["decision"]
    assert decision["threshold"] is None and decision["chosen_on"]["target"] == {}  # the old threshold is gone
    assert exit_code(["eval", str(parts / "test"), "--all", "--checkpoint", str(checkpoint), "--threshold",
                      "auto"]) == 2
    assert "convzoo calibrate" in capsys.readouterr().err


def test_the_text_names_what_was_fitted_and_who_uses_it(parts, tmp_path, capsys):
    checkpoint = make_checkpoint(tmp_path)
    assert main(["calibrate", str(checkpoint), str(parts / "data"), "--target-precision", "0.25",
                 "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "log loss" in text and "ECE" in text and " -> " in text and "temperature" in text
    assert "threshold" in text and "precision" in text and "recall" in text and "FPR" in text
    assert "eval/predict/serve/export now use it" in text and "(chosen for precision 0.25)" in text


def test_training_images_are_refused(tmp_path, capsys):
    data = write_parts(tmp_path / "data", SKEWED)  # no val/ folder, and the checkpoint records no held-out split
    checkpoint = make_checkpoint(tmp_path / "run")
    assert main(["calibrate", str(checkpoint), str(data), "--target-recall", "0.9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "optimistic" in err and "val/" in err
    assert "decision" not in read_sidecar(checkpoint)


def test_a_held_out_split_is_calibrated_on_its_held_out_images(tmp_path, capsys):
    data = write_parts(tmp_path / "data", SKEWED)
    checkpoint = make_checkpoint(tmp_path / "run", classes=("defect", "good"),  # the folder's class order
                                 split={"held_out": True, "val_fraction": 0.25, "seed": 3})
    result = calibrate_json(capsys, checkpoint, data, "--tta", "flip")
    assert result["evaluated"]["images"] == "held-out" and result["images"] == 6
    assert read_sidecar(checkpoint)["decision"]["chosen_on"]["tta"] == "flip"


@pytest.mark.parametrize("args, message", [
    (["--positive", "nosuchclass"], "the classes are good, defect"),
    (["--target-recall", "1.5"], "give a fraction in (0, 1]"),
    (["--target-recall", "0.9", "--target-precision", "0.9"], "not allowed with"),
])
def test_bad_input_gets_one_line(parts, tmp_path, capsys, args, message):
    checkpoint = make_checkpoint(tmp_path)
    assert exit_code(["calibrate", str(checkpoint), str(parts / "data"), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_a_target_for_a_multiclass_model_needs_its_class(parts, tmp_path, capsys):
    checkpoint = make_checkpoint(tmp_path, classes=("good", "defect", "scratch"))
    assert main(["calibrate", str(checkpoint), str(parts / "data"), "--target-recall", "0.9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--positive NAME" in err


def test_the_temperature_of_several_views_is_that_of_their_averaged_probabilities():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(500, 1, 3, generator=g) * 3
    labels = torch.multinomial(logits[:, 0].softmax(1), 1, generator=g)[:, 0]
    one = fit_view_temperature(logits, labels)
    assert one == fit_temperature(logits[:, 0].numpy(), labels.numpy())
    # Two identical views average to the one view: the same temperature.
    assert fit_view_temperature(logits.repeat(1, 2, 1), labels) == pytest.approx(one, rel=1e-3)
    assert view_probabilities(logits.repeat(1, 2, 1), one).sum(1).allclose(torch.ones(500, dtype=torch.float64))
