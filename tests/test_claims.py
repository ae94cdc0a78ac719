"""reports/claims.py: the verdict rules, and each verdict reached on SYNTHETIC result folders
(made-up predictions written to a tmp folder; none is a result)."""
from __future__ import annotations

import numpy as np
import pytest

from benchmark import cli
from reports import claims
from test_reports import TASKS, _table1_cells, cell, load_quiet, with_rows, write

ROWS = 500


@pytest.mark.parametrize("lo,hi,want", [(0.01, 0.05, claims.SUPPORTED), (-0.05, -0.01, claims.CONTRADICTED),
                                        (-0.01, 0.05, claims.INCONCLUSIVE)])
def test_greater(lo, hi, want):
    assert claims.greater(lo, hi) == want


@pytest.mark.parametrize("lo,hi,want", [(-0.01, 0.015, claims.SUPPORTED), (0.025, 0.06, claims.CONTRADICTED),
                                        (-0.06, -0.03, claims.CONTRADICTED), (-0.01, 0.04, claims.INCONCLUSIVE)])
def test_equivalent(lo, hi, want):
    assert claims.equivalent(lo, hi) == want


def test_combine():
    S, C, I = claims.SUPPORTED, claims.CONTRADICTED, claims.INCONCLUSIVE
    assert claims.combine([S, S]) == S and claims.combine([S, I]) == I and claims.combine([S, I, C]) == C
    assert claims.combine([]) == claims.NOT_RUN


def _sentiment(rng, gain_by_task, seeds=(0, 1)):
    """MetaPT and PPT cells on every task: PPT right on 70 % of rows; MetaPT copies PPT, then
    gains (or loses) ``gain`` of the rows."""
    cells = []
    for task in TASKS:
        gain = gain_by_task.get(task, 0.0)
        for s in seeds:
            labels = rng.integers(0, 2, ROWS)
            b_ok = rng.random(ROWS) < 0.70
            a_ok = b_ok.copy()
            pool = np.flatnonzero(~b_ok if gain > 0 else b_ok)
            a_ok[rng.choice(pool, int(round(abs(gain) * ROWS)), replace=False)] = gain > 0
            cells.append(with_rows(cell("metapt", task, s, 0.0), labels, a_ok, n_classes=2))
            cells.append(with_rows(cell("ppt", task, s, 0.0), labels, b_ok, n_classes=2))
    return cells


@pytest.mark.parametrize("gains,want", [
    ({t: 0.08 for t in TASKS}, claims.SUPPORTED),
    (dict({t: 0.08 for t in TASKS}, sst2=-0.08), claims.CONTRADICTED),
    ({t: 0.0 for t in TASKS}, claims.INCONCLUSIVE),
])
def test_claim1_each_verdict(tmp_path, gains, want):
    write(tmp_path, _sentiment(np.random.default_rng(0), gains))
    c = claims.claim1(load_quiet(tmp_path))
    assert c.verdict == want, c.why
    assert "SST-5 +8.0" in c.figure if want != claims.INCONCLUSIVE else "SST-5 +0.0" in c.figure
    assert "points per task" in c.mde


def test_claim1_with_one_task_missing_is_not_supported(tmp_path):
    cells = [c for c in _sentiment(np.random.default_rng(0), {t: 0.08 for t in TASKS}) if c["task"] != "sst5"]
    write(tmp_path, cells)
    c = claims.claim1(load_quiet(tmp_path))
    assert c.verdict == claims.INCONCLUSIVE and "SST-5 not run" in c.why


def _plateau_cells(rng, accs: dict[int, float]):
    """MetaPT on SST-5 along pretrain.rows, the same test rows at a seed for every point."""
    cells = []
    for s in (0, 1):
        labels = rng.integers(0, 5, ROWS)
        u = rng.random(ROWS)  # one draw per row: a higher accuracy is right on a superset of rows
        for rows, acc in accs.items():
            cells.append(with_rows(cell("metapt", "sst5", s, 0.0, suite="pretrain-size",
                                        point={"pretrain.rows": rows}), labels, u < acc))
    return cells


@pytest.mark.parametrize("accs,want", [
    ({1000: 0.30, 10000: 0.40, 100000: 0.405}, claims.SUPPORTED),
    ({1000: 0.30, 10000: 0.40, 100000: 0.50}, claims.CONTRADICTED),
    ({1000: 0.30, 3000: 0.35}, claims.INCONCLUSIVE),  # the axis stops short of 10,000
])
def test_claim4_plateau_each_verdict(tmp_path, accs, want):
    write(tmp_path, _plateau_cells(np.random.default_rng(3), accs))
    c = claims.claim4(load_quiet(tmp_path))
    assert c.verdict == want, c.why
    if want == claims.INCONCLUSIVE:
        assert "short of 10,000" in c.why


def test_one_seed_draws_no_verdict_however_narrow_its_interval(tmp_path):
    # a 10-point gap at one seed: its row-only interval excludes 0, yet a rerun with another seed could
    # move either run by as much, so neither claim 4 nor claim 1 may call it
    write(tmp_path, [c for c in _plateau_cells(np.random.default_rng(3), {1000: 0.30, 10000: 0.40, 100000: 0.50})
                     if c["seed"] == 0])
    c = claims.claim4(load_quiet(tmp_path))
    assert c.verdict == claims.INCONCLUSIVE and "one seed" in c.interval and "one seed per point" in c.why
    write(tmp_path / "t1", _sentiment(np.random.default_rng(0), {t: 0.08 for t in TASKS}, seeds=(0,)))
    assert claims.claim1(load_quiet(tmp_path / "t1")).verdict == claims.INCONCLUSIVE
    # the same planted effects with two seeds are decided (test_claim4_plateau_each_verdict, test_claim1_each_verdict)


def test_claims_not_run_name_the_command(tmp_path):
    write(tmp_path, [])
    md = claims.claims_md(load_quiet(tmp_path))
    for suite in ("sentiment7", "clustering", "pretrain-size", "clusters"):
        assert f"python -m benchmark run --suite {suite}" in md
    assert md.count("**not run**") == 5


def test_plot_on_older_cells_renders_and_says_what_it_could_not_compute(tmp_path, capsys):
    """Cells written before per-row predictions were saved: everything renders; the paired
    statistics say they could not be computed; claim 2 (spread over seeds) still gets a verdict."""
    write(tmp_path / "res", _table1_cells())
    assert cli.main(["plot", "--results", str(tmp_path / "res"), "--only", "table1,claims"]) == 0
    out = capsys.readouterr().out
    assert "5 of 20 scored cells" not in out and "20 of 20 scored cells carry no per-row predictions" in out
    md = (tmp_path / "res" / "report" / "claims.md").read_text()
    assert "SST-5: not computed (the cells carry no per-row predictions" in md
    assert "## Claim 2" in md and "pooled std MetaPT" in md
    assert "stand-in data (SST-5 ← synthetic test snippets)" in md
    assert "## Settings that differ from the paper" in md and "prompt_tokens: 20 (paper: 100)" in md
