"""Does a cell give the same result when it is run again elsewhere?

Two runs of one cell (the same config, split and test rows) are compared on those rows. Two
criteria, each answering its own question:

- **agrees** (the cross-processor target): the rerun's accuracy lies inside the first run's
  95 % test-row interval (Wilson's score interval of its correct rows,
  :func:`reports.stats.accuracy_interval` at one seed). A reader who quotes a cell with that
  interval is not contradicted by the rerun.
- **regressed** (the regression test on published cells): the exact McNemar test on the rows where
  the two runs disagree is significant at ``alpha`` *and* the accuracies differ by more than
  ``min_shift`` of the rows. Another processor's arithmetic flips a few rows both ways; a changed
  method moves many rows one way.

The share of rows on which the two runs predict the same label is reported beside both: two runs
can agree on the accuracy while predicting different rows (a chaotic cell that happens to land on
the same number).
"""
from __future__ import annotations

import numpy as np

from reports import stats

ALPHA = 0.01        # McNemar level of the regression criterion
MIN_SHIFT = 0.01    # and the accuracy shift it needs besides (one row per hundred)


def compare(first: dict, second: dict, *, level: float = stats.LEVEL, alpha: float = ALPHA,
            min_shift: float = MIN_SHIFT) -> dict:
    """Compare two finished runs of one cell (result records with ``split`` and ``test``).

    Raises ``ValueError`` when they scored other test rows (a comparison of nothing).
    """
    if first["split"]["test"] != second["split"]["test"]:
        raise ValueError("the two runs scored other test rows: not two runs of one cell")
    labels = np.asarray(first["test"]["labels"])
    a, b = np.asarray(first["test"]["preds"]), np.asarray(second["test"]["preds"])
    if not (labels.shape == a.shape == b.shape):
        raise ValueError(f"predictions and labels differ in length ({a.size}, {b.size}, {labels.size})")
    n = int(labels.size)
    only_first, only_second, _ = stats.paired_counts(a, b, labels)
    p = stats.mcnemar_exact(only_first, only_second)
    acc_a, acc_b = float((a == labels).mean()), float((b == labels).mean())
    ci = stats.accuracy_interval([int((a == labels).sum())], [n], level=level)
    shift = abs(only_second - only_first) / n
    return {"rows": n, "acc_first": acc_a, "acc_second": acc_b, "lo": ci["lo"], "hi": ci["hi"],
            "agrees": bool(ci["lo"] <= acc_b <= ci["hi"]), "only_first": only_first,
            "only_second": only_second, "p_mcnemar": p,
            "regressed": bool(p < alpha and shift > min_shift),
            "same_predictions": float((a == b).mean())}


def regression(first: dict, second: dict, **kw) -> str | None:
    """Why ``second`` is a changed result of ``first``, or None (see the module's criteria)."""
    try:
        c = compare(first, second, **kw)
    except ValueError as exc:
        return str(exc)
    if not c["regressed"]:
        return None
    return (f"accuracy {100 * c['acc_first']:.1f} -> {100 * c['acc_second']:.1f} % (first run right only: "
            f"{c['only_first']} rows, rerun right only: {c['only_second']}; exact McNemar p = {c['p_mcnemar']:.2g})")


def summarise(rows: list[dict], *, target: float = 0.9) -> dict:
    """The share of compared cells that agree, per method and in all, against ``target``."""
    by: dict = {}
    for r in rows:
        by.setdefault(r["method"], []).append(r["agrees"])
    share = float(np.mean([r["agrees"] for r in rows])) if rows else float("nan")
    return {"cells": len(rows), "agree": int(sum(r["agrees"] for r in rows)), "share": share,
            "target": target, "met": bool(rows) and share >= target,
            "regressed": int(sum(r["regressed"] for r in rows)),
            "by_method": {m: {"cells": len(v), "agree": int(sum(v))} for m, v in sorted(by.items())}}
