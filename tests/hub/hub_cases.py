"""Sharing on the Hugging Face Hub (weights/hub.py, tasks/deploy/hub_push.py, `convzoo push`),
against a fake Hub on 127.0.0.1 (fake_hub.py): the real Hub is never contacted."""
import json
import sys

import pytest
import torch

import convzoo as cz
from convzoo.cli import main
from convzoo.data.preprocessing import Preprocessing
from convzoo.tasks.shared.checkpoint import load_checkpoint, save_checkpoint
from convzoo.weights import hub as hub_weights
from fake_hub import FakeHub

pytest.importorskip("huggingface_hub")

CLASSES = ["good", "defect"]
REPO = "me/tiny-parts"


def make_checkpoint(folder, **meta):
    """A random squeezenet1_1 checkpoint at 32 px (small: fast to push), with a sidecar as `convzoo train` writes it."""
    torch.manual_seed(0)
    model = cz.get_model("squeezenet1_1", weights=None, num_classes=len(CLASSES))
    sidecar = {"model": "squeezenet1_1", "classes": CLASSES, "preprocessing": Preprocessing(32, 37).to_dict(),
               "in_chans": 3, "class_counts": {"good": 90, "defect": 10}, "convzoo_version": "0.0.test",
               "config": {"hflip": True, "weights": "DEFAULT"}, "epoch": 3,
               "split": {"held_out": True, "val_fraction": 0.2, "seed": 0, "val_images": 20, "val_digest": "ab"},
               "metrics": {"epoch": 3, "train_loss": 0.5, "val_loss": 0.25, "val_acc": 0.9, "val_balanced_accuracy": 0.75},
               "decision": {"temperature": 1.5, "positive": "defect", "threshold": 0.3}, **meta}
    return save_checkpoint(folder, "best", model, sidecar)


def hub_env(monkeypatch, fake, home):
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_TOKEN", "hf_fake")  # never a real token, even to 127.0.0.1
    from huggingface_hub import constants
    from huggingface_hub.utils import reset_sessions

    if constants.HF_HUB_OFFLINE:  # set when the test process started: its sessions refuse every request
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        reset_sessions()


@pytest.fixture(scope="module")
def fake():
    server = FakeHub()
    yield server
    server.close()


@pytest.fixture(scope="module")
def pushed(fake, tmp_path_factory):
    """A checkpoint pushed with `convzoo push` to the fake Hub: (checkpoint, exit code, stdout)."""
    checkpoint = make_checkpoint(tmp_path_factory.mktemp("ck"))
    with pytest.MonkeyPatch.context() as mp:
        hub_env(mp, fake, tmp_path_factory.mktemp("hf_push"))
        code = main(["push", str(checkpoint), REPO, "--private", "--token", "hf_fake"])
    return checkpoint, code


@pytest.fixture
def x():
    torch.manual_seed(1)
    return torch.randn(2, 3, 32, 32)


def test_push_uploads_weights_config_and_card(fake, pushed):
    checkpoint, code = pushed
    assert code == 0
    assert sorted(fake.repos[REPO]) == ["README.md", "config.json", "model.safetensors"]
    assert fake.private[REPO] is True
    assert fake.repos[REPO]["model.safetensors"] == checkpoint.read_bytes()
    # The weights went by LFS (batch, then PUT), as the real Hub asks; config and card in the commit itself.
    assert f"POST /{REPO}.git/info/lfs/objects/batch" in fake.requests
    assert [r.split()[0] for r in fake.requests if r.startswith("PUT ")] == ["PUT"]
    config = json.loads(fake.repos[REPO]["config.json"])
    assert config["model"] == config["architecture"] == "squeezenet1_1"
    assert config["classes"] == CLASSES and config["preprocessing"] == Preprocessing(32, 37).to_dict()
    assert config["decision"] == {"temperature": 1.5, "positive": "defect", "threshold": 0.3}
    assert config["convzoo_version"] == cz.__version__ and config["trained_with"] == "0.0.test"


def test_the_card_has_the_hub_metadata_and_its_sections(fake, pushed):
    from huggingface_hub import ModelCard

    card = ModelCard(fake.repos[REPO]["README.md"].decode())
    assert card.data.library_name == "convzoo" and card.data.pipeline_tag == "image-classification"
    assert card.data.license == "bsd-3-clause"  # torchvision's squeezenet1_1 weights, the base of the run
    assert {"convzoo", "image-classification", "squeezenet1_1"} <= set(card.data.tags)
    for section in ("## Metrics", "## Data", "## Intended use", "## Limitations"):
        assert section in card.text
    assert "| val balanced_accuracy | 0.7500 |" in card.text and "| defect | 10 |" in card.text
    assert "val_fraction: 0.2" in card.text and "threshold" not in card.data.to_dict()


