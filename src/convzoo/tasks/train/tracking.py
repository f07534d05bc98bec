"""Training logs that tools read, beside metrics.csv (records.py): TensorBoard
event files (`--tensorboard`) and an MLflow run (`--mlflow`), each an optional
extra. loop.py makes one `Tracker` per run and calls `start` before the first
epoch, `log_epoch` after each epoch's files are written, and `finish`; under
torchrun only rank 0's tracker logs (the others do nothing).

TensorBoard (step = epoch): every number of the epoch's record as a scalar
(train/loss, train/acc, val/loss, val/acc, val/<metric> for each of
metrics.METRICS, lr, seconds, images_per_s, frozen_stages), the confusion
matrix as an image, and up to MISTAKES_SHOWN misclassified validation images,
the most confident mistakes first, in one grid (each captioned "true -> predicted")
with their list (file, true, predicted, confidence) as text. A resumed run drops
the events of the epochs it trains again (SummaryWriter's purge_step); a fresh
run in a folder that holds events drops all of theirs.

MLflow: the TrainConfig as params, the record's numbers as metrics, under the
names of metrics.csv's columns (step = epoch), and at the end the best
checkpoint (best.safetensors, best.json) and metrics.csv as artifacts; a run
per fold of --folds K, in one store. The default store is a file store, OUT/mlruns: mlflow 3.x's own default,
sqlite:///mlflow.db, needs SQLAlchemy and Alembic, which mlflow-skinny does not
bring, and its file store, which works offline with mlflow-skinny alone, is in
maintenance mode and refused unless MLFLOW_ALLOW_FILE_STORE=true, which is set
here when the store is a local folder (`mlflow ui` needs it too, and full
mlflow). A resumed run continues its MLflow run (its id is in the training
state). MLflow errors after the start (a tracking server gone) are one warning,
and training goes on without MLflow.
"""
from __future__ import annotations

import math
import os
import re
import tempfile
import time
import warnings
from pathlib import Path

from ..shared.extras import import_extra

TENSORBOARD_DIR = "tensorboard"  # in OUT, for --tensorboard without a folder
MLFLOW_DIR = "mlruns"  # in OUT, the file store of --mlflow without a URI
MLFLOW_EXPERIMENT = "convzoo"
MISTAKES_SHOWN = 16
ARTIFACTS = ("best.safetensors", "best.json", "metrics.csv")
_PARAM_CHARS = 6000  # MLflow's longest param value


def scalar_tag(key: str) -> str:
    """TensorBoard's tag for a record's key: train_loss -> train/loss, val_macro_f1 -> val/macro_f1, lr -> lr."""
    for split in ("train_", "val_"):
        if key.startswith(split):
            return f"{split[:-1]}/{key[len(split):]}"
    return key


def epoch_numbers(record: dict) -> dict[str, float]:
    """The numbers of an epoch's record that are logged: all but the epoch (the
    step) and the metrics that are undefined (None) at that epoch."""
    return {k: float(v) for k, v in record.items()
            if k != "epoch" and isinstance(v, (int, float)) and not isinstance(v, bool)}


def tensorboard_dir(cfg) -> Path | None:
    """Where --tensorboard writes: OUT/tensorboard, or the folder given (a fold
    of --folds K in its fold{k} sub-folder there, one TensorBoard run per fold)."""
    if not cfg.tensorboard:
        return None
    if cfg.tensorboard is True:
        return Path(cfg.out) / TENSORBOARD_DIR
    folder = Path(cfg.tensorboard)
    return folder / f"fold{cfg.fold + 1}" if cfg.folds else folder


def mlflow_uri(cfg) -> str | None:
    """The tracking URI of --mlflow: the file store OUT/mlruns by default (for
    --folds K, one store for the K folds' runs: OUT/mlruns, beside OUT/fold1 ...);
    a folder given is a file store too; anything with a scheme is MLflow's to read."""
    if not cfg.mlflow:
        return None
    out = Path(cfg.out)
    if cfg.folds and out.name == f"fold{cfg.fold + 1}":  # folds.fold_configs' OUT/fold{k}
        out = out.parent
    target = out / MLFLOW_DIR if cfg.mlflow is True else cfg.mlflow
    if isinstance(target, Path) or not re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:", target):
        return Path(target).resolve().as_uri()
    return target


