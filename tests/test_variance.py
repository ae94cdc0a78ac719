"""The variance report: ANOVA components of a crossed draw x seed design recover planted values,
their intervals cover at their rate, a zero component is not reported as large, and the report
reads cells as the runner writes them. Every cell here is SYNTHETIC."""
from __future__ import annotations

import math

import numpy as np
import pytest

from reports import stats, variance
from test_reports import cell, load_quiet, write

SIMS = 1500


def simulate(sd_draw, sd_split, sd_res, shape, sims=SIMS, seed=0):
    """``sims`` fits of planted designs ``(T, D, S)``; returns the raw and truncated estimates and
    whether each interval covered the planted variance, per component."""
    rng = np.random.default_rng(seed)
    t_, d, s = shape
    truth = {"a": sd_draw ** 2, "b": sd_split ** 2, "e": sd_res ** 2}
    out = {k: {"raw": [], "var": [], "cover": [], "lo_pos": []} for k in truth}
    for _ in range(sims):
        y = (60 + 5 * rng.standard_normal((t_, 1, 1)) + sd_draw * rng.standard_normal((t_, d, 1))
             + sd_split * rng.standard_normal((t_, 1, s)) + sd_res * rng.standard_normal((t_, d, s)))
        fit = stats.crossed_components(y)
        for k, v in truth.items():
            out[k]["raw"].append(fit[k]["raw"])
            out[k]["var"].append(fit[k]["var"])
            out[k]["cover"].append(fit[k]["lo"] <= v <= fit[k]["hi"])
            out[k]["lo_pos"].append(fit[k]["lo"] > 0)
    return truth, {k: {m: np.asarray(x) for m, x in v.items()} for k, v in out.items()}


@pytest.mark.parametrize("shape", [(1, 3, 3), (1, 5, 5), (2, 3, 3)], ids=["3x3", "5x5", "3x3 x 2 tasks pooled"])
def test_planted_components_are_recovered_and_their_intervals_cover(shape):
    """sigma_draw = 3, sigma_split = 2, sigma_res = 1 points: the untruncated ANOVA estimates are
    unbiased (mean within 4 standard errors of the truth), and each 95 % interval covers the planted
    variance in 93-98.5 % of 1,500 designs (the binomial SD of a coverage is 0.6 points)."""
    truth, got = simulate(3, 2, 1, shape)
    for k, v in truth.items():
        raw = got[k]["raw"]
        assert abs(raw.mean() - v) < 4 * raw.std() / math.sqrt(raw.size), (k, raw.mean(), v)
        assert 0.93 <= got[k]["cover"].mean() <= 0.985, (k, got[k]["cover"].mean())
    assert got["a"]["lo_pos"].mean() > 0.6      # a draw SD of 3 points is found more often than not


@pytest.mark.parametrize("shape", [(1, 3, 3), (1, 5, 5)], ids=["3x3", "5x5"])
def test_a_zero_draw_component_is_not_reported_as_large(shape):
    """With no draw effect, the interval excludes 0 about as often as its lower tail allows (2.5 %),
    and the truncated estimate's share of the variance stays small."""
    _, got = simulate(0, 2, 1, shape, seed=1)
    assert got["a"]["lo_pos"].mean() < 0.05
    assert got["a"]["cover"].mean() >= 0.95
    share = got["a"]["var"] / (got["a"]["var"] + got["b"]["var"] + got["e"]["var"])
    assert np.median(share) < 0.02 and share.mean() < 0.1


def test_the_mls_interval_is_the_exact_chi_square_one_when_a_term_is_zero():
    from scipy import stats as sps

    lo, hi = stats.mls_difference(6.0, 4, 0.0, 8, 0.5, 0.5)
    assert lo == pytest.approx(0.5 * 6 * 4 / sps.chi2.ppf(0.975, 4))
    assert hi == pytest.approx(0.5 * 6 * 4 / sps.chi2.ppf(0.025, 4))


def test_anova_estimates_by_hand():
    y = np.array([[1.0, 2.0, 6.0], [3.0, 4.0, 5.0]])          # D = 2 draws, S = 3 seeds
    fit = stats.crossed_components(y)
    # rows 3, 4; columns 2, 3, 5.5; grand 3.5
    ms_a = 3 * ((3 - 3.5) ** 2 + (4 - 3.5) ** 2) / 1
    ms_b = 2 * ((2 - 3.5) ** 2 + (3 - 3.5) ** 2 + (5.5 - 3.5) ** 2) / 2
    resid = y - np.array([[3], [4]]) - np.array([[2, 3, 5.5]]) + 3.5
    ms_e = (resid ** 2).sum() / 2
    assert fit["a"]["ms"] == pytest.approx(ms_a) and fit["b"]["ms"] == pytest.approx(ms_b)
    assert fit["e"]["var"] == pytest.approx(ms_e)
    assert fit["a"]["raw"] == pytest.approx((ms_a - ms_e) / 3) and fit["a"]["var"] == 0.0   # truncated
    assert fit["b"]["var"] == pytest.approx((ms_b - ms_e) / 2)
    with pytest.raises(ValueError):
        stats.crossed_components(np.ones((1, 3)))


