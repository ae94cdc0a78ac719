"""Regression on reported accuracies: a small sample of the published cells (docs/results, cpu
profile, smollm2-135m) is rerun from the config each cell recorded, on whatever machine runs the
tests, and compared with the published predictions row by row.

Another processor is not a regression; a changed method is. Both runs score the same test rows
(asserted), so the tolerance comes from those rows (reports/agreement.py, tested in test_agree.py): the two runs' predictions are compared with an
exact McNemar test on the rows where they disagree, and the cell fails only when that is
significant at 1 % (two-sided) *and* the accuracies differ by more than one test row per hundred.
A change of the method, the data draw or the scoring moves many rows one way and fails; a
processor's arithmetic moves a few rows both ways and passes.

The sample holds only cells measured stable across processors. Prompt tuning at the cpu
profile's lr 0.03 is not: PT on SST-2 at seed 0, published 83.0 % (Intel Xeon with AMX), reruns
at 76.4 % on an AMD EPYC (published right only on 59 rows, rerun on 26; McNemar p = 0.00045), the
same code, split and test rows: its checkpoint choice hinges on the last bits of the arithmetic
(issue 18 measured 7 of 14 PT cells moving that way). It joins the sample when a stable protocol
is published; until then it is in ``UNSTABLE`` and not run. The current protocol (fixed test rows,
every-20 / patience 5 / smoothed selection) is not yet that: PT SST-2 seed 1 moved 82.8 -> 78.2 % under
another processor's bf16 kernels (docs/agreement/sample-nobf16-kernels.md).
"""
from __future__ import annotations

import pathlib

import pytest

PUBLISHED = pathlib.Path(__file__).resolve().parent.parent / "docs" / "results"
SAMPLE = [("ft", "sst5", 0)]        # (method, task, seed) of suite sentiment7; FT: 13 of 14 within 1.4 points
UNSTABLE = [("pt", "sst2", 0)]      # measured moving across processors (see above)
ALPHA = 0.01
# settings added since the published cells were made, at the values they were made with
SINCE = {"test_rows": "per-seed", "dtype": "float32"}
SINCE_TUNE = {"select_smooth": 1, "full_window": False}


def published(method: str, task: str, seed: int) -> dict:
    from benchmark import runner

    for path in sorted((PUBLISHED / "cells").glob("*.json")):
        rec = runner.read_cell(path)
        if rec and (rec.get("suite"), rec.get("method"), rec.get("task"), rec.get("seed")) == \
                ("sentiment7", method, task, seed):
            return rec
    raise AssertionError(f"no published sentiment7 cell {method}/{task}/seed{seed} in {PUBLISHED}")


@pytest.mark.assets
@pytest.mark.parametrize("method,task,seed", SAMPLE)
def test_published_cell_reruns_within_its_test_row_tolerance(method, task, seed, tmp_path):
    from benchmark import config, runner
    from reports import agreement

    old = published(method, task, seed)
    cfg = dict(SINCE, **old["config"])
    cfg["tune"] = dict(SINCE_TUNE, **cfg["tune"])
    config.validate(cfg)
    cell = runner.Cell("sentiment7", method, task, seed, old.get("point") or {}, cfg)
    runner.prepare_results_dir(tmp_path)
    new = runner.run_cell(cell, tmp_path, progress=False)
    assert new["status"] == "done", new.get("error")
    why = agreement.regression(old, new, alpha=ALPHA)
    print(f"{method}/{task}/seed{seed}: published {100 * old['metrics']['accuracy']:.1f} %, "
          f"rerun {100 * new['metrics']['accuracy']:.1f} %")
    assert why is None, f"{method}/{task}/seed{seed}: {why}"
