"""Tables 1 and 2, the per-class recall table and the algorithms table as Markdown: our numbers beside
the paper's.

Accuracy is shown in percent, mean ± std over seeds (sample std, ddof=1, the paper's form) with a
95 % interval: a t over seeds (S - 1 degrees of freedom) floored by the binomial variance of the
test rows, or the test rows' Wilson interval for one seed (:mod:`reports.stats`). Below each task's
methods come reference rows: always answering the test rows' most frequent class, and each
prompt method's accuracy before downstream tuning, each with its macro-F1. Where a task's test
rows are imbalanced (majority share above 1.5 / C), its macro-F1 is set in bold and named below the
table: accuracy there rewards a model that ignores its training. The paper's comparisons are
paired (same split, same test rows): the difference with its interval (a paired t over seeds,
floored by the test rows), a t and an exact McNemar p-value, the spread of a seed's difference and
its test-row part, the smallest difference the run could detect, and the seeds that would detect
the paper's own difference; across the seven tasks, the mean difference (pooled t), the
interquartile mean and the probability of improvement.

>>> from reports import results, tables
>>> res = results.load("results")          # doctest: +SKIP
>>> print(tables.table1(res))              # doctest: +SKIP
"""
from __future__ import annotations

import math

from benchmark import settings
from reports import SUITES, evidence, paper, stats, suite_spec
from reports.evidence import fmt_ci, fmt_p, fmt_pts
from reports.results import PROTOCOLS, SHARED, Group, Results, describe, format_reduction, pick, point_label

TABLE1_METHODS = ["ft", "pt", "ppt", "metapt", "metapt_y"]
# The paper's Table 1 claims: MetaPT over PPT and FT, MetaPT(Y) over PPT.
TABLE1_PAIRS = [("metapt", "ppt"), ("metapt", "ft"), ("metapt_y", "ppt")]
TABLE2_METHODS = ["metapt_kmeans", "metapt_lda", "metapt_random", "metapt_label", "ppt"]
# Table 2 comparisons: K-means (the paper's choice) against every other row, each grouping vs PPT.
TABLE2_PAIRS = ([("metapt_kmeans", m) for m in TABLE2_METHODS[1:]]
                + [(m, "ppt") for m in ("metapt_lda", "metapt_random", "metapt_label")])
# The algorithms suite's reference row: multi-task training of the prompt on the same meta tasks, which
# beat MAML-style meta-learning in Wu et al. 2022; every other row is compared with it.
ALGORITHMS_BASE = "metapt_multitask"
ALGORITHMS_ONLY = ["metapt_fomaml", "metapt_reptile", "metapt_multitask"]   # methods no other suite runs


# -- formatting ------------------------------------------------------------------------------
def pct(mean: float, std: float, n: int) -> str:
    """'45.26 ± 0.39' from fractions; one seed shows no std."""
    if n == 0 or math.isnan(mean):
        return "—"
    if n < 2 or math.isnan(std):
        return f"{100 * mean:.2f} (n=1)"
    return f"{100 * mean:.2f} ± {100 * std:.2f}"


def frac(mean: float, std: float, n: int) -> str:
    if n == 0 or math.isnan(mean):
        return "—"
    if n < 2 or math.isnan(std):
        return f"{mean:.2f} (n=1)"
    return f"{mean:.2f} ± {std:.2f}"


def _md(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(x).replace("|", "\\|") for x in r) + " |" for r in rows]
    return "\n".join(lines)


def task_cell(task: str, groups: list[Group]) -> str:
    """'SST-5' or 'SST-5 (stand-in: VADER movie snippets)'."""
    title = paper.task_title(task)
    standins = describe(groups)["standins"]
    return f"{title} (stand-in: {standins[task]})" if task in standins else title


def method_cell(g: Group) -> str:
    label = evidence.title(g.method)
    return f"{label} [{point_label(g.point)}]" if g.point else label


# -- reference rows and paired comparisons ------------------------------------------------------
def references(groups: list[Group]) -> list[Group]:
    """Majority class, then each prompt method's before-tuning score, for one (task, point)."""
    out = [evidence.majority(groups)] + [evidence.before_tuning(g) for g in groups]
    return [g for g in out if g is not None]


def ci_cell(g: Group) -> str:
    ci = evidence.accuracy_ci(g)
    if ci is None:
        return "—"
    return fmt_ci(ci["lo"], ci["hi"], signed=False) + (" rows only" if g.n == 1 else "")


