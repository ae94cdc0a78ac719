"""The seeds each claim needs, and what adding them costs: what ``python -m benchmark power`` prints.

For one suite: every part of the claims tested on it (:mod:`reports.claims`: the paper's own
effect, the measured between-seed spread of the paired difference and its test-row part, the power
this run has, the seeds that would detect the paper's effect with 80 % power at 5 %), the other
paired comparisons of its table (Table 1: MetaPT − FT and MetaPT(Y) − PPT per task and on the
7-task mean; Table 2: K-means against each grouping, each grouping against PPT), and targets: per
claim (and the 7-task mean) how many seeds to add, the cells that makes, and what they cost at the
median wall time of each method's cells in this folder. A shared artefact (a pre-trained or
meta-learned prompt) is made once and reused by every new seed, so the median, not the mean, is the
cost of one more cell.

**The pre-training draw.** Where a part's cells tune from one PPT or MetaPT artefact shared by every
seed, their spread holds no pre-training randomness, yet a run with ``pretrain.draw: per-seed``
would: each side with a draw adds ``sigma_draw^2`` to the variance of a seed's paired difference
(``2 sigma_draw^2`` + the split and order part when both sides have one). The plan adds it, per
method, from the variance report's crossed cells where the folder has them, else ``draw_sd``
(an assumed SD, stated in the output). For a mean over tasks the draw is taken as common to the
tasks (one prompt serves them all), so it does not average out over tasks.

>>> print(render(plan(results.load("results"), "sentiment7")))   # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import math
import statistics

from reports import SUITES, claims, evidence, paper, stats, variance
from reports.evidence import fmt_pts
from reports.results import Group, Results, pick

SUITE_CLAIMS = {SUITES["table1"]: [claims.claim1, claims.claim2], SUITES["table2"]: [claims.claim3],
                SUITES["fig3a"]: [claims.claim4], SUITES["fig3b"]: [claims.claim5],
                SUITES["algorithms"]: [claims.claim6]}
# comparisons of the tables beyond the claims' own parts (a, b, task or None for Table 2's SST-5)
TABLE1_EXTRA = [("metapt", "ft"), ("metapt_y", "ppt")]
TABLE2_EXTRA = [("metapt_kmeans", "metapt_random"), ("metapt_kmeans", "metapt_label"), ("metapt_kmeans", "ppt"),
                ("metapt_lda", "ppt")]


DRAW_SD = 2.0   # points: the assumed SD of a pre-training draw's effect where no crossed cells measure it


def draw_variances(res: Results, draw_sd: float) -> dict[str, tuple[float, str]]:
    """method -> (variance of its pre-training draw's effect, as a fraction squared; where it comes
    from): measured by the variance report's crossed cells where the folder has them."""
    out = {}
    for design in variance.designs(res):
        fit = design.fit()
        out[design.method] = (fit["a"]["var"] / 1e4, f"measured ({fit['D']} draws x {fit['S']} seeds x "
                                                       f"{fit['T']} task{'s' if fit['T'] > 1 else ''}, suite "
                                                       f"{variance.SUITE})")
    return out


def add_draw(part, draws: dict, draw_sd: float) -> list[str]:
    """Widen a part's spread by the draws its shared-artefact methods do not sample; replan it.
    Returns the methods whose draw was added."""
    if part.d is None or part.rule == "std <" or not part.shared or part.seeds < 2:
        return []
    add = sum(draws.get(m, ((draw_sd / 100) ** 2, ""))[0] for m in part.shared) * max(part.tasks, 1)
    part.d = dict(part.d, sd=math.sqrt(part.d["sd"] ** 2 + add))
    claims._plan(part)
    return list(part.shared)


@dataclasses.dataclass
class Target:
    """Bring some comparisons to ``total`` seeds: the cells that adds and their cost."""

    label: str
    total: int | None          # None: past the cap, or unknown (one seed)
    groups: list = dataclasses.field(default_factory=list)
    have: list = dataclasses.field(default_factory=list)
    new_cells: int = 0
    cost_s: float = math.nan
    command: str = ""
    note: str = ""


