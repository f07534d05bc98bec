"""`convzoo push`: a `convzoo train` checkpoint shared on the Hugging Face Hub.

The repo gets three files, staged in a temporary folder and uploaded in one commit
(`HfApi.create_repo` + `upload_folder`):

    model.safetensors   the weights, as trained
    config.json         what the sidecar says the weights need: model name, classes,
                        preprocessing, the decision rule (temperature, threshold) if any,
                        the convzoo version
    README.md           the model card: YAML metadata (library_name, pipeline_tag,
                        license, tags), the metrics, the data, intended use and limits

`get_model("hf-hub:OWNER/REPO")` and `Classifier.from_pretrained` read them back
(weights/hub.py).
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from ...version import __version__
from ..shared.checkpoint import NotAClassifierCheckpoint, read_classifier_sidecar
from ...weights.hub import CONFIG_FILE, WEIGHTS_FILE, hub_endpoint, import_hub, is_offline, repo_id_of

CARD_FILE = "README.md"
# What config.json carries of a sidecar: what loading and deciding need, and the data's
# counts (the default positive class of a threshold comes from them).
CONFIG_KEYS = ("model", "classes", "preprocessing", "in_chans", "decision", "positive", "class_counts")
# Licence identifiers the Hub's metadata knows; any other licence is "other".
HUB_LICENSES = frozenset({"apache-2.0", "mit", "bsd-2-clause", "bsd-3-clause", "cc-by-4.0", "cc-by-sa-4.0",
                          "cc-by-nc-4.0", "cc-by-nc-sa-4.0", "gpl-3.0", "lgpl-3.0", "agpl-3.0", "cc0-1.0",
                          "openrail"})


def read_training_checkpoint(checkpoint: str | Path) -> dict:
    """The sidecar of a `convzoo train` checkpoint (CHECKPOINT.safetensors + CHECKPOINT.json),
    or one line saying why this is not one."""
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        if path.suffix != ".safetensors":  # the Hub gets safetensors only: no pickle is shared
            raise NotAClassifierCheckpoint("its weights are not a .safetensors file")
        return read_classifier_sidecar(path)
    except NotAClassifierCheckpoint as exc:
        raise ValueError(f"{path} is not a convzoo training checkpoint ({exc}): push the best.safetensors that "
                         f"`convzoo train` wrote, with its best.json") from None


def hub_config(meta: dict) -> dict:
    """config.json: the sidecar's keys that loading and deciding need, and the convzoo version."""
    config = {key: meta[key] for key in CONFIG_KEYS if meta.get(key) is not None}
    config.setdefault("in_chans", 3)
    if (meta.get("config") or {}).get("hflip") is not None:  # trained without mirror images: --tta flip warns
        config["config"] = {"hflip": meta["config"]["hflip"]}
    config["architecture"] = meta["model"]
    config["convzoo_version"] = __version__
    config["trained_with"] = meta.get("convzoo_version")
    return {k: v for k, v in config.items() if v is not None}


def base_license(meta: dict) -> str:
    """The Hub licence id of the weights the checkpoint was fine-tuned from, where known; else "other"."""
    tag = (meta.get("config") or {}).get("weights")
    if not tag or any(c in str(tag) for c in "/\\.") or str(tag).lower() == "none":
        return "other"  # from scratch, or from a local file whose licence nobody recorded
    from ...factory import get_weights

    try:
        text = str(get_weights(meta["model"], str(tag)).meta.get("license") or "")
    except (ValueError, KeyError):
        return "other"
    license_id = text.split(" ")[0].strip().lower()
    return license_id if license_id in HUB_LICENSES else "other"


