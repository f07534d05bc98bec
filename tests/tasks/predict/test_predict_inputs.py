"""`convzoo predict` inputs: huge images, EXIF orientation, folders with other
files, URLs and stdin (issue 11, items 1, 2, 4, 5)."""
import http.server
import io
import json
import shutil
import socket
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path

import pytest
from PIL import Image

from convzoo.cli import main
from convzoo.data.images import ImageError, expand_inputs, load_image

from paths import EXAMPLES

CONVZOO = str(Path(sys.executable).with_name("convzoo"))


def _json_lines(out: str) -> dict[str, dict]:
    return {Path(r["source"]).name: r for r in map(json.loads, out.strip().splitlines())}


# ---- 1. one bad input never sinks the run ---------------------------------------

@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    """A real 15000x13000 PNG (1-bit, 24 KB on disk, 195 million pixels)."""
    path = tmp_path_factory.mktemp("bomb") / "scan.png"
    Image.new("1", (15000, 13000)).save(path)
    return path


def test_huge_image_is_one_error_and_the_others_are_classified(bomb, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(bomb, folder / "scan.png")
    shutil.copy(EXAMPLES / "coffee.png", folder / "coffee.png")
    code = main(["predict", str(folder), "--json", "--topk", "1"])
    out, err = capsys.readouterr()
    assert code == 1
    results = _json_lines(out)
    assert results["coffee.png"]["labels"] == ["espresso"]
    assert "too large" in results["scan.png"]["error"] and "--max-pixels" in results["scan.png"]["error"]
    error_lines = [line for line in err.splitlines() if "scan.png" in line]
    assert len(error_lines) == 1 and "Traceback" not in err


def test_max_pixels_is_per_image_and_leaves_pil_alone(monkeypatch):
    assert Image.MAX_IMAGE_PIXELS == 89478485  # PIL's own default, untouched by importing convzoo
    with pytest.raises(ImageError, match=r"600x400 = 240,000 pixels, over the limit of 1,000"):
        load_image(EXAMPLES / "coffee.png", max_pixels=1000)
    assert load_image(EXAMPLES / "coffee.png", max_pixels=240_000).size == (600, 400)
    # Ours replaces PIL's: above it (or 0, none), PIL's is lifted for that image only, then restored.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    assert load_image(EXAMPLES / "coffee.png").size == (600, 400)
    assert load_image(EXAMPLES / "coffee.png", max_pixels=0).size == (600, 400)
    assert Image.MAX_IMAGE_PIXELS == 1000
    # Below twice PIL's, PIL's own DecompressionBombError fires first and becomes our one-line error.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)
    with pytest.raises(ImageError, match=r"more than 200,000 pixels, over the limit of 150,000"):
        load_image(EXAMPLES / "coffee.png", max_pixels=150_000)


def test_max_pixels_option(capsys):
    assert main(["predict", str(EXAMPLES / "coffee.png"), "--max-pixels", "1000", "--json"]) == 1
    assert "over the limit of 1,000" in capsys.readouterr().err
    assert main(["predict", str(EXAMPLES / "coffee.png"), "--max-pixels", "0", "--json"]) == 0


# ---- 2. EXIF orientation -----------------------------------------------------------

def test_exif_rotated_photo_is_classified_upright(lite0_classifier, tmp_path):
    upright = Image.open(EXAMPLES / "chelsea.png").convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # as a phone held sideways stores it
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to view
    stored.save(tmp_path / "tagged.png", exif=exif)  # lossless, so the pixels match exactly
    stored.save(tmp_path / "untagged.png")
    up, tagged, untagged = lite0_classifier.predict([upright, tmp_path / "tagged.png", tmp_path / "untagged.png"])
    assert load_image(tmp_path / "tagged.png").size == upright.size
    assert tagged.indices == up.indices
    assert tagged.probs == pytest.approx(up.probs, abs=1e-6)
    assert untagged.probs != pytest.approx(up.probs, abs=1e-3)  # the tag is what made the difference


# ---- 4. folders hold other files ---------------------------------------------------

def test_folder_skips_non_images_silently_but_named_files_are_errors(tmp_path, capsys):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(EXAMPLES / "coffee.png", folder / "coffee.png")
    shutil.copy(EXAMPLES / "chelsea.png", folder / "sub" / "CHELSEA.PNG")
    (folder / "README.md").write_text("# my photos")
    (folder / "labels.csv").write_text("a,b")
    assert [p.name for p in expand_inputs([folder])] == ["coffee.png", "CHELSEA.PNG"]
    assert main(["predict", str(folder), "--json"]) == 0
    out, err = capsys.readouterr()
    assert set(_json_lines(out)) == {"coffee.png", "CHELSEA.PNG"} and "README" not in err
    assert main(["predict", str(folder / "README.md"), "--json"]) == 1
    assert "README.md" in capsys.readouterr().err


# ---- 5. URLs and stdin ---------------------------------------------------------------

@pytest.fixture
def http_server(tmp_path):
    """A local server for tmp_path; stops when the test ends."""
    (tmp_path / "coffee.png").write_bytes((EXAMPLES / "coffee.png").read_bytes())
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_url_inputs_are_fetched(http_server, capsys):
    url = f"{http_server}/coffee.png"
    assert main(["predict", url, f"{http_server}/missing.png", "--json", "--topk", "1"]) == 1
    out, err = capsys.readouterr()
    results = {r["source"]: r for r in map(json.loads, out.strip().splitlines())}
    assert results[url]["labels"] == ["espresso"]
    assert "HTTP 404" in results[f"{http_server}/missing.png"]["error"]


def test_unreachable_url_is_a_one_line_error_naming_it(capsys, free_port):
    # A port nobody listens on refuses at once, as an offline machine does.
    url = f"http://127.0.0.1:{free_port()}/photo.jpg"
    assert main(["predict", url, str(EXAMPLES / "coffee.png"), "--timeout", "5"]) == 1
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if url in line]
    assert len(lines) == 1 and "cannot be fetched" in lines[0] and "espresso" in out


def test_url_timeout(capsys):
    """A server that accepts but never answers: the timeout ends the wait."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/photo.jpg"
        assert main(["predict", url, "--timeout", "0.5"]) == 1
        assert f"{url}: no answer within 0.5 s" in capsys.readouterr().err
    finally:
        silent.close()


def test_stdin_image():
    proc = subprocess.run([CONVZOO, "predict", "-", "--json", "--topk", "1"], input=(EXAMPLES / "coffee.png").read_bytes(),
                          capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    record = json.loads(proc.stdout)
    assert record["labels"] == ["espresso"] and record["source"] == "<stdin>"


def test_bytes_from_stdin_are_checked_like_files(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"not an image")))
    assert main(["predict", "-"]) == 1
    assert "<stdin>: not an image" in capsys.readouterr().err
