"""The paper's five claims, and one beyond it (claim 6: Prompt-MAML against multi-task training on the
same meta tasks), each with our figure, its interval, the seeds it needs, and a verdict: supported,
contradicted, or inconclusive.

Each claim is made of *parts* (claim 1: one per task; claim 3: one per link of Table 2's order),
and each part is one paired comparison with a 95 % interval (:mod:`reports.stats`: a paired t
over seeds, S - 1 degrees of freedom, floored by the test-row variance).

Part rules:

- "a beats b" (``>``): the part is supported when its interval lies above 0; its contradicting
  side is "a is below b" (one-sided p of "a >= b").
- "a ~ b" (the paper's "about equal", and a plateau: no gain past a point): supported when the
  interval lies inside +- ``MARGIN``; the contradicting side is "the gap is beyond the margin".
  ``MARGIN`` is 2 accuracy points: the paper's Table 2 calls 0.1-point gaps "~" and draws its
  order from gaps of 1.1-2.1 points, so a gap under 2 points is what it treats as no difference.
- "a's std is below b's" (claim 2): supported when the std ratio's interval lies below 1.

Claim rules (stated beside every verdict):

- *supported* only when **every** part is supported: an intersection-union test, which needs no
  multiplicity correction (each part at 2.5 % a side already bounds the claim's error).
- *contradicted* only when a part's contradicting one-sided p, **Holm-adjusted across all the
  claim's parts** (a part that could not be tested counts as p = 1), is at most 2.5 % (the
  intervals' one side). Without it "MetaPT beats PPT on all seven tasks" would turn contradicted
  up to about 16 % of the time when it holds at its boundary (seven tries at 2.5 %).
- otherwise *inconclusive*: "inconclusive: N seeds" when the run has fewer seeds than the claim
  needs to decide the paper's own effect with 80 % power at 5 % (or has one seed, which has no
  spread between seeds to read), with the command that adds seeds (``--seeds`` reuses every done
  cell); "inconclusive at this power" when it has them and still cannot tell.

A claim whose suite has no results is "not run" and names the command that runs it.

>>> print(claims_md(results.load("results")))    # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from reports import SUITES, evidence, paper, stats, suite_spec, variance
from reports.evidence import fmt_ci, fmt_p, fmt_pts
from reports.results import Group, Results, describe, format_reduction, pick

MARGIN = 0.02
SIDE = 0.025   # one side of the 95 % intervals: the level of "contradicted" after Holm
SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_RUN = ("supported", "contradicted",
                                                  "inconclusive at this power", "not run")
TASKS = ["sst5", "sst2", "amazon5", "amazon2", "sentihood", "semeval16_restaurant", "semeval16_laptop"]
PLATEAU_ROWS = 10_000  # Figure 3a: "past about 10,000 pre-training rows"
SATURATION_K = 10      # Figure 3b: "saturates near K = 10"
# Claim 6's parts are planned for this gain: neither the paper nor Wu et al. print a difference of
# Prompt-MAML and multi-task training on these meta tasks, and 2 points is the gap the paper's Table 2
# treats as no difference (MARGIN).
ALGORITHMS_EFFECT = MARGIN


def too_few(seeds: int) -> str:
    """The verdict of a claim the run has too few seeds to decide."""
    return f"inconclusive: {seeds} seed{'' if seeds == 1 else 's'}"


def is_inconclusive(verdict: str) -> bool:
    return verdict.startswith("inconclusive")


# -- part rules (intervals) -----------------------------------------------------------------------
def greater(lo: float, hi: float) -> str:
    """A part's own reading of its interval, before any correction across parts."""
    if lo > 0:
        return SUPPORTED
    if hi < 0:
        return CONTRADICTED
    return INCONCLUSIVE


def equivalent(lo: float, hi: float, margin: float = MARGIN) -> str:
    if -margin < lo and hi < margin:
        return SUPPORTED
    if lo > margin or hi < -margin:
        return CONTRADICTED
    return INCONCLUSIVE


@dataclasses.dataclass
class Part:
    """One comparison of a claim: its statistics, the paper's own effect, and its power."""

    label: str
    rule: str                     # ">", "~" or "std <"
    d: dict | None = None         # reports.stats output (paired_difference or variance_ratio)
    paper: float | None = None    # the paper's effect for this part (fraction; a std ratio for "std <")
    why: str = ""                 # why it was not computed
    seeds: int = 0
    verdict: str = INCONCLUSIVE   # its own interval's reading (uncorrected)
    p_con: float = math.nan       # one-sided p of the contradicting side
    p_holm: float = math.nan
    power: float = math.nan       # power at this run's seeds for the paper's effect
    needed: int | None = None     # seeds for 80 % power at the paper's effect (None: unknown or past the cap)
    tasks: int = 1                # > 1 for a mean over tasks
    shared: tuple = ()            # its methods tuned from one pre-training artefact shared by every seed

    @property
    def margin(self) -> float | None:
        return MARGIN if self.rule == "~" else None

    @property
    def decided(self) -> bool:
        return self.d is not None and self.seeds > 1


def _plan(part: Part) -> Part:
    """Power now and seeds needed for the paper's effect, from the measured spread."""
    d = part.d
    if d is None or part.paper is None or part.seeds < 2:
        return part
    if part.rule == "std <":
        df = d["df"]
        part.power = stats.power_ratio(part.paper, *df) if part.paper < 1 else math.nan
        part.needed = stats.seeds_needed_ratio(part.paper, part.tasks)
        return part
    sd, rows = d["sd"], d["sd_rows"]
    part.power = stats.power_t(part.paper, sd, rows, part.seeds, tasks=part.tasks, margin=part.margin)
    part.needed = stats.seeds_needed(part.paper, sd, rows, tasks=part.tasks, margin=part.margin)
    return part