def f1_cell(g: Group, bold: bool) -> str:
    if not g.values("macro_f1"):
        return "—"
    text = frac(*g.stat("macro_f1"))
    return f"**{text}**" if bold else text


def accuracy_rows(groups: list[Group], paper_cell) -> tuple[list[list[str]], list[str], list[str]]:
    """One row per group (method) then its references, per (task, point) in the given order; the
    (task, point)s whose majority row could not be computed; and a line per imbalanced task."""
    rows, no_majority, imbalanced = [], [], []
    for key in dict.fromkeys((g.task, point_label(g.point)) for g in groups):
        tg = [g for g in groups if (g.task, point_label(g.point)) == key]
        imb = evidence.imbalance(tg)
        bold = bool(imb and imb["imbalanced"])
        if bold:
            refs_ = {r.method: r for r in references(tg)}
            maj = refs_.get(evidence.MAJORITY)
            f1 = f", macro-F1 {frac(*maj.stat('macro_f1'))}" if maj is not None and maj.values("macro_f1") else ""
            imbalanced.append(f"{paper.task_title(key[0])}{f' [{key[1]}]' if key[1] else ''}: majority class "
                              f"{100 * imb['share']:.1f} % of the test rows > 1.5 / {imb['classes']} = "
                              f"{100 * imb['threshold']:.1f} % (the majority row: accuracy "
                              f"{100 * imb['share']:.1f} %{f1})")
        for g in tg:
            cell = paper_cell(g)
            # a difference to the paper only where the data are the paper's: a stand-in is another dataset
            delta = "—" if not cell else ("n/a (stand-in)" if g.standin else f"{100 * g.mean - cell['mean']:+.2f}")
            rows.append([task_cell(g.task, groups), method_cell(g), str(g.n), pct(g.mean, g.std, g.n),
                         ci_cell(g), f1_cell(g, bold), paper.fmt(cell), delta])
        refs = references(tg)
        if not any(r.method == evidence.MAJORITY for r in refs):
            no_majority.append(paper.task_title(key[0]) + (f" [{key[1]}]" if key[1] else ""))
        for r in refs:
            rows.append([task_cell(r.task, groups), f"*{method_cell(r)}* (reference)", str(r.n),
                         pct(r.mean, r.std, r.n), ci_cell(r), f1_cell(r, bold), "—", "—"])
    return rows, no_majority, imbalanced


# Why accuracy misleads on imbalanced test rows, by how the cells drew their few-shot rows
# (settings.few_shot: a cell of neither draw is labelled by the mixed wording).
_DRAW_NOTE = {
    frozenset({settings.BALANCED}): "The few-shot training splits are class-balanced, so where a task's test "
                                     "rows are not, accuracy rewards a model that ignores its training.",
    frozenset({settings.RANDOM}): "The few-shot training splits are drawn at random (`few_shot: random`) and "
                                   "carry the test rows' imbalance, so accuracy rewards a model that leans to the "
                                   "majority class.",
}
_MIXED_DRAWS = ("The cells mix class-balanced and random few-shot draws (`few_shot`), and accuracy rewards "
                "a model that leans to the majority class under either.")


def reference_note(no_majority: list[str], imbalanced: list[str], groups: list[Group]) -> list[str]:
    out = []
    if no_majority:
        out += [f"_Majority-class row not computed for {', '.join(no_majority)}: the cells carry no per-row "
                "labels (written before they were saved)._", ""]
    if imbalanced:
        draws = frozenset(settings.few_shot(c.get("config") or {}) for g in groups for c in g.cells)
        out += [f"**Imbalanced test rows: read macro-F1 (bold) beside accuracy.** "
                f"{_DRAW_NOTE.get(draws, _MIXED_DRAWS)} The paper's claims stay on accuracy, as in the paper.", ""]
        out += [f"- {line}" for line in imbalanced] + [""]
    return out


def _seeds_for(d: dict, effect: float | None) -> str:
    """Seeds at this run's test rows and spread that detect the paper's difference (80 %, 5 %)."""
    if effect is None:
        return "—"
    if d["seeds"] < 2:
        return "a second seed first"
    n = stats.seeds_needed(effect, d["sd_seed"], d["sd_rows"])
    return f"more than {stats.MAX_SEEDS:,}" if n is None else f"{n:,}"