def test_pulled_into_an_empty_cache_it_gives_the_same_logits(fake, pushed, tmp_path, monkeypatch, x):
    checkpoint, _ = pushed
    hub_env(monkeypatch, fake, tmp_path / "hf")
    local, _ = load_checkpoint(checkpoint)
    model = cz.get_model(f"hf-hub:{REPO}").eval()
    clf = cz.Classifier.from_pretrained(f"hf-hub:{REPO}", device="cpu", progress=False)
    with torch.no_grad():
        expected = local(x)
        assert torch.equal(model(x), expected)
        assert torch.equal(clf.model(x), expected)
    assert clf.categories == CLASSES and clf.preprocessing == Preprocessing(32, 37)
    assert clf.temperature == 1.5 and clf.rule.threshold == 0.3 and clf.rule.positive == "defect"
    assert clf.weights_name == f"hf-hub:{REPO}"
    assert list((tmp_path / "hf" / "hub").glob("models--me--tiny-parts/snapshots/*/model.safetensors"))

    # Offline, the cache serves: nothing is asked of the Hub.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    asked = len(fake.requests)
    offline = cz.get_model(f"hf-hub:{REPO}").eval()
    again = cz.Classifier.from_pretrained(f"hf-hub:{REPO}", device="cpu", progress=False)
    with torch.no_grad():
        assert torch.equal(offline(x), expected) and torch.equal(again.model(x), expected)
    assert len(fake.requests) == asked


def test_offline_with_an_empty_cache_is_one_line_naming_the_cache(fake, pushed, tmp_path, monkeypatch):
    hub_env(monkeypatch, fake, tmp_path / "hf")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError) as info:
        cz.get_model(f"hf-hub:{REPO}")
    message = str(info.value)
    assert "HF_HUB_OFFLINE" in message and str(tmp_path / "hf" / "hub") in message and "\n" not in message


def test_a_repo_of_pickles_is_refused_in_one_line(fake, tmp_path, monkeypatch):
    hub_env(monkeypatch, fake, tmp_path / "hf")
    fake.put("me/pickled", {"pytorch_model.bin": b"\x80\x04not unpickled", "config.json": b"{}"})
    with pytest.raises(ValueError) as info:
        cz.get_model("hf-hub:me/pickled")
    message = str(info.value)
    assert "no model.safetensors" in message and "pytorch_model.bin" in message and "\n" not in message
    assert not list((tmp_path / "hf").rglob("pytorch_model.bin"))  # never even downloaded


def test_a_repo_without_config_or_a_missing_repo_is_one_line(fake, pushed, tmp_path, monkeypatch):
    hub_env(monkeypatch, fake, tmp_path / "hf")
    fake.put("me/bare", {"model.safetensors": fake.repos[REPO]["model.safetensors"]})
    with pytest.raises(ValueError, match=r"hf-hub:me/bare has no config.json"):
        cz.Classifier.from_pretrained("hf-hub:me/bare", device="cpu")
    with pytest.raises(ValueError, match=r"hf-hub:me/nothing: no such repo"):
        cz.get_model("hf-hub:me/nothing")
    with pytest.raises(ValueError, match=r"hf-hub:OWNER/REPO"):
        cz.get_model("hf-hub:just-a-name")


def test_push_refuses_what_is_not_a_training_checkpoint(fake, tmp_path, monkeypatch, capsys):
    hub_env(monkeypatch, fake, tmp_path / "hf")
    pickle = tmp_path / "model.pth"
    torch.save({"w": torch.zeros(1)}, pickle)
    bare = tmp_path / "bare.safetensors"
    bare.write_bytes(b"\0" * 8)
    asked = len(fake.requests)
    for path, why in [(pickle, "not a .safetensors file"), (bare, "no sidecar bare.json")]:
        assert main(["push", str(path), "me/wrong"]) == 2
        err = capsys.readouterr().err
        assert "is not a convzoo training checkpoint" in err and why in err and err.count("\n") == 1
    assert len(fake.requests) == asked  # refused before any request


def test_a_missing_hub_extra_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(ValueError, match=r"pip install 'convzoo\[hub\]'"):
        hub_weights.import_hub()
