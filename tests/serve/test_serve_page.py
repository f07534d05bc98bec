"""The web page of `convzoo serve`, in a real browser: Playwright driving
Debian's chromium, headless, against the real `convzoo serve` command.

Upload the example photo, choose two models, and see both top-5 lists, a
Grad-CAM overlay each, and the accuracy/latency chart. CI installs chromium
(.ci/run) and sets CONVZOO_REQUIRE_BROWSER: there a missing browser is a
failure, elsewhere a skip that says why.
Set CONVZOO_SCREENSHOT=path.png to keep the screenshot (docs/images/serve.png
was taken so)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from paths import EXAMPLES

CONVZOO = str(Path(sys.executable).with_name("convzoo"))
MODELS = ["efficientnet_lite0", "efficientnet_lite1"]


@pytest.fixture(scope="module")
def server(tmp_path_factory, free_port):
    from convzoo.tasks.choose.bench_output import write_results

    # `convzoo bench` results for one served model and one that is not: the chart's latencies where present.
    bench = write_results([{"name": MODELS[0], "acc1": 75.1, "latency_batch": 1, "latency_ms": 20.0},
                           {"name": "resnet50", "acc1": 80.9, "latency_batch": 1, "latency_ms": 60.0}],
                          tmp_path_factory.mktemp("bench") / "results.csv")
    port = free_port()
    proc = subprocess.Popen([CONVZOO, "serve", "--models", *MODELS, "--port", str(port), "--bench", str(bench)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            if proc.poll() is not None:
                pytest.fail(f"convzoo serve exited: {proc.stdout.read()}")
            try:
                urllib.request.urlopen(url + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.25)
        else:
            pytest.fail("convzoo serve did not answer /healthz within 60 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_upload_two_models_see_top5_heatmaps_and_chart(chromium, server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(server)
        expect(page.locator("#models input")).to_have_count(2)
        page.set_input_files("#file", str(EXAMPLES / "chelsea.png"))
        page.check(f"#models input[value={MODELS[1]}]")  # the first is chosen already
        page.click("#run")
        expect(page.locator("#status")).to_have_text("done", timeout=120_000)

        cards = page.locator(".result")
        expect(cards).to_have_count(2)
        for model, card in zip(MODELS, cards.all()):
            assert card.get_attribute("data-model") == model
            expect(card.locator("ol.topk li")).to_have_count(5)
            assert "cat" in card.locator("ol.topk li").first.inner_text()
            heatmap = card.locator("img.heatmap")
            expect(heatmap).to_be_visible()
            assert heatmap.evaluate("img => img.complete && img.naturalWidth") == 448
        # Three points: Lite0 and ResNet-50 from the bench results, Lite1 timed by the server.
        expect(page.locator("#chart circle.point")).to_have_count(3)
        expect(page.locator("#chart circle.other")).to_have_count(1)
        expect(page.locator("#chart-note")).to_contain_text("convzoo bench, batch 1; served here, one image")

        shot = Path(os.environ.get("CONVZOO_SCREENSHOT") or tmp_path / "serve.png")
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 50_000

        # A file that is not an image: the page shows the server's reason, and goes on.
        bad = tmp_path / "notes.png"
        bad.write_bytes(b"not a picture" * 50)
        page.set_input_files("#file", str(bad))
        page.click("#run")
        expect(page.locator("#results .error")).to_contain_text("400: not a usable image: notes.png")
        expect(page.locator("#status")).to_have_class("error")
        browser.close()
