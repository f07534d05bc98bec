"""The documentation site builds strict, and its generated pages say what the code says.

`mkdocs build --strict` fails on a broken link or anchor, a page missing from the
navigation, an API name mkdocstrings cannot resolve and a docstring it cannot read
(mkdocs.yml's `validation`). The two pages the hooks write (docs/hooks/convzoo_docs.py)
are checked against their sources here: the CLI reference against convzoo's argparse
parsers, the tutorials list against the notebooks in docs/tutorials/."""
from __future__ import annotations

import argparse
import importlib.util
import json
import re

import pytest

from paths import ROOT

DOCS = ROOT / "docs"


def _hooks():
    spec = importlib.util.spec_from_file_location("convzoo_docs_hooks", DOCS / "hooks" / "convzoo_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _notebooks() -> list[str]:
    return sorted(p.stem for p in (DOCS / "tutorials").glob("*.ipynb"))


def test_site_builds_strict(built_site):
    assert built_site.returncode == 0, f"mkdocs build --strict failed:\n{built_site.output[-6000:]}"
    print(f"mkdocs build --strict: {built_site.seconds:.1f} s")
    site = built_site.path
    for page in ["index.html", "install/index.html", "tutorials/index.html", "cli/index.html",
                 "api/models/index.html", "design/index.html", "fast-inference/index.html"]:
        assert (site / page).is_file(), page
    # The API reference holds the docstrings, not just headings.
    api = (site / "api" / "models" / "index.html").read_text()
    assert 'id="convzoo.get_model"' in api and "Build a registered model" in api
    # Every notebook is a page of the site (rendered, not executed), and in the navigation.
    home = (site / "index.html").read_text()
    for name in _notebooks():
        assert (site / "tutorials" / name / "index.html").is_file(), name
        assert f"tutorials/{name}/" in home, f"{name} is not in the site's navigation"


def test_cli_reference_covers_every_command_and_option(built_site):
    from convzoo.cli import build_parser

    assert built_site.returncode == 0, built_site.output[-3000:]
    page = (built_site.path / "cli" / "index.html").read_text()
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in sub.choices.items():
        assert f'id="convzoo-{name}"' in page, name
        for action in command._actions:
            for flag in action.option_strings:
                if flag not in ("-h", "--help"):
                    assert flag in page, f"convzoo {name} {flag}"


def test_cli_markdown_is_the_parsers_help():
    """Every option's help, as `convzoo COMMAND --help` expands it (defaults included)."""
    from convzoo.cli import build_parser

    parser = build_parser()
    text = _hooks().cli_markdown(parser)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert re.findall(r"^## convzoo (\S+)$", text, re.M) == list(sub.choices)
    predict = text.split("## convzoo predict", 1)[1].split("\n## ", 1)[0]
    assert "`--topk TOPK` | classes shown per image (default: 5) |" in predict
    assert "convzoo predict examples/coffee.png examples/chelsea.png --topk 3" in predict
    assert "**Inference runtime (convzoo.optimize)**" in predict


def _write_notebook(path, title: str, text: str) -> None:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": [f"# {title}\n", "\n", text]},
             {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": ["1 + 1"]}]
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


def test_tutorials_list_and_navigation_follow_the_notebooks(tmp_path):
    hooks = _hooks()
    (tmp_path / "tutorials").mkdir()
    assert "No tutorial notebook" in hooks.tutorials_markdown(tmp_path)
    _write_notebook(tmp_path / "tutorials" / "02_second.ipynb", "Second", "Two. More text.")
    _write_notebook(tmp_path / "tutorials" / "01_first.ipynb", "First steps", "What a CNN is. And more.")
    assert hooks.tutorials_markdown(tmp_path) == ("- [First steps](tutorials/01_first.ipynb): What a CNN is.\n"
                                                  "- [Second](tutorials/02_second.ipynb): Two.")
    nav = [{"Home": "index.md"},
           {"Tutorials": [{"Overview": "tutorials.md"}, {"Second": "tutorials/02_second.ipynb"}]}]
    hooks._add_notebooks_to_nav(nav, str(tmp_path))
    assert nav[1]["Tutorials"] == [{"Overview": "tutorials.md"}, {"Second": "tutorials/02_second.ipynb"},
                                   {"First steps": "tutorials/01_first.ipynb"}]


def test_tutorials_page_lists_the_notebooks_there_are():
    """docs/tutorials.md's own list (what GitHub shows; the site writes it afresh) names
    every notebook in docs/tutorials/ and no other."""
    notebooks = _notebooks()
    if not notebooks:
        pytest.skip("no notebook in docs/tutorials/ yet")
    page = (DOCS / "tutorials.md").read_text()
    listed = page.split("<!-- tutorials:start -->", 1)[1].split("<!-- tutorials:end -->", 1)[0]
    assert sorted(re.findall(r"\(tutorials/(\w+)\.ipynb\)", listed)) == notebooks


def test_parameter_lines_and_doctests_render_as_they_read():
    """docs/hooks/griffe_docstrings.py: `name: meaning` lines become a list, `>>>` a code block."""
    pytest.importorskip("griffe", reason="the [docs] extra (mkdocstrings) brings griffe")
    spec = importlib.util.spec_from_file_location("griffe_docstrings", DOCS / "hooks" / "griffe_docstrings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    doc = ("Build it.\n\nweights: None | a tag\nor a path.\nin_chans (RGB weights): adapted.\n\n"
           ">>> build()\n\nSee https://example.org: a link.\n\n    indented: code\n    more: code")
    assert module.as_markdown(doc) == (
        "Build it.\n\n- `weights`: None | a tag\n  or a path.\n- `in_chans (RGB weights)`: adapted.\n\n"
        "```pycon\n>>> build()\n```\n\nSee https://example.org: a link.\n\n    indented: code\n    more: code")
