"""`convzoo train` as a new user meets it: the LR shown is the one used, bad
settings and a reused --out are one-line errors, warnings are one clean line."""
import json
import math
import shutil
import subprocess

import pytest

from convzoo.cli import main
from convzoo.tasks.train.loop import train

from test_train import CONVZOO, _cfg, tiny  # noqa: F401  (the shared tiny MNIST fixture)


def test_metrics_record_the_lr_each_step_used(tiny, tmp_path):
    # 18 training images, batches of 8 (the partial one dropped): 2 steps an epoch, 4 in all.
    train(_cfg(tiny, tmp_path / "run", lr=1e-3, epochs=2))
    epochs = json.loads((tmp_path / "run" / "metrics.json").read_text())["epochs"]

    def cosine(step, total=4):
        return 1e-3 * 0.5 * (1 + math.cos(math.pi * step / total))

    # Each epoch's lr is its last step's, read before scheduler.step() moved on to the next.
    assert epochs[0]["lr"] == pytest.approx(cosine(1))
    assert epochs[1]["lr"] == pytest.approx(cosine(3)) and epochs[1]["lr"] > 0


@pytest.mark.parametrize("flag, value", [("--epochs", "0"), ("--batch-size", "0"), ("--grad-accum", "0")])
def test_settings_that_cannot_train_are_one_line_errors(tiny, tmp_path, capsys, flag, value):
    argv = ["train", str(tiny), "--weights", "none", "--out", str(tmp_path / "x"), flag, value]
    if flag == "--grad-accum":  # the library's check (check_config), as Python callers meet it too
        code = main(argv)
        expected = f"convzoo: error: {flag} {value}: must be at least 1"
    else:  # options shared with other commands are checked by their type (cli/options.py)
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        code = exit_.value.code
        expected = f"convzoo train: error: argument {flag}: {value} is not a positive integer (1 or more)"
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(expected)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("field", ["epochs", "batch_size", "grad_accum"])
def test_the_library_refuses_the_same_settings_in_one_line(tiny, tmp_path, field):
    from convzoo.tasks.train import check_config

    flag = "--" + field.replace("_", "-")
    with pytest.raises(ValueError, match=f"^{flag} 0: must be at least 1$"):
        check_config(_cfg(tiny, tmp_path / "x", **{field: 0}))


def test_an_out_folder_holding_a_run_is_refused_unless_overwrite(tiny, tmp_path, capsys):
    out = tmp_path / "run"
    train(_cfg(tiny, out, epochs=2, max_steps_per_epoch=1))
    before = (out / "metrics.json").read_text()
    capsys.readouterr()
    args = ["train", str(tiny), "--model", "resnet18", "--weights", "none", "--epochs", "1", "--batch-size", "8",
            "--image-size", "32", "--out", str(out), "--no-progress"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already holds a run" in err and "--overwrite" in err
    assert (out / "metrics.json").read_text() == before  # untouched

    assert main(args + ["--overwrite"]) == 0
    capsys.readouterr()
    assert [e["epoch"] for e in json.loads((out / "metrics.json").read_text())["epochs"]] == [1]


def test_cli_warnings_are_one_clean_line_and_one_summary_is_printed(tiny, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny, data)
    (data / "1" / "broken.png").write_bytes(b"\x89PNG not really")
    proc = subprocess.run([CONVZOO, "train", str(data), "--model", "resnet18", "--weights", "none", "--epochs", "1",
                           "--batch-size", "8", "--image-size", "32", "--out", str(tmp_path / "run"), "--no-progress"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    warning_lines = [line for line in proc.stderr.splitlines() if "unreadable" in line]
    assert len(warning_lines) == 1 and warning_lines[0].startswith("convzoo: warning: 1 unreadable images left out")
    assert "broken.png" in warning_lines[0]
    assert "UserWarning" not in proc.stderr and "warnings.warn" not in proc.stderr
    summary = json.loads(proc.stdout)  # exactly one JSON document
    assert summary["epochs_run"] == 1 and "rank" not in summary and "history" not in summary