def needed_at_once(parts: list[Part]) -> int | None:
    """Seeds at which every planned part is decided at once: the one-task parts by their joint power
    (independent splits, :func:`reports.stats.seeds_needed_all`), a mean over tasks at its own plan
    (made of the same tasks, it is not independent of them, and it reaches its plan first)."""
    single = [p for p in parts if p.tasks == 1]
    pooled = [p for p in parts if p.tasks > 1]
    n = stats.seeds_needed_all([(p.paper, p.d["sd"], p.d["sd_rows"], p.margin) for p in single]) if single else 2
    if n is None or any(p.needed is None for p in pooled):
        return None
    return max([n] + [p.needed for p in pooled])


def part_from(d: dict, rule: str, label: str, paper_effect: float | None) -> Part:
    """A part from the output of :func:`reports.stats.paired_difference` (``sd_seed`` read as the
    spread a seed's difference has), read under ``rule`` (">" or "~") and planned for
    ``paper_effect``."""
    d = dict(d, sd=d["sd_seed"])
    part = Part(label, rule, d=d, paper=paper_effect, seeds=d["seeds"])
    if part.seeds > 1:
        part.verdict = (greater if rule == ">" else equivalent)(d["lo"], d["hi"])
        if rule == ">":
            part.p_con = stats.t_p_beyond(d["diff"], d["se"], d["df"], 0.0, "below")
        else:
            part.p_con = min(stats.t_p_beyond(d["diff"], d["se"], d["df"], MARGIN, "above"),
                             stats.t_p_beyond(d["diff"], d["se"], d["df"], -MARGIN, "below"))
    return _plan(part)


def paired_part(a: Group, b: Group, rule: str, label: str, paper_effect: float | None) -> Part:
    """One paired comparison of a and b under ``rule`` (">" or "~")."""
    d, why = evidence.compare(a, b)
    if d is None:
        return Part(label, rule, paper=paper_effect, why=why)
    part = part_from(d, rule, label, paper_effect)
    part.shared = shared_draws([a, b])
    return part


def shared_draws(groups: list[Group]) -> tuple:
    """The methods among ``groups`` that tune from a pre-training artefact drawn once and shared by
    every seed (``pretrain.draw`` absent or an integer in their cells' configs): their intervals do
    not sample the draw. A method with no artefact (PT, FT) has no draw to sample."""
    out = []
    for g in groups:
        if not variance.has_draw(g.method) or g.method in out:
            continue
        draws = {((c.get("config") or {}).get("pretrain") or {}).get("draw") for c in g.cells}
        if draws != {variance.PER_SEED}:
            out.append(g.method)
    return tuple(out)


def covers(groups: list[Group]) -> str:
    """Which sources of randomness a claim's intervals cover, read from its cells' configs."""
    with_draw = sorted({g.method for g in groups if variance.has_draw(g.method)})
    shared = shared_draws(groups)
    if not with_draw:
        return "the split seed and training order (these methods have no pre-training draw)"
    names = ", ".join(paper.method_title(m) for m in shared)
    if not shared:
        return ("the split seed, training order and the pre-training draw (`pretrain.draw: per-seed`: each seed "
                "tunes from its own pre-training)")
    if len(shared) == len(with_draw):
        return (f"the split seed and training order only; the pre-training draw is not sampled ({names}: one "
                "artefact shared by every seed), so the intervals are narrower than a claim about the method "
                "needs (`power` plans for it; docs/report/variance.md measures it)")
    return (f"the split seed and training order; the pre-training draw only for the per-seed methods (not {names}, "
            "one artefact shared by every seed)")


PAPER_EFFECT = "the paper's effect"


def combine(parts: list[Part], needed: int | None = None, effect: str = PAPER_EFFECT) -> tuple[str, str]:
    """(verdict, the rule that gave it) of a claim from its parts: intersection-union for
    *supported*, Holm across all parts for *contradicted* (module docstring). ``needed``: the
    seeds the whole claim needs (None: unknown or past the cap) to detect ``effect`` (in words)."""
    if not parts:
        return NOT_RUN, ""
    m = len(parts)
    for p, adj in zip(parts, stats.holm([p.p_con for p in parts])):
        p.p_holm = adj
    if all(p.decided and p.verdict == SUPPORTED for p in parts):
        return SUPPORTED, (f"every one of the {m} parts supported (intersection-union: no correction needed)"
                           if m > 1 else "its interval satisfies the claim")
    hits = [p for p in parts if p.p_holm <= SIDE]
    if hits:
        return CONTRADICTED, ("; ".join(f"{p.label} against the claim, Holm-adjusted one-sided p = {fmt_p(p.p_holm)}"
                                        for p in hits) + f" (Holm over {m} part{'s' if m > 1 else ''}, "
                              f"at {100 * SIDE:.1f} %)")
    seeds = min((p.seeds for p in parts if p.d is not None), default=0)
    rule = ("no part against the claim after Holm over " f"{m} parts" if m > 1 else
            "its interval neither satisfies nor contradicts the claim")
    if seeds < 2 or needed is None or seeds < needed:
        return too_few(seeds), rule
    return INCONCLUSIVE, rule + f"; the run has the {needed} seeds {effect} needs"


