"""Regression on reported accuracies: a small sample of the published cells (docs/results, cpu
profile, smollm2-135m) is rerun from the config each cell recorded, on whatever machine runs the
tests, and compared with the published predictions row by row.

Another processor is not a regression; a changed method is. Both runs score the same test rows
(asserted), so the tolerance comes from those rows: the two runs' predictions are compared with an
exact McNemar test on the rows where they disagree, and the cell fails only when that is
significant at 1 % (two-sided) *and* the accuracies differ by more than one test row per hundred.
A change of the method, the data draw or the scoring moves many rows one way and fails; a
processor's arithmetic moves a few rows both ways and passes.

The sample holds only cells measured stable across processors. Prompt tuning at the cpu
profile's lr 0.03 is not: PT on SST-2 at seed 0, published 83.0 % (Intel Xeon with AMX), reruns
at 76.4 % on an AMD EPYC (published right only on 59 rows, rerun on 26; McNemar p = 0.00045), the
same code, split and test rows: its checkpoint choice hinges on the last bits of the arithmetic
(issue 18 measured 7 of 14 PT cells moving that way). It joins the sample when a stable protocol
is published; until then it is in ``UNSTABLE`` and not run.
"""
from __future__ import annotations

import pathlib

import numpy as np
import pytest

PUBLISHED = pathlib.Path(__file__).resolve().parent.parent / "docs" / "results"
SAMPLE = [("ft", "sst5", 0)]        # (method, task, seed) of suite sentiment7; FT: 13 of 14 within 1.4 points
UNSTABLE = [("pt", "sst2", 0)]      # measured moving across processors (see above)
ALPHA = 0.01
# settings added since the published cells were made, at the values they were made with
SINCE = {"test_rows": "per-seed", "dtype": "float32"}
SINCE_TUNE = {"select_smooth": 1}


def published(method: str, task: str, seed: int) -> dict:
    from benchmark import runner

    for path in sorted((PUBLISHED / "cells").glob("*.json")):
        rec = runner.read_cell(path)
        if rec and (rec.get("suite"), rec.get("method"), rec.get("task"), rec.get("seed")) == \
                ("sentiment7", method, task, seed):
            return rec
    raise AssertionError(f"no published sentiment7 cell {method}/{task}/seed{seed} in {PUBLISHED}")


def mcnemar_p(a: np.ndarray, b: np.ndarray, labels: np.ndarray) -> tuple[int, int, float]:
    """(rows only run a got right, rows only run b got right, exact two-sided McNemar p)."""
    from scipy.stats import binomtest

    only_a = int(((a == labels) & (b != labels)).sum())
    only_b = int(((b == labels) & (a != labels)).sum())
    p = 1.0 if only_a + only_b == 0 else binomtest(only_a, only_a + only_b, 0.5).pvalue
    return only_a, only_b, float(p)


def regressed(old: dict, new: dict) -> str | None:
    """Why ``new`` is a changed result of ``old`` (same test rows), or None."""
    if new["split"]["test"] != old["split"]["test"]:
        return "the rerun scored other test rows than the published cell"
    labels = np.asarray(old["test"]["labels"])
    a, b = np.asarray(old["test"]["preds"]), np.asarray(new["test"]["preds"])
    only_old, only_new, p = mcnemar_p(a, b, labels)
    moved = abs(only_new - only_old) / len(labels)
    if p < ALPHA and moved > 0.01:
        return (f"accuracy {100 * old['metrics']['accuracy']:.1f} -> {100 * new['metrics']['accuracy']:.1f} % "
                f"(published right only: {only_old} rows, rerun right only: {only_new}; exact McNemar p = {p:.2g})")
    return None


def test_the_tolerance_passes_a_few_flipped_rows_and_fails_a_shift():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 500)
    preds = np.where(rng.random(500) < 0.4, labels, (labels + 1) % 5)
    old = {"split": {"test": list(range(500))}, "test": {"labels": labels.tolist(), "preds": preds.tolist()},
           "metrics": {"accuracy": float((preds == labels).mean())}}

    def with_preds(p):
        return dict(old, test={"labels": labels.tolist(), "preds": p.tolist()},
                    metrics={"accuracy": float((p == labels).mean())})

    noisy = preds.copy()
    flip = rng.choice(500, 12, replace=False)          # a processor: a few rows either way
    noisy[flip] = np.where(noisy[flip] == labels[flip], (labels[flip] + 2) % 5, labels[flip])
    assert regressed(old, with_preds(noisy)) is None
    worse = preds.copy()
    right = np.flatnonzero(preds == labels)[:40]       # a changed method: 40 right rows now wrong
    worse[right] = (labels[right] + 1) % 5
    assert "McNemar" in regressed(old, with_preds(worse))
    assert "other test rows" in regressed(old, dict(with_preds(preds), split={"test": list(range(1, 501))}))


@pytest.mark.assets
@pytest.mark.parametrize("method,task,seed", SAMPLE)
def test_published_cell_reruns_within_its_test_row_tolerance(method, task, seed, tmp_path):
    from benchmark import config, runner

    old = published(method, task, seed)
    cfg = dict(SINCE, **old["config"])
    cfg["tune"] = dict(SINCE_TUNE, **cfg["tune"])
    config.validate(cfg)
    cell = runner.Cell("sentiment7", method, task, seed, old.get("point") or {}, cfg)
    runner.prepare_results_dir(tmp_path)
    new = runner.run_cell(cell, tmp_path, progress=False)
    assert new["status"] == "done", new.get("error")
    why = regressed(old, new)
    print(f"{method}/{task}/seed{seed}: published {100 * old['metrics']['accuracy']:.1f} %, "
          f"rerun {100 * new['metrics']['accuracy']:.1f} %")
    assert why is None, f"{method}/{task}/seed{seed}: {why}"
