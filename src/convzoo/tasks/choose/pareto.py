"""The accuracy/latency trade-off: which models no other model beats on both."""
from __future__ import annotations

from pathlib import Path

from ..shared.plots import pyplot


def pareto_front(rows: list[dict], x: str = "latency_ms", y: str = "acc1") -> list[dict]:
    """Rows that no other row beats (lower `x` and at least as high `y`, or
    equal `x` and higher `y`), in order of `x`; rows missing either are ignored."""
    points = sorted((r for r in rows if r.get(x) is not None and r.get(y) is not None),
                    key=lambda r: (r[x], -r[y]))
    front, best = [], float("-inf")
    for r in points:  # going from fastest to slowest, a row is on the front if it beats every faster one
        if r[y] > best:
            front.append(r)
            best = r[y]
    return front



def plot_pareto(rows: list[dict], path: str | Path, title: str | None = None, *, y: str = "acc1",
                ylabel: str | None = None, yerr: str | None = None, highlight: str | None = None,
                max_latency_ms: float | None = None) -> list[str]:
    """A PNG of accuracy (`y`: by default the published acc@1) against batch-1
    latency (log scale), every model labelled and the Pareto front drawn as a
    line, written atomically. Returns the names of the models left out for
    lack of an accuracy.

    yerr: the key of each point's spread, drawn as an error bar;
    highlight: a model to mark (the recommended one);
    max_latency_ms: a latency budget, drawn as a vertical line."""
    from matplotlib.ticker import FuncFormatter

    from ...utils.atomic import atomic_path

    plotted = [r for r in rows if r.get(y) is not None]
    left_out = [r["name"] for r in rows if r.get(y) is None]
    if not plotted:
        raise ValueError("nothing to plot: none of these models has published weights with an accuracy "
                         f"({', '.join(left_out)})")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    front = pareto_front(plotted, y=y)
    on_front = {r["name"] for r in front}
    others = [r for r in plotted if r["name"] not in on_front]
    if yerr:
        ax.errorbar([r["latency_ms"] for r in plotted], [r[y] for r in plotted], yerr=[r[yerr] for r in plotted],
                    fmt="none", ecolor="tab:grey", alpha=0.7, capsize=3, zorder=1, label="± std over folds")
    ax.scatter([r["latency_ms"] for r in others], [r[y] for r in others], color="tab:grey", zorder=2,
               label="other models")
    ax.plot([r["latency_ms"] for r in front], [r[y] for r in front], marker="o", color="tab:red", zorder=3,
            label="Pareto front (no model is faster and more accurate)")
    # Labels alternate above and below their points, in latency order: neighbours
    # of similar speed and accuracy would otherwise print their names over each other.
    for i, r in enumerate(sorted(plotted, key=lambda r: r["latency_ms"])):
        ax.annotate(r["name"], (r["latency_ms"], r[y]), textcoords="offset points",
                    xytext=(5, 4 if i % 2 == 0 else -11), fontsize=8)
    chosen = [r for r in plotted if r["name"] == highlight]
    if chosen:
        ax.scatter([chosen[0]["latency_ms"]], [chosen[0][y]], marker="*", s=260, color="gold", edgecolors="black",
                   zorder=4, label=f"recommended: {highlight}")
    if max_latency_ms is not None:
        ax.axvline(max_latency_ms, linestyle="--", color="tab:blue", zorder=1,
                   label=f"latency budget ({max_latency_ms:g} ms)")
    ax.set_xscale("log")
    # Milliseconds as plain numbers (4, 6, 10), not powers of ten, on major and minor ticks.
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain)
    first = plotted[0]
    sizes = sorted({r["image_size"] for r in plotted if r.get("image_size")})
    at = f", {sizes[0]} px" if len(sizes) == 1 else ""
    ax.set(xlabel=f"latency at batch {first.get('latency_batch', 1)}{at} (ms, log scale; "
                  f"{first.get('runtime', 'torch')} {first.get('precision', 'fp32')} on {first.get('device', 'cpu')})",
           ylabel=ylabel or "ImageNet top-1 accuracy (%, published, at the weights' resolution)",
           title=title or f"accuracy against latency ({len(plotted)} models)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="lower right", fontsize=8)
    # Room on the right for the last label, and above and below the points.
    low, high = ax.get_xlim()
    ax.set_xlim(low, high * 1.6)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return left_out