def _sd_cell(d: dict) -> str:
    rows_part = fmt_pts(d["sd_rows"], signed=False)
    return f"— ({rows_part})" if d["seeds"] < 2 else f"{fmt_pts(d['sd_seed'], signed=False)} ({rows_part})"


def comparison_rows(groups: list[Group], pairs: list[tuple[str, str]], paper_diff=None
                    ) -> tuple[list[list[str]], list[str]]:
    """Paired rows per (task, point, a, b) with both sides present; and a note per pair that could
    not be computed (no shared seed, no per-row predictions) or was paired on part of its seeds."""
    by = {(g.task, point_label(g.point), g.method): g for g in groups}
    rows, skipped = [], []
    for task, point in dict.fromkeys((g.task, point_label(g.point)) for g in groups):
        for a_name, b_name in pairs:
            a, b = by.get((task, point, a_name)), by.get((task, point, b_name))
            if a is None or b is None:
                continue
            name = f"{method_cell(a)} vs {method_cell(b)}"
            where = f"{paper.task_title(task)}{f' [{point}]' if point else ''}"
            d, why = evidence.compare(a, b)
            if d is None:
                skipped.append(f"{where}, {name}: not computed, {why}")
                continue
            if d["note"]:
                skipped.append(f"{where}, {name}: {d['note']}")
            if d["seeds"] < 2:
                skipped.append(f"{where}, {name}: one paired seed, so the interval covers the test rows only; "
                               "no seed-level reading")
            effect = paper_diff(a_name, b_name, task) if paper_diff and not point else None
            rows.append([where, name, str(d["seeds"]), str(d["rows"]), fmt_pts(d["diff"]), fmt_ci(d["lo"], d["hi"]),
                         fmt_p(d["p"]), fmt_p(d["p_mcnemar"]), _sd_cell(d), fmt_pts(d["mde"], signed=False),
                         "—" if effect is None else f"{100 * effect:+.2f}", _seeds_for(d, effect), d["basis"]])
    return rows, skipped


def across_rows(groups: list[Group], pairs: list[tuple[str, str]], paper_diff=None
                ) -> tuple[list[list[str]], list[str]]:
    """One row per pair: mean (pooled t), IQM and probability of improvement across tasks."""
    rows, skipped = [], []
    for a_name, b_name in pairs:
        by_task = {}
        for g in groups:
            if not g.point and g.method in (a_name, b_name):
                by_task.setdefault(g.task, {})[g.method] = g
        both = [(v[a_name], v[b_name]) for v in by_task.values() if a_name in v and b_name in v]
        name = f"{paper.method_title(a_name)} vs {paper.method_title(b_name)}"
        if len(both) < 2:
            continue
        agg, why = evidence.across(both)
        if agg is None:
            skipped.append(f"{name} across tasks: not computed, {why}")
            continue
        skipped += [f"{name} across tasks: {n}" for n in agg["notes"]]
        m = agg["mean_diff"]
        effects = [paper_diff(a_name, b_name, t) for t in agg["tasks"]] if paper_diff else [None]
        effect = None if any(e is None for e in effects) else sum(effects) / len(effects)
        if effect is None:
            need = "—"
        elif agg["runs"] < 2:
            need = "a second seed first"
        else:
            n = stats.seeds_needed(effect, m["sd"], m["sd_rows"], tasks=len(agg["tasks"]))
            need = f"more than {stats.MAX_SEEDS:,}" if n is None else f"{n:,}"
        rows.append([name, str(len(agg["tasks"])), str(agg["runs"]), str(agg["df"]),
                     f"{fmt_pts(m['value'])} {fmt_ci(m['lo'], m['hi'])}",
                     f"{fmt_pts(agg['iqm_diff']['value'])} {fmt_ci(agg['iqm_diff']['lo'], agg['iqm_diff']['hi'])}",
                     f"{agg['poi']['value']:.2f} " + (
                         "—" if math.isnan(agg['poi']['lo']) else f"[{agg['poi']['lo']:.2f}, {agg['poi']['hi']:.2f}]"),
                     "—" if math.isnan(m["sd"]) else
                     f"{fmt_pts(m['sd'], signed=False)} ({fmt_pts(m['sd_rows'], signed=False)})",
                     "—" if effect is None else f"{100 * effect:+.2f}", need])
    return rows, skipped


