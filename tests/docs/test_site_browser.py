"""The documentation site in a real browser, offline: Playwright driving Debian's chromium,
headless, over the site built once for the session (conftest.built_site), served from
127.0.0.1. Any request that would leave this machine is refused and fails the test, so
the site works without a network (no web fonts, no CDN).

Three pages: the home page, an API page, a tutorial; and the newcomer's path, home ->
Tutorials -> a notebook, in two clicks. Set CONVZOO_SCREENSHOT=DIR to keep the
screenshots (home.png, api.png, tutorial.png)."""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import pytest
from static_server import StaticServer

from paths import ROOT


@pytest.fixture(scope="module")
def site_url(built_site):
    assert built_site.returncode == 0, f"mkdocs build --strict failed:\n{built_site.output[-3000:]}"
    server = StaticServer(built_site.path)
    yield server.url
    server.close()


@pytest.fixture
def browser_page(chromium, tmp_path):
    """A page that may only reach 127.0.0.1; yields (page, what it tried elsewhere, its script errors)."""
    from playwright.sync_api import sync_playwright

    outside, errors = [], []

    def only_local(route):
        if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.route("**/*", only_local)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page, outside, errors
        browser.close()


def _screenshot(page, name: str, tmp_path: Path) -> None:
    folder = Path(os.environ.get("CONVZOO_SCREENSHOT") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=False)


def _first_notebook() -> str:
    notebooks = sorted((ROOT / "docs" / "tutorials").glob("*.ipynb"))
    if not notebooks:
        pytest.skip("no notebook in docs/tutorials/ yet")
    return notebooks[0].stem


def test_home_page(site_url, browser_page, tmp_path):
    from playwright.sync_api import expect

    page, outside, errors = browser_page
    page.goto(site_url + "/")
    expect(page.locator("article h1").first).to_contain_text("convzoo")
    expect(page.locator("article pre code").first).to_contain_text("convzoo predict examples/coffee.png")
    for tab in ("Tutorials", "Guides", "Reference"):
        expect(page.locator(".md-tabs__link", has_text=tab).first).to_be_visible()
    _screenshot(page, "home", tmp_path)
    assert outside == [] and errors == []


def test_api_page(site_url, browser_page, tmp_path):
    from playwright.sync_api import expect

    page, outside, errors = browser_page
    page.goto(site_url + "/api/models/")
    heading = page.locator('[id="convzoo.get_model"]')
    expect(heading).to_be_visible()
    expect(page.locator(".doc-contents").first).to_contain_text("Build a registered model")
    expect(page.locator(".doc-signature").first).to_contain_text("get_model")
    _screenshot(page, "api", tmp_path)
    assert outside == [] and errors == []


def test_tutorial_page_in_two_clicks_from_home(site_url, browser_page, tmp_path):
    from playwright.sync_api import expect

    name = _first_notebook()
    page, outside, errors = browser_page
    page.goto(site_url + "/")
    page.locator(".md-tabs__link", has_text="Tutorials").first.click()  # click 1: the Tutorials tab
    expect(page.locator("article h1").first).to_contain_text("Tutorials")
    page.locator(f'article a[href*="{name}"]').first.click()  # click 2: the first notebook
    expect(page).to_have_url(f"{site_url}/tutorials/{name}/")
    notebook = page.locator(".jupyter-wrapper")
    expect(notebook).to_be_visible()
    expect(notebook.locator(".jp-Cell").first).to_be_visible()
    assert notebook.locator(".jp-CodeCell").count() >= 1
    _screenshot(page, "tutorial", tmp_path)
    assert outside == [] and errors == []