class Tracker:
    """The run's TensorBoard writer and MLflow run (either, both or none, by
    cfg.tensorboard and cfg.mlflow). Made before any work, so a missing extra is
    one line before the data is read; `start` opens them, `log_epoch` logs an
    epoch, `finish` closes them; `state` goes into the training state."""

    def __init__(self, cfg, is_main: bool = True):
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.tensorboard = tensorboard_dir(cfg) if is_main else None
        self.mlflow = mlflow_uri(cfg) if is_main else None
        if self.tensorboard is not None:
            import_extra("--tensorboard", "tensorboard")
            import_extra("--tensorboard", "torch.utils.tensorboard")
        if self.mlflow is not None:
            import_extra("--mlflow", "mlflow")
        self.writer = None
        self.client = None
        self.run_id: str | None = None
        self._val = None  # (classes, val_set, mean, std): what the images of mistakes are drawn from

    def start(self, classes: list[str], val_set, preprocessing, history: list, state: dict | None = None) -> None:
        """Open the logs. history: the epochs a resumed run has already trained
        (state: its training state), logged where this store lacks them."""
        self._val = (classes, val_set, preprocessing.mean, preprocessing.std)
        if self.tensorboard is not None:
            self._start_tensorboard(history)
        if self.mlflow is not None:
            self._start_mlflow(history, (state or {}).get("mlflow_run_id"))

    def _start_tensorboard(self, history: list) -> None:
        from torch.utils.tensorboard import SummaryWriter

        had_events = any(self.tensorboard.glob("events.out.tfevents.*"))
        first = history[-1]["epoch"] + 1 if history else 1
        self.writer = SummaryWriter(str(self.tensorboard), purge_step=first)
        if history and not had_events:  # --tensorboard first given on --resume: the curves from epoch 1
            for record in history:
                self._scalars(record)
            self.writer.flush()

    def _start_mlflow(self, history: list, run_id: str | None) -> None:
        from dataclasses import asdict

        import mlflow

        if self.mlflow.startswith("file:"):
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # module docstring: why
        try:
            self.client = mlflow.MlflowClient(tracking_uri=self.mlflow)
            logged = self._reopen(run_id) if run_id else None
            if logged is None:
                self.run_id, logged = self._new_run(asdict(self.cfg)), set()
        except ImportError as exc:  # a database store without SQLAlchemy, say
            raise ValueError(f"--mlflow {self.mlflow}: needs {exc.name or exc}: pip install mlflow (the full "
                             f"package), or use a file store (--mlflow with a folder)") from None
        except mlflow.exceptions.MlflowException as exc:  # a store it cannot open: MLflow's first line says why
            raise ValueError(f"--mlflow {self.mlflow}: {str(exc).splitlines()[0]}") from None
        missing = [record for record in history if record["epoch"] not in logged]
        if missing:
            self._mlflow_metrics(missing)

    def _reopen(self, run_id: str) -> set | None:
        """The epochs already logged to run `run_id` of this store, which runs again; None if it has no such run."""
        try:
            self.client.get_run(run_id)
        except Exception:  # noqa: BLE001  MlflowException: not in this store
            return None
        self.run_id = run_id
        self.client.update_run(run_id, status="RUNNING")
        return {m.step for m in self.client.get_metric_history(run_id, "train_loss")}

    def _new_run(self, config: dict) -> str:
        from mlflow.entities import Param

        experiment = self.client.get_experiment_by_name(MLFLOW_EXPERIMENT)
        experiment_id = (experiment.experiment_id if experiment is not None
                         else self.client.create_experiment(MLFLOW_EXPERIMENT))
        run = self.client.create_run(experiment_id, run_name=str(self.out),
                                     tags={"convzoo.out": str(self.out.resolve()), "convzoo.model": self.cfg.model})
        params = [Param(k, str(v)[:_PARAM_CHARS]) for k, v in config.items()]
        for i in range(0, len(params), 100):  # MLflow takes 100 params a batch
            self.client.log_batch(run.info.run_id, params=params[i:i + 100])
        return run.info.run_id

    def log_param(self, key: str, value) -> None:
        """A setting decided during the run (the precision --amp auto measured), beside the
        config's params (which keep "auto": MLflow does not let a param change)."""
        if self.client is not None:
            self.client.log_param(self.run_id, key, str(value)[:_PARAM_CHARS])

    def log_epoch(self, record: dict, val: dict | None) -> None:
        """One epoch: its record (loop.py's: epoch, train_*, val_*, lr, seconds,
        images_per_s) and its validation result (evaluate_model's), on rank 0."""
        if self.writer is not None:
            self._scalars(record)
            if val is not None:
                self._images(record["epoch"], val)
            self.writer.flush()
        if self.client is not None:
            self._mlflow_metrics([record])

    def _scalars(self, record: dict) -> None:
        for key, value in epoch_numbers(record).items():
            self.writer.add_scalar(scalar_tag(key), value, record["epoch"])

    def _images(self, epoch: int, val: dict) -> None:
        classes, val_set, mean, std = self._val
        self.writer.add_image("val/confusion_matrix", confusion_image(val["confusion_matrix"], classes), epoch,
                              dataformats="HWC")
        shown = val.get("misclassified", [])[:MISTAKES_SHOWN]
        grid = mistakes_grid(val_set, shown, mean, std)
        if grid is not None:
            self.writer.add_image("val/mistakes", grid, epoch, dataformats="HWC")
        self.writer.add_text("val/mistakes", mistakes_table(shown, len(val.get("misclassified", []))), epoch)

    def _mlflow_metrics(self, records: list[dict]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key, value, now, record["epoch"]) for record in records
                   for key, value in epoch_numbers(record).items()]

        def log():
            for i in range(0, len(metrics), 1000):  # MLflow takes 1000 metrics a batch
                self.client.log_batch(self.run_id, metrics=metrics[i:i + 1000])

        self._mlflow_call(log)

    def _mlflow_call(self, call) -> None:
        try:
            call()
        except Exception as exc:  # noqa: BLE001  a tracking server gone must not end hours of training
            warnings.warn(f"--mlflow {self.mlflow}: {type(exc).__name__}: {exc}; training goes on without MLflow",
                          stacklevel=3)
            self.client = None

    def finish(self, status: str = "FINISHED") -> None:
        """Close the logs: FINISHED (the best checkpoint and metrics.csv become
        the MLflow run's artifacts), FAILED or KILLED."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.client is not None and self.run_id is not None:
            client, run_id = self.client, self.run_id
            done = status == "FINISHED"
            files = [self.out / name for name in ARTIFACTS if done and (self.out / name).is_file()]

            def close():
                for path in files:
                    client.log_artifact(run_id, str(path))
                client.set_terminated(run_id, status)

            self._mlflow_call(close)
        self.client = None

    def state(self) -> dict:
        """For the training state: the MLflow run a resumed run continues."""
        return {"mlflow_run_id": self.run_id} if self.run_id is not None else {}


def confusion_image(matrix: list[list[int]], classes: list[str]):
    """plots.plot_confusion_matrix's figure as an RGB array [H, W, 3]."""
    import numpy as np
    from PIL import Image

    from .plots import plot_confusion_matrix

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "confusion_matrix.png"
        plot_confusion_matrix(matrix, classes, path)
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))