def comparison_sections(groups: list[Group], pairs: list[tuple[str, str]], *, across: bool,
                        paper_diff=None, fixed: str = "the seven tasks") -> list[str]:
    rows, skipped = comparison_rows(groups, pairs, paper_diff)
    parts = ["## Paired comparisons (same split and test rows per seed)", "",
             "Δ is a − b in accuracy points. The 95 % interval and p (t) are a paired t over the per-seed "
             "differences (S − 1 degrees of freedom) whose variance is floored by the test rows' (rows only "
             "where one seed: labelled so, and no seed-level reading); McNemar's exact p pools the rows of all "
             "seeds and tests these rows, not the methods. *SD of a seed's Δ* is the spread of the per-seed "
             "differences, with its test-row part in brackets; MDE is the smallest true difference this run "
             "detects with 80 % power; the last columns are the paper's own difference and the seeds at this "
             "run's test rows and spread that detect it with 80 % power at 5 % (`python -m benchmark power`).",
             ""]
    parts += [_md(["Task", "Comparison (a vs b)", "seeds", "rows", "Δ (points)", "95 % CI", "p (t)",
                   "p (McNemar, rows)", "SD of a seed's Δ (rows)", "MDE (points)", "paper Δ", "seeds for paper Δ",
                   "interval from"], rows)
              if rows else "_No comparison could be computed._", ""]
    parts += [f"- {m}" for m in skipped] + ([""] if skipped else [])
    if across:
        arows, askipped = across_rows(groups, pairs, paper_diff)
        parts += [f"## Across tasks ({fixed} fixed; seeds and test rows sampled)", "",
                  "Mean over tasks of the per-task differences with a t interval pooled over tasks "
                  "(Σ (S_t − 1) degrees of freedom, each task's variance floored by its test rows); the "
                  "interquartile mean (IQM) of the per-seed differences and the probability that a run of a "
                  "beats a run of b on a task (mean over tasks), each with a 95 % percentile interval from a "
                  "parametric bootstrap of the same pooled model; with one seed per task no interval can be "
                  "drawn (—).", ""]
        parts += [_md(["Comparison (a vs b)", "tasks", "seeds per task", "df", "mean Δ (points) [95 % CI]",
                       "IQM Δ (points) [95 % CI]", "P(a > b) [95 % CI]", "SD of a seed's Δ (rows)",
                       "paper mean Δ", "seeds for paper Δ"], arows)
                  if arows else "_Fewer than two tasks with both methods._", ""]
        parts += [f"- {m}" for m in askipped] + ([""] if askipped else [])
    return parts


# -- notes -----------------------------------------------------------------------------------
def notes(groups: list[Group], res: Results, suite: str, *, protocol: bool = False) -> str:
    """Provenance, profile, backbone, scaled-down settings, failed and missing cells; the
    pre-training protocol where the cells record a prompt they started from, or ``protocol``."""
    d = describe(groups)
    out = []
    if d["standins"]:
        which = "; ".join(f"{d['standin_for'][t]} ← {lbl}" for t, lbl in sorted(d["standins"].items()))
        out.append(f"**Stand-in data.** These results use data that are not the paper's "
                   f"({which}); rows marked *stand-in* are not comparable with the paper's column.")
    if d["profiles"] or d["backbones"]:
        out.append(f"Profile: {', '.join(d['profiles']) or 'unknown'}; backbone: "
                   f"{', '.join(d['backbones']) or 'unknown'} (paper: {paper.numbers()['backbone']}, "
                   f"{paper.numbers()['seeds']} seeds).")
    if d["reductions"]:
        out.append("Scaled down from the paper's settings (`reductions` of the result cells):")
        if len(d["reductions"]) > 1:
            out.append("  - (the cells differ; every distinct setting is listed)")
        seen = set()
        for red in d["reductions"]:
            for k, v in sorted(red.items()):
                line = format_reduction(k, v)
                if line not in seen:
                    seen.add(line)
                    out.append(f"  - {line}")
    if protocol or any(isinstance(c.get("init"), dict) for g in groups for c in g.cells):
        out.append(f"Pre-training protocol: {PROTOCOLS[res.protocol_of(suite) or SHARED]}.")
    if res.mixed_of(suite):
        out.append(f"**Mixed protocols.** {res.mixed_of(suite)}.")
    inits = init_lines(groups)
    if inits:
        out.append("Pre-trained prompts the tuned cells started from (validation accuracy of the initial "
                   "prompt → the one kept):")
        out.extend(f"  - {line}" for line in inits)
    failed = [c for c in res.failed() if c.get("suite") == suite]
    if failed:
        out.append(f"Failed cells ({len(failed)}):")
        out.extend(f"  - {_cell_name(c)}: {str(c.get('error') or 'no error message').splitlines()[0]}"
                   for c in failed)
    missing = [m for m in res.missing(suite) if m["state"] == "missing"]
    if missing:
        out.append(f"Missing cells ({len(missing)} expected by the manifest, no result yet; "
                   f"run `python -m benchmark run --suite {suite}` to resume):")
        seeds: dict[tuple, list] = {}
        for m in missing:  # one line per method / task / point, its seeds together
            name = _cell_name(dict(m, seed=None)).rsplit(" / seed None", 1)
            seeds.setdefault(tuple(name), []).append(m.get("seed"))
        out.extend(f"  - {head} / seed{'s' if len(ss) > 1 else ''} {', '.join(map(str, ss))}{tail}"
                   for (head, tail), ss in seeds.items())
    return "\n".join(f"- {line}" if not line.startswith("  ") else line for line in out)


