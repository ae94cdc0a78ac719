"""How much of a method's spread comes from its pre-training draw, its split seed and the rest: the
variance report (``docs/report/variance.md``, drawn by ``plot``).

The design is crossed: every pre-training draw d (the seed a PPT or MetaPT prompt was built with,
``benchmark.settings.draw_seed`` of a cell's config and seed) is tuned on every split seed s, one
cell each (``benchmark/suites/variance.yaml``: SST-2 and SST-5, PPT and MetaPT, draws 0-2 x seeds
0-2). Per method and task the accuracies (points) follow

    accuracy[d, s] = mu + a_d + b_s + e_ds

with a (the draw), b (the split seed, which also orders training) and e (the residual: whatever
else moves one run, with one cell per (d, s) the draw-by-seed interaction as well) random. The
components are estimated by the ANOVA method and given 95 % intervals by
:func:`reports.stats.crossed_components` (Searle, Casella & McCulloch 1992, ch. 4; modified
large-sample intervals of Ting, Burdick & Graybill 1990). Pooled over tasks, each task keeps its
own mean and the mean squares are pooled. A method with no pre-training artefact (PT, FT) has no
draw to vary: its cells give one variance, split and training order together, pooled over tasks.

>>> print(variance_md(results.load("results")))    # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import stats as sps

from reports import paper, stats
from reports.results import Results

SUITE = "variance"
PER_SEED = "per-seed"       # pretrain.draw: each seed tunes from its own pre-training draw
DRAW_AXIS = "pretrain.draw"
TASKS = ("sst2", "sst5")
NO_CELLS = "No crossed cells"
COMPONENTS = (("a", "pre-training draw"), ("b", "split seed"), ("e", "residual (training order, interaction)"))


def cell_draw(cell: dict) -> int | None:
    """The seed of the pre-training draw a cell tuned from, or None where its config does not say
    (a cell written without one)."""
    from benchmark import settings

    config = cell.get("config") or {}
    if not isinstance(config.get("pretrain"), dict) or "seed" not in config["pretrain"]:
        return None
    return settings.draw_seed(config, int(cell["seed"]))


def has_draw(method: str) -> bool:
    """Whether a method tunes from a pre-training artefact (declared by ``artifact_kind``); a
    method this process does not know is taken to have one."""
    from baselines import get_method
    from benchmark.errors import UserError

    try:
        return get_method(method).artifact_kind is not None
    except UserError:
        return True


@dataclasses.dataclass
class Design:
    """A method's complete draw x seed grid on some tasks: ``y[t, d, s]`` in points."""

    method: str
    tasks: list
    draws: list
    seeds: list
    y: np.ndarray
    left_out: int = 0          # cells outside the largest complete grid

    def fit(self, tasks=None) -> dict:
        idx = [self.tasks.index(t) for t in (tasks or self.tasks)]
        return stats.crossed_components(self.y[idx])


def _complete(grids: dict[str, dict]) -> tuple[list, list]:
    """The largest draw x seed grid every task fills: drop, one at a time, the draw or seed with
    the most empty cells across tasks (ties: a seed before a draw, the draws being the scarcer
    factor; then the larger value) until none is empty."""
    draws = sorted({d for g in grids.values() for d, _ in g})
    seeds = sorted({s for g in grids.values() for _, s in g})
    while draws and seeds:
        holes = {("d", d): sum((d, s) not in g for g in grids.values() for s in seeds) for d in draws}
        holes.update({("s", s): sum((d, s) not in g for g in grids.values() for d in draws) for s in seeds})
        worst = max(holes, key=lambda k: (holes[k], k[0] == "s", k[1]))
        if holes[worst] == 0:
            break
        (draws if worst[0] == "d" else seeds).remove(worst[1])
    return draws, seeds


def designs(res: Results, suite: str = SUITE) -> list[Design]:
    """The crossed designs of ``suite``: per method, its cells of every task by (draw, seed), cut
    to the largest complete grid with at least two draws and two seeds."""
    by: dict[str, dict[str, dict]] = {}
    for g in res.select(suite=suite):
        for c in g.cells:
            d, acc = cell_draw(c), (c.get("metrics") or {}).get("accuracy")
            if d is None or not isinstance(acc, (int, float)):
                continue
            by.setdefault(g.method, {}).setdefault(g.task, {})[(d, c.get("seed"))] = 100 * float(acc)
    out = []
    for method, grids in sorted(by.items()):
        draws, seeds = _complete(grids)
        if len(draws) < 2 or len(seeds) < 2:
            continue
        tasks = sorted(grids, key=lambda t: (t not in TASKS, TASKS.index(t) if t in TASKS else 0, t))
        y = np.array([[[grids[t][(d, s)] for s in seeds] for d in draws] for t in tasks])
        total = sum(len(g) for g in grids.values())
        out.append(Design(method, tasks, draws, seeds, y, total - y.size))
    return out


def no_draw_spread(res: Results, tasks=TASKS) -> dict[str, dict]:
    """For each method without a pre-training artefact: its SD over seeds on ``tasks`` (points),
    within-task variances pooled over tasks (any suite's cells at the profile's own settings),
    with the chi-square interval. Split and training order are one source here: one run per seed."""
    out = {}
    for g in res.select(task=list(tasks), point={}):
        if has_draw(g.method) or g.n < 2:
            continue
        out.setdefault(g.method, []).append([100 * a for a in g.accuracies])
    result = {}
    for method, runs in out.items():
        var, df = stats.pooled_variance(runs)
        lo = df * var / sps.chi2.ppf(0.975, df)
        hi = df * var / sps.chi2.ppf(0.025, df)
        result[method] = {"sd": math.sqrt(var), "lo": math.sqrt(lo), "hi": math.sqrt(hi), "df": df,
                          "tasks": len(runs)}
    return result


