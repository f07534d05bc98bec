"""Dynamic batching in `convzoo serve` (issue 28): concurrent requests to one
model share a forward pass and each gets its own answer; a full queue is 503
with Retry-After; /healthz answers while it is full; /metrics counts it all.
A real uvicorn server on a free port, a tiny checkpoint, real photos."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi", reason="convzoo[serve] is part of [test]")
pytest.importorskip("prometheus_client", reason="convzoo[serve] is part of [test]")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from test_serve_checkpoint import make_checkpoint, serve_in_thread  # noqa: E402

from convzoo.serve.app import create_app  # noqa: E402
from convzoo.serve.batching import BatchSettings  # noqa: E402
from convzoo.serve.pool import ModelPool  # noqa: E402
from convzoo.tasks.predict.classifier import Classifier  # noqa: E402
from paths import EXAMPLES  # noqa: E402

try:
    import httpx2 as httpx
except ImportError:
    import httpx

PHOTOS = [EXAMPLES / "chelsea.png", EXAMPLES / "coffee.png"]


class Slow:
    """The model, `delay` seconds slower per forward pass: requests pile up behind it."""

    def __init__(self, forward, delay):
        self.forward, self.delay = forward, delay

    def __call__(self, x):
        time.sleep(self.delay)
        return self.forward(x)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("runs") / "parts", ("good", "defect"))


def served(checkpoint, free_port, delay, **batching):
    pool = ModelPool.matching([], checkpoints=[str(checkpoint)], batching=BatchSettings(**batching))
    clf = pool.classifier("parts")
    clf._forward = Slow(clf._forward, delay)
    port = free_port()
    return pool, f"http://127.0.0.1:{port}", serve_in_thread(create_app(pool), port)


def post(url, photo, **form):
    with httpx.Client(timeout=60) as http:
        return http.post(url + "/v1/predict", files={"file": (photo.name, photo.read_bytes(), "image/png")},
                         data=form)


def metric_samples(url) -> dict:
    """{(name, frozenset(labels)): value} of /metrics, parsed back."""
    text = httpx.get(url + "/metrics").text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_concurrent_requests_are_batched_and_answered_each(checkpoint, free_port):
    pool, url, stop = served(checkpoint, free_port, 0.2, max_batch=8, max_wait_ms=20, queue_size=64)
    try:
        sent = [PHOTOS[i % 2] for i in range(12)]
        with ThreadPoolExecutor(12) as threads:
            answers = list(threads.map(lambda photo: post(url, photo, topk="2"), sent))
        expected = dict(zip(PHOTOS, Classifier.from_checkpoint(checkpoint, progress=False).predict(PHOTOS, topk=2)))
        for photo, answer in zip(sent, answers):
            assert answer.status_code == 200, answer.text
            result = answer.json()["results"][0]
            assert result["model"] == "parts" and answer.json()["image"]["name"] == photo.name
            assert [t["label"] for t in result["topk"]] == expected[photo].labels
            assert [t["probability"] for t in result["topk"]] == pytest.approx(expected[photo].probs, abs=1e-5)
            assert result["decision"] == expected[photo].decision
        metrics = metric_samples(url)
        model = frozenset({("model", "parts")})
        assert metrics[("convzoo_batch_size_sum", model)] == 12
        batches = metrics[("convzoo_batch_size_count", model)]
        assert batches < 12  # some forward pass answered more than one request
        assert metrics[("convzoo_batch_size_bucket", model | {("le", "1.0")})] < batches
        assert metrics[("convzoo_requests_total", model | {("status", "200")})] == 12
        assert metrics[("convzoo_request_seconds_count", model)] == 12
        assert metrics[("convzoo_queue_depth", model)] == 0
    finally:
        stop()


def test_a_full_queue_is_503_with_retry_after_and_healthz_still_answers(checkpoint, free_port):
    pool, url, stop = served(checkpoint, free_port, 0.5, max_batch=1, max_wait_ms=0, queue_size=2)
    try:
        with ThreadPoolExecutor(8) as threads:
            pending = [threads.submit(post, url, PHOTOS[0]) for _ in range(8)]
            deadline = time.monotonic() + 10
            while pool.queue_depth("parts") < 2:  # the queue is full
                assert time.monotonic() < deadline, "the queue never filled"
                time.sleep(0.01)
            start = time.perf_counter()
            health = httpx.get(url + "/healthz", timeout=5)
            assert health.status_code == 200 and time.perf_counter() - start < 1
            # It did not wait for the queue: requests still wait (each takes 0.5 s and more).
            assert metric_samples(url)[("convzoo_queue_depth", frozenset({("model", "parts")}))] >= 1
            answers = [p.result() for p in pending]
        refused = [a for a in answers if a.status_code == 503]
        assert refused and len(refused) <= 6 and all(a.status_code in (200, 503) for a in answers)
        for answer in refused:
            assert int(answer.headers["retry-after"]) >= 1 and "--queue-size" in answer.json()["detail"]
        metrics = metric_samples(url)
        model = frozenset({("model", "parts")})
        assert metrics[("convzoo_requests_total", model | {("status", "503")})] == len(refused)
        assert metrics[("convzoo_requests_total", model | {("status", "200")})] == 8 - len(refused)
        assert metrics[("convzoo_batch_size_bucket", model | {("le", "1.0")})] == 8 - len(refused)  # --max-batch 1
        assert metrics[("convzoo_request_seconds_count", model)] == 8
    finally:
        stop()


def test_served_timings_are_a_bounded_window(checkpoint, monkeypatch):
    """A long-running server keeps only the last TIMINGS_KEPT timings per model (the median
    retry_after reads per request), not one more for every request ever served."""
    import statistics

    from convzoo.serve import pool as pool_module
    from PIL import Image

    monkeypatch.setattr(pool_module, "TIMINGS_KEPT", 3)
    pool = ModelPool.matching([], checkpoints=[str(checkpoint)])
    picture = Image.open(PHOTOS[0]).convert("RGB")
    times = [pool.predict(picture, ["parts"])[0].ms for _ in range(5)]
    assert list(pool._timings["parts"]) == times[2:]
    assert pool.served_ms("parts") == round(statistics.median(times[2:]), 2)
