"""`convzoo serve --checkpoint`: fine-tuned models served with their classes,
preprocessing and decision rule, answering as `Classifier.from_checkpoint` does
(issue 28). Tiny random ResNet-18 checkpoints at 32 px, written as `convzoo
train` writes them; real photos."""
from __future__ import annotations

import threading
import time

import pytest
from PIL import Image, ImageOps

pytest.importorskip("fastapi", reason="convzoo[serve] is part of [test]")
from fastapi.testclient import TestClient  # noqa: E402

from convzoo.cli import main  # noqa: E402
from convzoo.data.preprocessing import Preprocessing  # noqa: E402
from convzoo.factory import get_model  # noqa: E402
from convzoo.serve.app import create_app  # noqa: E402
from convzoo.serve.pool import ModelPool  # noqa: E402
from convzoo.tasks.predict.classifier import Classifier  # noqa: E402
from convzoo.tasks.shared.checkpoint import save_checkpoint, update_sidecar  # noqa: E402
from paths import EXAMPLES  # noqa: E402


def make_checkpoint(folder, classes, seed=0, **meta):
    """A random resnet18 checkpoint at 32 px, with a sidecar as `convzoo train` writes it."""
    import torch

    torch.manual_seed(seed)
    model = get_model("resnet18", weights=None, num_classes=len(classes))
    sidecar = {"model": "resnet18", "classes": list(classes), "preprocessing": Preprocessing(32, 37).to_dict(),
               "in_chans": 3, "config": {"hflip": True}, **meta}
    return save_checkpoint(folder, "best", model, sidecar)


