"""reports/stats.py: known answers, coverage under no difference, power at the cpu profile's size.

Every input here is SIMULATED (seeded random predictions); none is a result.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from reports import stats

ROWS, SEEDS = 500, 2  # the cpu profile: max_test 500, seeds [0, 1]


def test_mcnemar_and_difference_by_hand():
    # one seed, 10 rows: a right on 0-6, b right on 5-9 -> wins = rows 0-4 (5), losses = rows 7-9 (3)
    labels = np.zeros(10, int)
    a = np.where(np.arange(10) < 7, 0, 1)
    b = np.where(np.arange(10) >= 5, 0, 1)
    assert stats.paired_counts(a, b, labels) == (5, 3, 10)
    # exact McNemar: 2 * P(Bin(8, 1/2) <= 3) = 2 * (1 + 8 + 28 + 56) / 256
    assert stats.mcnemar_exact(5, 3) == pytest.approx(2 * 93 / 256)
    assert stats.mcnemar_exact(0, 0) == 1.0
    d = stats.paired_difference([5], [3], [10])
    assert d["diff"] == pytest.approx(0.2) and d["basis"] == "rows only (1 seed)"
    assert d["p_mcnemar"] == pytest.approx(2 * 93 / 256)
    # rows only: the bootstrap spread is that of the mean of 10 values in {+1: .5, -1: .3, 0: .2}
    sd = math.sqrt((0.5 + 0.3 - 0.2 ** 2) / 10)
    assert d["se"] == pytest.approx(sd, rel=0.05)
    assert d["mde"] == pytest.approx((sps.norm.ppf(0.975) + sps.norm.ppf(0.8)) * d["se"])


def test_identical_predictions_give_zero_with_p_one():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, (SEEDS, ROWS))
    preds = np.where(rng.random((SEEDS, ROWS)) < 0.7, labels, (labels + 1) % 5)
    counts = [stats.paired_counts(preds[s], preds[s], labels[s]) for s in range(SEEDS)]
    d = stats.paired_difference(*zip(*counts))
    assert d["diff"] == 0 and d["lo"] == 0 and d["hi"] == 0 and d["p"] == 1 and d["p_mcnemar"] == 1


def _simulate(rng, acc_b, planted=0.0, churn=0.0, seed_sd=0.02):
    """Per seed: (wins, losses, n) of a method a against b on ROWS rows. b is right with the seed's
    accuracy; a copies b, then is wrong on ``churn`` of the rows b gets right and right on
    ``churn + planted`` of the rows b gets wrong (a planted net gain of ``planted``)."""
    w, l_ = [], []
    for _ in range(SEEDS):
        p = acc_b + rng.normal(0, seed_sd)
        b_ok = rng.random(ROWS) < p
        a_ok = b_ok.copy()
        right, wrong = np.flatnonzero(b_ok), np.flatnonzero(~b_ok)
        a_ok[rng.choice(right, int(round(churn * ROWS)), replace=False)] = False
        a_ok[rng.choice(wrong, int(round((churn + planted) * ROWS)), replace=False)] = True
        w.append(int((a_ok & ~b_ok).sum()))
        l_.append(int((~a_ok & b_ok).sum()))
    return w, l_, [ROWS] * SEEDS


def test_interval_covers_zero_when_methods_are_equally_good():
    """Two methods of the same quality that disagree on 10 % of rows each way: over 200 simulated
    runs the 95 % interval of the difference covers 0 at least 93 % of the time."""
    rng = np.random.default_rng(1)
    covered = 0
    for i in range(200):
        w, l_, n = _simulate(rng, 0.75, churn=0.10)
        d = stats.paired_difference(w, l_, n, reps=2000, seed=i)
        covered += d["lo"] <= 0 <= d["hi"]
    assert covered / 200 >= 0.93


def test_planted_five_points_detected_at_cpu_profile_size():
    """A method right on 5 % more rows (500 test rows x 2 seeds) has its interval above 0, with
    or without churn (rows it loses and wins back elsewhere)."""
    rng = np.random.default_rng(2)
    w, l_, n = _simulate(rng, 0.75, planted=0.05)
    d = stats.paired_difference(w, l_, n)
    assert d["diff"] == pytest.approx(0.05) and d["lo"] > 0 and d["p"] < 0.05 and d["p_mcnemar"] < 1e-6
    hits = 0
    for i in range(50):
        w, l_, n = _simulate(rng, 0.75, planted=0.05, churn=0.05)
        hits += stats.paired_difference(w, l_, n, reps=2000, seed=i)["lo"] > 0
    assert hits / 50 >= 0.9


def test_accuracy_interval_one_seed_is_binomial_width():
    ci = stats.accuracy_interval([375], [500])
    half = 1.96 * math.sqrt(0.75 * 0.25 / 500)  # the "+/- 3.8 points at 500 rows"
    assert ci["mean"] == 0.75 and ci["basis"] == "rows only (1 seed)"
    assert (ci["hi"] - ci["lo"]) / 2 == pytest.approx(half, rel=0.06)
    assert 100 * half == pytest.approx(3.8, abs=0.05)


def test_seed_resampling_widens_the_interval_when_seeds_disagree():
    same = stats.accuracy_interval([375, 375], [500, 500])
    apart = stats.accuracy_interval([300, 450], [500, 500])
    assert apart["hi"] - apart["lo"] > 3 * (same["hi"] - same["lo"])


def test_bad_counts_refused():
    with pytest.raises(ValueError, match="wins \\+ losses <= n"):
        stats.two_stage_bootstrap([6], [5], [10])
    with pytest.raises(ValueError, match="equally long"):
        stats.two_stage_bootstrap([1, 2], [1], [10, 10])


def test_across_tasks_known_answers():
    a = {t: [0.50 + i / 100, 0.52 + i / 100] for i, t in enumerate("abcdefg")}
    b = {t: [v - 0.01 for v in a[t]] for t in a}  # a is 1 point better on every run
    agg = stats.across_tasks(a, b)
    for k in ("mean_diff", "iqm_diff"):
        assert agg[k]["value"] == pytest.approx(0.01)
        assert agg[k]["lo"] == pytest.approx(0.01) and agg[k]["hi"] == pytest.approx(0.01)
    # P(a run of a beats a run of b): per task a = (x, x + .02), b = (x - .01, x + .01): of the 4
    # run pairs a loses only x vs x + .01 -> 3/4
    assert agg["poi"]["value"] == pytest.approx(0.75)
    assert agg["tasks"] == list("abcdefg") and agg["runs"] == 2
    one = stats.across_tasks({"a": [0.5], "b": [0.6]}, {"a": [0.4], "b": [0.6]})
    assert one["mean_diff"]["value"] == pytest.approx(0.05) and math.isnan(one["mean_diff"]["lo"])


def test_iqm_is_the_middle_half_mean():
    x = np.array([0, 1, 2, 3, 4, 5, 6, 100.0])
    assert stats.iqm(x) == pytest.approx(np.mean([2, 3, 4, 5]))


def test_variance_ratio_by_hand():
    a = [[0.40, 0.42], [0.60, 0.61]]   # within-task SS: 0.0002 + 0.00005, df 2
    b = [[0.30, 0.40], [0.50, 0.70]]   # 0.005 + 0.02, df 2
    r = stats.variance_ratio(a, b)
    f = (0.00025 / 2) / (0.025 / 2)
    assert r["ratio"] == pytest.approx(math.sqrt(f))
    assert r["p"] == pytest.approx(sps.f.cdf(f, 2, 2))
    assert r["lo"] < r["ratio"] < r["hi"]
    assert r["mde"] == pytest.approx(math.sqrt(sps.f.ppf(0.05, 2, 2) / sps.f.ppf(0.8, 2, 2)))
    assert math.isnan(stats.variance_ratio([[0.4]], [[0.5]])["ratio"])  # one seed: no spread
