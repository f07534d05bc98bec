"""--resume never runs code from the state file: it loads with weights_only=True."""
from pathlib import Path

import pytest
import torch

from convzoo.cli import main
from convzoo.tasks.shared.checkpoint import load_training_state


class _WritesMarker:
    """Unpickling this calls exec(...), which creates the marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def _malicious_state(path: Path, marker: Path) -> Path:
    # Shaped like a real state, so only the pickled object can give it away.
    torch.save({"epoch": 0, "model": {"w": torch.zeros(1)}, "optimizer": _WritesMarker(marker),
                "scheduler": {}, "history": []}, path)
    return path


def test_the_payload_really_runs_under_a_full_unpickle(tmp_path):
    """The control: the same kind of file does run code when fully unpickled,
    so the refusal below is what keeps the marker from appearing."""
    marker = tmp_path / "control_marker"
    state = _malicious_state(tmp_path / "control.state.pt", marker)
    torch.load(state, weights_only=False)
    assert marker.read_text() == "ran"


def test_malicious_resume_file_is_refused_without_running(tmp_path, capsys):
    marker = tmp_path / "marker"
    state = _malicious_state(tmp_path / "last.state.pt", marker)
    with pytest.raises(ValueError, match="refused"):
        load_training_state(state)
    assert not marker.exists()

    code = main(["train", str(tmp_path / "no-data-needed"), "--model", "resnet18", "--weights", "none",
                 "--epochs", "1", "--out", str(tmp_path / "run"), "--resume", str(state), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert not marker.exists()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("convzoo: error: --resume") and "refused" in lines[0], err


def test_a_file_that_is_not_a_state_is_one_line_error(tmp_path):
    junk = tmp_path / "junk.state.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match=r"unreadable as a training state") as caught:
        load_training_state(junk)
    assert "\n" not in str(caught.value)
    torch.save({"epoch": 1}, tmp_path / "partial.state.pt")
    with pytest.raises(ValueError, match=r"missing history, model, optimizer, scheduler"):
        load_training_state(tmp_path / "partial.state.pt")