@dataclasses.dataclass
class Claim:
    number: int
    statement: str
    suite: str
    verdict: str = NOT_RUN
    figure: str = "—"
    interval: str = "—"
    mde: str = "—"
    why: str = ""
    rule: str = ""
    needs: str = "—"               # seeds needed, in words
    spread: str = "—"              # SD of a seed's difference and its test-row part, in words
    needed: int | None = None      # seeds the whole claim needs (paper's effect, 80 %)
    effect: str = PAPER_EFFECT     # what its parts are planned for, in words
    seeds: list = dataclasses.field(default_factory=list)   # the seeds the run has
    parts: list = dataclasses.field(default_factory=list)
    extra: list = dataclasses.field(default_factory=list)   # further planned comparisons (the 7-task mean)
    groups: list = dataclasses.field(default_factory=list)

    @property
    def command(self) -> str:
        return f"python -m benchmark run --suite {self.suite}"

    def more_seeds(self, total: int | None = None) -> str:
        """The command that brings the run to ``total`` seeds (done cells are reused)."""
        return f"{self.command} --seeds {seeds_arg(self.seeds, total or max(len(self.seeds) + 1, 2))}"


def seeds_arg(have, total: int) -> str:
    """The seeds a run of ``total`` seeds lists: those it has, then the smallest unused ones."""
    out = sorted({s for s in have if isinstance(s, int)})
    k = 0
    while len(out) < total:
        if k not in out:
            out.append(k)
        k += 1
    return ",".join(map(str, sorted(out)))


def _not_run(c: Claim, what: str = "") -> Claim:
    c.verdict = NOT_RUN
    c.why = f"no results of suite '{c.suite}'{what}; run `{c.command}`"
    return c


def fmt_needed(n: int | None) -> str:
    return f"more than {stats.MAX_SEEDS:,}" if n is None else f"{n:,}"


PRACTICAL = 30  # seeds past which a plan is no plan: the command is not printed, the numbers are


def part_reads(p: Part) -> str:
    """A part's own reading: its interval's verdict, or "inconclusive: N seeds" when it has fewer
    seeds than the paper's effect needs (or one)."""
    if p.d is None:
        return "—"
    if not p.decided:
        return too_few(p.seeds)
    if is_inconclusive(p.verdict) and (p.needed is None or p.seeds < p.needed):
        return too_few(p.seeds)
    return p.verdict


def _finish(c: Claim, parts: list[Part], needed: int | None) -> Claim:
    """Verdict, rule, and why: for too few seeds, how many the paper's effect needs and the command
    that adds them (``--seeds``, which reuses every done cell)."""
    c.parts = parts
    c.needed = needed
    c.verdict, c.rule = combine(parts, needed, c.effect)
    have = min((p.seeds for p in parts if p.d is not None), default=0)
    if c.verdict.startswith("inconclusive: "):
        if have < 2:
            c.why = (f"{'one seed' if have == 1 else 'no paired seed'}: no spread between seeds to read; "
                     f"a second seed measures it (`{c.more_seeds(2)}`), then `python -m benchmark power "
                     f"--suite {c.suite}` says how many it needs")
        elif needed is not None and needed <= PRACTICAL:
            c.why = (f"{c.effect} needs {needed} seeds at this run's test rows and spread; "
                     f"`{c.more_seeds(needed)}` adds them")
        else:
            hard = max((p for p in parts if p.d is not None and p.seeds > 1),
                       key=lambda p: math.inf if p.needed is None else p.needed, default=None)
            c.why = (f"deciding {'every part at once' if len(parts) > 1 else 'it'} needs {fmt_needed(needed)} "
                     "seeds at this run's test rows and spread"
                     + (f" ({hard.label} alone: {fmt_needed(hard.needed)} for "
                        + (f"the paper's {_effect(hard)}" if c.effect == PAPER_EFFECT else c.effect) + ")"
                        if hard is not None and len(parts) > 1 else "")
                     + ": not a number of seeds to run")
    elif c.verdict == INCONCLUSIVE:
        c.why = f"the run has the {needed} seeds {c.effect} needs and still cannot tell"
    return c


def _effect(p: Part) -> str:
    if p.paper is None:
        return "effect"
    return f"{p.paper:.2f}" if p.rule == "std <" else f"{100 * p.paper:+.2f} points"


def spread_text(parts: list[Part], mean: Part | None = None) -> str:
    """SD of a seed's paired difference over seeds, with its test-row part in brackets, in points."""
    got = [p for p in parts if p.d is not None and p.rule != "std <"]
    if not got:
        return "—"
    rows = [p.d["sd_rows"] for p in got]
    sds = [p.d["sd"] for p in got if p.seeds > 1]
    rng = lambda xs: (f"{100 * min(xs):.1f}" if len(xs) == 1 or max(xs) - min(xs) < 5e-4  # noqa: E731
                      else f"{100 * min(xs):.1f}–{100 * max(xs):.1f}")
    text = f"{rng(sds)} ({rng(rows)})" if sds else f"— ({rng(rows)}): one seed"
    text += " per part" if len(got) > 1 else ""
    if mean is not None and mean.d is not None and mean.seeds > 1:
        text += f"; {mean.label} {100 * mean.d['sd']:.1f} ({100 * mean.d['sd_rows']:.1f}), pooled"
    return text


def _seeds_of(groups: list[Group]) -> list:
    return sorted({s for g in groups for s in g.seeds}, key=str)


def _part_text(p: Part) -> str:
    if p.d is None:
        return f"{p.label}: not computed ({p.why})"
    if p.rule == "std <":
        return f"{p.label} {p.d['ratio']:.2f} [{p.d['lo']:.2f}, {p.d['hi']:.2f}]"
    text = f"{p.label} {fmt_pts(p.d['diff'])} {fmt_ci(p.d['lo'], p.d['hi'])}"
    return text + (" (one seed: test rows only)" if p.seeds < 2 else "")