def _metrics_rows(meta: dict, checkpoint: Path) -> list[tuple[str, object]]:
    """The validation scores: val_report.json beside the checkpoint if there, else the sidecar's epoch record."""
    report_path = checkpoint.parent / "val_report.json"
    rows: list[tuple[str, object]] = []
    if report_path.is_file():
        try:
            report = json.loads(report_path.read_text())
        except ValueError:
            report = {}
        rows = [(f"val {k}", v) for k, v in report.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not rows:
        record = meta.get("metrics") or {}
        rows = [(k.replace("_", " ", 1), v) for k, v in record.items()
                if k.startswith("val_") and isinstance(v, (int, float)) and not isinstance(v, bool)]
    if rows and meta.get("epoch"):
        rows.insert(0, ("epoch", meta["epoch"]))
    return rows


def _number(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def card_text(meta: dict, checkpoint: Path, repo_id: str) -> str:
    """The model card: YAML metadata, then usage, metrics, data, intended use and limitations."""
    hub = import_hub()
    classes, model = list(meta["classes"]), meta["model"]
    data = hub.ModelCardData(library_name="convzoo", pipeline_tag="image-classification", license=base_license(meta),
                             tags=["convzoo", "image-classification", "pytorch", "safetensors", model])
    size = meta["preprocessing"].get("crop_size")
    rows = _metrics_rows(meta, checkpoint)
    metrics = ("| metric | value |\n|---|---|\n" + "\n".join(f"| {k} | {_number(v)} |" for k, v in rows)
               if rows else "No validation scores were recorded with this checkpoint.")
    counts = meta.get("class_counts") or {}
    data_lines = [f"| {c} | {counts.get(c, '?')} |" for c in classes]
    split = meta.get("split") or {}
    split_text = ", ".join(f"{k}: {v}" for k, v in split.items() if k not in ("val_digest", "excluded")) or "not recorded"
    decision = meta.get("decision") or {}
    rule = (f"Probabilities are softmax(logits / {decision.get('temperature', 1.0)}); "
            + (f"{decision['positive']} is decided when its probability reaches {decision['threshold']}."
               if decision.get("threshold") is not None else "the most probable class is the decision.")
            if decision else "The most probable class is the decision (no calibrated rule was saved).")
    body = f"""
# {repo_id}

A `{model}` image classifier fine-tuned with [convzoo](https://pypi.org/project/convzoo/) on
{len(classes)} classes: {", ".join(classes)}.

```python
from convzoo import Classifier
clf = Classifier.from_pretrained("hf-hub:{repo_id}")
print(clf.predict(["photo.jpg"])[0].decision)
```

or `convzoo.get_model("hf-hub:{repo_id}")` for the bare model (logits; preprocessing in config.json).

## Metrics

On the validation images of the training run (the best epoch):

{metrics}

## Data

Training images per class (split: {split_text}):

| class | images |
|---|---|
{chr(10).join(data_lines)}

## Intended use

Classifying {size}px crops of images like those it was trained on into these classes. {rule}

## Limitations

- Scores are measured on the validation split of the training data only; images from another
  source (camera, site, population) may score lower. Measure on your own data first
  (`convzoo eval`) and recalibrate if needed (`convzoo calibrate`).
- It always answers one of its {len(classes)} classes, also for images that show none of them.
- It inherits the biases of its pretrained base weights and of the training images.
"""
    return hub.ModelCard(f"---\n{data.to_yaml()}\n---\n{body}").content


def stage(checkpoint: str | Path, folder: str | Path, repo_id: str) -> list[str]:
    """Write the repo's files for `checkpoint` into `folder`; returns their names."""
    checkpoint, folder = Path(checkpoint), Path(folder)
    repo_id = repo_id_of(repo_id)
    meta = read_training_checkpoint(checkpoint)
    shutil.copyfile(checkpoint, folder / WEIGHTS_FILE)
    (folder / CONFIG_FILE).write_text(json.dumps(hub_config(meta), indent=2) + "\n")
    (folder / CARD_FILE).write_text(card_text(meta, checkpoint, repo_id))
    return sorted(p.name for p in folder.iterdir())


def push(checkpoint: str | Path, repo_id: str, *, private: bool = False, token: str | None = None) -> str:
    """Upload `checkpoint` (a `convzoo train` best.safetensors + best.json) to the Hub repo
    OWNER/REPO, created if needed; returns the repo's URL."""
    hub = import_hub()
    repo_id = repo_id_of(repo_id)
    read_training_checkpoint(checkpoint)  # before any network: a wrong file is one line
    if is_offline():
        raise ValueError(f"pushing to hf-hub:{repo_id} needs the Hub, and HF_HUB_OFFLINE is set: unset it to push")
    from huggingface_hub.utils import HfHubHTTPError

    api = hub.HfApi(endpoint=hub_endpoint(), token=token)
    with tempfile.TemporaryDirectory(prefix="convzoo-push-") as tmp:
        stage(checkpoint, tmp, repo_id)
        try:
            url = api.create_repo(repo_id, private=private, exist_ok=True)
            api.upload_folder(repo_id=repo_id, folder_path=tmp,
                              commit_message=f"convzoo push {Path(checkpoint).name}")
        except HfHubHTTPError as exc:  # no token, no write access, Hub down: the Hub's own first line
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RuntimeError(f"pushing to hf-hub:{repo_id} failed: {reason} (a write token: --token, HF_TOKEN "
                               f"or `hf auth login`)") from None
    return str(url)
