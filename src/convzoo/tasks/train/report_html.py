"""The page of `convzoo eval --report`: one HTML file, its style inline, no
script, its images beside it (relative links), so that it opens offline from
file:// and can be zipped or mailed as a folder. Every name that comes from the
user (classes, files, checkpoints) is escaped."""
from __future__ import annotations

from html import escape
from pathlib import Path

from ...version import __version__
from .evaluate import NAMES, describe_evaluated

HEADLINE = ("accuracy", "balanced_accuracy", "macro_f1", "mcc", "roc_auc", "pr_auc", "log_loss", "brier", "ece")

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; padding: 1em 2em;
       max-width: 1400px; color: #1d232a; background: #fff; }
h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #dde; }
.meta { color: #555; margin: .15em 0; } .warn { background: #fff3cd; border: 1px solid #e0c36c; padding: .4em .7em; }
.tiles { display: flex; flex-wrap: wrap; gap: .6em; }
.tile { border: 1px solid #dde; border-radius: 6px; padding: .4em .8em; min-width: 7.5em; }
.tile .v { font-size: 1.4em; font-weight: 600; } .tile .n { color: #555; font-size: .85em; }
table { border-collapse: collapse; margin: .5em 0; } td, th { border: 1px solid #dde; padding: .2em .55em; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; } th { background: #f4f5f8; }
.cm td { text-align: center; min-width: 2.6em; font-variant-numeric: tabular-nums; }
.cm th.corner { font-weight: normal; color: #555; font-size: .85em; }
.side { display: flex; flex-wrap: wrap; gap: 2em; align-items: flex-start; }
.plots img { max-width: 100%; border: 1px solid #eee; }
.grid { display: flex; flex-wrap: wrap; gap: .7em; }
.card { margin: 0; border: 1px solid #dde; border-radius: 6px; padding: .4em; width: 284px; }
.card.mistake { border-color: #e3a1a1; } .card.correct { border-color: #9fd0a6; }
.card .pair { display: flex; gap: 4px; } .card img { width: 140px; height: auto; display: block; }
.card figcaption { font-size: .9em; margin-top: .3em; word-break: break-all; }
.card .file { color: #555; font-size: .85em; } .bad { color: #b00020; font-weight: 600; }
.note { color: #555; font-style: italic; } footer { margin-top: 2em; color: #777; font-size: .85em; }
"""


def render(metrics: dict, cards, hidden: int, plots: dict, notes: list[str], generator: str) -> str:
    """The page: `cards` (report.Card, their images written), `hidden` mistakes
    over the cap, `plots` {name: file}, `notes` on the heat maps."""
    names = [Path(p).name for p in metrics.get("checkpoints", [])]
    title = f"convzoo eval: {', '.join(names) or 'checkpoint'}"
    mistakes = [c for c in cards if c.kind == "mistake"]
    parts = [f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
             f'<meta name="generator" content="{escape(generator)}">'
             f'<meta name="viewport" content="width=device-width, initial-scale=1">'
             f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
             f"<h1>{escape(title)}</h1>", *_context(metrics),
             "<h2>Metrics</h2>", _tiles(metrics), _per_class(metrics),
             "<h2>Confusion matrix</h2>", '<p class="meta">rows: true class, columns: predicted</p>',
             '<div class="side">', _confusion(metrics, normalised=False), _confusion(metrics, normalised=True),
             "</div>", _plots(metrics, plots),
             f"<h2>Mistakes ({len(mistakes) + hidden}, most confident first"
             f"{f'; the first {len(mistakes)} shown' if hidden else ''})</h2>",
             *[f'<p class="note">{escape(n)}</p>' for n in notes], _mistakes(mistakes, hidden),
             "<h2>Correct, most confident, per class</h2>", _correct(cards, metrics["classes"]),
             f"<footer>convzoo {escape(__version__)}: {escape(' '.join(metrics.get('checkpoints', [])))}</footer>",
             "</body></html>"]
    return "\n".join(parts) + "\n"


def _context(metrics: dict) -> list[str]:
    lines = []
    if "evaluated" in metrics:
        lines.append(describe_evaluated(metrics["evaluated"]))
    if "rule" in metrics:
        lines.append(f"decision: {metrics['rule']['text']}")
    if metrics.get("runtime"):
        lines.append(f"runtime: {metrics['runtime']}" + (f" ({metrics['runtime_note']})"
                                                          if metrics.get("runtime_note") else ""))
    html = [f'<p class="meta">{escape(line)}</p>' for line in lines]
    if metrics.get("optimistic"):
        html.append(f'<p class="warn">OPTIMISTIC: {escape(metrics.get("optimistic_why", ""))}</p>')
    return html


def _tiles(metrics: dict) -> str:
    why = metrics.get("undefined") or {}
    tiles = []
    for name in HEADLINE:
        if name not in metrics:
            continue
        value = metrics[name]
        shown = "undefined" if value is None else f"{value:.4f}"
        tip = f' title="{escape(why[name])}"' if name in why else ""
        tiles.append(f'<div class="tile"{tip}><div class="v">{shown}</div><div class="n">{escape(NAMES[name])}'
                     f"</div></div>")
    never = metrics.get("never_predicted")
    extra = (f'<p class="bad">never predicted: {escape(", ".join(never))} (recall 0: check the decision rule)</p>'
             if never else "")
    return f'<div class="tiles">{"".join(tiles)}</div>' + extra + _operating_point(metrics)


def _operating_point(metrics: dict) -> str:
    section = metrics.get("operating_point")
    if not section:
        return ""
    rule = section["rule"]
    head = "".join(f'<th class="num">{h}</th>' for h in ("threshold", "precision", "recall", "FPR", "flagged",
                                                         "missed"))
    rows = []
    for row in section["table"]:
        mark = ' style="font-weight:600;background:#fff3cd"' if (
            rule["threshold"] is not None and row["threshold"] == rule["threshold"]) else ""
        cells = [f"{row['threshold']:.4f}", *(_num(row[k]) for k in ("precision", "recall", "fpr")),
                 str(row["flagged"]), str(row["missed"])]
        rows.append(f"<tr{mark}>" + "".join(f'<td class="num">{c}</td>' for c in cells) + "</tr>")
    return (f"<h3>Operating point of {escape(section['positive'])} ({section['positives']} images)</h3>"
            f'<p class="meta">flagged when its probability &ge; threshold; the rule: precision '
            f"{_num(rule['precision'])}, recall {_num(rule['recall'])}, FPR {_num(rule['fpr'])}</p>"
            f"<table><tr>{head}</tr>{''.join(rows)}</table>")


def _num(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def _per_class(metrics: dict) -> str:
    rows = "".join(f"<tr><td>{escape(name)}</td>" + "".join(f'<td class="num">{m[k]:.3f}</td>'
                                                           for k in ("precision", "recall", "f1"))
                   + f'<td class="num">{m["support"]}</td></tr>' for name, m in metrics["per_class"].items())
    return ('<h3>Per class</h3><table class="per-class"><tr><th>class</th><th class="num">precision</th>'
            f'<th class="num">recall</th><th class="num">F1</th><th class="num">support</th></tr>{rows}</table>')


def _confusion(metrics: dict, normalised: bool) -> str:
    """The matrix as a table, each cell shaded by its share: blue on the diagonal, red off it."""
    matrix, classes = metrics["confusion_matrix"], metrics["classes"]
    peak = max((v for row in matrix for v in row), default=0) or 1
    head = "".join(f"<th>{escape(c)}</th>" for c in classes)
    rows = []
    for i, (name, row) in enumerate(zip(classes, matrix)):
        total = sum(row)
        cells = []
        for j, v in enumerate(row):
            share = (v / total if total else 0.0) if normalised else v / peak
            colour = (31, 119, 180) if i == j else (214, 39, 40)
            ink = "#fff" if share > 0.55 else "#1d232a"
            text = f"{share:.2f}" if normalised else str(v)
            cells.append(f'<td style="background:rgba({colour[0]},{colour[1]},{colour[2]},{share:.3f});'
                         f'color:{ink}">{text}</td>')
        rows.append(f"<tr><th>{escape(name)}</th>{''.join(cells)}</tr>")
    caption = "row-normalised (recall on the diagonal)" if normalised else "counts"
    kind = "normalised" if normalised else "counts"
    return (f'<div><h3>{caption}</h3><table class="cm" data-matrix="{kind}"><tr><th class="corner">true \\ '
            f"predicted</th>{head}</tr>{''.join(rows)}</table></div>")


def _plots(metrics: dict, plots: dict) -> str:
    names = {"roc": "ROC curve", "pr": "precision-recall curve", "reliability": "reliability diagram"}
    images = "".join(f'<img src="{escape(plots[k])}" alt="{names[k]}" width="500">' for k in names if k in plots)
    missing = "" if "roc" in plots else (
        '<p class="note">no ROC or PR curve: some class has no image here</p>')
    return f'<h2>Curves and calibration</h2><div class="side plots">{images}</div>{missing}'


def _card(card) -> str:
    predicted = f'<span class="bad">{escape(card.predicted)}</span>' if card.kind == "mistake" else escape(
        card.predicted)
    flat = " flat" if card.flat else ""
    return (f'<figure class="card {card.kind}{flat}" data-kind="{card.kind}" data-index="{card.index}">'
            f'<div class="pair"><img src="{escape(card.image)}" alt="image">'
            f'<img src="{escape(card.overlay)}" alt="Grad-CAM of {escape(card.predicted)}"></div>'
            f"<figcaption>true <b>{escape(card.true)}</b>, predicted <b>{predicted}</b> "
            f"(p {card.probability:.3f})<br>{f'p(true) {card.p_true:.3f}, ' if card.kind == 'mistake' else ''}"
            f"loss {card.loss:.2f}<br>"
            f'<span class="file" title="{escape(card.path)}">{escape(Path(card.path).name)}</span>'
            f"</figcaption></figure>")


def _mistakes(mistakes, hidden: int) -> str:
    if not mistakes and not hidden:
        return '<p class="note">no mistakes</p>'
    note = (f'<p class="note more">{hidden} more not shown (--report-top sets how many; --json lists them '
            f"all)</p>" if hidden else "")
    legend = ('<p class="meta">each card: the image, and where the model looked for the class it predicted '
              "(Grad-CAM of its last stage: red hot, blue cold)</p>")
    return legend + f'<div class="grid mistakes">{"".join(_card(c) for c in mistakes)}</div>' + note


def _correct(cards, classes: list[str]) -> str:
    if not any(c.kind == "correct" for c in cards):
        return '<p class="note">none shown</p>'
    html = []
    for name in classes:
        chosen = [c for c in cards if c.kind == "correct" and c.true == name]
        body = "".join(_card(c) for c in chosen) or f'<p class="note">no {escape(name)} image classified right</p>'
        html.append(f'<h3>{escape(name)}</h3><div class="grid correct">{body}</div>')
    return "".join(html)