# -- the five claims ---------------------------------------------------------------------------
def claim1(res: Results) -> Claim:
    c = Claim(1, "MetaPT beats PPT on all seven tasks (Table 1).", SUITES["table1"])
    _, groups, _ = pick(res, c.suite, method=["metapt", "ppt"], point={})
    by = {(g.task, g.method): g for g in groups}
    if not any(m == "metapt" for _, m in by) or not any(m == "ppt" for _, m in by):
        return _not_run(c, " with both MetaPT and PPT")
    c.groups, c.seeds = groups, _seeds_of(groups)
    parts = []
    for task in TASKS:
        a, b = by.get((task, "metapt")), by.get((task, "ppt"))
        effect = paper.table1_diff("metapt", "ppt", task)
        if a is None or b is None:
            parts.append(Part(paper.task_title(task), ">", paper=effect, why="not run"))
            continue
        parts.append(paired_part(a, b, ">", paper.task_title(task), effect))
    pairs = [(by[(t, "metapt")], by[(t, "ppt")]) for t in TASKS if (t, "metapt") in by and (t, "ppt") in by]
    mean = mean_part(pairs, "metapt", "ppt", "7-task mean") if len(pairs) > 1 else None
    c.extra = [mean] if mean is not None else []
    c.figure = "MetaPT − PPT, points: " + "; ".join(_part_text(p) for p in parts
                                                    if p.d is not None or p.why != "not run")
    if mean is not None and mean.d is not None:
        m = mean.d
        c.interval = f"mean over tasks {fmt_pts(m['diff'])} {fmt_ci(m['lo'], m['hi'])}; per task above"
    else:
        c.interval = "per task above"
    mdes = [p.d["mde"] for p in parts if p.d is not None and not math.isnan(p.d["mde"])]
    if mdes:
        c.mde = f"{fmt_pts(min(mdes), False)}–{fmt_pts(max(mdes), False)} points per task"
        if mean is not None and mean.d is not None and not math.isnan(mean.d["mde"]):
            c.mde += f"; {fmt_pts(mean.d['mde'], False)} on the 7-task mean"
    planned = [p for p in parts if p.d is not None and p.seeds > 1 and p.paper is not None]
    needed = (stats.seeds_needed_all([(p.paper, p.d["sd"], p.d["sd_rows"], None) for p in planned])
              if len(planned) == len(parts) else None)
    _finish(c, parts, needed)
    not_run = [p.label for p in parts if p.why == "not run"]
    if not_run and not c.why:
        c.why = f"{', '.join(not_run)} not run"
    elif not_run:
        c.why += f"; {', '.join(not_run)} not run"
    if c.verdict == SUPPORTED:
        c.why = "every task's interval lies above 0"
    elif mean is not None and mean.needed is not None and c.seeds and len(c.seeds) < mean.needed:
        c.why += (f"; the 7-task mean alone needs {mean.needed} seeds for the paper's "
                  f"{fmt_pts(mean.paper)} points"
                  + (f" (`{c.more_seeds(mean.needed)}`)" if mean.needed <= PRACTICAL else ""))
    c.needs = _needs_text(parts, needed, mean)
    c.spread = spread_text(parts, mean)
    return c


def mean_part(pairs: list[tuple[Group, Group]], a: str, b: str, label: str) -> Part | None:
    """The mean over tasks of a − b (pooled t, :func:`reports.stats.across_tasks`), planned
    against the paper's mean over the same tasks."""
    agg, why = evidence.across(pairs)
    part = Part(label, ">", tasks=len(pairs), shared=shared_draws([g for pair in pairs for g in pair]))
    if agg is None:
        part.why = why
        return part
    effects = [paper.table1_diff(a, b, t) for t in agg["tasks"]]
    part.paper = float(np.mean(effects)) if all(e is not None for e in effects) else None
    m = agg["mean_diff"]
    part.tasks = len(agg["tasks"])
    part.seeds = agg["runs"]
    part.d = {"diff": m["value"], "lo": m["lo"], "hi": m["hi"], "se": m["se"], "df": agg["df"], "p": m["p"],
              "sd": m["sd"], "sd_rows": m["sd_rows"], "seeds": agg["runs"], "agg": agg,
              "mde": (stats.min_detectable_t(m["sd"], m["sd_rows"], agg["runs"], tasks=part.tasks)
                      if agg["runs"] > 1 else math.nan)}
    if part.seeds > 1:
        part.verdict = greater(m["lo"], m["hi"])
        part.p_con = stats.t_p_beyond(m["value"], m["se"], agg["df"], 0.0, "below")
    return _plan(part)


def _needs_text(parts: list[Part], needed: int | None, mean: Part | None = None) -> str:
    planned = [p for p in parts if p.needed is not None or (p.d is not None and p.seeds > 1)]
    if not planned and (mean is None or mean.d is None or mean.seeds < 2):
        return "a second seed first (no spread between seeds to plan from)"
    out = []
    if mean is not None and mean.d is not None and mean.seeds > 1 and mean.paper is not None:
        out.append(f"{fmt_needed(mean.needed)} for the {mean.label} (paper {fmt_pts(mean.paper)})")
    out.append(f"{fmt_needed(needed)} for every part at once" if len(parts) > 1 else fmt_needed(needed))
    return "; ".join(out)