def init_lines(groups: list[Group]) -> list[str]:
    """One line per pre-trained / meta-learned prompt the groups' cells were tuned from."""
    seen: dict[str, str] = {}
    for g in groups:
        for c in g.cells:
            init = c.get("init")
            if not isinstance(init, dict) or init.get("artifact") in seen:
                continue
            first, best = init.get("initial_val_accuracy"), init.get("best_val_accuracy")
            kept = "**the initial prompt**" if init.get("best_step") == 0 else f"step {init.get('best_step')}"
            val = (f"{first:.3f} → {best:.3f}" if isinstance(first, (int, float)) and isinstance(best, (int, float))
                   else "n/a")
            pt = f" [{point_label(g.point)}]" if g.point else ""
            if ((c.get("config") or {}).get("pretrain") or {}).get("draw") is not None:   # say whose draw
                pt += f", draw {settings.draw_seed(c['config'], c['seed'])}"
            seen[init["artifact"]] = (f"{g.method}{pt}: `{init['artifact']}`, {init.get('steps')} steps, "
                                      f"kept {kept}; validation {val}")
    return list(seen.values())


def _cell_name(c: dict) -> str:
    pt = f" [{point_label(c.get('point'))}]" if c.get("point") else ""
    return f"{c.get('method')} / {c.get('task')} / seed {c.get('seed')}{pt}"


NO_RESULTS = "_No results of suite"


def _empty(name: str, suite: str) -> str:
    return (f"{NO_RESULTS} '{suite}' for {name}; run `python -m benchmark run --suite "
            f"{suite}`._")


# -- the tables ------------------------------------------------------------------------------
def spread_rows(groups: list[Group], methods: list[str]) -> list[list[str]]:
    """Per method: the between-seed SD pooled over its tasks (``stats.pooled_variance``), the part
    the finite test rows alone would give (root mean binomial variance), and the paper's pooled std."""
    rows = []
    for m in methods:
        gs = [g for g in groups if g.method == m and not g.point]
        if not gs:
            continue
        var, df = stats.pooled_variance([g.accuracies for g in gs])
        binom = [c["metrics"]["accuracy"] * (1 - c["metrics"]["accuracy"]) / len(c["test"]["labels"])
                 for g in gs for c in g.cells
                 if (c.get("test") or {}).get("labels") and isinstance(c["metrics"].get("accuracy"), (int, float))]
        theirs = [paper.table1_cell(m, g.task) for g in gs]
        theirs = [c["std"] for c in theirs if c and c.get("std") is not None]
        rows.append([paper.method_title(m), str(len(gs)), str(df),
                     "—" if not df else f"{100 * math.sqrt(var):.1f}",
                     "—" if not binom else f"{100 * math.sqrt(sum(binom) / len(binom)):.1f}",
                     "—" if not theirs else f"{math.sqrt(sum(x * x for x in theirs) / len(theirs)):.1f}"])
    return rows


def spread_section(groups: list[Group], methods: list[str]) -> list[str]:
    rows = spread_rows(groups, methods)
    if not rows:
        return []
    return ["## Spread between seeds", "",
            "Per method, the SD of a cell's accuracy between seeds, pooled over the tasks (Σ (S_t − 1) degrees "
            "of freedom); beside it the part the test rows alone explain (a binomial SD at the cell's accuracy "
            "and test rows) and the paper's std pooled the same way over the same tasks (T5-base, 5 seeds). "
            "A pooled SD well above its test-row part is spread the training adds: the split, the "
            "initialisation and the checkpoint the run keeps.", "",
            _md(["Method", "tasks", "df", "pooled SD between seeds (points)", "test-row part (points)",
                 "paper's pooled std (points)"], rows), ""]