@dataclasses.dataclass
class Section:
    title: str
    verdict: str
    parts: list                # reports.claims.Part, claims' parts then extras
    why: str = ""


def wall_times(res: Results, suite: str) -> dict[str, float]:
    """Seconds one more cell of each method costs: per (method, task, point) group the cheaper of
    its cells (the dearer one may have built a shared prompt that a new seed reuses), then the
    median over the method's groups; this suite's groups where it has them, else any suite's."""
    def medians(groups) -> dict[str, float]:
        by: dict[str, list] = {}
        for g in groups:
            walls = [float(c["wall_s"]) for c in g.cells if isinstance(c.get("wall_s"), (int, float))
                     and not isinstance(c.get("wall_s"), bool) and c["wall_s"] > 0]
            if walls:
                by.setdefault(g.method, []).append(min(walls))
        return {m: statistics.median(v) for m, v in by.items()}
    groups = list(res.groups().values())
    return {**medians(groups), **medians([g for g in groups if g.suite == suite])}


def _target(label: str, total: int | None, groups: list[Group], suite: str, walls: dict, in_suite: set,
            note: str = "") -> Target:
    have = sorted({s for g in groups for s in g.seeds}, key=str)
    t = Target(label, total, groups, have, note=note)
    if total is None:
        return t
    want = claims.seeds_arg(have, total)
    seeds = [int(s) for s in want.split(",")]
    t.new_cells = sum(len(set(seeds) - set(g.seeds)) for g in groups)
    t.cost_s = sum(len(set(seeds) - set(g.seeds)) * walls.get(g.method, math.nan) for g in groups)
    methods = sorted({g.method for g in groups})
    only = f" --methods {','.join(methods)}" if set(methods) < in_suite else ""
    t.command = f"python -m benchmark run --suite {suite}{only} --seeds {want}"
    return t


def _pair_extra(res: Results, suite: str, pairs, *, table2: bool) -> list:
    """Parts for the table's other comparisons, rule "Δ": the paper's difference, of either sign,
    detected in its own direction."""
    out = _pair_extra_parts(res, suite, pairs, table2=table2)
    for p in out:
        p.rule = "Δ"
    return out


def _pair_extra_parts(res: Results, suite: str, pairs, *, table2: bool) -> list:
    out = []
    if table2:
        task = paper.numbers()["table2"]["task"]
        _, groups, _ = pick(res, suite, task=task, point={})
        by = {g.method: g for g in groups}
        for a, b in pairs:
            if a in by and b in by:
                out.append(claims.paired_part(by[a], by[b], ">", f"{paper.method_title(a)} − "
                                              f"{paper.method_title(b)}", paper.table2_diff(a, b)))
        return out
    _, groups, _ = pick(res, suite, point={})
    by = {(g.task, g.method): g for g in groups}
    for a, b in pairs:
        both = []
        for task in claims.TASKS:
            if (task, a) in by and (task, b) in by:
                both.append((by[(task, a)], by[(task, b)]))
                out.append(claims.paired_part(by[(task, a)], by[(task, b)], ">",
                                              f"{paper.method_title(a)} − {paper.method_title(b)}, "
                                              f"{paper.task_title(task)}", paper.table1_diff(a, b, task)))
        if len(both) > 1:
            mean = claims.mean_part(both, a, b, f"{paper.method_title(a)} − {paper.method_title(b)}, "
                                                f"{len(both)}-task mean")
            if mean is not None:
                out.append(mean)
    return out