def claim2(res: Results) -> Claim:
    c = Claim(2, "MetaPT's std over seeds is below PPT's and FT's (Table 1).", SUITES["table1"])
    _, groups, _ = pick(res, c.suite, method=["metapt", "ppt", "ft"], point={})
    runs: dict[str, list] = {}
    tasks: dict[str, list] = {}
    for g in groups:
        runs.setdefault(g.method, []).append(g.accuracies)
        tasks.setdefault(g.method, []).append(g.task)
    if "metapt" not in runs or not ({"ppt", "ft"} & set(runs)):
        return _not_run(c, " with MetaPT and PPT or FT")
    c.groups, c.seeds = groups, _seeds_of(groups)
    parts, figs = [], []
    for base in ("ppt", "ft"):
        label = f"std MetaPT / {paper.method_title(base)}"
        effect = _paper_std_ratio("metapt", base)
        if base not in runs:
            parts.append(Part(label, "std <", paper=effect, why="not run"))
            figs.append(f"{paper.method_title(base)} not run")
            continue
        r = stats.variance_ratio(runs["metapt"], runs[base])
        part = Part(label, "std <", paper=effect, tasks=len(set(tasks["metapt"]) & set(tasks[base])),
                    seeds=min(len(x) for x in runs["metapt"] + runs[base]))
        if math.isnan(r["ratio"]):
            part.why = "needs two seeds or more on both sides"
            parts.append(part)
            figs.append(f"vs {paper.method_title(base)}: needs two seeds or more on both sides")
            continue
        part.d = r
        part.verdict = SUPPORTED if r["hi"] < 1 else CONTRADICTED if r["lo"] > 1 else INCONCLUSIVE
        part.p_con = r["p_more"]
        parts.append(_plan(part))
        va, _ = stats.pooled_variance(runs["metapt"])
        vb, _ = stats.pooled_variance(runs[base])
        figs.append(f"pooled std MetaPT {100 * math.sqrt(va):.1f} vs {paper.method_title(base)} "
                    f"{100 * math.sqrt(vb):.1f} points (ratio {r['ratio']:.2f})")
    c.figure = "; ".join(figs)
    done = [p for p in parts if p.d is not None]
    c.interval = "; ".join(f"ratio vs {p.label.split(' / ')[1]} [{p.d['lo']:.2f}, {p.d['hi']:.2f}]"
                           for p in done) or "—"
    c.mde = "; ".join(f"a ratio below {p.d['mde']:.2f} vs {p.label.split(' / ')[1]} (df {p.d['df'][0]}, "
                      f"{p.d['df'][1]})" for p in done) or "—"
    t_ = min((p.tasks for p in done), default=0)
    needed = (stats.seeds_needed_ratio([p.paper for p in parts], t_)
              if done and len(done) == len(parts) and all(p.paper is not None for p in parts) else None)
    _finish(c, parts, needed)
    if not done:   # no ratio could be computed: say why, not what an interval did
        c.why = "no std ratio: " + "; ".join(figs)
        if c.verdict.startswith("inconclusive"):
            c.why += f"; `{c.more_seeds(2)}` adds a second seed"
    elif c.verdict == SUPPORTED:
        c.why = "std ratio's interval below 1 for both"
    elif c.verdict == CONTRADICTED:
        c.why = ("F-test of the within-task variances pooled over tasks: MetaPT varies more than "
                 + " and ".join(p.label.split(" / ")[1] for p in parts if p.p_holm <= SIDE))
    c.spread = ("std over seeds (pooled over tasks): " + ", ".join(
        f"{paper.method_title(m)} {100 * math.sqrt(stats.pooled_variance(runs[m])[0]):.1f}"
        for m in ("metapt", "ppt", "ft") if m in runs and stats.pooled_variance(runs[m])[1]) or "—")
    c.needs = (f"{fmt_needed(needed)} for both ratios at once (paper: "
               + ", ".join(f"{p.paper:.2f} vs {p.label.split(' / ')[1]}" for p in parts if p.paper) + ")")
    return c


def _paper_std_ratio(a: str, b: str) -> float | None:
    """The paper's std ratio of a to b over Table 1's tasks (variances pooled over tasks)."""
    tasks = paper.numbers()["table1"]["tasks"]
    ca = [paper.table1_cell(a, t) for t in tasks]
    cb = [paper.table1_cell(b, t) for t in tasks]
    if not all(ca) or not all(cb):
        return None
    return math.sqrt(sum(x["std"] ** 2 for x in ca) / sum(x["std"] ** 2 for x in cb))


CLAIM3_PARTS = [("metapt_kmeans", "metapt_lda", ">"), ("metapt_lda", "metapt_random", ">"),
                ("metapt_random", "metapt_label", "~"), ("metapt_random", "ppt", "~"),
                ("metapt_label", "ppt", "~")]


def claim3(res: Results) -> Claim:
    c = Claim(3, "Table 2's order: K-means > LDA > random ~ label ~ PPT (SST-5).", SUITES["table2"])
    task = paper.numbers()["table2"]["task"]
    names = ["metapt_kmeans", "metapt_lda", "metapt_random", "metapt_label", "ppt"]
    _, groups, _ = pick(res, c.suite, method=names, task=task, point={}, need=names[:4])
    by = {g.method: g for g in groups}
    if not {"metapt_kmeans", "metapt_lda"} & set(by):
        return _not_run(c, " with the K-means and LDA meta tasks")
    c.groups, c.seeds = groups, _seeds_of(groups)
    parts = []
    for a, b, rule in CLAIM3_PARTS:
        label = f"{paper.method_title(a)} {rule} {paper.method_title(b)}"
        if a not in by or b not in by:
            parts.append(Part(label, rule, paper=paper.table2_diff(a, b), why="not run"))
            continue
        parts.append(paired_part(by[a], by[b], rule, label, paper.table2_diff(a, b)))
    c.figure = "; ".join(f"{_part_text(p)}: {part_reads(p)}" for p in parts)
    c.interval = "per comparison above (a − b, points)"
    mdes = [p.d["mde"] for p in parts if p.d is not None and not math.isnan(p.d["mde"])]
    c.mde = f"{fmt_pts(min(mdes), False)}–{fmt_pts(max(mdes), False)} points" if mdes else "—"
    planned = [p for p in parts if p.d is not None and p.seeds > 1 and p.paper is not None]
    needed = (stats.seeds_needed_all([(p.paper, p.d["sd"], p.d["sd_rows"], p.margin) for p in planned])
              if len(planned) == len(parts) else None)
    _finish(c, parts, needed)
    if c.verdict in (SUPPORTED, CONTRADICTED):
        c.why = f"'>' needs the interval above 0; '~' needs it inside ±{100 * MARGIN:.0f} points"
    c.needs = _needs_text(parts, needed)
    c.spread = spread_text(parts)
    return c


