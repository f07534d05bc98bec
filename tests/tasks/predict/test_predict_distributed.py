"""Big folders: DataLoader workers decode in parallel, and torchrun shards the
inputs across ranks into one merged output (issue 11, item 6)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from convzoo.cli import main
from convzoo.tasks import classify
from convzoo.tasks.predict.classifier import Classifier

CONVZOO = str(Path(sys.executable).with_name("convzoo"))
TORCHRUN = str(Path(sys.executable).with_name("torchrun"))
MODEL = ["--model", "resnet18", "--weights", "none"]


@pytest.fixture
def photos(photo_folder) -> Path:
    return photo_folder(5, broken=True)  # conftest.py


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_workers_decode_in_other_processes(photos, tmp_path, monkeypatch):
    log = tmp_path / "pids"
    real_load = classify.load_input

    def load_and_log(*args):
        with log.open("a") as f:  # forked workers inherit this patch and append their pid
            f.write(f"{os.getpid()}\n")
        return real_load(*args)

    monkeypatch.setattr(classify, "load_input", load_and_log)
    clf = Classifier("resnet18", weights=None, batch_size=2)
    preds = clf.predict(sorted(photos.iterdir()), errors="report", workers=2)
    assert [p.error is None for p in preds] == [True] * 5 + [False]
    pids = set(log.read_text().split())
    assert len(pids) == 2 and str(os.getpid()) not in pids


def test_workers_give_the_same_results(photos, tmp_path, capsys):
    main(["predict", str(photos), "--json", "--workers", "0", "--batch-size", "2", "--no-progress"])
    serial = capsys.readouterr().out
    main(["predict", str(photos), "--json", "--workers", "2", "--batch-size", "2", "--no-progress"])
    parallel, err = capsys.readouterr()
    assert parallel == serial and len(serial.splitlines()) == 6
    assert "broken.png" in err


def test_torchrun_two_processes_write_one_merged_file(photos, tmp_path):
    out = tmp_path / "results.jsonl"
    (tmp_path / "results.part-rank7.jsonl").write_text("")  # a stale part from an older run: merged away too
    # TMPDIR: torchrun's elastic agent leaves a torchelastic_* folder in the temporary folder; here, pytest's
    env = dict(os.environ, OMP_NUM_THREADS="1", TMPDIR=str(tmp_path))
    proc = subprocess.run([TORCHRUN, "--standalone", "--nproc_per_node", "2", CONVZOO, "predict", str(photos),
                           *MODEL, "--batch-size", "2", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode != 0  # broken.png failed, on whichever rank had it
    assert "broken.png" in proc.stderr and "1 of 6 inputs failed" in proc.stderr, proc.stderr[-3000:]
    records = _records(out)
    names = [Path(r["source"]).name for r in records]
    assert names == ["0.png", "1.png", "2.png", "3.png", "4.png", "broken.png"]  # each exactly once, in order
    assert {r["model"] for r in records} == {"resnet18"}
    assert list(tmp_path.glob("*.part-rank*")) == []

    # A single-process rerun finds them all done except the broken one.
    assert main(["predict", str(photos), *MODEL, "--out", str(out), "--no-progress"]) == 1
    assert [Path(r["source"]).name for r in _records(out)] == names


def test_torchrun_needs_out(photos, monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")  # as torchrun sets it; the check comes before joining any group
    assert main(["predict", str(photos), *MODEL]) == 2
    assert "give --out" in capsys.readouterr().err