# -- the report on cells ---------------------------------------------------------------------------
def crossed_cells(method, task, effects, *, draws=(0, 1, 2), seeds=(0, 1, 2), skip=()):
    """Cells of the variance suite as the runner writes them: the axis point and the config both
    say the draw; accuracy = 0.6 + draw effect + seed effect (+ a small interaction)."""
    out = []
    for d in draws:
        for s in seeds:
            if (d, s) in skip:
                continue
            acc = 0.6 + effects[0][d] + effects[1][s] + 0.003 * ((d * 7 + s * 3) % 5 - 2)
            out.append(cell(method, task, s, acc, suite="variance", point={"pretrain.draw": d},
                            config={"pretrain": {"seed": 0, "draw": d}}))
    return out


def test_the_report_finds_the_crossed_design_and_the_draw_dominates_where_it_was_planted(tmp_path):
    big_draw = ([-0.05, 0.0, 0.06], [0.0, 0.005, -0.004])
    small_draw = ([0.0, 0.002, -0.002], [-0.04, 0.0, 0.05])
    cells = (crossed_cells("ppt", "sst2", big_draw) + crossed_cells("ppt", "sst5", big_draw)
             + crossed_cells("metapt", "sst2", small_draw) + crossed_cells("metapt", "sst5", small_draw,
                                                                           skip={(2, 2)}))
    cells += [cell("pt", t, s, 0.6 + 0.02 * s, config={"pretrain": {"seed": 0}}) for t in ("sst2", "sst5")
              for s in range(3)]
    res = load_quiet(write(tmp_path / "r", cells))
    found = {d.method: d for d in variance.designs(res)}
    assert set(found) == {"ppt", "metapt"}
    assert found["ppt"].y.shape == (2, 3, 3) and found["ppt"].left_out == 0
    assert found["metapt"].y.shape == (2, 3, 2) and found["metapt"].left_out == 5    # seed 2 dropped
    ppt, meta = variance.shares(found["ppt"].fit()), variance.shares(found["metapt"].fit())
    assert ppt["a"] > 0.8 and meta["b"] > 0.6 and meta["a"] < 0.1
    text = variance.variance_md(res)
    assert "Searle, Casella & McCulloch 1992" in text and "truncated at 0" in text
    assert "| **PPT** (pooled: SST-2, SST-5) | 3 x 3 x 2 tasks |" in text and variance.NO_CELLS not in text
    assert "5 cells outside the largest complete grid left out" in text
    assert "- PT: SD 2.0 points" in text          # no draw: split and order together, pooled over tasks


def test_shared_or_per_seed_draws_make_no_crossed_design(tmp_path):
    """One artefact for every seed, or each seed its own (draw = seed), crosses nothing."""
    shared = [cell("ppt", "sst2", s, 0.6 + 0.01 * s, config={"pretrain": {"seed": 0}}) for s in range(3)]
    per_seed = [cell("metapt", "sst2", s, 0.6, suite="variance", config={"pretrain": {"seed": 0, "draw": "per-seed"}})
                for s in range(3)]
    no_config = [cell("ppt", "sst5", s, 0.6, suite="variance", point={"pretrain.draw": d}) for d in range(2)
                 for s in range(2)]
    res = load_quiet(write(tmp_path / "r", shared + per_seed + no_config))
    assert variance.designs(res) == []
    assert variance.NO_CELLS in variance.variance_md(res)


def test_plot_writes_the_variance_report_and_figure(tmp_path, capsys):
    from benchmark import cli

    cells = crossed_cells("ppt", "sst2", ([-0.05, 0.0, 0.06], [0.0, 0.01, -0.01]))
    root = write(tmp_path / "r", cells)
    assert cli.main(["plot", "--results", str(root), "--out", str(tmp_path / "o"), "--only", "variance"]) == 0
    assert (tmp_path / "o" / "variance.md").exists() and (tmp_path / "o" / "variance.png").exists()
    empty = write(tmp_path / "e", [cell("pt", "sst2", 0, 0.6)])
    assert cli.main(["plot", "--results", str(empty), "--out", str(tmp_path / "o2"), "--only", "variance"]) == 0
    assert variance.NO_CELLS in (tmp_path / "o2" / "variance.md").read_text()
    assert "missing variance: no crossed cells" in capsys.readouterr().out


def test_the_variance_suite_crosses_draws_and_seeds_through_the_runner():
    """The suite's axis sets ``pretrain.draw`` in each cell's config (``config.set_path``) and its own
    seeds override the profile's: 2 methods x 2 tasks x 3 draws x 3 seeds, each cell's draw its point."""
    from benchmark import config, runner, settings

    cfg = config.load_profile("smoke")
    cells = runner.expand("variance", cfg)
    assert len(cells) == 36 and {c.method for c in cells} == {"ppt", "metapt"}
    assert {(c.point["pretrain.draw"], c.seed) for c in cells} == {(d, s) for d in range(3) for s in range(3)}
    assert all(settings.draw_seed(c.config, c.seed) == c.point["pretrain.draw"] for c in cells)
    config.validate(cells[0].config)
    assert len({c.key for c in cells}) == 36
