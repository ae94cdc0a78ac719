"""Did a change move the results? The cells of two results folders, paired place by place.

A change (of the code, a setting, the pre-training protocol, the grouping of prompts) is run into a
second folder. A cell of each folder at the same place (suite, method, task, seed, ablation point)
that scored the same test rows forms a pair; the per-seed difference ``second - first`` is the paired
difference of :mod:`reports.stats` on those rows. Per suite and method:

- the mean accuracy over tasks in each folder, and their difference with the 95 % interval of
  :func:`reports.stats.across_mean` (a paired t over seeds pooled over tasks, each task's variance
  floored by the test-row variance of its paired differences; simulated in ``tests/test_stats.py``);
- the share of test rows the two predict alike, and how many second cells land inside the first
  cell's 95 % test-row interval (:func:`reports.agreement.compare`, the rerun criterion).

Two cells with the same key are one computation (a cell copied between folders, or one that reads no
setting the change touched): counted, never compared, since their difference is zero by construction
and would narrow the interval. A place whose two cells scored other test rows is not a pair: it is
listed, not compared.
"""
from __future__ import annotations

import json
import math

import numpy as np

from reports import agreement, stats
from reports.results import point_key, point_label


def place(cell: dict) -> tuple:
    """Where a cell sits in a suite: (suite, method, task, seed, point)."""
    return (cell.get("suite"), cell["method"], cell["task"], int(cell["seed"]), point_key(cell.get("point")))


def pair(first: list[dict], second: list[dict]) -> dict:
    """Match finished cells by place. Returns ``pairs`` [(place, a, b)], ``same_key`` (places whose two
    cells share a key), ``other_rows`` (places whose cells scored other test rows), ``only_first`` and
    ``only_second`` (places one folder lacks)."""
    a = {place(c): c for c in first}
    b = {place(c): c for c in second}
    out = {"pairs": [], "same_key": [], "other_rows": [],
           "only_first": sorted(set(a) - set(b)), "only_second": sorted(set(b) - set(a))}
    for p in sorted(set(a) & set(b)):
        x, y = a[p], b[p]
        if x.get("key") is not None and x.get("key") == y.get("key"):
            out["same_key"].append(p)
        elif x["split"]["test"] != y["split"]["test"] or x["test"]["labels"] != y["test"]["labels"]:
            out["other_rows"].append(p)
        else:
            out["pairs"].append((p, x, y))
    return out


def compare(first: list[dict], second: list[dict], *, level: float = stats.LEVEL) -> dict:
    """Per (suite, method, point): the paired comparison of ``second`` against ``first``.

    Args: two lists of finished cell records (``status == "done"``).
    Returns ``rows`` (one dict per suite, method and point: ``cells``, ``tasks``, ``seeds``,
    ``first``, ``second`` (mean accuracy over tasks, fractions), ``diff``, ``lo``, ``hi``, ``df``,
    ``same_predictions``, ``agree``, ``same_key``) and the unpaired places of :func:`pair`.
    """
    matched = pair(first, second)
    groups: dict = {}
    for (suite, method, task, seed, point), a, b in matched["pairs"]:
        c = agreement.compare(a, b, level=level)
        g = groups.setdefault((suite, method, point), {"tasks": {}, "seeds": set(), "same": [], "agree": 0})
        t = g["tasks"].setdefault(task, {"d": [], "v": [], "a": [], "b": []})
        wins, losses = c["only_second"], c["only_first"]
        t["d"].append((wins - losses) / c["rows"])
        t["v"].append(float(stats.row_variance(wins, losses, c["rows"])))
        t["a"].append(c["acc_first"])
        t["b"].append(c["acc_second"])
        g["seeds"].add(seed)
        g["same"].append(c["same_predictions"])
        g["agree"] += int(c["agrees"])
    same_key: dict = {}
    for suite, method, _task, _seed, point in matched["same_key"]:
        same_key[(suite, method, point)] = same_key.get((suite, method, point), 0) + 1
    rows = []
    for key in sorted(set(groups) | set(same_key)):
        suite, method, point = key
        row = {"suite": suite, "method": method, "point": point, "same_key": same_key.get(key, 0)}
        g = groups.get(key)
        if g is None:
            rows.append(dict(row, cells=0))
            continue
        tasks = g["tasks"]
        m = stats.across_mean({t: v["d"] for t, v in tasks.items()}, {t: v["v"] for t, v in tasks.items()},
                              level=level)
        rows.append(dict(row, cells=sum(len(v["d"]) for v in tasks.values()), tasks=len(tasks),
                         seeds=sorted(g["seeds"]),
                         first=float(np.mean([np.mean(v["a"]) for v in tasks.values()])),
                         second=float(np.mean([np.mean(v["b"]) for v in tasks.values()])),
                         diff=m["value"], lo=m["lo"], hi=m["hi"], df=m["df"], sd=m["sd"],
                         same_predictions=float(np.mean(g["same"])), agree=g["agree"]))
    return {"rows": rows, **{k: matched[k] for k in ("other_rows", "only_first", "only_second")}}


def _pts(x: float, sign: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{100 * x:+.1f}" if sign else f"{100 * x:.1f}"


def markdown(result: dict, first_name: str, second_name: str) -> str:
    """The comparison as a Markdown table with a line on what was not compared."""
    lines = [f"Second: {second_name}; first: {first_name}. Accuracy in %, mean over tasks; "
             "second − first in points with its 95 % interval (paired over seeds, pooled over tasks, "
             "floored by the test rows).", "",
             "| suite | method | point | cells paired | tasks x seeds | first | second | second − first "
             "[95 %] | rows predicted alike | in first's 95 % row interval | same key (not compared) |",
             "|---|---|---|---:|---|---:|---:|---|---:|---:|---:|"]
    for r in result["rows"]:
        where = point_label(json.loads(r["point"])) or "—"
        if not r["cells"]:
            lines.append(f"| {r['suite']} | {r['method']} | {where} | 0 | — | — | — | — | — | — | {r['same_key']} |")
            continue
        interval = (f"{_pts(r['diff'], True)} [{_pts(r['lo'], True)}, {_pts(r['hi'], True)}]"
                    if not math.isnan(r["lo"]) else f"{_pts(r['diff'], True)} (one seed: no interval)")
        lines.append(f"| {r['suite']} | {r['method']} | {where} | {r['cells']} | {r['tasks']} x "
                     f"{len(r['seeds'])} ({','.join(map(str, r['seeds']))}) | {_pts(r['first'])} | "
                     f"{_pts(r['second'])} | {interval} | {100 * r['same_predictions']:.1f} % | "
                     f"{r['agree']} of {r['cells']} | {r['same_key']} |")
    notes = []
    if result["other_rows"]:
        notes.append(f"{len(result['other_rows'])} place(s) scored other test rows in the two folders: not "
                     f"compared ({_places(result['other_rows'])})")
    for name, label in (("only_first", first_name), ("only_second", second_name)):
        if result[name]:
            notes.append(f"{len(result[name])} place(s) only in {label}")
    return "\n".join(lines + ([""] + [f"- {n}" for n in notes] if notes else [])) + "\n"


def _places(places: list, at_most: int = 5) -> str:
    text = ", ".join(f"{m}/{t}/seed{s}" for _suite, m, t, s, _p in places[:at_most])
    return text + (f" and {len(places) - at_most} more" if len(places) > at_most else "")