def plan(res: Results, suite: str, draw_sd: float = DRAW_SD) -> dict:
    """``{"suite", "seeds", "rows", "walls", "sections", "targets", "draws"}`` for ``suite`` (see the
    module docstring; ``draw_sd``: the assumed SD of a draw in points where no cells measure it).
    Raises ValueError for a suite no claim is tested on."""
    if suite not in SUITE_CLAIMS:
        raise ValueError(f"no claim of the paper is tested on suite {suite!r}; suites with claims: "
                         f"{', '.join(SUITE_CLAIMS)}")
    walls = wall_times(res, suite)
    in_suite = {g.method for g in res.groups().values() if g.suite == suite}
    sections, targets = [], []
    draws, widened = draw_variances(res, draw_sd), set()
    for fn in SUITE_CLAIMS[suite]:
        c = fn(res)
        added = [m for part in c.parts + c.extra for m in add_draw(part, draws, draw_sd)]
        widened.update(added)
        planned = [p for p in c.parts if p.d is not None and p.seeds > 1 and p.paper is not None]
        if added and planned and len(planned) == len(c.parts) and c.parts[0].rule != "std <":
            c.needed = claims.needed_at_once(planned)
        sections.append(Section(f"Claim {c.number}: {c.statement}", c.verdict, c.parts + c.extra, c.why))
        if not c.parts:   # not run, or nothing to compare (an axis short of the claim's point)
            continue
        groups = [g for g in c.groups if not evidence.title(g.method).endswith("before tuning")]
        if c.number == 1 and c.extra and c.extra[0].d is not None:
            mean = c.extra[0]
            total = mean.needed if mean.seeds > 1 else None
            targets.append(_target(f"Claim 1, the 7-task mean (paper {fmt_pts(mean.paper)} points)", total,
                                   groups, suite, walls, in_suite,
                                   note="" if mean.seeds > 1 else "a second seed first"))
        label = {1: "Claim 1, every task at once", 2: "Claim 2, both std ratios at once"}.get(
            c.number, f"Claim {c.number}, every part at once" if len(c.parts) > 1 else f"Claim {c.number}")
        have = min((p.seeds for p in c.parts if p.d is not None), default=0)
        if have < 2:
            targets.append(_target(f"Claim {c.number}: a second seed, to measure the spread between seeds", 2,
                                   groups, suite, walls, in_suite))
        else:
            targets.append(_target(label, c.needed, groups, suite, walls, in_suite))
    extra = (_pair_extra(res, suite, TABLE1_EXTRA, table2=False) if suite == SUITES["table1"] else
             _pair_extra(res, suite, TABLE2_EXTRA, table2=True) if suite == SUITES["table2"] else [])
    for part in extra:
        widened.update(add_draw(part, draws, draw_sd))
    if extra:
        sections.append(Section("Table 1: the other paired comparisons" if suite == SUITES["table1"]
                                else "Table 2: the other paired comparisons", "", extra))
    _, groups, _ = pick(res, suite)
    rows = sorted({int(c["metrics"]["n"]) for g in groups for c in g.cells
                   if isinstance((c.get("metrics") or {}).get("n"), int)})
    return {"suite": suite, "seeds": sorted({s for g in groups for s in g.seeds}, key=str), "rows": rows,
            "walls": walls, "in_suite": in_suite, "sections": sections, "targets": targets,
            "draws": {m: draws.get(m, ((draw_sd / 100) ** 2, f"assumed (--draw-sd {draw_sd:g})"))
                      for m in sorted(widened)}}


def _hours(s: float) -> str:
    if math.isnan(s):
        return "unknown (no wall time recorded)"
    return f"{s / 60:.0f} min" if s < 5400 else f"{s / 3600:,.1f} h"


def _part_row(p) -> list[str]:
    if p.d is None:
        return [p.label, "—", "—", "—", f"not computed ({p.why})", "—", "—"]
    paper_ = "—" if p.paper is None else (f"{p.paper:.2f}" if p.rule == "std <" else f"{100 * p.paper:+.2f}")
    if p.rule == "std <":
        ours, spread = f"{p.d['ratio']:.2f}", f"df {p.d['df'][0]}, {p.d['df'][1]}"
    else:
        ours = fmt_pts(p.d["diff"])
        spread = ("— (" if p.seeds < 2 else f"{100 * p.d['sd']:.1f} (") + f"{100 * p.d['sd_rows']:.1f})"
    power = "—" if math.isnan(p.power) else f"{100 * p.power:.0f} %"
    needed = ("a second seed first" if p.seeds < 2 else "—" if p.paper is None else claims.fmt_needed(p.needed))
    return [f"{p.label} ({p.rule})", paper_, ours, str(p.seeds), spread, power, needed]


