"""A griffe extension (mkdocs.yml: mkdocstrings' `extensions`) that shows convzoo's
docstrings as they read in `help()`.

convzoo's docstrings list parameters one per line, `name: what it is`, continued on
the next lines:

    weights: None (random init) | "DEFAULT" | a weights tag | a local checkpoint
    path (...) | a state_dict.
    num_classes: size of the classifier; ...

Markdown would run those lines into one paragraph. A paragraph whose first line is such
an item, with at least two items, becomes a list instead (one item per `name:` line,
the lines after it its continuation); a `>>>` example becomes a code block (Markdown
would read it as three nested quotes). Nothing else changes: indented blocks stay code,
fenced blocks stay as written. The source is not touched; only the rendered page is."""
from __future__ import annotations

import re

import griffe

# `name:`, `name (when):`, `name "value":` at the start of an unindented line.
ITEM = re.compile(r'^(`?[A-Za-z_][\w.]*`?(?: \([^)]*\)| "[^"]*")?):\s+(\S.*)$')


def _item(line: str):
    match = ITEM.match(line)
    if not match or "://" in line[: match.end(1) + 3]:
        return None
    name = match.group(1)
    return (name if name.startswith("`") else f"`{name}`"), match.group(2)


def _as_list(paragraph: list[str]) -> list[str] | None:
    if _item(paragraph[0]) is None or sum(_item(line) is not None for line in paragraph) < 2:
        return None
    if any(line.startswith((" ", "\t")) for line in paragraph):
        return None
    out = []
    for line in paragraph:
        item = _item(line)
        out.append(f"- {item[0]}: {item[1]}" if item else f"  {line}")
    return out


def as_markdown(text: str) -> str:
    """TEXT with its `name: ...` paragraphs made Markdown lists."""
    lines, out, paragraph, fenced = text.split("\n"), [], [], False

    def flush():
        if paragraph and paragraph[0].startswith(">>>"):  # a doctest: code, not a quote in a quote in a quote
            out.extend(["```pycon", *paragraph, "```"])
        else:
            out.extend(_as_list(paragraph) or paragraph)
        paragraph.clear()

    for line in lines:
        if line.lstrip().startswith("```"):
            flush()
            fenced = not fenced
            out.append(line)
        elif fenced:
            out.append(line)
        elif not line.strip():
            flush()
            out.append(line)
        else:
            paragraph.append(line)
    flush()
    return "\n".join(out)


class ParameterLists(griffe.Extension):
    def on_instance(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None and obj.docstring.value:
            obj.docstring.value = as_markdown(obj.docstring.value)
