"""`convzoo predict` answers with the decision rule (issue 26): each result
carries the `decision` and its calibrated `probability` beside the top-k, by
the checkpoint's saved rule (`convzoo calibrate`), --threshold, an ensemble of
--checkpoints or --tta; results files record the rule and refuse another one;
bad requests are one line each."""
import csv
import json

import pytest
import torch

from convzoo import get_model
from convzoo.cli import main
from convzoo.data.preprocessing import Preprocessing
from convzoo.tasks.predict.classifier import Classifier
from convzoo.tasks.shared.checkpoint import save_checkpoint

from paths import EXAMPLES

PHOTOS = [str(EXAMPLES / "coffee.png"), str(EXAMPLES / "chelsea.png")]
CLASSES = ["good", "defect"]


def _checkpoint(folder, seed: int, decision: dict | None = None):
    """A tiny random resnet18 checkpoint at 32 px, as `convzoo train` (and `calibrate`, given `decision`) write it."""
    torch.manual_seed(seed)
    model = get_model("resnet18", weights=None, num_classes=2)
    meta = {"model": "resnet18", "classes": CLASSES, "preprocessing": Preprocessing(32, 37).to_dict(),
            "in_chans": 3, "class_counts": {"good": 90, "defect": 10}, "config": {"hflip": True}}
    if decision:
        meta["decision"] = decision
    return str(save_checkpoint(folder, "best", model, meta))


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> str:
    return _checkpoint(tmp_path_factory.mktemp("plain"), 0)


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory, plain) -> tuple[str, float]:
    """The same weights calibrated: temperature 2, a threshold between the photos' defect probabilities
    (random weights: both near 0.5), so that one photo is a defect and the other is not."""
    clf = Classifier.from_checkpoint(plain, progress=False)
    probs = clf.probabilities(torch.stack([clf.transform(_open(p)) for p in PHOTOS]))
    defect = (torch.log(probs) / 2.0).softmax(1)[:, 1]  # the probabilities at temperature 2
    threshold = round(defect.mean().item(), 6)
    decision = {"positive": "defect", "threshold": threshold, "temperature": 2.0,
                "chosen_on": {"images": 50, "target": {"recall": 0.95}}}
    return _checkpoint(tmp_path_factory.mktemp("calibrated"), 0, decision), threshold


def _open(path):
    from PIL import Image

    return Image.open(path).convert("RGB")


