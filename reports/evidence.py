"""From result groups to the arrays :mod:`reports.stats` takes: per-row pairing, reference rows.

A cell written since per-row saving holds ``test = {"labels", "preds"}`` in the order of
``split["test"]`` (its row ids) and, for prompt methods, ``before_tuning.preds`` (the prompt the
tuning started from). Two methods are paired on the seeds both have and, within a seed, only
when both scored the same test rows (by construction; cells of another split protocol, such as
per-seed test rows beside fixed ones, are refused with a note, never paired on an overlap). Older
cells have none of this: their accuracy interval still comes from
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


def n_classes(cell: dict, labels) -> int:
    """The task's number of classes: its label words (``metrics.recall``), else the labels seen."""
    rec = (cell.get("metrics") or {}).get("recall")
    seen = int(np.max(labels)) + 1 if len(labels) else 0
    return max(len(rec), seen) if isinstance(rec, dict) and rec else seen


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
                preds = [cls] * len(ids)
                by_seed[c.get("seed")] = dict(
                    c, method=MAJORITY, test={"labels": labels.tolist(), "preds": preds},
                    metrics={"accuracy": stats.majority_accuracy(labels), "n": len(ids),
                             "macro_f1": stats.macro_f1(labels, preds, n_classes(c, labels))})
    if not by_seed or not groups:
        return None
    return _derived(groups[0], MAJORITY, [by_seed[s] for s in sorted(by_seed, key=str)])


IMBALANCE = 1.5  # a task is imbalanced when its test rows' majority share exceeds IMBALANCE / C


def imbalance(groups: list[Group]) -> dict | None:
    """``{"share", "classes", "threshold", "imbalanced"}`` of one task's test rows (mean majority
    share over the seeds' test rows), or None when no cell saved its labels. Where the test rows
    are imbalanced, accuracy rewards a model that leans to the majority class (after a balanced
    few-shot draw, one that ignores its training): past ``IMBALANCE / C`` the tables show macro-F1
    beside it."""
    shares, classes, seen = [], 0, set()
    for g in groups:
        for c in g.cells:
            r = rows(c)
            if r is None or c.get("seed") in seen:
                continue
            seen.add(c.get("seed"))
            shares.append(stats.majority_accuracy(r[1]))
            classes = max(classes, n_classes(c, r[1]))
    if not shares or classes < 2:
        return None
    share = float(np.mean(shares))
    return {"share": share, "classes": classes, "threshold": IMBALANCE / classes,
            "imbalanced": share > IMBALANCE / classes}


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


def _name(g: Group) -> str:
    return title(g.method)


def paired_counts(a: Group, b: Group) -> tuple[dict, str]:
    """``({"wins", "losses", "n", "seeds", "note"}, "")`` over the seeds both groups share, or
    ``({}, why)``. ``note`` names the seeds only one side has (unequal seeds between methods)."""
    ca = {c.get("seed"): c for c in a.cells}
    cb = {c.get("seed"): c for c in b.cells}
    shared = sorted(set(ca) & set(cb), key=str)
    if not shared:
        return {}, (f"no seed in common ({_name(a)}: {_seeds(ca)}; {_name(b)}: {_seeds(cb)})"
                    if ca and cb else "no seed in common")
    w, l_, n, seeds, no_rows, differ = [], [], [], [], 0, []
    for s in shared:
        ra, rb = rows(ca[s]), rows(cb[s])
        if ra is None or rb is None:
            no_rows += 1
            continue
        if set(ra[0]) != set(rb[0]):
            differ.append(s)   # other test rows (another split protocol, e.g. per-seed vs fixed): never paired
            continue
        pos_b = {rid: i for i, rid in enumerate(rb[0])}
        ia = [i for i, rid in enumerate(ra[0]) if rid in pos_b]
        ib = [pos_b[ra[0][i]] for i in ia]
        if not np.array_equal(ra[1][ia], rb[1][ib]):
            continue  # the same row id with another label: not the same data
        wins, losses, rows_ = stats.paired_counts(ra[2][ia], rb[2][ib], ra[1][ia])
        w.append(wins), l_.append(losses), n.append(rows_), seeds.append(s)
    if not seeds:
        why = ("the cells carry no per-row predictions (written before they were saved)" if no_rows
               else f"the two methods' cells were scored on different test rows (seed{'s' if len(differ) > 1 else ''} "
                    f"{_seeds(differ)}): not paired" if differ else "no test row in common")
        return {}, why
    notes = [f"seed{'s' if len(differ) > 1 else ''} {_seeds(differ)} not paired: different test rows"] if differ else []
    for g, have in ((a, ca), (b, cb)):
        alone = sorted(set(have) - set(seeds), key=str)
        if alone:
            notes.append(f"{_name(g)}'s seed{'s' if len(alone) > 1 else ''} {_seeds(alone)} unpaired")
    return {"wins": w, "losses": l_, "n": n, "seeds": seeds,
            "note": f"paired on seed{'s' if len(seeds) > 1 else ''} {_seeds(seeds)}; " + ", ".join(notes)
            if notes else ""}, ""


def _seeds(seeds) -> str:
    return ", ".join(map(str, sorted(seeds, key=str)))


def compare(a: Group, b: Group) -> tuple[dict | None, str]:
    """The paired difference of a and b (:func:`reports.stats.paired_difference`) or (None, why);
    ``seed_list`` (the paired seeds) and ``note`` (seeds only one side has) are added."""
    counts, why = paired_counts(a, b)
    if not counts:
        return None, why
    out = stats.paired_difference(counts["wins"], counts["losses"], counts["n"])
    out["seed_list"] = counts["seeds"]
    out["note"] = counts["note"]
    return out, ""


def across(pairs: list[tuple[Group, Group]]) -> tuple[dict | None, str]:
    """Mean, IQM and probability of improvement across tasks (:func:`reports.stats.across_tasks`)
    of (a, b) groups, one pair per task, each on the seeds and rows it shares; tasks may have
    different numbers of seeds (each adds its own S_t - 1 degrees of freedom). ``notes`` lists the
    tasks left out and why."""
    a, b, n, rv, notes = {}, {}, {}, {}, []
    for ga, gb in pairs:
        counts, why = paired_counts(ga, gb)
        if not counts:
            notes.append(f"{paper.task_title(ga.task)} left out: {why}")
            continue
        acc_b = {c.get("seed"): c for c in gb.cells}
        w, l_, rows_ = (np.asarray(counts[k], float) for k in ("wins", "losses", "n"))
        # accuracies on the shared rows: b's from its cells when it scored exactly these rows
        b_acc = [float(acc_b[s]["metrics"]["accuracy"]) for s in counts["seeds"]]
        d = (w - l_) / rows_
        a[ga.task], b[ga.task] = (np.asarray(b_acc) + d).tolist(), b_acc
        n[ga.task], rv[ga.task] = rows_.tolist(), stats.row_variance(w, l_, rows_).tolist()
    if not a:
        return None, "no task with a seed in common" + (f" ({'; '.join(notes)})" if notes else "")
    out = stats.across_tasks(a, b, n=n, row_var=rv)
    out["notes"] = notes
    return out, ""


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
