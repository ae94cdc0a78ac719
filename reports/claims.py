"""The paper's five claims, each with our figure, its interval, the smallest difference this run
could detect, and a verdict: supported, contradicted, or inconclusive at this power.

Verdict rules (95 % intervals, :mod:`reports.stats`):

- "a beats b": supported when the interval of a − b lies above 0, contradicted when it lies
  below 0, else inconclusive.
- "a ~ b" (the paper's "about equal", and a plateau: no gain past a point): supported when the
  interval lies inside ± ``MARGIN``, contradicted when it lies wholly outside it, else inconclusive.
  ``MARGIN`` is 2 accuracy points: the paper's Table 2 calls 0.1-point gaps "~" and draws its
  order from gaps of 1.1-2.1 points, so a gap under 2 points is what it treats as no difference.
- a claim made of several parts is contradicted if any part is, supported if all parts are.

A claim whose suite has no results is "not run" and names the command that runs it.

>>> print(claims_md(results.load("results")))    # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import math

from reports import SUITES, evidence, paper, stats
from reports.evidence import fmt_ci, fmt_pts
from reports.results import Group, Results, describe, format_reduction, pick

MARGIN = 0.02
SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_RUN = ("supported", "contradicted",
                                                  "inconclusive at this power", "not run")
TASKS = ["sst5", "sst2", "amazon5", "amazon2", "sentihood", "semeval16_restaurant", "semeval16_laptop"]
PLATEAU_ROWS = 10_000  # Figure 3a: "past about 10,000 pre-training rows"
SATURATION_K = 10      # Figure 3b: "saturates near K = 10"


# -- verdict rules -----------------------------------------------------------------------------
def greater(lo: float, hi: float) -> str:
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


def combine(verdicts: list[str]) -> str:
    if not verdicts:
        return NOT_RUN
    if CONTRADICTED in verdicts:
        return CONTRADICTED
    return SUPPORTED if all(v == SUPPORTED for v in verdicts) else INCONCLUSIVE


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
    groups: list = dataclasses.field(default_factory=list)

    @property
    def command(self) -> str:
        return f"python -m benchmark run --suite {self.suite}"


def _not_run(c: Claim, what: str = "") -> Claim:
    c.verdict = NOT_RUN
    c.why = f"no results of suite '{c.suite}'{what}; run `{c.command}`"
    return c


def _pair_part(a: Group, b: Group, rule, label: str) -> tuple[str, str, dict | None]:
    """(verdict, text, stats) of one paired comparison under ``rule``.

    With one seed the interval resamples test rows only: it leaves out how much a rerun with another
    seed moves a method (another few-shot split and tuning order: 5-10 points on SST-5 in the cpu
    run), so it can show a difference between two runs but not between two methods or settings;
    such a comparison stays inconclusive whatever its interval."""
    d, why = evidence.compare(a, b)
    if d is None:
        return INCONCLUSIVE, f"{label}: not computed ({why})", None
    text = f"{label} {fmt_pts(d['diff'])} {fmt_ci(d['lo'], d['hi'])}"
    if len(d["seed_list"]) < 2:
        return INCONCLUSIVE, text + " (one seed: test rows only)", d
    return rule(d["lo"], d["hi"]), text, d


# -- the five claims ---------------------------------------------------------------------------
def claim1(res: Results) -> Claim:
    c = Claim(1, "MetaPT beats PPT on all seven tasks (Table 1).", SUITES["table1"])
    _, groups, _ = pick(res, c.suite, method=["metapt", "ppt"], point={})
    by = {(g.task, g.method): g for g in groups}
    if not any(m == "metapt" for _, m in by) or not any(m == "ppt" for _, m in by):
        return _not_run(c, " with both MetaPT and PPT")
    c.groups = groups
    verdicts, texts, mdes, why = [], [], [], []
    for task in TASKS:
        a, b = by.get((task, "metapt")), by.get((task, "ppt"))
        if a is None or b is None:
            verdicts.append(INCONCLUSIVE)
            why.append(f"{paper.task_title(task)} not run")
            continue
        v, text, d = _pair_part(a, b, greater, paper.task_title(task))
        verdicts.append(v)
        texts.append(text)
        if d is not None:
            mdes.append(d["mde"])
        if v != SUPPORTED:
            why.append(f"{paper.task_title(task)}: {v}")
    pairs = [(by[(t, "metapt")], by[(t, "ppt")]) for t in TASKS if (t, "metapt") in by and (t, "ppt") in by]
    agg, _ = evidence.across(pairs) if len(pairs) > 1 else (None, "")
    c.figure = "MetaPT − PPT, points: " + "; ".join(texts)
    if agg:
        m = agg["mean_diff"]
        c.interval = f"mean over tasks {fmt_pts(m['value'])} {fmt_ci(m['lo'], m['hi'])}; per task above"
    else:
        c.interval = "per task above"
    if mdes:
        c.mde = f"{fmt_pts(min(mdes), False)}–{fmt_pts(max(mdes), False)} points per task"
    c.verdict = combine(verdicts)
    c.why = "; ".join(why) if why else "every task's interval lies above 0"
    return c


def claim2(res: Results) -> Claim:
    c = Claim(2, "MetaPT's std over seeds is below PPT's and FT's (Table 1).", SUITES["table1"])
    _, groups, _ = pick(res, c.suite, method=["metapt", "ppt", "ft"], point={})
    runs: dict[str, list] = {}
    for g in groups:
        runs.setdefault(g.method, []).append(g.accuracies)
    if "metapt" not in runs or not ({"ppt", "ft"} & set(runs)):
        return _not_run(c, " with MetaPT and PPT or FT")
    c.groups = groups
    verdicts, figs, ivs, mdes = [], [], [], []
    for base in ("ppt", "ft"):
        if base not in runs:
            verdicts.append(INCONCLUSIVE)
            figs.append(f"{paper.method_title(base)} not run")
            continue
        r = stats.variance_ratio(runs["metapt"], runs[base])
        if math.isnan(r["ratio"]):
            verdicts.append(INCONCLUSIVE)
            figs.append(f"vs {paper.method_title(base)}: needs two seeds or more on both sides")
            continue
        va, _ = stats.pooled_variance(runs["metapt"])
        vb, _ = stats.pooled_variance(runs[base])
        verdicts.append(SUPPORTED if r["hi"] < 1 else CONTRADICTED if r["lo"] > 1 else INCONCLUSIVE)
        figs.append(f"pooled std MetaPT {100 * math.sqrt(va):.1f} vs {paper.method_title(base)} "
                    f"{100 * math.sqrt(vb):.1f} points (ratio {r['ratio']:.2f})")
        ivs.append(f"ratio vs {paper.method_title(base)} [{r['lo']:.2f}, {r['hi']:.2f}]")
        mdes.append(f"a ratio below {r['mde']:.2f} vs {paper.method_title(base)} (df {r['df'][0]}, {r['df'][1]})")
    c.figure = "; ".join(figs)
    c.interval = "; ".join(ivs) or "—"
    c.mde = "; ".join(mdes) or "—"
    c.verdict = combine(verdicts)
    if not ivs:   # no ratio could be computed: say why, not what an interval did
        c.why = "no std ratio: " + "; ".join(figs)
    else:
        c.why = ("std ratio's interval below 1 for both" if c.verdict == SUPPORTED else
                 "F-test of the within-task variances pooled over tasks; interval of the std ratio "
                 + ("above 1 for one baseline" if c.verdict == CONTRADICTED else "includes 1"))
    return c


def claim3(res: Results) -> Claim:
    c = Claim(3, "Table 2's order: K-means > LDA > random ~ label ~ PPT (SST-5).", SUITES["table2"])
    task = paper.numbers()["table2"]["task"]
    names = ["metapt_kmeans", "metapt_lda", "metapt_random", "metapt_label", "ppt"]
    _, groups, _ = pick(res, c.suite, method=names, task=task, point={}, need=names[:4])
    by = {g.method: g for g in groups}
    if not {"metapt_kmeans", "metapt_lda"} & set(by):
        return _not_run(c, " with the K-means and LDA meta tasks")
    c.groups = groups
    parts = [("metapt_kmeans", "metapt_lda", greater), ("metapt_lda", "metapt_random", greater),
             ("metapt_random", "metapt_label", equivalent), ("metapt_random", "ppt", equivalent),
             ("metapt_label", "ppt", equivalent)]
    verdicts, texts, mdes = [], [], []
    for a, b, rule in parts:
        label = f"{paper.method_title(a)} {'>' if rule is greater else '~'} {paper.method_title(b)}"
        if a not in by or b not in by:
            verdicts.append(INCONCLUSIVE)
            texts.append(f"{label}: not run")
            continue
        v, text, d = _pair_part(by[a], by[b], rule, label)
        verdicts.append(v)
        texts.append(f"{text}: {v}")
        if d is not None:
            mdes.append(d["mde"])
    c.figure = "; ".join(texts)
    c.interval = "per comparison above (a − b, points)"
    c.mde = f"{fmt_pts(min(mdes), False)}–{fmt_pts(max(mdes), False)} points" if mdes else "—"
    c.verdict = combine(verdicts)
    c.why = f"'>' needs the interval above 0; '~' needs it inside ±{100 * MARGIN:.0f} points"
    return c


def _plateau(c: Claim, res: Results, axes, anchor: float, what: str) -> Claim:
    """Accuracy at every axis point past ``anchor`` is ~ the accuracy at ``anchor`` (±MARGIN)."""
    _, groups, _ = pick(res, c.suite, task="sst5", axis=axes, method="metapt")
    if not groups:
        return _not_run(c)
    c.groups = groups
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
    verdicts, ivs, mdes, seeds = [], [], [], []
    for g in past:
        v, text, d = _pair_part(g, base, equivalent, f"{val(g):,.0f} − {val(base):,.0f}")
        verdicts.append(v)
        ivs.append(text)
        if d is not None:
            mdes.append(d["mde"])
            seeds.append(d["seed_list"])
    c.interval = "; ".join(ivs)
    c.mde = f"{fmt_pts(max(mdes), False)} points" if mdes else "—"
    c.verdict = combine(verdicts)
    c.why = f"every point past {val(base):,.0f} {what} within ±{100 * MARGIN:.0f} points of it"
    if any(len(d_seeds) < 2 for d_seeds in seeds):
        c.why += ("; with one seed per point no verdict is drawn: the interval covers test rows, not the "
                  "run-to-run spread of a seed")
    return c


def claim4(res: Results) -> Claim:
    c = Claim(4, "Figure 3a: accuracy plateaus past about 10,000 pre-training rows.", SUITES["fig3a"])
    return _plateau(c, res, ("pretrain.rows", "pretrain_rows"), PLATEAU_ROWS, "rows")


def claim5(res: Results) -> Claim:
    c = Claim(5, "Figure 3b: accuracy saturates near K = 10 meta tasks.", SUITES["fig3b"])
    return _plateau(c, res, ("pretrain.k", "k"), SATURATION_K, "clusters")


CLAIMS = [claim1, claim2, claim3, claim4, claim5]


# -- the report --------------------------------------------------------------------------------
def _context(c: Claim) -> str:
    """Stand-in data and the scaling down, beside every verdict."""
    if not c.groups:
        return ""
    d = describe(c.groups)
    n_red = len({format_reduction(k, v) for r in d["reductions"] for k, v in r.items()})
    data = ("stand-in data (" + "; ".join(f"{d['standin_for'][t]} ← {lbl}" for t, lbl in sorted(d["standins"].items()))
            + ")") if d["standins"] else "the paper's data"
    seeds = sorted({g.n for g in c.groups})
    return (f"{data}; profile {', '.join(d['profiles']) or '?'}, backbone {', '.join(d['backbones']) or '?'}; "
            f"{'/'.join(map(str, seeds))} seed(s); {n_red} settings differ from the paper (listed below)")


def summary_md(claims: list[Claim]) -> str:
    """The table the README quotes."""
    rows = ["| # | Claim | Our figure | 95 % interval | Smallest detectable | Verdict |", "|---|---|---|---|---|---|"]
    for c in claims:
        cells = [str(c.number), c.statement, c.figure, c.interval, c.mde, f"**{c.verdict}**"]
        rows.append("| " + " | ".join(x.replace("|", "\\|") for x in cells) + " |")
    return "\n".join(rows)


def claims_md(res: Results) -> str:
    claims = [f(res) for f in CLAIMS]
    out = ["# The paper's claims, tested on this results folder", "",
           "Each verdict reads a 95 % interval (bootstrap over seeds and test rows, paired on the same "
           "split and rows) against the claim: *supported*, *contradicted*, or *inconclusive at this "
           "power*; \"smallest detectable\" is the difference this run would detect with 80 % power. "
           f"\"~\" and \"plateau\" mean within ±{100 * MARGIN:.0f} accuracy points. A comparison made "
           "at one seed is inconclusive whatever its interval: that interval resamples test rows only, "
           "not the spread between seeds.", "",
           summary_md(claims), ""]
    for c in claims:
        out += [f"## Claim {c.number}: {c.statement}", "", f"- **Verdict: {c.verdict}** — {c.why}."]
        if c.verdict != NOT_RUN:
            out += [f"- Our figure: {c.figure}", f"- 95 % interval: {c.interval}",
                    f"- Smallest difference detectable (80 % power): {c.mde}",
                    f"- Setting: {_context(c)}."]
        out += [f"- Suite: `{c.suite}` (`{c.command}`).", ""]
    used = [g for c in claims for g in c.groups]
    reds = sorted({format_reduction(k, v) for r in describe(used)["reductions"] for k, v in r.items()}) if used else []
    if reds:
        out += ["## Settings that differ from the paper", ""] + [f"- {r}" for r in reds] + [""]
    return "\n".join(out)