def _table(rows: list[list[str]]) -> list[str]:
    head = ["part (rule)", "paper", "ours", "seeds", "SD of a seed's Δ (test-row part), points", "power now",
            "seeds needed"]
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    fmt = lambda r: "  " + "  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip()  # noqa: E731
    return [fmt(head)] + [fmt(r) for r in rows]


def draw_text(p: dict) -> str:
    """What the plan assumes about the pre-training draw."""
    if not p["draws"]:
        return ("Pre-training draw: nothing added (the compared cells sample it per seed, or their methods have "
                "none).")
    per = "; ".join(f"{paper.method_title(m)} SD {100 * math.sqrt(v):.1f} points, {src}"
                    for m, (v, src) in p["draws"].items())
    return ("Pre-training draw: these cells share one artefact per method across seeds, so the plan adds the "
            "variance per-seed pre-training (`pretrain.draw: per-seed`) would add to a seed's paired difference "
            f"(sigma_draw^2 per side with a draw; common to the tasks of a mean): {per}.")


def render(p: dict) -> str:
    """The plan as plain text (the ``power`` command's output)."""
    rows = "/".join(map(str, p["rows"])) or "?"
    out = [f"Seeds each claim needs: suite {p['suite']}, seeds {', '.join(map(str, p['seeds'])) or 'none'}, "
           f"{rows} test rows per cell.",
           "Power for the paper's own effect with the 95 % intervals the claims use (paired t over seeds, "
           "floored by the test rows; 80 % power at 5 %), at this run's test rows and measured spread. "
           "'>' parts are planned for the interval to fall above 0, '~' parts inside ±2 points, 'std <' "
           "for the std ratio's interval to fall below 1, 'Δ' (a table's other comparisons) for the paper's "
           "difference, of either sign, to be detected in its direction.", draw_text(p), ""]
    for s in p["sections"]:
        out.append(s.title + (f"  [{s.verdict}]" if s.verdict else ""))
        out += _table([_part_row(x) for x in s.parts]) if s.parts else [f"  nothing to plan: {s.why}"]
        out.append("")
    walls = ", ".join(f"{paper.method_title(m)} {w:.0f} s" for m, w in sorted(p["walls"].items())
                      if m in {g.method for t in p["targets"] for g in t.groups})
    out.append("Plan (`--seeds` reuses every done cell, and a cell another suite already made; cost at "
               "the measured wall time of one more cell" + (f": {walls}" if walls else "") + "):")
    if not p["targets"]:
        out.append("  no seeds to add: no claim of this suite has a comparison to plan (see above)")
    for t in p["targets"]:
        if t.total is None:
            out.append(f"- {t.label}: {t.note or 'more than ' + format(stats.MAX_SEEDS, ',') + ' seeds'}: "
                       "not a number of seeds to run at these test rows")
            continue
        add = t.total - len(t.have)
        if add <= 0:
            out.append(f"- {t.label}: {t.total} seeds, which the run has")
            continue
        line = f"- {t.label}: {t.total:,} seeds (add {add:,}): {t.new_cells:,} new cells, about {_hours(t.cost_s)}"
        out.append(line)
        if t.total <= claims.PRACTICAL:
            out.append(f"    {t.command}")
        else:
            out.append("    not a number of seeds to run at these test rows")
    reach = [t for t in p["targets"] if t.total is not None and t.total <= claims.PRACTICAL
             and t.total > len(t.have)]
    if len(reach) > 1:
        total = max(t.total for t in reach)
        groups = list({id(g): g for t in reach for g in t.groups}.values())
        t = _target("Everything above within reach", total, groups, p["suite"], p["walls"], p["in_suite"])
        out.append(f"- {t.label}: {total} seeds: {t.new_cells:,} new cells, about {_hours(t.cost_s)}")
        out.append(f"    {t.command}")
    return "\n".join(out) + "\n"
