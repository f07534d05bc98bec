"""Training logs that tools read, read back by those tools: metrics.csv (csv),
TensorBoard events (tensorboard's EventAccumulator) and an MLflow run (MlflowClient).

One tiny run on real MNIST digits serves every test: epoch 1, then --resume for
epoch 2, both with --tensorboard and --mlflow, so the logs are also checked to
continue across a resume (one MLflow run, one row and one value per epoch)."""
import contextlib
import csv
import io
import json
import os
import re
import sys
from types import SimpleNamespace

import pytest

from convzoo.cli import build_parser, main
from convzoo.tasks.train.loop import TrainConfig
from convzoo.tasks.train.metrics import METRICS
from convzoo.tasks.train.tracking import MISTAKES_SHOWN, MLFLOW_EXPERIMENT, Tracker, epoch_numbers, scalar_tag

from mnist_folder import write_mnist_folder

EPOCHS = 2


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return write_mnist_folder(tmp_path_factory.mktemp("digits"), per_class=8, classes=range(3))


@pytest.fixture(scope="module")
def run(digits, tmp_path_factory):
    out = tmp_path_factory.mktemp("logs") / "run"
    args = ["train", str(digits), "--model", "resnet18", "--weights", "none", "--batch-size", "8",
            "--image-size", "32", "--seed", "3", "--no-progress", "--out", str(out), "--tensorboard", "--mlflow"]
    before = os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(args + ["--epochs", "1"]) == 0
            assert main(args + ["--epochs", str(EPOCHS), "--resume", str(out / "last.state.pt")]) == 0
        # The default store is MLflow's file store, which mlflow 3 opens only when allowed.
        assert os.environ.get("MLFLOW_ALLOW_FILE_STORE") == "true"
        yield out
    finally:
        os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)
        if before is not None:
            os.environ["MLFLOW_ALLOW_FILE_STORE"] = before


@pytest.fixture(scope="module")
def epochs(run):
    return json.loads((run / "metrics.json").read_text())["epochs"]


def test_metrics_csv_has_one_row_per_epoch_equal_to_metrics_json(run, epochs):
    with open(run / "metrics.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert {f"val_{name}" for name in METRICS} | {"train_loss", "train_acc", "val_loss", "val_acc", "lr",
                                                   "seconds", "images_per_s"} <= set(reader.fieldnames)
    assert len(rows) == len(epochs) == EPOCHS
    for row, record in zip(rows, epochs):
        assert set(row) == set(record)
        for key, value in record.items():
            assert row[key] == ("" if value is None else str(value)), key
            if value is not None:
                assert float(row[key]) == value, key  # every digit kept


def test_tensorboard_events_hold_every_epochs_scalars_and_images(run, epochs):
    from PIL import Image
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    events.Reload()
    for key in epoch_numbers(epochs[0]):
        logged = [(s.step, s.value) for s in events.Scalars(scalar_tag(key))]
        assert logged == [(e["epoch"], pytest.approx(e[key], rel=1e-6, abs=1e-12)) for e in epochs], key
    assert {scalar_tag(f"val_{name}") for name in ("balanced_accuracy", "macro_f1", "ece")} <= set(
        events.Tags()["scalars"])
    assert [i.step for i in events.Images("val/confusion_matrix")] == [e["epoch"] for e in epochs]
    grids = {i.step: i for i in events.Images("val/mistakes")}
    texts = {t.step: t.tensor_proto.string_val[0].decode() for t in events.Tensors("val/mistakes/text_summary")}
    val_images = json.loads((run / "best.json").read_text())["split"]["val_images"]
    for record in epochs:
        wrong = round((1 - record["val_acc"]) * val_images)
        table = texts[record["epoch"]]
        assert len(re.findall(r"^\| \d+ \|", table, re.M)) == min(wrong, MISTAKES_SHOWN)
        if wrong:
            assert table.startswith(f"{min(wrong, MISTAKES_SHOWN)} of {wrong} misclassified")
            image = Image.open(io.BytesIO(grids[record["epoch"]].encoded_image_string))
            assert image.width >= 64 and image.height >= 64  # 32px digits, enlarged to be captioned
        else:
            assert record["epoch"] not in grids


def test_mlflow_run_has_the_config_every_epochs_metrics_and_the_best_checkpoint(run, epochs):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=(run / "mlruns").as_uri())
    experiment = client.get_experiment_by_name(MLFLOW_EXPERIMENT)
    (found,) = client.search_runs([experiment.experiment_id])  # the resumed run continued the same MLflow run
    assert found.info.status == "FINISHED"
    config = json.loads((run / "best.json").read_text())["config"]
    first = {**config, "epochs": 1, "resume": None}  # the params are the first session's settings
    assert found.data.params == {k: str(v) for k, v in first.items()}
    for key in epoch_numbers(epochs[0]):
        history = client.get_metric_history(found.info.run_id, key)
        assert sorted((m.step, m.value) for m in history) == [(e["epoch"], float(e[key])) for e in epochs], key
    artifacts = {a.path for a in client.list_artifacts(found.info.run_id)}
    assert {"best.safetensors", "best.json", "metrics.csv"} <= artifacts


def test_the_flags_take_a_folder_or_the_default():
    args = build_parser().parse_args(["train", "data", "--tensorboard", "logs", "--mlflow"])
    assert args.tensorboard == "logs" and args.mlflow is True
    args = build_parser().parse_args(["train", "data"])
    assert args.tensorboard is False and args.mlflow is False


@pytest.mark.parametrize("flag, module", [("--tensorboard", "tensorboard"), ("--mlflow", "mlflow")])
def test_a_missing_extra_is_one_line_naming_it(flag, module, digits, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    with pytest.raises(ValueError, match=re.escape(f"pip install 'convzoo[{module}]'")):
        Tracker(TrainConfig(data=str(digits), out=str(tmp_path), **{module: True}))
    assert main(["train", str(digits), "--out", str(tmp_path / "run"), flag]) == 2
    err = capsys.readouterr().err
    assert err == f"convzoo: error: {flag} needs the optional dependency '{module}': pip install 'convzoo[{module}]'\n"
    assert not (tmp_path / "run").exists()  # refused before any work


def test_a_failed_run_is_marked_failed_in_mlflow(tmp_path, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    tracker = Tracker(TrainConfig(data="unused", out=str(tmp_path), mlflow=str(tmp_path / "store")))
    tracker.start(["0", "1"], None, SimpleNamespace(mean=(0.5,) * 3, std=(0.5,) * 3), history=[])
    (tmp_path / "best.json").write_text("{}")  # not this failed run's artifact
    tracker.finish("FAILED")
    client = mlflow.MlflowClient(tracking_uri=(tmp_path / "store").as_uri())
    (found,) = client.search_runs([client.get_experiment_by_name(MLFLOW_EXPERIMENT).experiment_id])
    assert found.info.status == "FAILED" and client.list_artifacts(found.info.run_id) == []
    assert found.info.run_id == tracker.state()["mlflow_run_id"]