def shares(fit: dict) -> dict[str, float]:
    """Each component's share of the total variance (truncated estimates)."""
    total = sum(fit[k]["var"] for k, _ in COMPONENTS)
    return {k: (fit[k]["var"] / total if total > 0 else math.nan) for k, _ in COMPONENTS}


def _sd_cell(part: dict) -> str:
    return f"{math.sqrt(part['var']):.1f} [{math.sqrt(part['lo']):.1f}, {math.sqrt(part['hi']):.1f}]"


def _row(label: str, design: Design, fit: dict) -> str:
    sh = shares(fit)
    cells = [label, f"{fit['D']} x {fit['S']}" + (f" x {fit['T']} tasks" if fit["T"] > 1 else ""),
             f"{fit['mean']:.1f}"] + [_sd_cell(fit[k]) for k, _ in COMPONENTS] + \
            [" / ".join("—" if math.isnan(sh[k]) else f"{100 * sh[k]:.0f}" for k, _ in COMPONENTS)]
    return "| " + " | ".join(cells) + " |"


METHOD_TEXT = (
    "**Model.** Per method and task, accuracy[d, s] = mu + a_d + b_s + e_ds over a crossed grid of "
    "pre-training draws d and split seeds s, one cell each: a (the draw: the seed a PPT or MetaPT prompt "
    "was built with, `pretrain.draw`), b (the split seed, which also orders training) and e (the "
    "residual: training order beyond the seed, the draw-by-seed interaction, the arithmetic) random and "
    "independent. **Estimates:** the ANOVA (expected-mean-squares) method for a balanced two-way crossed "
    "design without replication (Searle, Casella & McCulloch 1992, *Variance Components*, ch. 4); a "
    "component whose difference of mean squares falls below 0 is **truncated at 0**. **Intervals** (95 %): "
    "exact chi-square for the residual; the modified large-sample interval of Ting, Burdick & Graybill "
    "(1990; Burdick & Graybill 1992, ch. 3) for the draw and the split, clipped at 0. In simulations of "
    "3 x 3 and 5 x 5 grids (1,500 each) they covered the planted value in 94-98 % of runs, and an interval "
    "excluded a planted zero in 2.5-3.4 % (tests/test_variance.py). **Pooled over tasks**, each task keeps "
    "its own mean and the sums of squares and degrees of freedom are added: this assumes the same "
    "components on every task and a draw's effect on one task independent of its effect on the other "
    "(one prompt serves both tasks, so a draw that helps both makes the pooled draw interval too narrow; "
    "the per-task rows do not assume it). Shares are of the truncated estimates and carry no interval. "
    "With 3 draws the draw component has 2 degrees of freedom per task: its interval is wide by design.")


def variance_md(res: Results) -> str:
    """``docs/report/variance.md``: the components per method, pooled over tasks and per task."""
    out = ["# Where a method's spread comes from: pre-training draw, split seed, the rest", "", METHOD_TEXT, ""]
    found = designs(res)
    if not found:
        out += [f"{NO_CELLS}: no suite `{SUITE}` cells tuned from two or more pre-training draws on two or more "
                f"split seeds. Run `python -m benchmark run --suite {SUITE}` (a pre-training draw per axis "
                "point, each tuned on every seed), then `python -m benchmark plot`.", ""]
    else:
        head = ["Method (tasks)", "draws x seeds", "mean, %", "SD draw, points [95 %]", "SD split seed [95 %]",
                "SD residual [95 %]", "share draw / split / residual, %"]
        rows = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        for design in found:
            title = paper.method_title(design.method)
            if len(design.tasks) > 1:
                rows.append(_row(f"**{title}** (pooled: {', '.join(paper.task_title(t) for t in design.tasks)})",
                                 design, design.fit()))
            for t in design.tasks:
                rows.append(_row(f"{title} ({paper.task_title(t)})", design, design.fit([t])))
        out += rows + [""]
        for design in found:
            note = [f"draws {', '.join(map(str, design.draws))}", f"seeds {', '.join(map(str, design.seeds))}"]
            if design.left_out:
                note.append(f"{design.left_out} cells outside the largest complete grid left out")
            if not has_draw(design.method):
                note.append("no pre-training artefact: its draws are one recipe, so the draw component is 0 "
                            "by construction")
            out.append(f"- {paper.method_title(design.method)}: " + "; ".join(note) + ".")
        out.append("")
    ref = no_draw_spread(res)
    if ref:
        out += ["**Methods without a pre-training draw** (split seed and training order together, one run per "
                f"seed; within-task variance pooled over {', '.join(paper.task_title(t) for t in TASKS)}, "
                "chi-square interval):", ""]
        out += [f"- {paper.method_title(m)}: SD {r['sd']:.1f} points [{r['lo']:.1f}, {r['hi']:.1f}], "
                f"{r['tasks']} task{'s' if r['tasks'] > 1 else ''}, {r['df']} df." for m, r in sorted(ref.items())]
        out.append("")
    return "\n".join(out)