def _reference_pct(g: Group) -> str:
    """A reference cell of the grid: mean ± std in percent, or its value alone where it is the same
    at every seed (the majority class of fixed test rows), so that the row reads as a constant."""
    if g.n > 1 and len(set(g.accuracies)) == 1:
        return f"{100 * g.mean:.2f}"
    return pct(g.mean, g.std, g.n)


def _mean_over(values: list[float | None]) -> str:
    """The unweighted mean over tasks, or — when a task has no value (a mean over fewer tasks is
    another table's mean)."""
    if not values or any(v is None for v in values):
        return "—"
    return f"{sum(values) / len(values):.2f}"


def grid(groups: list[Group], methods: list[str]) -> dict:
    """Table 1 in the paper's shape: one row per method (and point), one column per task in the
    paper's order, mean ± std over seeds per cell, the mean over tasks last; then the majority-class
    row. Returns ``{"tasks", "header", "rows", "imbalanced"}`` (tasks whose test rows are imbalanced)."""
    ranked = paper.numbers()["table1"]["tasks"]
    tasks = sorted({g.task for g in groups}, key=lambda t: (ranked.index(t) if t in ranked else len(ranked), t))
    points = list(dict.fromkeys(point_label(g.point) for g in groups))
    by = {(g.method, point_label(g.point), g.task): g for g in groups}
    imbalanced = []
    for t in tasks:
        imb = evidence.imbalance([g for g in groups if g.task == t])
        if imb and imb["imbalanced"]:
            imbalanced.append(t)
    header = (["Method"] + [paper.task_title(t) + (" †" if t in imbalanced else "") for t in tasks]
              + ["Mean over tasks"])
    rows = []
    for point in points:
        for m in methods:
            gs = [by.get((m, point, t)) for t in tasks]
            if not any(gs):
                continue
            label = paper.method_title(m) + (f" [{point}]" if point else "")
            rows.append([label] + ["—" if g is None else pct(g.mean, g.std, g.n) for g in gs]
                        + [_mean_over([None if g is None else 100 * g.mean for g in gs])])
        majorities = [evidence.majority([g for g in groups if g.task == t and point_label(g.point) == point])
                      for t in tasks]
        if any(majorities):
            rows.append([f"*{evidence.title(evidence.MAJORITY)}*" + (f" [{point}]" if point else "")]
                        + ["—" if g is None else _reference_pct(g) for g in majorities]
                        + [_mean_over([None if g is None else 100 * g.mean for g in majorities])])
    return {"tasks": tasks, "header": header, "rows": rows, "imbalanced": imbalanced}


def paper_grid(tasks: list[str]) -> tuple[list[str], list[list[str]]]:
    """The paper's Table 1 on the same columns (the tasks it reports), its mean over them last."""
    shown = [t for t in tasks if any(paper.table1_cell(m, t) for m in paper.numbers()["table1"]["methods"])]
    if not shown:
        return [], []
    rows = []
    for m in paper.numbers()["table1"]["methods"]:
        cells = [paper.table1_cell(m, t) for t in shown]
        rows.append([paper.method_title(m)] + [paper.fmt(c) for c in cells]
                    + [_mean_over([None if not c else c["mean"] for c in cells])])
    return ["Method"] + [paper.task_title(t) for t in shown] + ["Mean over tasks"], rows


def grid_section(groups: list[Group], methods: list[str]) -> list[str]:
    """The head of table1.md: ours in the paper's shape with its caption, then the paper's own numbers."""
    g = grid(groups, methods)
    seeds = sorted({x.n for x in groups})
    over = f"{seeds[0]} seeds" if len(seeds) == 1 else f"{seeds[0]}–{seeds[-1]} seeds (per cell below)"
    d = describe(groups)
    lines = [f"Accuracy (%) on each task's test rows, mean ± std over {over} (sample std); *Mean over "
             "tasks*: the unweighted mean of the row's task means (— where a task is missing). The "
             "majority-class row always answers the test rows' most frequent class."]
    if g["imbalanced"]:
        lines.append("† Imbalanced test rows: read the macro-F1 in the per-cell table below.")
    standin = [t for t in g["tasks"] if t in d["standins"]]
    if standin:
        every = len(standin) == len(g["tasks"])
        lines.append(("**Every column is stand-in data" if every else
                      f"**Stand-in data in {', '.join(paper.task_title(t) for t in standin)}")
                     + "**, not the paper's datasets: not comparable with the paper's numbers below "
                       "(what stands in: the per-cell table and the notes).")
    parts = [_md(g["header"], g["rows"]), "", "\n\n".join(lines), ""]
    header, rows = paper_grid(g["tasks"])
    if rows:
        parts += [f"The paper's Table 1 ({paper.numbers()['backbone']}, its own datasets, "
                  f"{paper.numbers()['seeds']} seeds, as printed; its mean over tasks is computed here). "
                  "Plain PT is not in the paper's table.", "", _md(header, rows), ""]
    return parts


