"""What every figure shares: the no-data error, the footer naming the data, saving PNG + SVG."""
from __future__ import annotations

import math
import pathlib
import textwrap

import matplotlib

matplotlib.use("Agg")  # files only; never a display
import matplotlib.pyplot as plt  # noqa: E402

from benchmark.errors import UserError  # noqa: E402
from reports import evidence, paper  # noqa: E402
from reports.results import PER_SEED, SHARED, Group, describe, protocol  # noqa: E402

# One style per method so a method looks the same in every figure.
STYLE = {
    "ft": dict(color="#1f77b4", marker="s", linestyle="-"),
    "pt": dict(color="#7f7f7f", marker="v", linestyle=":"),
    "ppt": dict(color="#ff7f0e", marker="^", linestyle="-"),
    "metapt": dict(color="#2ca02c", marker="o", linestyle="-"),
    "metapt_y": dict(color="#d62728", marker="D", linestyle="--"),
}


class NoData(UserError):
    """A figure has nothing to draw; the message names the suite to run."""


def no_data(name: str, suite: str, what: str = "") -> NoData:
    return NoData(f"{name}: no results of suite '{suite}'{what}; "
                  f"run python -m benchmark run --suite {suite}")


def settings_differing(items, axes=()) -> int:
    """How many settings (keys) differ from the paper, the figure's own axis left out: the axis is
    what the figure varies, and each of its points is one more value of the same setting."""
    keys = {k for r in describe(items)["reductions"] for k in r}
    return len(keys - set(axes))


def footer(items, extra: str = "", bars: bool = False, axes=()) -> str:
    """The caption: what this figure plots (``extra``) first, then profile, backbone, whether the
    data stand in for the paper's, and how many settings differ from the paper (the full list is in
    the Markdown report, claims.md)."""
    d = describe(items, downstream=paper.numbers()["tasks"])
    bits = [extra] if extra else []
    bits += [f"profile: {', '.join(d['profiles']) or 'unknown'}",
             f"backbone: {', '.join(d['backbones']) or 'unknown'} (paper: {paper.numbers()['backbone']})"]
    if d["standins"]:
        bits.append("STAND-IN DATA, not the paper's: " + ", ".join(sorted(d["standin_for"].values())))
    drawn = pretraining_note(items, axes)
    if drawn:
        bits.append(drawn)
    n_red = settings_differing(items, axes)
    if n_red:
        bits.append(f"{n_red} other setting{'s differ' if n_red > 1 else ' differs'} from the paper: see claims.md")
    if bars:
        bits.append("bars: 95 % interval (seeds + test rows; rows only where one seed)")
    return "\n".join(textwrap.wrap(" · ".join(bits), width=110))


DRAW_TEXT = {SHARED: "pre-training: one draw per point, shared by every seed (its randomness not sampled)",
             PER_SEED: "pre-training: drawn per seed (its randomness sampled with the seed)"}


def pretraining_note(items, axes=()) -> str:
    """Which pre-training protocol the plotted cells of methods with a pre-trained prompt were made
    under; empty where none has one or where the draw is the figure's own axis."""
    from baselines import reads_a_draw

    if "pretrain.draw" in axes:
        return ""
    cells = [c for x in items for c in (x.cells if isinstance(x, Group) else [x]) if reads_a_draw(c.get("method"))]
    return " and ".join(DRAW_TEXT[p] for p in sorted({protocol(c) for c in cells}, reverse=True))


def axis_cap(items, axes) -> int | None:
    """The profile's cap on the axis (``config.axis_limits``), the same in every cell, or None."""
    axes = [axes] if isinstance(axes, str) else list(axes)
    caps = set()
    for x in items:
        for c in (x.cells if isinstance(x, Group) else [x]):
            limits = (c.get("config") or {}).get("axis_limits") or {}
            caps.add(next((limits[a] for a in axes if a in limits), None))
    return caps.pop() if len(caps) == 1 else None


def range_note(groups: list[Group], axes, figure: str, what: str) -> str:
    """'K stops at 20 (the profile's cap); paper: 3 to 30' for ``what`` = 'K stops': where this axis
    ends and why, beside the paper's range (``figures.<figure>.x_range`` of the paper's numbers)."""
    axes = [axes] if isinstance(axes, str) else list(axes)
    last = max(axis_value(g, axes) for g in groups)
    cap = axis_cap(groups, axes)
    if cap is not None and last >= cap:
        why = "the profile's cap"
    elif cap is not None:
        why = f"the suite's last point; the profile allows {cap:,}"
    else:
        why = "the suite's last point"
    lo, hi = (paper.numbers().get("figures", {}).get(figure) or {}).get("x_range") or (None, None)
    return f"{what} at {last:,} ({why})" + (f"; paper: {lo:,} to {hi:,}" if hi else "")


def title_suffix(items) -> str:
    d = describe(items)
    s = f"{', '.join(d['profiles']) or '?'} / {', '.join(d['backbones']) or '?'}"
    return s + (", stand-in data" if d["standins"] else "")


def axis_value(g: Group, axes):
    """The point's value on the first of ``axes`` (alternative names of one axis) it has."""
    return next(g.point[a] for a in axes if a in g.point)


