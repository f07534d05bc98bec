"""`convzoo predict` output: streamed per batch, a progress bar for folders,
--out FILE.csv|.jsonl written atomically and resumable, naming the model and
weights (issue 11, item 3)."""
import csv
import json
import shutil
from pathlib import Path

import pytest

from convzoo import get_weights
from convzoo.cli import main
from convzoo.tasks import classify
from convzoo.tasks.predict.classifier import Classifier

from paths import EXAMPLES

MODEL = ["--model", "resnet18", "--weights", "none"]  # small and random: these tests are about the plumbing
DEFAULT_TAG = get_weights("efficientnet_lite0").tag  # what DEFAULT resolves to, named in results


@pytest.fixture
def photos(photo_folder) -> Path:
    return photo_folder(3)  # conftest.py


def test_predict_iter_yields_each_batch_before_decoding_the_next(monkeypatch):
    events = []
    real_load = classify.load_input

    def load_and_log(item, source, *args):
        events.append(f"decode {Path(source).name}")
        return real_load(item, source, *args)

    monkeypatch.setattr(classify, "load_input", load_and_log)
    clf = Classifier("resnet18", weights=None, batch_size=1)
    for pred in clf.predict_iter([EXAMPLES / "coffee.png", EXAMPLES / "chelsea.png"], topk=1):
        events.append(f"result {Path(pred.source).name}")
    assert events == ["decode coffee.png", "result coffee.png", "decode chelsea.png", "result chelsea.png"]
    assert [p.source for p in clf.predict([EXAMPLES / "coffee.png"])] == [str(EXAMPLES / "coffee.png")]


def _fail_on_batch(monkeypatch, n: int):
    """Make the model's n-th batch raise, as a crash or Ctrl-C mid-run would."""
    real_run = Classifier._run
    calls = []

    def run(self, *args):
        calls.append(1)
        if len(calls) == n:
            raise RuntimeError("killed mid-run")
        return real_run(self, *args)

    monkeypatch.setattr(Classifier, "_run", run)


def test_results_are_printed_per_batch_as_computed(photos, monkeypatch, capsys):
    _fail_on_batch(monkeypatch, 2)
    assert main(["predict", str(photos), *MODEL, "--batch-size", "1", "--json"]) == 2
    out, err = capsys.readouterr()
    assert [Path(json.loads(line)["source"]).name for line in out.splitlines()] == ["0.png"]
    assert "killed mid-run" in err


def test_table_and_json_name_the_model_and_weights(capsys):
    assert main(["predict", str(EXAMPLES / "coffee.png"), "--topk", "1"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"# model efficientnet_lite0, weights {DEFAULT_TAG}"
    assert main(["predict", str(EXAMPLES / "coffee.png"), *MODEL, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert (record["model"], record["weights"]) == ("resnet18", "none")


def test_progress_bar_on_stderr_for_folders(photos, capsys):
    assert main(["predict", str(photos), *MODEL, "--json"]) == 0
    assert "3/3" in capsys.readouterr().err
    assert main(["predict", str(photos / "0.png"), *MODEL, "--json"]) == 0
    assert "1/1" not in capsys.readouterr().err  # a named file: no bar
    assert main(["predict", str(photos), *MODEL, "--json", "--no-progress"]) == 0
    assert "3/3" not in capsys.readouterr().err


def test_out_csv_names_model_and_weights_and_holds_each_input_once(photos, tmp_path, capsys):
    out = tmp_path / "results.csv"
    assert main(["predict", str(photos), str(tmp_path / "missing.png"), "--out", str(out), "--topk", "2"]) == 1
    assert capsys.readouterr().out == ""  # results go to the file
    rows = list(csv.DictReader(out.open()))
    assert [Path(r["source"]).name for r in rows] == ["0.png", "1.png", "2.png", "missing.png"]
    assert {(r["model"], r["weights"]) for r in rows} == {("efficientnet_lite0", DEFAULT_TAG)}
    assert rows[0]["label_1"] == "espresso" and float(rows[0]["prob_1"]) > float(rows[0]["prob_2"]) > 0
    assert rows[1]["label_1"] in {"tabby", "tiger cat", "Egyptian cat"} and rows[1]["error"] == ""
    assert "no such file" in rows[3]["error"] and rows[3]["label_1"] == ""
    assert list(out.parent.glob(".results.csv.*")) == []  # no temporary file left behind


def test_out_is_resumable_after_a_crash(photos, tmp_path, monkeypatch, capsys):
    out = tmp_path / "results.jsonl"
    _fail_on_batch(monkeypatch, 2)
    assert main(["predict", str(photos), *MODEL, "--batch-size", "1", "--out", str(out)]) == 2
    assert [Path(json.loads(line)["source"]).name for line in out.read_text().splitlines()] == ["0.png"]
    monkeypatch.undo()
    capsys.readouterr()

    shutil.copy(EXAMPLES / "coffee.png", photos / "3.png")
    computed = []
    real_run = Classifier._run
    monkeypatch.setattr(Classifier, "_run", lambda self, batch, *a: (computed.extend(i for i, _ in batch),
                                                                     real_run(self, batch, *a)))
    assert main(["predict", str(photos), *MODEL, "--batch-size", "1", "--out", str(out)]) == 0
    assert "1 input(s) already in" in capsys.readouterr().err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [Path(r["source"]).name for r in records] == ["0.png", "1.png", "2.png", "3.png"]
    assert len(computed) == 3  # 0.png was not classified again


def test_out_from_another_model_is_not_mixed_in(photos, tmp_path, capsys):
    out = tmp_path / "results.jsonl"
    assert main(["predict", str(photos / "0.png"), *MODEL, "--out", str(out)]) == 0
    before = out.read_text()
    capsys.readouterr()
    assert main(["predict", str(photos / "0.png"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "holds results of resnet18 (weights none)" in err and len(err.strip().splitlines()) == 1
    assert out.read_text() == before


def test_out_format_is_checked(tmp_path, capsys):
    assert main(["predict", str(EXAMPLES / "coffee.png"), "--out", str(tmp_path / "results.txt")]) == 2
    assert ".csv or .jsonl" in capsys.readouterr().err