def _plateau(c: Claim, res: Results, axes, anchor: float, what: str) -> Claim:
    """Accuracy at every axis point past ``anchor`` is ~ the accuracy at ``anchor`` (±MARGIN);
    planned for no change (the claim itself: the paper prints no numbers for its figures)."""
    _, groups, _ = pick(res, c.suite, task="sst5", axis=axes, method="metapt")
    if not groups:
        return _not_run(c)
    c.groups, c.seeds = groups, _seeds_of(groups)
    val = lambda g: float(next(g.point[a] for a in axes if a in g.point))  # noqa: E731
    groups = sorted(groups, key=val)
    at = [g for g in groups if val(g) >= anchor / 2]
    if not at:
        c.verdict = INCONCLUSIVE
        c.why = (f"the run's axis stops at {val(groups[-1]):,.0f} {what}, short of {anchor:,.0f}; "
                 f"extend it (`{c.command} --set ...`)")
        c.figure = "; ".join(f"{val(g):,.0f}: {100 * g.mean:.1f} %" for g in groups)
        return c
    base = min(at, key=lambda g: abs(math.log(val(g) / anchor)))
    past = [g for g in groups if val(g) > val(base)]
    c.figure = "MetaPT SST-5 accuracy: " + "; ".join(f"{val(g):,.0f}: {100 * g.mean:.1f} %" for g in groups)
    if not past:
        c.verdict = INCONCLUSIVE
        c.why = f"no point past {val(base):,.0f} {what} to compare with"
        return c
    parts = [paired_part(g, base, "~", f"{val(g):,.0f} − {val(base):,.0f}", 0.0) for g in past]
    c.interval = "; ".join(_part_text(p) for p in parts)
    mdes = [p.d["mde"] for p in parts if p.d is not None]
    c.mde = f"{fmt_pts(max(mdes), False)} points" if mdes else "—"
    planned = [p for p in parts if p.d is not None and p.seeds > 1]
    needed = (stats.seeds_needed_all([(0.0, p.d["sd"], p.d["sd_rows"], MARGIN) for p in planned])
              if len(planned) == len(parts) else None)
    _finish(c, parts, needed)
    if c.verdict in (SUPPORTED, CONTRADICTED):
        c.why = f"every point past {val(base):,.0f} {what} within ±{100 * MARGIN:.0f} points of it"
    c.needs = (_needs_text(parts, needed) + " (for no change: the paper prints no numbers for this figure)"
               if planned else "a second seed first (no spread between seeds to plan from)")
    c.spread = spread_text(parts)
    return c


def claim4(res: Results) -> Claim:
    c = Claim(4, "Figure 3a: accuracy plateaus past about 10,000 pre-training rows.", SUITES["fig3a"])
    return _plateau(c, res, ("pretrain.rows", "pretrain_rows"), PLATEAU_ROWS, "rows")


def claim5(res: Results) -> Claim:
    c = Claim(5, "Figure 3b: accuracy saturates near K = 10 meta tasks.", SUITES["fig3b"])
    return _plateau(c, res, ("pretrain.k", "k"), SATURATION_K, "clusters")