def series(groups: list[Group], axes, x_of=None) -> dict[str, tuple[list, list, list, list]]:
    """method -> (x, mean %, [below, above] % of the 95 % interval, n) sorted by x; the std over
    seeds stands in where a cell lacks its row count. ``x_of(group)`` places a point elsewhere
    than at its axis value (Figure 3a: the rows used, not the rows asked for)."""
    axes = [axes] if isinstance(axes, str) else list(axes)
    x_of = x_of or (lambda g: axis_value(g, axes))
    out: dict[str, tuple[list, list, list, list]] = {}
    for g in sorted(groups, key=lambda g: (g.method, x_of(g))):
        xs, ms, es, ns = out.setdefault(g.method, ([], [], [[], []], []))
        ci = evidence.accuracy_ci(g)
        std = 0.0 if g.std != g.std else 100 * g.std  # NaN (one seed) -> no bar
        xs.append(x_of(g))
        ms.append(100 * g.mean)
        es[0].append(std if ci is None else max(100 * (g.mean - ci["lo"]), 0.0))
        es[1].append(std if ci is None else max(100 * (ci["hi"] - g.mean), 0.0))
        ns.append(g.n)
    return out


def save(fig, out_dir, name: str) -> list[pathlib.Path]:
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "svg"):
        path = out_dir / f"{name}.{ext}"
        # A fixed id salt and no date: a redrawn figure of the same cells is the same file, so a
        # regenerated report shows in a diff only where its numbers moved.
        with plt.rc_context({"svg.hashsalt": name}):
            fig.savefig(path, dpi=150, bbox_inches="tight",
                        metadata={"Date": None} if ext == "svg" else None)
        paths.append(path)
    plt.close(fig)
    return paths


def add_footer(fig, text: str) -> None:
    """The caption, just below everything drawn (rotated tick labels and axis labels included)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    to_fig = fig.transFigure.inverted()
    bottom = min(ax.get_tightbbox(renderer).transformed(to_fig).y0 for ax in fig.axes)
    fig.text(0.01, bottom - 0.02, text, ha="left", va="top", fontsize=7.5, color="#333333")


def majority_line(groups: list[Group], axes, x_of=None) -> tuple[list, list] | None:
    """(x, %) of always answering the most frequent class of the test rows, per point of the axis
    (one value when every point is scored on the same rows), or None when no cell saved its labels:
    the reference a reader needs to see whether a point is below chance."""
    axes = [axes] if isinstance(axes, str) else list(axes)
    x_of = x_of or (lambda g: axis_value(g, axes))
    by_x: dict = {}
    for g in groups:
        by_x.setdefault(x_of(g), []).append(g)
    out = [(x, evidence.majority(gs)) for x, gs in sorted(by_x.items())]
    out = [(x, 100 * m.mean) for x, m in out if m is not None]
    return ([x for x, _ in out], [m for _, m in out]) if out else None


def crowded(xs: list, log: int | None, gap: float = 0.1) -> bool:
    """Whether two neighbouring ticks sit closer than ``gap`` of the axis span, where upright
    labels would run into each other (rows used of 2,206 and 2,401 on a log axis)."""
    pos = [math.log(x) if log else x for x in xs]
    span = (max(pos) - min(pos)) if len(pos) > 1 else 0
    return bool(span) and min(b - a for a, b in zip(pos, pos[1:])) < gap * span


def line_plot(name: str, groups: list[Group], axis: str, *, xlabel: str, title: str,
              methods: list[str], log: int | None, out_dir, extra_note: str = "",
              x_of=None) -> list[pathlib.Path]:
    """Accuracy vs one ablation axis, one line per method with 95 % interval bars (``x_of``: see
    :func:`series`)."""
    data = series(groups, axis, x_of)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    drawn = []
    for method in methods + sorted(set(data) - set(methods)):
        if method not in data:
            continue
        xs, ms, ss, ns = data[method]
        style = STYLE.get(method, dict(marker="o"))
        label = paper.method_title(method) + (f" (n={min(ns)})" if min(ns) == max(ns) else
                                              f" (n={min(ns)}–{max(ns)})")
        ax.errorbar(xs, ms, yerr=ss, capsize=3, markersize=5, linewidth=1.5, label=label, **style)
        drawn.append(method)
    ref = majority_line(groups, axis, x_of)
    if ref:
        xs, ms = ref
        ax.plot(xs, ms, color="#555555", linestyle="--", linewidth=1.0, drawstyle="steps-mid",
                label=("majority class" + (f" ({ms[0]:.1f} %)" if len(set(ms)) == 1 else "")))
    if log:
        ax.set_xscale("log", base=log)
    xs_all = sorted({x for m in drawn for x in data[m][0]})
    slant = len(xs_all) > 6 or crowded(xs_all, log)
    ax.set_xticks(xs_all)
    ax.set_xticklabels([f"{x:,}" for x in xs_all], rotation=45 if slant else 0, ha="right" if slant else "center")
    ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel("SST-5 accuracy (%), mean over seeds, 95 % interval")
    ax.set_title(f"{title}\n({title_suffix(groups)})", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    absent = [paper.method_title(m) for m in methods if m not in data]
    note = extra_note
    if absent:
        note = (note + " · " if note else "") + "no results for " + ", ".join(absent)
    add_footer(fig, footer(groups, note, bars=True, axes=[axis] if isinstance(axis, str) else axis))
    return save(fig, out_dir, name)
