"""From result groups to the arrays :mod:`reports.stats` takes: per-row pairing, reference rows.

A cell written since per-row saving holds ``test = {"labels", "preds"}`` in the order of
``split["test"]`` (its row ids) and, for prompt methods, ``before_tuning.preds`` (the prompt the
tuning started from). Two methods are paired on the seeds both have and, within a seed, on the
row ids both scored (the same rows by construction; an intersection guards against a split that
changed). Older cells have none of this: their accuracy interval still comes from
``metrics.n`` (a single accuracy needs only the count of right rows), but paired statistics and
the majority row say they could not be computed, and why.
"""
from __future__ import annotations

import math

import numpy as np

from reports import paper, stats
from reports.results import Group

MAJORITY = "majority"
BEFORE = "@before"  # suffix of a before-tuning reference method ("ppt@before")


def title(method: str) -> str:
    if method == MAJORITY:
        return "Majority class (test rows)"
    if method.endswith(BEFORE):
        return f"{paper.method_title(method[:-len(BEFORE)])} before tuning"
    return paper.method_title(method)


def rows(cell: dict) -> tuple[list, np.ndarray, np.ndarray] | None:
    """(test row ids, labels, predictions) of one cell, or None if it did not save them."""
    test = cell.get("test")
    ids = (cell.get("split") or {}).get("test")
    if not isinstance(test, dict) or not isinstance(ids, list):
        return None
    labels, preds = test.get("labels"), test.get("preds")
    if not isinstance(labels, list) or not isinstance(preds, list) or not len(labels) == len(preds) == len(ids):
        return None
    return ids, np.asarray(labels, dtype=np.int64), np.asarray(preds, dtype=np.int64)


def _derived(g: Group, method: str, cells: list[dict]) -> Group | None:
    return Group(g.suite, method, g.task, g.point, cells) if cells else None


def before_tuning(g: Group) -> Group | None:
    """The group's cells as scored with their initial prompt (None if no cell saved that)."""
    out = []
    for c in g.cells:
        b = c.get("before_tuning")
        if not isinstance(b, dict) or not isinstance(b.get("accuracy"), (int, float)):
            continue
        r = rows(c)
        d = dict(c, metrics={"accuracy": b["accuracy"], "macro_f1": b.get("macro_f1"), "n": b.get("n")},
                 method=g.method + BEFORE)
        d.pop("before_tuning")
        if r is not None and isinstance(b.get("preds"), list) and len(b["preds"]) == len(r[0]):
            d["test"] = {"labels": r[1].tolist(), "preds": list(b["preds"])}
        else:
            d.pop("test", None)
        out.append(d)
    return _derived(g, g.method + BEFORE, out)


def majority(groups: list[Group]) -> Group | None:
    """Always answering the most frequent class of each seed's test rows, from any group of one
    (suite, task, point) whose cells saved their test labels."""
    by_seed: dict = {}
    for g in groups:
        for c in g.cells:
            r = rows(c)
            if r is not None and c.get("seed") not in by_seed:
                ids, labels, _ = r
                cls = int(np.bincount(labels).argmax())
                by_seed[c.get("seed")] = dict(
                    c, method=MAJORITY, test={"labels": labels.tolist(), "preds": [cls] * len(ids)},
                    metrics={"accuracy": stats.majority_accuracy(labels), "n": len(ids)})
    if not by_seed or not groups:
        return None
    return _derived(groups[0], MAJORITY, [by_seed[s] for s in sorted(by_seed, key=str)])


def accuracy_ci(g: Group) -> dict | None:
    """Mean accuracy and its 95 % interval (seeds + rows), or None when a cell lacks its row count."""
    correct, n = [], []
    for c in g.cells:
        m = c.get("metrics") or {}
        rows_ = m.get("n")
        if not isinstance(rows_, int) or rows_ <= 0 or not isinstance(m.get("accuracy"), (int, float)):
            return None
        correct.append(int(round(m["accuracy"] * rows_)))
        n.append(rows_)
    return stats.accuracy_interval(correct, n) if n else None


def paired_counts(a: Group, b: Group) -> tuple[dict, str]:
    """``({"wins", "losses", "n", "seeds"}, "")`` over the seeds both groups share, or ``({}, why)``."""
    ca = {c.get("seed"): c for c in a.cells}
    cb = {c.get("seed"): c for c in b.cells}
    shared = sorted(set(ca) & set(cb), key=str)
    if not shared:
        return {}, "no seed in common"
    w, l_, n, seeds, no_rows = [], [], [], [], 0
    for s in shared:
        ra, rb = rows(ca[s]), rows(cb[s])
        if ra is None or rb is None:
            no_rows += 1
            continue
        pos_b = {rid: i for i, rid in enumerate(rb[0])}
        ia = [i for i, rid in enumerate(ra[0]) if rid in pos_b]
        if not ia:
            continue
        ib = [pos_b[ra[0][i]] for i in ia]
        if not np.array_equal(ra[1][ia], rb[1][ib]):
            continue  # the same row id with another label: not the same data
        wins, losses, rows_ = stats.paired_counts(ra[2][ia], rb[2][ib], ra[1][ia])
        w.append(wins), l_.append(losses), n.append(rows_), seeds.append(s)
    if not seeds:
        why = ("the cells carry no per-row predictions (written before they were saved)"
               if no_rows else "no test row in common")
        return {}, why
    return {"wins": w, "losses": l_, "n": n, "seeds": seeds}, ""


def compare(a: Group, b: Group) -> tuple[dict | None, str]:
    """The paired difference of a and b (:func:`reports.stats.paired_difference`) or (None, why)."""
    counts, why = paired_counts(a, b)
    if not counts:
        return None, why
    out = stats.paired_difference(counts["wins"], counts["losses"], counts["n"])
    out["seed_list"] = counts["seeds"]
    return out, ""


def seed_accuracies(g: Group) -> dict:
    return {c.get("seed"): float(c["metrics"]["accuracy"]) for c in g.cells}


def across(pairs: list[tuple[Group, Group]]) -> tuple[dict | None, str]:
    """Stratified bootstrap across tasks of (a, b) groups, one pair per task, on shared seeds."""
    a, b = {}, {}
    for ga, gb in pairs:
        sa, sb = seed_accuracies(ga), seed_accuracies(gb)
        shared = sorted(set(sa) & set(sb), key=str)
        if shared:
            a[ga.task] = [sa[s] for s in shared]
            b[ga.task] = [sb[s] for s in shared]
    if not a:
        return None, "no task with a seed in common"
    runs = {len(v) for v in a.values()}
    if len(runs) > 1:  # equal runs per task keep the strata comparable; use the seeds all share
        k = min(runs)
        a, b = {t: v[:k] for t, v in a.items()}, {t: v[:k] for t, v in b.items()}
    return stats.across_tasks(a, b), ""


def fmt_pts(x: float, signed: bool = True) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{100 * x:+.1f}" if signed else f"{100 * x:.1f}"


def fmt_ci(lo: float, hi: float, signed: bool = True) -> str:
    if lo is None or math.isnan(lo):
        return "—"
    return f"[{fmt_pts(lo, signed)}, {fmt_pts(hi, signed)}]"


def fmt_p(p: float) -> str:
    if p is None or math.isnan(p):
        return "—"
    return f"{p:.2g}" if p >= 0.001 else "<0.001"