def serve_in_thread(app, port):
    """A real uvicorn server on 127.0.0.1:port, in a thread; returns its stop function."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)

    def stop():
        server.should_exit = True
        thread.join(timeout=10)

    return stop


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Six real photos: the two examples, mirrored, and cropped."""
    folder = tmp_path_factory.mktemp("photos")
    paths = []
    for name in ("chelsea", "coffee"):
        image = Image.open(EXAMPLES / f"{name}.png").convert("RGB")
        w, h = image.size
        for tag, variant in (("", image), ("_flip", ImageOps.mirror(image)), ("_crop", image.crop((0, 0, w // 2, h)))):
            variant.save(folder / f"{name}{tag}.png")
            paths.append(folder / f"{name}{tag}.png")
    return paths


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, photos):
    """run_a: three classes, argmax. calibrated: two classes, with a temperature and a
    threshold on "defect" chosen between the photos' probabilities, so both decisions occur."""
    root = tmp_path_factory.mktemp("runs")
    plain = make_checkpoint(root / "run_a", ("cat", "cup", "other"))
    binary = make_checkpoint(root / "calibrated", ("good", "defect"), seed=3,
                             decision={"positive": "defect", "threshold": None, "temperature": 0.2})
    p = sorted(pr.probs[pr.labels.index("defect")]
               for pr in Classifier.from_checkpoint(binary, progress=False).predict(photos, topk=2))
    assert p[2] < p[3], p  # the random model tells the photos apart
    update_sidecar(binary, {"decision": {"positive": "defect", "threshold": (p[2] + p[3]) / 2, "temperature": 0.2,
                                         "chosen_on": {"images": 6, "target": {"recall": 0.5}}}})
    return plain, binary


@pytest.fixture(scope="module")
def client(checkpoints):
    plain, binary = checkpoints
    pool = ModelPool.matching([], checkpoints=[str(plain), f"calib={binary}"])
    return TestClient(create_app(pool, max_upload_mb=1))


def upload(client, path, **form):
    return client.post("/v1/predict", files={"file": (path.name, path.read_bytes(), "image/png")}, data=form)


def test_models_lists_the_fine_tuned_classes_and_rules(client):
    listed = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert list(listed) == ["run_a", "calib"]  # the run folder's name; NAME=PATH
    assert listed["run_a"]["classes"] == ["cat", "cup", "other"] and listed["run_a"]["decision"] == "argmax"
    assert listed["calib"]["classes"] == ["good", "defect"] and listed["run_a"]["input_size"] == 32
    assert listed["calib"]["decision"].startswith("defect when its probability >=")
    assert "temperature 0.2" in listed["calib"]["decision"]


def test_answers_equal_classifier_from_checkpoint(client, checkpoints, photos):
    expected = {name: Classifier.from_checkpoint(path, progress=False).predict(photos, topk=5)
                for name, path in zip(("run_a", "calib"), checkpoints)}
    assert expected["calib"][0].probs != pytest.approx([0.5, 0.5], abs=0.05)
    decisions = set()
    for i, photo in enumerate(photos):
        answer = upload(client, photo, models="run_a,calib", topk="5")
        assert answer.status_code == 200, answer.text
        for result in answer.json()["results"]:
            want = expected[result["model"]][i]
            assert [t["label"] for t in result["topk"]] == want.labels
            assert [t["probability"] for t in result["topk"]] == pytest.approx(want.probs, abs=1e-5)
            assert result["decision"] == want.decision
            assert result["probability"] == pytest.approx(want.probability, abs=1e-5)
            if result["model"] == "calib":
                decisions.add(result["decision"])
    assert decisions == {"good", "defect"}  # the threshold decided, both ways


def test_bad_uploads_are_still_4xx(client, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"not a picture" * 40)
    answer = upload(client, bad, models="calib")
    assert answer.status_code == 400 and "notes.png" in answer.json()["detail"]
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * (2 * 2**20))  # the app was made with a 1 MiB limit
    assert upload(client, big, models="calib").status_code == 413
    assert upload(client, EXAMPLES / "coffee.png", models="run_b").status_code == 404


def test_a_file_that_is_not_a_checkpoint_is_one_line_and_exit_2(checkpoints, tmp_path, capsys, monkeypatch):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("the server started"))
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    no_json = tmp_path / "w" / "best.safetensors"
    no_json.parent.mkdir()
    no_json.write_bytes(checkpoints[0].read_bytes())
    not_json = tmp_path / "nj" / "best.safetensors"
    not_json.parent.mkdir()
    not_json.write_bytes(b"junk")
    not_json.with_suffix(".json").write_text("{not json")
    seg = tmp_path / "seg" / "best.safetensors"
    seg.parent.mkdir()
    seg.write_bytes(b"junk")
    seg.with_suffix(".json").write_text('{"model": "resnet18", "classes": ["a"], "preprocessing": {}, '
                                        '"task": "segmentation"}')
    broken = tmp_path / "broken" / "best.safetensors"
    broken.parent.mkdir()
    broken.write_bytes(b"junk")
    broken.with_suffix(".json").write_text(checkpoints[0].with_suffix(".json").read_text())
    for path, words in ((tmp_path / "missing.safetensors", "not found"), (text, "no sidecar"),
                        (no_json, "no sidecar"), (not_json, "not JSON"), (seg, "segmentation"),
                        (broken, "cannot load it")):
        assert main(["serve", "--checkpoint", str(path)]) == 2, path
        err = capsys.readouterr().err
        assert err.startswith("convzoo: error: --checkpoint ") and err.count("\n") == 1, err
        assert words in err and str(path) in err, err
    assert main(["serve", "--checkpoint", f"x={checkpoints[0]}", "--checkpoint", f"x={checkpoints[1]}"]) == 2
    assert "x is served already" in capsys.readouterr().err


def test_the_page_shows_the_fine_tuned_classes_and_decision(chromium, client, free_port, photos):
    from playwright.sync_api import expect, sync_playwright

    port = free_port()
    stop = serve_in_thread(client.app, port)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True)
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            expect(page.locator("#models input")).to_have_count(2)
            expect(page.locator("#models")).to_contain_text("fine-tuned: good, defect")
            page.uncheck("#explain")
            page.check("#models input[value=calib]")
            page.set_input_files("#file", str(photos[0]))
            page.click("#run")
            expect(page.locator("#status")).to_have_text("done", timeout=60_000)
            cards = page.locator(".result")
            expect(cards).to_have_count(2)
            expect(cards.nth(0).locator("ol.topk li")).to_have_count(3)
            assert {item.split()[0] for item in cards.nth(0).locator("ol.topk li").all_inner_texts()} == \
                {"cat", "cup", "other"}
            expect(cards.nth(1).locator(".decision")).to_contain_text("decision: ")
            assert cards.nth(1).locator(".decision").inner_text().split()[1] in ("good", "defect")
            browser.close()
    finally:
        stop()
