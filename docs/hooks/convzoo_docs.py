"""MkDocs hooks of convzoo's site (mkdocs.yml: `hooks:`), run by `mkdocs build` and `mkdocs serve`.

Two pages are written from what is there when the site is built, so they cannot drift:

- cli.md: the command-line reference, read from the argparse parsers that `convzoo`
  itself runs (`convzoo.cli.build_parser`): every command, its usage line, its options
  with the help and default that `convzoo COMMAND --help` prints, its example.
- tutorials.md: the list of notebooks in docs/tutorials/ (title and first sentence of
  each), and the site's navigation gets one entry per notebook, in file-name order.
  A notebook that is added, renamed or removed changes both; nothing is listed by hand.
"""
from __future__ import annotations

import argparse
import html
import json
import os
import re
from contextlib import contextmanager
from pathlib import Path

CLI_MARKER = "<!-- cli-reference -->"
TUTORIALS_START = "<!-- tutorials:start -->"
TUTORIALS_END = "<!-- tutorials:end -->"
TUTORIALS_NAV = "Tutorials"  # the nav section the notebooks are appended to
TUTORIALS_DIR = "tutorials"


# ----------------------------------------------------------------------------- tutorials

def notebooks(docs_dir: str | Path) -> list[dict]:
    """The notebooks in DOCS/tutorials/, in file-name order: path (relative to docs/),
    title (the first `# ` heading, else the file name) and summary (the first sentence
    of the text under it)."""
    found = []
    for path in sorted((Path(docs_dir) / TUTORIALS_DIR).glob("*.ipynb")):
        title, summary = _notebook_title(path)
        found.append({"path": f"{TUTORIALS_DIR}/{path.name}", "title": title, "summary": summary})
    return found


def _notebook_title(path: Path) -> tuple[str, str]:
    fallback = path.stem.replace("_", " ")
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return fallback, ""
    for cell in cells:
        if cell.get("cell_type") != "markdown":
            continue
        text = "".join(cell.get("source", []))
        heading = re.search(r"^#\s+(.+)$", text, re.M)
        if not heading:
            continue
        after = text[heading.end():]
        paragraph = next((p.strip() for p in re.split(r"\n\s*\n", after)
                          if p.strip() and not p.lstrip().startswith(("#", "!", "<", "|", "```"))), "")
        sentence = re.split(r"(?<=[.!?])\s", " ".join(paragraph.split()), maxsplit=1)[0]
        return heading.group(1).strip(), sentence
    return fallback, ""


def tutorials_markdown(docs_dir: str | Path, page_dir: str = "") -> str:
    """The list of tutorials, linked relative to a page in PAGE_DIR (relative to docs/)."""
    found = notebooks(docs_dir)
    if not found:
        return "*No tutorial notebook is in `docs/tutorials/` yet.*"
    lines = []
    for nb in found:
        link = os.path.relpath(nb["path"], page_dir or ".").replace(os.sep, "/")
        summary = f": {nb['summary']}" if nb["summary"] else ""
        lines.append(f"- [{nb['title']}]({link}){summary}")
    return "\n".join(lines)


def _add_notebooks_to_nav(nav: list, docs_dir: str) -> None:
    for item in nav or []:
        if isinstance(item, dict) and TUTORIALS_NAV in item and isinstance(item[TUTORIALS_NAV], list):
            section = item[TUTORIALS_NAV]
            listed = {next(iter(e.values())) if isinstance(e, dict) else e for e in section}
            section.extend({nb["title"]: nb["path"]} for nb in notebooks(docs_dir) if nb["path"] not in listed)


# ----------------------------------------------------------------------------- CLI reference

@contextmanager
def _columns(width: int):
    """argparse wraps its usage lines to $COLUMNS: a fixed width makes the page the same everywhere."""
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before


def _cell(text: str) -> str:
    """Text for a Markdown table cell: one line, pipes escaped, no HTML."""
    return html.escape(" ".join(text.split()), quote=False).replace("|", "\\|")


def _option_name(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    names = ", ".join(action.option_strings)
    if action.nargs == 0:
        return f"`{names}`"
    if action.metavar is not None:
        metavar = action.metavar if isinstance(action.metavar, str) else " ".join(action.metavar)
    elif action.choices is not None:
        metavar = "{" + ",".join(map(str, action.choices)) + "}"
    else:
        metavar = action.dest.upper()
    if action.nargs in ("*", "+", "?"):
        metavar = f"[{metavar}]" if action.nargs == "?" else f"{metavar}..."
    return f"`{names} {metavar}`"


def _subcommands(parser: argparse.ArgumentParser) -> tuple[argparse._SubParsersAction, dict[str, str]]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub, {a.dest: a.help or "" for a in sub._choices_actions}


def cli_markdown(parser: argparse.ArgumentParser | None = None) -> str:
    """The reference of every `convzoo` command, from its argparse parser."""
    if parser is None:
        from convzoo.cli import build_parser

        parser = build_parser()
    sub, summaries = _subcommands(parser)
    out = ["| command | what it does |", "|---|---|"]
    out += [f"| [`convzoo {name}`](#convzoo-{name}) | {_cell(summaries.get(name, ''))} |" for name in sub.choices]
    with _columns(80):
        for name, command in sub.choices.items():
            out += ["", f"## convzoo {name}", ""]
            if summaries.get(name):
                out += [summaries[name][0].upper() + summaries[name][1:] + ".", ""]
            if command.description:
                out += [command.description, ""]
            out += ["```text", command.format_usage().strip(), "```", ""]
            formatter = command._get_formatter()
            for group in command._action_groups:
                actions = [a for a in group._group_actions if a.help is not argparse.SUPPRESS
                           and not isinstance(a, argparse._HelpAction)]
                if not actions:
                    continue
                out += [f"**{group.title[0].upper() + group.title[1:]}**", ""]
                if group.description:
                    out += [group.description, ""]
                out += ["| argument | meaning |", "|---|---|"]
                for action in actions:
                    out.append(f"| {_option_name(action)} | {_cell(formatter._expand_help(action) if action.help else '')} |")
                out.append("")
            example = (command.epilog or "").partition("example:")[2].strip()
            if example:
                out += ["Example:", "", "```bash", example, "```"]
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- MkDocs events

def on_config(config, **kwargs):
    _add_notebooks_to_nav(config.get("nav"), config["docs_dir"])
    return config


def on_page_markdown(markdown, page, config, files, **kwargs):
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_markdown())
    if TUTORIALS_START in markdown and TUTORIALS_END in markdown:
        head, _, rest = markdown.partition(TUTORIALS_START)
        _, _, tail = rest.partition(TUTORIALS_END)
        page_dir = os.path.dirname(page.file.src_uri)
        markdown = f"{head}{TUTORIALS_START}\n{tutorials_markdown(config['docs_dir'], page_dir)}\n{TUTORIALS_END}{tail}"
    return markdown