def claim6(res: Results) -> Claim:
    """Prompt-MAML (``metapt``) − multi-task (``metapt_multitask``) on each of the algorithms suite's
    tasks and on their mean, each part "a beats b"; planned for ``ALGORITHMS_EFFECT``."""
    a, b = "metapt", "metapt_multitask"
    c = Claim(6, "Beyond the paper: on the same meta tasks, MAML beats multi-task training (Prompt-MAML − "
                 "MetaPT multi-task; multi-task won against MAML-style meta-learning in Wu et al. 2022, "
                 "\"Continued Pretraining for Better Zero- and Few-Shot Promptability\").", SUITES["algorithms"])
    tasks = list(suite_spec(c.suite)["tasks"])
    _, groups, _ = pick(res, c.suite, method=[a, b], task=tasks, point={}, need=[b])
    by = {(g.task, g.method): g for g in groups}
    if not any(m == a for _, m in by) or not any(m == b for _, m in by):
        return _not_run(c, " with Prompt-MAML and multi-task training")
    c.groups, c.seeds = groups, _seeds_of(groups)
    effect = ALGORITHMS_EFFECT
    c.effect = f"a {fmt_pts(effect)}-point gain"
    parts = []
    for task in tasks:
        if (task, a) not in by or (task, b) not in by:
            parts.append(Part(paper.task_title(task), ">", paper=effect, why="not run"))
            continue
        parts.append(paired_part(by[(task, a)], by[(task, b)], ">", paper.task_title(task), effect))
    pairs = [(by[(t, a)], by[(t, b)]) for t in tasks if (t, a) in by and (t, b) in by]
    label = f"{len(tasks)}-task mean"
    if len(pairs) == len(tasks) > 1:
        mean = mean_part(pairs, a, b, label)
        mean.paper = effect
        _plan(mean)
    else:
        mean = Part(label, ">", paper=effect, tasks=len(tasks), why="needs every task of the suite")
    per_task = parts[:]
    parts.append(mean)
    c.figure = "Prompt-MAML − multi-task, points: " + "; ".join(_part_text(p) for p in parts
                                                                if p.d is not None or p.why != "not run")
    c.interval = (f"{label} {fmt_pts(mean.d['diff'])} {fmt_ci(mean.d['lo'], mean.d['hi'])}; per task above"
                  if mean.d is not None else "per task above")
    mdes = [p.d["mde"] for p in per_task if p.d is not None and not math.isnan(p.d["mde"])]
    if mdes:
        c.mde = f"{fmt_pts(min(mdes), False)}–{fmt_pts(max(mdes), False)} points per task"
        if mean.d is not None and not math.isnan(mean.d["mde"]):
            c.mde += f"; {fmt_pts(mean.d['mde'], False)} on the {label}"
    planned = [p for p in per_task if p.d is not None and p.seeds > 1]
    needed = needed_at_once(parts) if all(p.d is not None and p.seeds > 1 for p in parts) else None
    _finish(c, parts, needed)
    not_run = [p.label for p in per_task if p.why == "not run"]
    if c.verdict == SUPPORTED:
        c.why = f"every task's interval and the {label}'s lie above 0"
    elif c.verdict == CONTRADICTED:
        c.why = ("multi-task training does better on " + ", ".join(p.label for p in parts if p.p_holm <= SIDE)
                 + " (below 0 after Holm)")
    elif not_run:
        c.why = (c.why + "; " if c.why else "") + f"{', '.join(not_run)} not run"
    c.needs = ("a second seed first (no spread between seeds to plan from)" if not planned else
               f"{fmt_needed(needed)} for every part at once (a {fmt_pts(effect)}-point gain on each part: neither "
               "the paper nor Wu et al. print a difference on these meta tasks)")
    c.spread = spread_text(per_task, mean)
    return c


CLAIMS = [claim1, claim2, claim3, claim4, claim5, claim6]


# -- the report --------------------------------------------------------------------------------
METHOD_TEXT = (
    "**How the intervals are made.** Each comparison is paired (the same split and test rows at a "
    "seed). Its 95 % interval is a paired t over the per-seed differences with S − 1 degrees of "
    "freedom, whose variance is floored by the test-row variance: a seed's difference varies with "
    "the seed and with the finite test set, the test-row part is known from the counts, and a "
    "sample variance below it is luck. It is exact for normal differences whatever the spread "
    "between seeds, where the earlier bootstrap over 2-5 seeds covered 0 in only 69-90 % of runs "
    "when that spread was 6 points. The price is plain at two seeds: t with 1 degree of freedom is "
    "12.7, so only very large effects are decided. Across tasks the mean is the same t pooled over "
    "tasks (7 (S − 1) degrees of freedom); IQM and probability of improvement come from a "
    "parametric bootstrap of the same model. One seed has no spread between seeds, so it decides "
    "nothing. Each claim says which sources of randomness its intervals cover: the split seed and training "
    "order always, the pre-training draw only where the compared cells were made with "
    "`pretrain.draw: per-seed`. {protocol}")
PROTOCOL_TEXT = {   # what the intervals cover, by the cells' pre-training protocol (results.PROTOCOLS)
    "shared": "(The meta-learned and pre-trained prompts are one artefact shared by every seed: "
              "their own training randomness is not sampled here.)",
    "per-seed": "(Each seed tunes from the meta-learned and pre-trained prompts drawn with that seed: "
                "their own training randomness is sampled with the seed.)",
}
RULE_TEXT = (
    "**How a claim is decided.** *Supported* only when every part is supported (an "
    "intersection-union test: no correction needed). *Contradicted* only when a part lies against "
    f"the claim after Holm's correction across all the claim's parts (one-sided {100 * SIDE:.1f} %, "
    "the intervals' side; a part with no test counts as p = 1). Otherwise *inconclusive: N seeds* "
    "when the run has fewer seeds than the paper's own effect needs for 80 % power at 5 % (at this "
    "run's test rows and measured spread), with the command that adds them (`--seeds` reuses every "
    "done cell), or *inconclusive at this power* when it has them. \"~\" and \"plateau\" mean within "
    f"±{100 * MARGIN:.0f} accuracy points. `python -m benchmark power --suite NAME` prints the same "
    "plan with its cost.")


def _context(c: Claim) -> str:
    """Stand-in data and the scaling down, beside every verdict."""
    if not c.groups:
        return ""
    d = describe(c.groups, downstream=paper.numbers()["tasks"])
    # settings, not values: a figure's own axis (each point one more value of it) is not counted
    axes = sorted({k for g in c.groups for k in g.point})
    n_red = len({k for r in d["reductions"] for k in r} - set(axes))
    besides = f" besides the axis ({', '.join(axes)})" if axes else ""
    data = ("stand-in data (" + "; ".join(f"{d['standin_for'][t]} ← {lbl}" for t, lbl in sorted(d["standins"].items()))
            + ")") if d["standins"] else "the paper's data"
    seeds = sorted({g.n for g in c.groups})
    return (f"{data}; profile {', '.join(d['profiles']) or '?'}, backbone {', '.join(d['backbones']) or '?'}; "
            f"{'/'.join(map(str, seeds))} seed(s); {n_red} settings differ from the paper{besides} (listed below)")


def short_rule(c: Claim) -> str:
    m = len(c.parts)
    if c.verdict == NOT_RUN or m == 0:
        return "—"
    if m <= 1:
        return "one part: its interval"
    return f"supported: all {m} parts; contradicted: a part after Holm over {m}"