def mistakes_grid(val_set, mistakes: list[dict], mean, std):
    """The images of `mistakes` (evaluate.misclassified's: path, true, predicted)
    as the model saw them (preprocessed, then un-normalised), in a grid, each
    captioned "true -> predicted"; an RGB array [H, W, 3], or None for no mistakes."""
    import numpy as np
    import torch
    from PIL import Image, ImageDraw

    index = {str(s.path): i for i, s in enumerate(getattr(val_set, "samples", []))}
    found = [(m, index.get(m["path"], _position(m["path"]))) for m in mistakes]
    found = [(m, i) for m, i in found if i is not None]
    if not found:
        return None
    tiles = []
    for m, i in found:
        x = val_set[i][0].float()
        channels = x.shape[0]
        m_, s_ = (torch.tensor(v, dtype=torch.float32)[:channels, None, None] for v in (mean, std))
        x = (x * s_ + m_).clamp(0, 1) if len(mean) >= channels else x.clamp(0, 1)
        pixels = (x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        tiles.append((m, Image.fromarray(pixels[..., 0] if channels == 1 else pixels[..., :3]).convert("RGB")))
    side = min(max(tiles[0][1].width, 64), 128)  # small images enlarged enough to caption, large ones shrunk
    caption = 14
    cols = math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / cols)
    grid = Image.new("RGB", (cols * (side + 2), rows * (side + caption + 2)), "black")
    draw = ImageDraw.Draw(grid)
    for k, (m, tile) in enumerate(tiles):
        left, top = (k % cols) * (side + 2) + 1, (k // cols) * (side + caption + 2) + 1
        grid.paste(tile.resize((side, side), Image.NEAREST if tile.width < side else Image.BILINEAR), (left, top))
        text = f"{m['true']} -> {m['predicted']}"
        while len(text) > 1 and draw.textlength(text) > side:
            text = text[:-1]
        draw.text((left + 1, top + side + 1), text, fill="white")
    return np.asarray(grid)


def _position(path: str) -> int | None:
    """evaluate.misclassified names an image of a dataset without files by its position: "#12"."""
    return int(path[1:]) if re.fullmatch(r"#\d+", path) else None


def mistakes_table(shown: list[dict], total: int) -> str:
    """The mistakes in the grid, as a Markdown table for TensorBoard's text tab."""
    if not shown:
        return "no misclassified validation images"
    lines = [f"{len(shown)} of {total} misclassified validation images, the most confident first:", "",
             "| | true | predicted | confidence | file |", "|---|---|---|---|---|"]
    lines += [f"| {k + 1} | {m['true']} | {m['predicted']} | {m['confidence']:.3f} | {m['path']} |"
              for k, m in enumerate(shown)]
    return "\n".join(lines)


__all__ = ["Tracker", "confusion_image", "epoch_numbers", "mistakes_grid", "mlflow_uri", "scalar_tag",
           "tensorboard_dir"]