def table1(res: Results) -> str:
    """Table 1: each method × task, ours beside the paper's, then the paired comparisons."""
    suite, groups, fallback = pick(res, SUITES["table1"], method=TABLE1_METHODS)
    head = ["# Table 1: sentiment classification, few-shot (accuracy %)", ""]
    if fallback:
        head += [fallback, ""]
    if not groups:
        return "\n".join(head + [_empty("Table 1", suite), "", notes(groups, res, suite), ""])
    order = {m: i for i, m in enumerate(TABLE1_METHODS)}
    tasks = paper.numbers()["table1"]["tasks"]
    rank = lambda t: tasks.index(t) if t in tasks else len(tasks)  # noqa: E731
    groups = sorted(groups, key=lambda g: (rank(g.task), g.task, str(g.point), order[g.method]))
    rows, no_majority, imbalanced = accuracy_rows(groups, lambda g: paper.table1_cell(g.method, g.task))
    body = _md(["Task", "Method", "seeds", "Ours acc % (mean ± std)", "95 % CI", "Ours macro-F1",
                "Paper acc %", "Ours − paper"], rows)
    parts = head + grid_section(groups, TABLE1_METHODS) + [
        "## Per cell: every task × method, with intervals, macro-F1 and reference rows", "",
        "Below each task's methods: the majority class of its test rows and each prompt method before "
        "downstream tuning.", "", body, ""] + reference_note(no_majority, imbalanced, groups) + spread_section(
        groups, TABLE1_METHODS) + comparison_sections(groups, TABLE1_PAIRS, across=True, paper_diff=paper.table1_diff)
    parts += ["Notes:", "", notes(groups, res, suite),
              "- Paper column: Table 1 of the paper, T5-base, mean ± std over 5 seeds; "
              "plain PT is not in the paper's table.", ""]
    return "\n".join(parts)


def table2(res: Results) -> str:
    """Table 2: meta-task construction methods on SST-5 vs PPT."""
    task = paper.numbers()["table2"]["task"]
    suite, groups, fallback = pick(res, SUITES["table2"], method=TABLE2_METHODS, task=task,
                                   need=TABLE2_METHODS[:4])
    head = ["# Table 2: clustering methods for meta tasks, SST-5 (accuracy %)", ""]
    if fallback:
        head += [fallback, ""]
    if not groups:
        return "\n".join(head + [_empty("Table 2", suite), "", notes(groups, res, suite), ""])
    order = {m: i for i, m in enumerate(TABLE2_METHODS)}
    groups = sorted(groups, key=lambda g: (str(g.point), order[g.method]))
    rows, no_majority, imbalanced = accuracy_rows(groups, lambda g: paper.table2_cell(g.method))
    body = _md(["Task", "Method", "seeds", "Ours acc % (mean ± std)", "95 % CI", "Ours macro-F1",
                "Paper acc %", "Ours − paper"], rows)
    parts = head + [body, ""] + reference_note(no_majority, imbalanced, groups) + comparison_sections(
        groups, TABLE2_PAIRS, across=False, paper_diff=lambda a, b, task: paper.table2_diff(a, b))
    extra = paper.numbers()["table2"].get("notes", [])
    parts += ["Notes:", "", notes(groups, res, suite)]
    parts += [f"- Paper: {' '.join(n.split())}" for n in extra]
    parts.append("")
    return "\n".join(parts)