def summary_md(claims: list[Claim]) -> str:
    """The table the README quotes."""
    rows = ["| # | Claim | Our figure | 95 % interval | Smallest detectable | SD of a seed's Δ (test-row part), points "
            "| Seeds needed (paper's effect, 80 %) | Verdict | Rule |", "|---|---|---|---|---|---|---|---|---|"]
    for c in claims:
        cells = [str(c.number), c.statement, c.figure, c.interval, c.mde, c.spread, c.needs, f"**{c.verdict}**",
                 short_rule(c)]
        rows.append("| " + " | ".join(x.replace("|", "\\|") for x in cells) + " |")
    return "\n".join(rows)


def half_width(d: dict) -> str:
    """Half the width of a part's interval, in points (its clipping at ±100 points included)."""
    if d.get("lo") is None or math.isnan(d["lo"]):
        return "—"
    return f"{100 * (d['hi'] - d['lo']) / 2:.1f}"


def _sd(x) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def parts_md(c: Claim) -> list[str]:
    """One row per part: our figure, its spread, the paper's effect, power now, seeds needed."""
    if not c.parts:
        return []
    ratio = c.parts[0].rule == "std <"
    head = (["Part", "ours", "95 % interval", "seeds", "df", "paper", "power now", "seeds needed", "Holm p (against)",
             "part reads"] if ratio else
            ["Part", "ours (points)", "95 % interval", "± half-width", "seeds", "SD of a seed's Δ (points)",
             "test-row part",
             "paper Δ" if c.effect == PAPER_EFFECT else "planned Δ", "power now", "seeds needed",
             "Holm p (against)", "part reads"])
    rows = []
    for p in c.parts + [e for e in c.extra if e is not None]:
        reads = part_reads(p)
        if p in c.extra:
            reads += " (not a part: read beside)"
        power = "—" if math.isnan(p.power) else f"{100 * p.power:.0f} %"
        needed = ("—" if p.d is None or p.seeds < 2 or p.paper is None else fmt_needed(p.needed))
        holm = "—" if p in c.extra or math.isnan(p.p_con) or p.d is None else fmt_p(p.p_holm)
        if p.d is None:
            rows.append([p.label, f"not computed ({p.why})"] + ["—"] * (len(head) - 2))
            continue
        if ratio:
            rows.append([p.label, f"{p.d['ratio']:.2f}", f"[{p.d['lo']:.2f}, {p.d['hi']:.2f}]", str(p.seeds),
                         f"{p.d['df'][0]}, {p.d['df'][1]}", "—" if p.paper is None else f"{p.paper:.2f}", power,
                         needed, holm, reads])
        else:
            rows.append([p.label, fmt_pts(p.d["diff"]), fmt_ci(p.d["lo"], p.d["hi"]), half_width(p.d), str(p.seeds),
                         _sd(p.d["sd"]), _sd(p.d["sd_rows"]), "—" if p.paper is None else f"{100 * p.paper:+.2f}",
                         power, needed, holm, reads])
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(x.replace("|", "\\|") for x in r) + " |" for r in rows]
    return lines


def protocol_text(res: Results, claims: list[Claim]) -> str:
    """What the intervals cover, by the protocol of the suites the claims read."""
    suites = sorted({c.suite for c in claims if c.groups})
    chosen = {res.protocol_of(s) for s in suites} - {None}
    if len(chosen) > 1:
        return ("(The suites were made under different pre-training protocols: "
                + "; ".join(f"{s} {res.protocol_of(s)}" for s in suites if res.protocol_of(s)) +
                ". Each claim's \"The intervals cover\" line says which sources its intervals sample.)")
    return PROTOCOL_TEXT[chosen.pop() if chosen else res.protocol or "shared"]


def claims_md(res: Results) -> str:
    claims = [f(res) for f in CLAIMS]
    mixed = [res.mixed_of(s) for s in sorted({c.suite for c in claims}) if res.mixed_of(s)]
    out = ["# The paper's claims, tested on this results folder", "",
           "Each verdict reads 95 % intervals against the claim: *supported*, *contradicted*, or "
           "*inconclusive*; \"smallest detectable\" is the difference this run would detect with 80 % "
           "power; \"seeds needed\" is how many seeds at this run's test rows and measured spread would "
           "detect the paper's own effect with 80 % power at 5 %.", "",
           METHOD_TEXT.format(protocol=protocol_text(res, claims)), "",
           *[f"**Mixed protocols.** {line}." for line in mixed], *([""] if mixed else []), RULE_TEXT, "",
           summary_md(claims), ""]
    for c in claims:
        out += [f"## Claim {c.number}: {c.statement}", "", f"- **Verdict: {c.verdict}** — {c.why}."]
        if c.verdict != NOT_RUN:
            if c.rule:
                out.append(f"- Rule: {c.rule}.")
            out += [f"- Our figure: {c.figure}", f"- 95 % interval: {c.interval}",
                    f"- Smallest difference detectable (80 % power): {c.mde}",
                    f"- Spread between seeds: {c.spread}",
                    f"- The intervals cover: {covers(c.groups)}.",
                    f"- Seeds needed for {c.effect} (80 % power at 5 %): {c.needs}",
                    f"- Setting: {_context(c)}."]
        out += [f"- Suite: `{c.suite}` (`{c.command}`).", ""]
        table = parts_md(c)
        if table:
            out += table + [""]
    used = [g for c in claims for g in c.groups]
    reds = sorted({format_reduction(k, v) for r in describe(used)["reductions"] for k, v in r.items()}) if used else []
    if reds:
        out += ["## Settings that differ from the paper", ""] + [f"- {r}" for r in reds] + [""]
    return "\n".join(out)