def _records(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def test_json_carries_the_saved_rules_decision_and_calibrated_probability(calibrated, capsys):
    path, threshold = calibrated
    assert main(["predict", *PHOTOS, "--checkpoint", path, "--json", "--no-progress"]) == 0
    records = _records(capsys.readouterr().out)
    expected = Classifier.from_checkpoint(path, progress=False).predict(PHOTOS)
    assert [r["decision"] for r in records] == [p.decision for p in expected]
    assert sorted(r["decision"] for r in records) == ["defect", "good"]  # the threshold splits the two photos
    for record, pred in zip(records, expected):
        assert record["probability"] == pytest.approx(pred.probability, abs=1e-6)
        assert record["probs"] == pytest.approx(pred.probs, abs=1e-6)  # the top-k is calibrated too
        assert record["rule"].startswith(f"defect when its probability >= {threshold:.4g} (chosen for recall 0.95)")
        assert "temperature 2" in record["rule"] and record["tta"] is None
        defect = record["probs"][record["labels"].index("defect")]
        assert (record["decision"] == "defect") == (defect >= threshold)
    # --threshold none: the most probable class, still calibrated
    assert main(["predict", *PHOTOS, "--checkpoint", path, "--json", "--threshold", "none"]) == 0
    argmax = _records(capsys.readouterr().out)
    assert [r["decision"] for r in argmax] == [r["labels"][0] for r in argmax]
    assert argmax[0]["rule"] == "argmax, temperature 2"


def test_table_shows_the_decision_and_its_rule(calibrated, plain, capsys):
    path, threshold = calibrated
    assert main(["predict", PHOTOS[0], "--checkpoint", path, "--topk", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"# model resnet18, weights {path}; rule: defect when its probability >= ")
    decision = [line for line in lines if line.startswith("  decision: ")]
    assert len(decision) == 1 and f"calibrated; rule: defect when its probability >= {threshold:.4g})" in decision[0]
    # no saved rule and no threshold: the top-1 is the decision, the table stays as it was
    assert main(["predict", PHOTOS[0], "--checkpoint", plain, "--topk", "1"]) == 0
    out = capsys.readouterr().out
    assert "decision" not in out and "rule" not in out
    # a threshold given on the command line is a rule too
    assert main(["predict", PHOTOS[0], "--checkpoint", plain, "--threshold", "0", "--tta", "flip"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("; rule: defect when its probability >= 0; tta: flip")
    assert lines[-1].startswith("  decision: defect (p=0.") and "calibrated" not in lines[-1]


def test_ensemble_averages_its_members_and_names_them(plain, calibrated, tmp_path, capsys):
    other = _checkpoint(tmp_path, 1)
    assert main(["predict", *PHOTOS, "--checkpoint", plain, "--checkpoint", other, "--json", "--positive", "good",
                 "--threshold", "0.5"]) == 0
    records = _records(capsys.readouterr().out)
    members = [Classifier.from_checkpoint(p, progress=False).predict(PHOTOS, topk=2) for p in (plain, other)]
    for i, record in enumerate(records):
        good = [dict(zip(m[i].labels, m[i].probs))["good"] for m in members]
        assert record["weights"] == f"{plain},{other}" and record["rule"] == "good when its probability >= 0.5"
        assert dict(zip(record["labels"], record["probs"]))["good"] == pytest.approx(sum(good) / 2, abs=1e-6)
        assert record["decision"] == ("good" if sum(good) / 2 >= 0.5 else "defect")
    # a member's saved threshold is not the ensemble's: said once, and the ensemble answers its argmax
    assert main(["predict", PHOTOS[0], "--checkpoint", calibrated[0], "--checkpoint", other, "--json"]) == 0
    out, err = capsys.readouterr()
    assert "chosen for it alone" in err and "--threshold P" in err
    assert json.loads(out)["rule"] == "argmax, each member at its own temperature"


def test_tta_works_with_pretrained_models_and_is_recorded(capsys):
    model = ["--model", "resnet18", "--weights", "none"]
    torch.manual_seed(0)  # the same random weights in both
    assert main(["predict", PHOTOS[0], *model, "--json", "--tta", "flip"]) == 0
    flip = json.loads(capsys.readouterr().out)
    assert flip["tta"] == "flip" and flip["rule"] == "argmax"
    assert flip["decision"] == flip["labels"][0] and flip["probability"] == flip["probs"][0]
    torch.manual_seed(0)
    expected = Classifier("resnet18", weights=None, tta="flip", progress=False).predict(PHOTOS[:1])[0]
    assert flip["probs"] == pytest.approx(expected.probs, abs=1e-6)


def test_out_records_the_rule_and_refuses_another(calibrated, tmp_path, capsys):
    path, _ = calibrated
    out = tmp_path / "results.csv"
    assert main(["predict", *PHOTOS, "--checkpoint", path, "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert sorted(r["decision"] for r in rows) == ["defect", "good"]
    assert all(0 < float(r["probability"]) < 1 and r["rule"].startswith("defect when") for r in rows)
    before = out.read_text()
    capsys.readouterr()
    for other in (["--threshold", "none"], ["--tta", "flip"]):
        assert main(["predict", *PHOTOS, "--checkpoint", path, "--out", str(out), *other]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"convzoo: error: {out} holds results of resnet18") and err.count("\n") == 1
        assert "deciding by defect when its probability" in err
    assert out.read_text() == before
    assert main(["predict", *PHOTOS, "--checkpoint", path, "--out", str(out)]) == 0  # the same rule: resumed
    assert "2 input(s) already in" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_results_files_from_before_decisions_still_read_and_resume(suffix, tmp_path, capsys):
    """An old file (no rule, decision or probability) was argmax without tta: it reads, and a plain
    rerun resumes it (its records gain their top-1 as the decision); a rerun with --tta is refused."""
    out = tmp_path / f"old{suffix}"
    old = {"source": PHOTOS[0], "model": "resnet18", "weights": "none", "labels": ["a", "b"], "indices": [3, 1],
           "probs": [0.75, 0.25], "error": None}
    if suffix == ".jsonl":
        out.write_text(json.dumps(old) + "\n")
    else:
        out.write_text("source,model,weights,error,label_1,index_1,prob_1,label_2,index_2,prob_2\n"
                       f"{PHOTOS[0]},resnet18,none,,a,3,0.75,b,1,0.25\n")
    model = ["--model", "resnet18", "--weights", "none", "--out", str(out), "--topk", "2"]
    assert main(["predict", *PHOTOS, *model, "--tta", "flip"]) == 2
    assert "with --tta flip" in capsys.readouterr().err
    assert main(["predict", *PHOTOS, *model]) == 0
    assert "1 input(s) already in" in capsys.readouterr().err
    if suffix == ".jsonl":
        first, second = _records(out.read_text())
        assert (first["decision"], first["probability"], first["rule"]) == ("a", 0.75, "argmax")
        assert second["decision"] == second["labels"][0] and second["rule"] == "argmax"
    else:
        first, second = csv.DictReader(out.open())
        assert (first["decision"], float(first["probability"]), first["rule"]) == ("a", 0.75, "argmax")
        assert second["decision"] == second["label_1"]


@pytest.mark.parametrize("argv, message", [
    (["--threshold", "auto"], "this checkpoint has no saved threshold; choose one with `convzoo calibrate"),
    (["--threshold", "0.3", "--positive", "crack"], "'crack' is not a class of this model; the classes are good"),
    (["--positive", "crack"], "the classes are good, defect"),
])
def test_bad_rules_for_a_checkpoint_are_one_line(argv, message, plain, capsys):
    assert main(["predict", PHOTOS[0], "--checkpoint", plain, *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("convzoo: error: ") and message in err and err.count("\n") == 1


@pytest.mark.parametrize("argv, message", [
    (["--threshold", "0.3"], "--threshold 0.3 is for a `convzoo train` checkpoint (--checkpoint PATH)"),
    (["--threshold", "auto"], "--threshold auto is for a `convzoo train` checkpoint"),
    (["--positive", "espresso"], "--positive espresso is for a `convzoo train` checkpoint"),
])
def test_threshold_and_positive_need_a_checkpoint(argv, message, capsys):
    assert main(["predict", PHOTOS[0], *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
