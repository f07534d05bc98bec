"""Models shared on the Hugging Face Hub: "hf-hub:OWNER/REPO", through `huggingface_hub`.

A convzoo repo holds `model.safetensors` (the weights) and `config.json` (model
name, classes, preprocessing, decision rule): what a `convzoo train` checkpoint's
sidecar carries, written by `convzoo push`. Files are downloaded by
`hf_hub_download` into the Hugging Face cache ($HF_HUB_CACHE, else $HF_HOME/hub)
and read from there; only safetensors is read, never a pickle.

The environment is read when a model is loaded, not when huggingface_hub was
imported: HF_ENDPOINT (another Hub), HF_HOME / HF_HUB_CACHE (the cache) and
HF_HUB_OFFLINE (nothing fetched; what is cached is used).
"""
from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

PREFIX = "hf-hub:"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


def is_hub_name(name) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


def repo_id_of(name: str) -> str:
    """"hf-hub:OWNER/REPO" -> "OWNER/REPO" (checked: one slash, both parts named)."""
    repo_id = name[len(PREFIX):] if is_hub_name(name) else name
    owner, _, repo = repo_id.partition("/")
    if not owner or not repo or "/" in repo:
        raise ValueError(f"{name!r}: a Hugging Face Hub model is named hf-hub:OWNER/REPO")
    return repo_id


def import_hub():
    """huggingface_hub, or one line naming the extra that brings it."""
    try:
        return importlib.import_module("huggingface_hub")
    except ImportError:
        raise ValueError("the Hugging Face Hub needs the optional dependency 'huggingface_hub': "
                         "pip install 'convzoo[hub]'") from None


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def is_offline() -> bool:
    return _env_true("HF_HUB_OFFLINE")


def hub_cache() -> Path:
    """Where hf_hub_download keeps files: $HF_HUB_CACHE, else $HF_HOME/hub, else huggingface_hub's default."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path(import_hub().constants.HF_HUB_CACHE)


def hub_endpoint() -> str | None:
    return os.environ.get("HF_ENDPOINT", "").rstrip("/") or None


def download(name: str, revision: str | None = None, token: str | None = None) -> tuple[Path, dict]:
    """The weights file (in the Hugging Face cache) and the config of hf-hub repo `name`."""
    hub = import_hub()
    from huggingface_hub.utils import EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError

    repo_id = repo_id_of(name)
    offline = is_offline()

    def fetch(filename: str) -> Path:
        try:
            return Path(hub.hf_hub_download(repo_id, filename, revision=revision, cache_dir=hub_cache(),
                                            endpoint=hub_endpoint(), token=token, local_files_only=offline))
        except LocalEntryNotFoundError:  # (a subclass of EntryNotFoundError: first)
            if offline:
                raise ValueError(f"hf-hub:{repo_id}: {filename} is not in the Hugging Face cache {hub_cache()} and "
                                 f"HF_HUB_OFFLINE is set: load it once online, or unset HF_HUB_OFFLINE") from None
            raise ValueError(f"hf-hub:{repo_id}: the Hub cannot be reached and {filename} is not in the cache "
                             f"{hub_cache()}") from None
        except EntryNotFoundError:
            raise ValueError(_missing(repo_id, filename, revision, token)) from None
        except RepositoryNotFoundError:
            raise ValueError(f"hf-hub:{repo_id}: no such repo on {hub_endpoint() or 'the Hub'} (or it is private: "
                             f"pass a token, or log in with `hf auth login`)") from None

    weights = fetch(WEIGHTS_FILE)
    config = json.loads(fetch(CONFIG_FILE).read_text())
    if not isinstance(config, dict) or "model" not in config or "classes" not in config:
        raise ValueError(f"hf-hub:{repo_id}: its {CONFIG_FILE} is not a convzoo config (it names no model and "
                         f"classes): share models with `convzoo push`")
    return weights, config


def _missing(repo_id: str, filename: str, revision: str | None, token: str | None) -> str:
    """What a repo lacks, in one line; a repo of pickles is named as such (never unpickled)."""
    held: list[str] = []
    try:
        held = import_hub().HfApi(endpoint=hub_endpoint()).list_repo_files(repo_id, revision=revision, token=token)
    except Exception:  # noqa: BLE001  the listing only sharpens the message
        pass
    pickles = [f for f in held if f.endswith(PICKLE_SUFFIXES)]
    if filename == WEIGHTS_FILE:
        found = f" (it holds {', '.join(pickles)}: a pickle, which convzoo never loads)" if pickles else ""
        return (f"hf-hub:{repo_id} has no {WEIGHTS_FILE}{found}: convzoo reads safetensors weights only; "
                f"share models with `convzoo push`")
    return f"hf-hub:{repo_id} has no {filename}: share models with `convzoo push`, which writes it"
