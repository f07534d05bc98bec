"""The README's commands are the ones that run: CI calls the test command verbatim.

The Python snippets of the README and of the documentation site's pages (docs/*.md,
where most of what the README used to say now lives) are run as written, page by
page, in a folder holding what their reader has at hand."""
import re
from pathlib import Path

import pytest

from paths import EXAMPLES, ROOT

DOCS = ROOT / "docs"
# design.md's one Python block is the API contract written as signatures, not a program.
NOT_RUN = {"docs/design.md"}


def _readme_commands() -> list[str]:
    return re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text())


def test_readme_starts_with_main_job_and_test_commands():
    main_job, tests = _readme_commands()[:2]
    assert "pip install -e ." in main_job and "convzoo predict examples/" in main_job
    assert "pip install -e '.[test]'" in tests and "pytest" in tests


def test_ci_runs_the_readme_test_command():
    tests = _readme_commands()[1]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci, ".ci/run must run the README's test command verbatim"


def test_readme_is_short():
    """The README is the way in; the documentation site holds the rest (issue 30)."""
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150


def _python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.+?)\n```", page.read_text(), re.S)


def _pages() -> list[str]:
    """README.md, then the site's pages, as paths relative to the repository."""
    pages = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    return [str(p.relative_to(ROOT)) for p in pages if str(p.relative_to(ROOT)) not in NOT_RUN]


def _snippets_by_page() -> dict[str, list[str]]:
    """Each page's Python blocks, a block already run for an earlier page left out
    (docs/quickstart.md repeats the README's quickstart)."""
    seen, by_page = set(), {}
    for page in _pages():
        blocks = [b for b in _python_blocks(ROOT / page) if b not in seen]
        seen.update(blocks)
        if blocks:
            by_page[page] = blocks
    return by_page


SNIPPETS = _snippets_by_page()


def test_the_snippets_are_found():
    assert "README.md" in SNIPPETS, "the README has no Python snippet"
    assert sum(map(len, SNIPPETS.values())) >= 10, "the documentation pages have lost their Python snippets"


def _make_users_files(folder: Path) -> None:
    """What a reader of the README has at hand: the example photos, a torchvision
    checkpoint file, a folder of their own labelled images, a new photo."""
    import shutil

    import torch
    import torchvision
    from PIL import Image

    shutil.copytree(EXAMPLES, folder / "examples")
    torch.save(torchvision.models.resnet50().state_dict(), folder / "resnet50-11ad3fa6.pth")
    rng = torch.Generator().manual_seed(0)
    for label, photo in (("coffee", "coffee.png"), ("cat", "chelsea.png")):
        image = Image.open(EXAMPLES / photo).convert("RGB")
        (folder / "my_images" / label).mkdir(parents=True)
        for i in range(5):  # random 60% crops of the real photo
            w, h = image.size
            left, top = (int(torch.randint(0, int(0.4 * s), (1,), generator=rng)) for s in (w, h))
            image.crop((left, top, left + int(0.6 * w), top + int(0.6 * h))).save(
                folder / "my_images" / label / f"{i}.png")
    Image.open(EXAMPLES / "chelsea.png").convert("RGB").save(folder / "new.jpg")


@pytest.mark.parametrize("page", list(SNIPPETS))
def test_python_snippets_run_as_written(page, tmp_path, monkeypatch):
    _make_users_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    for block in SNIPPETS[page]:
        namespace: dict = {"__name__": "__readme__"}
        exec(compile(block, page, "exec"), namespace)
    if page == "README.md":
        assert (tmp_path / "runs" / "mine" / "best.safetensors").is_file()


def _relative_links(page: Path) -> list[str]:
    links = re.findall(r"\]\(([^)\s]+)\)", page.read_text())
    return [link.split("#")[0] for link in links if not re.match(r"[a-z]+:", link) and not link.startswith("#")]


def test_readme_links_lead_somewhere():
    """Every file the README links to is there. The tutorial notebooks are written beside
    this change: until the first is in docs/tutorials/, links to them wait; from then on,
    every link resolves and every notebook is linked."""
    notebooks = sorted(p.name for p in (DOCS / "tutorials").glob("*.ipynb"))
    links = _relative_links(ROOT / "README.md")
    if not notebooks:
        links = [link for link in links if not (link.startswith("docs/tutorials/") and link.endswith(".ipynb"))]
    else:
        linked = {Path(link).name for link in links if link.startswith("docs/tutorials/")}
        assert not set(notebooks) - linked, f"tutorials the README does not link: {set(notebooks) - linked}"
    assert [link for link in links if not (ROOT / link).exists()] == []
