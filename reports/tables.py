"""Tables 1 and 2 and the per-class recall table as Markdown: our numbers beside the paper's.

Accuracy is shown in percent, mean ± std over seeds (sample std, ddof=1). MetaPT and MetaPT(Y) are
compared with each baseline by Welch's t-test over seeds (two-sided, ``scipy.stats.ttest_ind``
with ``equal_var=False``); with fewer than two seeds on a side the test reads "n/a".

>>> from reports import results, tables
>>> res = results.load("results")          # doctest: +SKIP
>>> print(tables.table1(res))              # doctest: +SKIP
"""
from __future__ import annotations

import math
import warnings

from scipy import stats

from reports import SUITES, paper
from reports.results import Group, Results, describe, format_reduction, pick, point_label

TABLE1_METHODS = ["ft", "pt", "ppt", "metapt", "metapt_y"]
TABLE1_OURS = ["metapt", "metapt_y"]
TABLE1_BASELINES = ["ft", "pt", "ppt"]
TABLE2_METHODS = ["metapt_kmeans", "metapt_lda", "metapt_random", "metapt_label", "ppt"]
# Table 2 comparisons: K-means (the paper's choice) against every other row, each grouping vs PPT.
TABLE2_PAIRS = ([("metapt_kmeans", m) for m in TABLE2_METHODS[1:]]
                + [(m, "ppt") for m in ("metapt_lda", "metapt_random", "metapt_label")])


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
    label = paper.method_title(g.method)
    return f"{label} [{point_label(g.point)}]" if g.point else label


# -- significance ----------------------------------------------------------------------------
def welch(a: list[float], b: list[float]) -> dict:
    """Welch's two-sided t-test of two seed samples: ``{"t", "p", "n_a", "n_b", "note"}``.

    ``p`` is None with fewer than two values on a side ("n/a") or when neither side varies.
    """
    out = {"t": None, "p": None, "n_a": len(a), "n_b": len(b), "note": ""}
    if len(a) < 2 or len(b) < 2:
        out["note"] = "n/a (n<2)"
        return out
    if max(a) == min(a) and max(b) == min(b):
        out["note"] = "n/a (no variance)"
        return out
    with warnings.catch_warnings():  # near-constant samples: scipy warns, the p still stands
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.ttest_ind(a, b, equal_var=False)
    if math.isnan(res.pvalue):
        out["note"] = "n/a (no variance)"
        return out
    out["t"], out["p"] = float(res.statistic), float(res.pvalue)
    return out


def _p(test: dict) -> str:
    return test["note"] if test["p"] is None else f"{test['p']:.3g}"


def significance_rows(groups: list[Group], pairs: list[tuple[str, str]]) -> list[list[str]]:
    """One row per (task, point, ours, baseline) where both sides have results."""
    by = {(g.task, g.method, str(g.point)): g for g in groups}
    rows = []
    for task, point in sorted({(g.task, str(g.point)) for g in groups}):
        for ours, base in pairs:
            a, b = by.get((task, ours, point)), by.get((task, base, point))
            if a is None or b is None:
                continue
            test = welch(a.accuracies, b.accuracies)
            diff = 100 * (a.mean - b.mean)
            rows.append([task_cell(task, groups), f"{method_cell(a)} vs {method_cell(b)}",
                         f"{test['n_a']} / {test['n_b']}", f"{diff:+.2f}",
                         "—" if test["t"] is None else f"{test['t']:.2f}", _p(test)])
    return rows


# -- notes -----------------------------------------------------------------------------------
def notes(groups: list[Group], res: Results, suite: str) -> str:
    """Provenance, profile, backbone, scaled-down settings, failed and missing cells."""
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
    inits = init_lines(groups)
    if inits:
        out.append("Shared prompts the tuned cells started from (validation accuracy of the initial "
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
def table1(res: Results) -> str:
    """Table 1: each method × task, ours beside the paper's, then Welch tests."""
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
    rows = []
    for g in groups:
        cell = paper.table1_cell(g.method, g.task)
        delta = "—" if not cell else f"{100 * g.mean - cell['mean']:+.2f}"
        rows.append([task_cell(g.task, groups), method_cell(g), str(g.n),
                     pct(g.mean, g.std, g.n), frac(*g.stat("macro_f1")) if g.values("macro_f1") else "—",
                     paper.fmt(cell), delta])
    body = _md(["Task", "Method", "seeds", "Ours acc %", "Ours macro-F1", "Paper acc %",
                "Ours − paper"], rows)
    pairs = [(a, b) for a in TABLE1_OURS for b in TABLE1_BASELINES]
    sig = significance_rows(groups, pairs)
    parts = head + [body, ""]
    parts += ["## Significance (Welch's t-test over seeds, two-sided)", ""]
    parts += [_md(["Task", "Comparison", "n (ours / baseline)", "Δ acc (points)", "t", "p"], sig)
              if sig else "_No pair with results on both sides._", ""]
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
    rows = []
    for g in groups:
        cell = paper.table2_cell(g.method)
        delta = "—" if not cell else f"{100 * g.mean - cell['mean']:+.2f}"
        rows.append([method_cell(g), task_cell(g.task, groups), str(g.n), pct(g.mean, g.std, g.n),
                     paper.fmt(cell), delta])
    body = _md(["Method", "Task", "seeds", "Ours acc %", "Paper acc %", "Ours − paper"], rows)
    sig = significance_rows(groups, TABLE2_PAIRS)
    parts = head + [body, "", "## Significance (Welch's t-test over seeds, two-sided)", ""]
    parts += [_md(["Task", "Comparison", "n (a / b)", "Δ acc (points)", "t", "p"], sig)
              if sig else "_No pair with results on both sides._", ""]
    extra = paper.numbers()["table2"].get("notes", [])
    parts += ["Notes:", "", notes(groups, res, suite)]
    parts += [f"- Paper: {' '.join(n.split())}" for n in extra]
    parts.append("")
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


TABLES = {"table1": table1, "table2": table2, "recall": recall_table}