def algorithms_table(res: Results) -> str:
    """The algorithms suite: four ways to train the prompt on MetaPT's meta tasks, and PPT, on each of
    the suite's tasks and their mean; paired differences against multi-task training."""
    spec = suite_spec(SUITES["algorithms"])
    methods = list(spec["methods"])
    suite, groups, fallback = pick(res, spec["name"], method=methods, task=list(spec["tasks"]), point={},
                                   need=ALGORITHMS_ONLY)
    head = ["# Is it the meta tasks or the meta-learning? Four ways to train the prompt on them (accuracy %)", ""]
    if fallback:
        head += [fallback, ""]
    if not groups:
        return "\n".join(head + [_empty("the algorithms table", suite), "", notes(groups, res, suite), ""])
    g = grid(groups, methods)
    seeds = sorted({x.n for x in groups})
    over = f"{seeds[0]} seeds" if len(seeds) == 1 else f"{seeds[0]}–{seeds[-1]} seeds (per cell)"
    caption = [f"Accuracy (%) on each task's test rows, mean ± std over {over} (sample std); *Mean over tasks*: "
               "the unweighted mean of the row's task means (— where a task is missing). The majority-class "
               "row always answers the test rows' most frequent class.",
               "The four MetaPT rows share MetaPT's meta tasks (its pre-training rows, grouping, K and m), prompt "
               "init, sampler, outer optimiser, meta-validation and compute (equal rows through the backbone per "
               "step); only the update differs: Prompt-MAML (second order, the paper's), first-order MAML, "
               "Reptile, multi-task (no inner step). PPT pre-trains on the same rows pooled as one task at the "
               f"same budget. Each row is compared with {paper.method_title(ALGORITHMS_BASE)} below: multi-task "
               "training beat MAML-style meta-learning in Wu et al. 2022 (\"Continued Pretraining for Better "
               "Zero- and Few-Shot Promptability\")."]
    if g["imbalanced"]:
        caption.append("† Imbalanced test rows (majority share above 1.5 / C): accuracy rewards a model that "
                       "ignores its training; read it against the majority-class row.")
    pairs = [(m, ALGORITHMS_BASE) for m in methods if m != ALGORITHMS_BASE]
    parts = head + [_md(g["header"], g["rows"]), "", "\n\n".join(caption), ""] + comparison_sections(
        groups, pairs, across=True, fixed="the suite's tasks")
    parts += ["Notes:", "", notes(groups, res, suite, protocol=True), ""]
    return "\n".join(parts)


def _label_words(task: str, groups: list[Group]) -> list[str]:
    words: list[str] = []
    try:  # the task's own order (terrible … great) when the data registry is there
        from benchmark import data
        words = list(data.get_task(task).label_words)
    except Exception:  # noqa: BLE001 - the registry is optional for a report
        pass
    for g in groups:
        for w in g.recall():
            if w not in words:
                words.append(w)
    return words


def recall_table(res: Results) -> str:
    """Per-class recall (mean ± std over seeds) per task and method; the paper's value in brackets."""
    suite, groups, fallback = pick(res, SUITES["recall"], method=TABLE1_METHODS)
    groups = [g for g in groups if g.recall()]
    parts = ["# Per-class recall (Table 1 runs)", ""]
    if fallback:
        parts += [fallback, ""]
    if not groups:
        return "\n".join(parts + [_empty("the recall table", suite), ""])
    order = {m: i for i, m in enumerate(TABLE1_METHODS)}
    tasks = sorted({g.task for g in groups})
    t1 = paper.numbers()["table1"]["tasks"]
    tasks.sort(key=lambda t: t1.index(t) if t in t1 else len(t1))
    for task in tasks:
        tg = sorted([g for g in groups if g.task == task], key=lambda g: (str(g.point), order[g.method]))
        words = _label_words(task, tg)
        rows = []
        for g in tg:
            rec = g.recall()
            row = [method_cell(g), str(g.n)]
            for w in words:
                cell = frac(*rec[w]) if w in rec else "—"
                ref = paper.recall_cell(g.method, task, w)
                row.append(cell + (f" (paper {ref:.2f})" if ref is not None else ""))
            rows.append(row)
        parts += [f"## {task_cell(task, tg)}", "", _md(["Method", "seeds"] + words, rows), ""]
    parts += ["Notes:", "", notes(groups, res, suite),
              "- Paper: recall on *terrible*, SST-5: MetaPT 0.22 vs MetaPT(Y) 0.61 (Section 6.1); "
              "no other recall is reported.", ""]
    return "\n".join(parts)


from reports.training import training_table  # noqa: E402  (a table of its own file)

TABLES = {"table1": table1, "table2": table2, "recall": recall_table, "training": training_table,
          "algorithms": algorithms_table}
