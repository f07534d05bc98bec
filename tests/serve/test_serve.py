"""The REST API of `convzoo serve`, through FastAPI's test client: real
weights (EfficientNet-Lite0/1, packaged), real photos, and every error a
client can cause answered with a 4xx and a reason, never a 500."""
from __future__ import annotations

import base64
import io
import sys

import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="convzoo[serve] is part of [test]")
from fastapi.testclient import TestClient  # noqa: E402

from convzoo.cli import main  # noqa: E402
from convzoo.serve.app import create_app  # noqa: E402
from convzoo.serve.chart import chart_points, read_bench_results  # noqa: E402
from convzoo.serve.pool import ModelPool  # noqa: E402
from convzoo.tasks.choose.bench_output import write_results  # noqa: E402
from convzoo.tasks.predict.classifier import Classifier  # noqa: E402
from paths import EXAMPLES  # noqa: E402

MODELS = ["efficientnet_lite0", "efficientnet_lite1"]
CATS = {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat"}


@pytest.fixture(scope="module")
def client():
    pool = ModelPool.matching(MODELS)
    return TestClient(create_app(pool, max_upload_mb=1))


def upload(client, data: bytes, name="chelsea.png", **form):
    return client.post("/v1/predict", files={"file": (name, data, "image/png")}, data=form)


def test_health_and_models(client):
    assert client.get("/healthz").json()["status"] == "ok"
    listed = client.get("/v1/models").json()["models"]
    assert [m["name"] for m in listed] == MODELS
    assert all(m["offline"] and m["acc1"] > 70 for m in listed)  # the packaged ImageNet weights


def test_predict_two_models_equals_the_library(client):
    photo = (EXAMPLES / "chelsea.png").read_bytes()
    answer = upload(client, photo, models=",".join(MODELS), topk="5", explain="true")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["image"] == {"name": "chelsea.png", "width": 451, "height": 300}
    assert [r["model"] for r in body["results"]] == MODELS
    for result in body["results"]:
        # The same answer as the library's Classifier on the same file.
        expected = Classifier(result["model"], progress=False).predict([EXAMPLES / "chelsea.png"], topk=5)[0]
        assert [t["label"] for t in result["topk"]] == expected.labels
        assert [t["probability"] for t in result["topk"]] == pytest.approx(expected.probs, abs=1e-5)
        assert result["topk"][0]["label"] in CATS and result["ms"] > 0
        # The decision (issue 26): a pretrained model decides by the argmax, with its probability.
        assert result["decision"] == expected.decision == result["topk"][0]["label"]
        assert result["probability"] == pytest.approx(expected.probability, abs=1e-5)
        # The Grad-CAM overlay: a PNG of the photo's shape, for the card's top class.
        png = base64.b64decode(result["heatmap"].removeprefix("data:image/png;base64,"))
        overlay = Image.open(io.BytesIO(png))
        assert overlay.format == "PNG" and max(overlay.size) == 448
        assert overlay.size[0] / overlay.size[1] == pytest.approx(451 / 300, rel=0.01)
        assert result["heatmap_label"] == result["topk"][0]["label"]


def test_without_explain_no_heatmap_and_default_model(client):
    body = upload(client, (EXAMPLES / "coffee.png").read_bytes(), name="coffee.png", topk="3").json()
    assert [r["model"] for r in body["results"]] == MODELS[:1]  # no models named: the first served one
    assert len(body["results"][0]["topk"]) == 3 and "heatmap" not in body["results"][0]
    assert body["results"][0]["topk"][0]["label"] == "espresso"
    assert body["results"][0]["decision"] == "espresso"
    assert body["results"][0]["probability"] == body["results"][0]["topk"][0]["probability"]


def test_corrupt_and_truncated_images_are_400(client):
    answer = upload(client, b"this is not a picture" * 20, name="notes.png")
    assert answer.status_code == 400 and "notes.png" in answer.json()["detail"]
    photo = (EXAMPLES / "chelsea.png").read_bytes()
    answer = upload(client, photo[: len(photo) // 2], name="half.png")
    assert answer.status_code == 400 and "half.png" in answer.json()["detail"]
    assert upload(client, b"", name="empty.png").status_code == 400
    # A decompression bomb: a few KB of PNG that would decode to 169 megapixels.
    bomb = io.BytesIO()
    Image.new("1", (13000, 13000)).save(bomb, format="PNG")
    assert len(bomb.getvalue()) < 2**20
    answer = upload(client, bomb.getvalue(), name="bomb.png")
    assert answer.status_code == 400 and "bomb.png" in answer.json()["detail"], answer.text
    strict = TestClient(create_app(ModelPool.matching(MODELS[:1]), max_pixels=100_000))  # --max-pixels
    answer = upload(strict, photo, name="chelsea.png")  # 451 x 300 = 135,300 pixels
    assert answer.status_code == 400 and "135,300 pixels" in answer.json()["detail"], answer.text


def test_oversize_upload_is_413_declared_or_streamed(client):
    big = b"\0" * (2 * 2**20)  # the app was made with a 1 MiB limit
    answer = upload(client, big, name="big.png")
    assert answer.status_code == 413 and "--max-upload-mb" in answer.json()["detail"]

    def chunks():  # a well-formed multipart upload with no Content-Length: counted as it arrives
        yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n\r\n'
        for _ in range(40):
            yield b"\0" * 65536
        yield b"\r\n--x--\r\n"

    answer = client.post("/v1/predict", content=chunks(), headers={"content-type": "multipart/form-data; boundary=x"})
    assert answer.status_code == 413


def test_unknown_and_unserved_models_are_404(client):
    photo = (EXAMPLES / "coffee.png").read_bytes()
    answer = upload(client, photo, models="efficientnet_lite")
    assert answer.status_code == 404 and "efficientnet_lite0" in answer.json()["detail"]  # close matches
    answer = upload(client, photo, models="resnet50")
    assert answer.status_code == 404 and "not served" in answer.json()["detail"]


def test_bad_fields_are_422(client):
    photo = (EXAMPLES / "coffee.png").read_bytes()
    assert upload(client, photo, topk="0").status_code == 422
    assert upload(client, photo, topk="21").status_code == 422
    assert client.post("/v1/predict", data={"topk": "3"}).status_code == 422  # no file


def test_page_and_its_assets_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and 'id="file"' in page.text and "/static/app.js" in page.text
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/style.css").status_code == 200


def test_chart_takes_bench_latency_over_served(tmp_path):
    models = [{"name": "a", "acc1": 70.0, "served_ms": 12.0}, {"name": "b", "acc1": 80.0, "served_ms": None},
              {"name": "c", "acc1": 75.0, "served_ms": None}]
    path = write_results([{"name": "a", "acc1": 70.0, "latency_batch": 1, "latency_ms": 3.5},
                          {"name": "b", "acc1": 80.0, "latency_batch": 1, "latency_ms": 9.0},
                          {"name": "z", "acc1": 60.0, "latency_batch": 1, "latency_ms": 1.0}], tmp_path / "r.csv")
    points = {p["name"]: p for p in chart_points(models, read_bench_results(path))}
    assert points["a"]["latency_ms"] == 3.5 and points["a"]["source"].startswith("convzoo bench")
    assert points["b"]["latency_ms"] == 9.0
    assert points["c"]["latency_ms"] is None and points["c"]["source"] is None
    assert points["z"] == {"name": "z", "acc1": 60.0, "latency_ms": 1.0, "source": "convzoo bench, batch 1",
                           "served": False}  # benchmarked, not served: still on the chart
    assert chart_points(models, {})[0] == {"name": "a", "acc1": 70.0, "latency_ms": 12.0,
                                           "source": "served here, one image", "served": True}
    (tmp_path / "x.csv").write_text("model,speed\nq,1\n")
    with pytest.raises(ValueError, match="convzoo bench --out"):
        read_bench_results(tmp_path / "x.csv")


def test_serve_cli_errors_are_one_line(capsys, monkeypatch):
    assert main(["serve", "--models", "no_such_model*"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no model with published weights" in err and "\n" not in err
    monkeypatch.setitem(sys.modules, "fastapi", None)  # as if the [serve] extra were not installed
    assert main(["serve"]) == 2
    assert "pip install 'convzoo[serve]'" in capsys.readouterr().err


def test_weights_that_cannot_be_had_are_503(monkeypatch, tmp_path):
    """Offline with an empty cache, ResNet-18's weights cannot be downloaded:
    the server says so (503, the server's state) instead of failing with a 500."""
    monkeypatch.setenv("CONVZOO_OFFLINE", "1")
    monkeypatch.setenv("CONVZOO_HOME", str(tmp_path))
    client = TestClient(create_app(ModelPool.matching(["resnet18"])))
    assert client.get("/v1/models").json()["models"][0]["offline"] is False
    answer = upload(client, (EXAMPLES / "coffee.png").read_bytes(), models="resnet18")
    assert answer.status_code == 503 and "resnet18" in answer.json()["detail"], answer.text
