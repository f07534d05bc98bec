"""`convzoo eval --report DIR`: a self-contained HTML page of the evaluation,
opened offline in a real browser (Playwright driving Debian's chromium, as
tests/serve/test_serve_page.py does; CONVZOO_REQUIRE_BROWSER or CI makes a
missing browser a failure), and written atomically.

One model is fine-tuned for the whole module: efficientnet_lite0 from its
shipped ImageNet weights, 2 epochs on 24 real MNIST digits at 64 px (the last
stage's map is 2x2 there, so Grad-CAM has something to show); it gets about
half of them right, so there are mistakes and correct images to show. Every file name holds HTML ("<u>", quotes,
"&"), so that escaping is tested on every card.
Set CONVZOO_SCREENSHOT=path.png to keep the page's screenshot."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from convzoo.cli import main
from convzoo.tasks.train.evaluate import misclassified
from convzoo.tasks.train.loop import TrainConfig, train

from mnist_folder import write_mnist_folder

HOSTILE = "<u>{}&'\".png"  # an HTML tag, an ampersand and both quotes in every file name


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    root = write_mnist_folder(tmp_path_factory.mktemp("digits"), per_class=8, classes=range(3))
    for path in sorted(root.glob("*/*.png")):
        path.rename(path.with_name(HOSTILE.format(path.stem)))
    return root


@pytest.fixture(scope="module")
def checkpoint(digits, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    train(TrainConfig(data=str(digits), model="efficientnet_lite0", weights="DEFAULT", epochs=2, batch_size=8,
                      image_size=64, out=str(out), progress=False, seed=0))
    return out / "best.safetensors"


@pytest.fixture(scope="module")
def report(digits, checkpoint, tmp_path_factory):
    """(eval --json's output, the report folder) of one `eval --all --report` run."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("reports") / "report"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
        code = main(["eval", str(digits), "--checkpoint", str(checkpoint), "--all", "--json", "--report", str(out)])
    assert code == 0
    return json.loads(stdout.getvalue()), out


def test_the_report_opens_offline_with_a_card_per_mistake(chromium, report, tmp_path):
    from playwright.sync_api import sync_playwright

    metrics, out = report
    wrong = metrics["misclassified"]
    assert metrics["report"] == str(out / "index.html")
    assert 0 < len(wrong) < 100  # mistakes to show, under the default --report-top
    assert not [p for p in out.parent.iterdir() if p.name != "report"]  # no temporary folder left
    aborted, requested = [], []

    def only_files(route):
        requested.append(route.request.url)
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            aborted.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.route("**/*", only_files)
        page.goto((out / "index.html").as_uri(), wait_until="load")
        assert aborted == []
        assert page.locator(".card.mistake").count() == len(wrong)
        assert page.locator(".note.more").count() == 0
        # The cards in eval's order (most confident first), each naming its file, escaped: no <u> in the page.
        names = page.locator(".card.mistake .file").evaluate_all("els => els.map(e => e.title)")
        assert names == [m["path"] for m in wrong]
        assert page.locator("u").count() == 0 and "<u>" in page.locator(".card .file").first.inner_text()
        assert 0 < page.locator(".card.correct").count() <= 4 * 3
        images = page.evaluate("Array.from(document.images).map(i => [i.getAttribute('src'), i.complete && "
                               "i.naturalWidth])")
        assert len(images) == 2 * page.locator(".card").count() + 3  # image + Grad-CAM per card; ROC, PR, reliability
        assert [src for src, width in images if not width] == []
        assert {"roc_curve.png", "pr_curve.png", "reliability.png"} <= {src for src, _ in images}
        assert page.locator("table.cm").count() == 2 and page.locator("table.per-class tr").count() == 1 + 3
        assert all(url.startswith("file://") for url in requested)
        shot = Path(os.environ.get("CONVZOO_SCREENSHOT") or tmp_path / "report.png")
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 50_000
        browser.close()


def test_a_report_into_a_file_or_a_foreign_folder_is_refused_in_one_line(digits, checkpoint, tmp_path, run_cli):
    target = tmp_path / "report.html"
    target.write_text("mine")
    code, _, err = run_cli(["eval", str(digits), "--checkpoint", str(checkpoint), "--report", str(target)])
    assert code == 2 and err.count("\n") == 1 and "is a file" in err and target.read_text() == "mine"
    folder = tmp_path / "photos"
    (folder / "keep.jpg").parent.mkdir()
    (folder / "keep.jpg").write_bytes(b"holiday")
    code, _, err = run_cli(["eval", str(digits), "--checkpoint", str(checkpoint), "--report", str(folder)])
    assert code == 2 and err.count("\n") == 1 and "other files" in err
    assert [p.name for p in folder.iterdir()] == ["keep.jpg"]


def test_a_failure_midway_leaves_the_old_report_and_no_temporary_folder(digits, checkpoint, report, tmp_path,
                                                                        monkeypatch, run_cli):
    from convzoo.tasks.anatomy import explain

    def broken(*args, **kwargs):
        raise RuntimeError("Grad-CAM broke")

    monkeypatch.setattr(explain, "grad_cam", broken)
    new = tmp_path / "new"
    code, _, err = run_cli(["eval", str(digits), "--checkpoint", str(checkpoint), "--all", "--no-progress",
                            "--report", str(new)])
    assert code == 2 and "Grad-CAM broke" in err
    assert list(tmp_path.iterdir()) == []  # neither DIR nor its temporary sibling

    old = tmp_path / "old"
    shutil.copytree(report[1], old)
    before = {p.relative_to(old): p.read_bytes() for p in old.rglob("*") if p.is_file()}
    code, _, err = run_cli(["eval", str(digits), "--checkpoint", str(checkpoint), "--all", "--no-progress",
                            "--report", str(old)])
    assert code == 2 and "Grad-CAM broke" in err
    assert {p.relative_to(old): p.read_bytes() for p in old.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["old"]


def test_a_new_report_replaces_an_old_one_and_a_positive_class_has_evals_curves(digits, checkpoint, report,
                                                                                   tmp_path, run_cli):
    old = tmp_path / "old"
    shutil.copytree(report[1], old)
    (old / "img" / "stale.jpg").write_bytes(b"from the old report")
    code, out, _ = run_cli(["eval", str(digits), "--checkpoint", str(checkpoint), "--positive", "1", "--no-progress",
                            "--plots", str(tmp_path / "plots"), "--report", str(old)])
    assert code == 0 and out.endswith(f"report: {old / 'index.html'}\n")
    page = (old / "index.html").read_text()
    assert "Operating point of 1" in page and not (old / "img" / "stale.jpg").exists()
    # roc_pr.py's curves, as eval writes them to --plots, with the rule's operating point.
    assert {"roc_curve.png", "pr_curve.png", "reliability.png"} <= {p.name for p in old.iterdir()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old", "plots"]


def test_cards_follow_evals_mistakes_and_count_those_over_the_cap():
    from convzoo.tasks.train.report import choose_cards
    from convzoo.tasks.train.report_html import render

    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4], [0.1, 0.9], [0.45, 0.55]])
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    decisions = probs.argmax(1)
    dataset = SimpleNamespace(samples=[SimpleNamespace(path=Path(f"/d/{i}.png")) for i in range(6)])
    cards, hidden = choose_cards(dataset, probs, labels, decisions, ["a", "b"], top=2, per_class=1)
    expected = misclassified(dataset, labels, probs, decisions, ["a", "b"])
    assert [c.path for c in cards if c.kind == "mistake"] == [m["path"] for m in expected][:2] and hidden == 1
    assert [(c.path, c.true) for c in cards if c.kind == "correct"] == [("/d/0.png", "a"), ("/d/4.png", "b")]
    metrics = {"classes": ["a", "b"], "per_class": {}, "confusion_matrix": [[1, 2], [1, 2]], "accuracy": 0.5}
    page = render(metrics, cards, hidden, {}, [], "convzoo eval --report")
    assert page.count('class="card mistake"') == 2 and "1 more not shown" in page
