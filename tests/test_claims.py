"""reports/claims.py: the verdict rules, and each verdict reached on SYNTHETIC result folders
(made-up predictions written to a tmp folder; none is a result)."""
from __future__ import annotations

import numpy as np
import pytest

from benchmark import cli
from reports import claims
from test_reports import TASKS, _table1_cells, algorithm_cells, cell, load_quiet, with_rows, write

ROWS = 500


@pytest.mark.parametrize("lo,hi,want", [(0.01, 0.05, claims.SUPPORTED), (-0.05, -0.01, claims.CONTRADICTED),
                                        (-0.01, 0.05, claims.INCONCLUSIVE)])
def test_greater(lo, hi, want):
    assert claims.greater(lo, hi) == want


@pytest.mark.parametrize("lo,hi,want", [(-0.01, 0.015, claims.SUPPORTED), (0.025, 0.06, claims.CONTRADICTED),
                                        (-0.06, -0.03, claims.CONTRADICTED), (-0.01, 0.04, claims.INCONCLUSIVE)])
def test_equivalent(lo, hi, want):
    assert claims.equivalent(lo, hi) == want


def _part(diff, lo, hi, p_con, seeds=5, verdict=None):
    d = {"diff": diff, "lo": lo, "hi": hi, "se": 0.01, "df": seeds - 1, "seeds": seeds, "sd_seed": 0.02,
         "sd_rows": 0.02, "mde": 0.03}
    part = claims.Part("p", ">", d=d, seeds=seeds, p_con=p_con)
    part.verdict = verdict or claims.greater(lo, hi)
    return part


def test_combine_rules():
    S = claims.SUPPORTED
    up, flat, down = (0.05, 0.01, 0.09, 0.9), (0.0, -0.03, 0.03, 0.5), (-0.08, -0.1, -0.06, 1e-4)
    assert claims.combine([_part(*up), _part(*up)], needed=3)[0] == S
    # intersection-union: one part short of supported keeps the claim inconclusive
    assert claims.combine([_part(*up), _part(*flat)], needed=3)[0] == claims.INCONCLUSIVE
    assert claims.combine([_part(*up), _part(*flat)], needed=9)[0] == "inconclusive: 5 seeds"
    assert claims.combine([_part(*up), _part(*flat)], needed=None)[0] == "inconclusive: 5 seeds"
    verdict, rule = claims.combine([_part(*up), _part(*flat), _part(*down)], needed=3)
    assert verdict == claims.CONTRADICTED and "Holm over 3 parts" in rule
    # a part below 0 on its own interval, but not after Holm over the claim's 7 parts
    weak = _part(-0.03, -0.05, -0.001, 0.02)
    assert weak.verdict == claims.CONTRADICTED   # its own reading, uncorrected
    assert claims.combine([weak] + [_part(*up) for _ in range(6)], needed=3)[0] == claims.INCONCLUSIVE
    assert claims.combine([])[0] == claims.NOT_RUN
    one = _part(0.05, -0.5, 0.6, 0.5, seeds=1)
    assert claims.combine([one], needed=None)[0] == "inconclusive: 1 seed"


def _parts_from_counts(w, l_, effect=None):
    """Claim parts from simulated (wins, losses) per seed, one part per row of ``w``."""
    from reports import stats

    t = stats.seed_t((w - l_) / ROWS, stats.row_variance(w, l_, ROWS))
    s = w.shape[-1]
    return [claims.part_from({"diff": t["mean"][i], "lo": t["lo"][i], "hi": t["hi"][i], "se": t["se"][i],
                              "df": s - 1, "seeds": s, "sd_seed": t["sd"][i], "sd_rows": t["sd_rows"][i],
                              "mde": float("nan")}, ">", f"part {i}", effect) for i in range(w.shape[0])]


def test_seven_true_parts_with_one_noisy_at_zero_are_rarely_called_contradicted():
    """Seven parts of "a beats b" that all hold (six by +5 points, one exactly at the boundary,
    with a difference that varies between seeds by 10 points), 5 seeds, 400 simulated runs: Holm
    across the parts calls the claim contradicted in at most 5 % of runs. With every part at the
    boundary (the worst case), reading each part's interval alone would say contradicted in about
    1 - 0.975^7 = 16 % of runs; Holm stays at or below 5 %."""
    from test_stats import counts

    rng = np.random.default_rng(17)
    for gains, taus in (([0.05] * 6 + [0.0], [0.03] * 6 + [0.10]), ([0.0] * 7, [0.06] * 7)):
        called = uncorrected = 0
        for _ in range(400):
            w, l_ = zip(*(counts(rng, (1, 5), tau, planted=g) for g, tau in zip(gains, taus)))
            parts = _parts_from_counts(np.concatenate(w), np.concatenate(l_))
            called += claims.combine(parts, needed=5)[0] == claims.CONTRADICTED
            uncorrected += any(p.verdict == claims.CONTRADICTED for p in parts)
        assert called / 400 <= 0.05, (gains, called)
        if gains == [0.0] * 7:
            assert uncorrected / 400 >= 0.08   # the rule Holm replaced would err this often


def test_a_part_clearly_below_zero_is_contradicted_after_correction():
    from test_stats import counts

    rng = np.random.default_rng(18)
    w, l_ = zip(*(counts(rng, (1, 5), 0.03, planted=g) for g in [0.05] * 6 + [-0.15]))
    parts = _parts_from_counts(np.concatenate(w), np.concatenate(l_))
    verdict, rule = claims.combine(parts, needed=5)
    assert verdict == claims.CONTRADICTED and "part 6 against the claim" in rule
    assert parts[6].p_holm <= claims.SIDE and all(p.p_holm > claims.SIDE for p in parts[:6])


def _sentiment(rng, gain_by_task, seeds=(0, 1, 2, 3, 4)):
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
    assert claims.is_inconclusive(c.verdict) and "SST-5 not run" in c.why


def test_claim1_at_two_seeds_says_how_many_it_needs(tmp_path):
    """The same +8-point gains at 2 seeds: t with 1 df cannot decide them; the verdict says so,
    names the seeds the paper's effect needs and the command that adds them."""
    write(tmp_path, _sentiment(np.random.default_rng(0), {t: 0.08 for t in TASKS}, seeds=(0, 1)))
    c = claims.claim1(load_quiet(tmp_path))
    assert c.verdict == "inconclusive: 2 seeds", c.why
    # Sentihood's paper effect (+0.32 points) is what every-part-at-once waits for
    assert "for the 7-task mean (paper +5.7)" in c.needs and "for every part at once" in c.needs
    assert "Sentihood alone" in c.why and "not a number of seeds to run" in c.why
    md = claims.claims_md(load_quiet(tmp_path))
    assert "| 7-task mean |" in md and "Holm" in md and "intersection-union" in md


def _plateau_cells(rng, accs: dict[int, float], seeds=(0, 1, 2, 3, 4)):
    """MetaPT on SST-5 along pretrain.rows, the same test rows at a seed for every point."""
    cells = []
    for s in seeds:
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
    assert c.verdict == "inconclusive: 1 seed" and "one seed" in c.interval and "no spread between seeds" in c.why
    assert "--seeds 0,1" in c.why
    write(tmp_path / "t1", _sentiment(np.random.default_rng(0), {t: 0.08 for t in TASKS}, seeds=(0,)))
    assert claims.claim1(load_quiet(tmp_path / "t1")).verdict == "inconclusive: 1 seed"
    # the same planted effects with two seeds are decided (test_claim4_plateau_each_verdict, test_claim1_each_verdict)


def test_claims_not_run_name_the_command(tmp_path):
    write(tmp_path, [])
    md = claims.claims_md(load_quiet(tmp_path))
    for suite in ("sentiment7", "clustering", "pretrain-size", "clusters", "algorithms"):
        assert f"python -m benchmark run --suite {suite}" in md
    assert md.count("**not run**") == 6


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


# -- bad input: one seed, unequal seeds, no shared seed --------------------------------------------
def test_one_seed_unequal_seeds_and_no_shared_seed_render_with_a_note_each(tmp_path, capsys):
    rng = np.random.default_rng(4)
    cells = []
    for task, a_seeds, b_seeds in (("sst5", (0, 1, 2), (0, 1)), ("sst2", (0,), (0,)), ("amazon5", (0,), (1,))):
        for s in sorted(set(a_seeds) | set(b_seeds)):
            labels = rng.integers(0, 2, ROWS)
            ok = rng.random(ROWS) < 0.7
            if s in a_seeds:
                cells.append(with_rows(cell("metapt", task, s, 0.0), labels, ok, n_classes=2))
            if s in b_seeds:
                cells.append(with_rows(cell("ppt", task, s, 0.0), labels, rng.random(ROWS) < 0.7, n_classes=2))
    write(tmp_path / "res", cells)
    assert cli.main(["plot", "--results", str(tmp_path / "res"), "--only", "table1,claims"]) == 0
    t1 = (tmp_path / "res" / "report" / "table1.md").read_text()
    assert "SST-5, MetaPT vs PPT: paired on seeds 0, 1; MetaPT's seed 2 unpaired" in t1
    assert "SST-2, MetaPT vs PPT: one paired seed" in t1
    assert "Amazon-5, MetaPT vs PPT: not computed, no seed in common (MetaPT: 0; PPT: 1)" in t1
    assert "MetaPT vs PPT across tasks: Amazon-5 left out: no seed in common" in t1
    md = (tmp_path / "res" / "report" / "claims.md").read_text()
    assert "Amazon-5: not computed (no seed in common" in md and "**inconclusive: 1 seed**" in md
    assert "Traceback" not in capsys.readouterr().err


# -- claim 6: Prompt-MAML against multi-task training on the same meta tasks (algorithms suite) --------
@pytest.mark.parametrize("gain", [0.05, 0.0, -0.05])
def test_claim6_planted_above_equal_and_below(tmp_path, gain):
    """Prompt-MAML planted 5 points above multi-task on all three tasks at 5 seeds is supported,
    5 below is contradicted, and equal is neither (no phantom), saying how many seeds a 2-point gain
    needs."""
    write(tmp_path, algorithm_cells(np.random.default_rng(7), gain))
    c = claims.claim6(load_quiet(tmp_path))
    assert [p.label for p in c.parts] == ["SST-5", "SST-2", "SemEval-l", "3-task mean"]
    assert all(p.seeds == 5 and p.d is not None for p in c.parts)
    assert all(abs(p.d["diff"] - gain) < 0.02 for p in c.parts)
    if gain > 0:
        assert c.verdict == claims.SUPPORTED and "intersection-union" in c.rule, c.why
    elif gain < 0:
        assert c.verdict == claims.CONTRADICTED and "Holm over 4 parts" in c.rule, c.why
        assert "multi-task training does better on SST-5" in c.why
    else:
        assert c.verdict == "inconclusive: 5 seeds", c.why
        assert all(claims.is_inconclusive(claims.part_reads(p)) for p in c.parts)
        assert c.why.startswith("a +2.0-point gain needs ") and c.needed > 5
        assert f"python -m benchmark run --suite algorithms --seeds {claims.seeds_arg(range(5), c.needed)}" in c.why


def test_claim6_text_names_its_source_and_what_the_intervals_cover(tmp_path):
    cells = algorithm_cells(np.random.default_rng(7), 0.05)
    write(tmp_path / "shared", cells)
    md = claims.claims_md(load_quiet(tmp_path / "shared"))
    six = md[md.index("## Claim 6"):]
    assert "MAML beats multi-task training" in six
    assert 'Wu et al. 2022, "Continued Pretraining for Better Zero- and Few-Shot Promptability"' in six
    assert "**Verdict: supported**" in six and "| 3-task mean |" in six and "planned Δ" in six
    assert "The intervals cover: the split seed and training order only" in six
    write(tmp_path / "per", _per_seed(algorithm_cells(np.random.default_rng(7), 0.05)))
    six = claims.claims_md(load_quiet(tmp_path / "per")).split("## Claim 6")[1]
    assert "The intervals cover: the split seed, training order and the pre-training draw" in six


def test_claim6_with_a_task_missing_is_not_supported_and_without_cells_names_its_suite(tmp_path):
    write(tmp_path / "part", [c for c in algorithm_cells(np.random.default_rng(7), 0.05) if c["task"] != "sst2"])
    c = claims.claim6(load_quiet(tmp_path / "part"))
    assert claims.is_inconclusive(c.verdict) and "SST-2 not run" in c.why
    assert c.parts[-1].d is None and "needs every task" in c.parts[-1].why
    # Table 1's MetaPT cells are not a multi-task comparison: still not run, naming the suite
    write(tmp_path / "t1", _sentiment(np.random.default_rng(0), {t: 0.08 for t in TASKS}))
    c = claims.claim6(load_quiet(tmp_path / "t1"))
    assert c.verdict == claims.NOT_RUN and "run `python -m benchmark run --suite algorithms`" in c.why


def test_power_plans_claim6_on_the_algorithms_suite(tmp_path, capsys):
    write(tmp_path, algorithm_cells(np.random.default_rng(7), 0.0, seeds=(0, 1, 2)))
    assert cli.main(["power", "--suite", "algorithms", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Claim 6: Beyond the paper" in out and "3-task mean (>)" in out and "Claim 6, every part at once" in out


# -- the power command ------------------------------------------------------------------------------
def test_power_prints_the_seeds_each_claim_needs_and_their_cost(tmp_path, capsys):
    cells = _sentiment(np.random.default_rng(6), {t: 0.04 for t in TASKS}, seeds=(0, 1, 2))
    for c in cells:
        c["wall_s"] = 60.0 if c["method"] == "metapt" else 30.0
    write(tmp_path, cells)
    assert cli.main(["power", "--suite", "sentiment7", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Claim 1: MetaPT beats PPT on all seven tasks" in out and "7-task mean (>)" in out
    assert "seeds needed" in out and "MetaPT 60 s, PPT 30 s" in out
    # every claim the suite tests is planned, with the command that adds the seeds
    assert "Claim 2" in out and "Claim 1, every task at once" in out


@pytest.mark.parametrize("make,words", [
    (lambda d: d.mkdir(), "holds no result cells"),
    (lambda d: (d / "cells").mkdir(parents=True) or (d / "cells" / "x.json").write_text("[1]"),
     "holds no result cells"),
    (lambda d: write(d, [cell("ft", "sst5", 0, 0.4, suite="shots", point={"n_train": 10})]),
     "no finished cells of suite 'sentiment7'"),
    (lambda d: None, "does not exist"),
])
def test_power_on_an_empty_or_foreign_folder_exits_2_with_one_message(tmp_path, capsys, make, words):
    folder = tmp_path / "r"
    make(folder)
    assert cli.main(["power", "--results", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and words in err[0]


def test_power_refuses_a_suite_no_claim_is_tested_on(tmp_path, capsys):
    write(tmp_path, [cell("ft", "sst5", 0, 0.4, suite="shots", point={"n_train": 10})])
    assert cli.main(["power", "--suite", "shots", "--results", str(tmp_path)]) == 2
    assert "suites with claims: sentiment7, clustering, pretrain-size, clusters, algorithms" in capsys.readouterr().err


# -- which sources of randomness an interval covers, and the draw in the plan ---------------------
def _per_seed(cells):
    for c in cells:
        c["config"] = {"pretrain": {"seed": 0, "draw": "per-seed"}}
    return cells


def test_claims_say_which_sources_the_intervals_cover_and_give_each_half_width(tmp_path):
    write(tmp_path / "shared", _sentiment(np.random.default_rng(0), {t: 0.04 for t in TASKS}))
    text = claims.claims_md(load_quiet(tmp_path / "shared"))
    assert "The intervals cover: the split seed and training order only; the pre-training draw is not sampled" in text
    assert "± half-width" in text
    c = claims.claim1(load_quiet(tmp_path / "shared"))
    sst5 = next(p for p in c.parts if p.label == "SST-5")
    assert claims.half_width(sst5.d) == f"{100 * (sst5.d['hi'] - sst5.d['lo']) / 2:.1f}"
    assert f"| {claims.half_width(sst5.d)} |" in text
    write(tmp_path / "per", _per_seed(_sentiment(np.random.default_rng(0), {t: 0.04 for t in TASKS})))
    text = claims.claims_md(load_quiet(tmp_path / "per"))
    assert "The intervals cover: the split seed, training order and the pre-training draw" in text
    assert claims.covers(claims.claim1(load_quiet(tmp_path / "per")).groups).startswith("the split seed, training")


def test_power_adds_the_draw_that_shared_artefacts_do_not_sample(tmp_path, capsys):
    """Shared artefacts: the plan widens a MetaPT − PPT difference by 2 sigma_draw^2 (assumed, or
    measured by the variance suite's crossed cells where the folder has them); per-seed cells
    already carry it, and nothing is added."""
    from reports import plan, results

    cells = _sentiment(np.random.default_rng(6), {t: 0.04 for t in TASKS}, seeds=(0, 1, 2))
    write(tmp_path / "shared", cells)
    res = load_quiet(tmp_path / "shared")
    base = plan.plan(res, "sentiment7", draw_sd=0.0)
    wide = plan.plan(res, "sentiment7", draw_sd=3.0)
    sd = lambda p: p["sections"][0].parts[0].d["sd"]  # noqa: E731
    assert sd(wide) ** 2 == pytest.approx(sd(base) ** 2 + 2 * 0.03 ** 2)
    assert wide["sections"][0].parts[0].needed >= base["sections"][0].parts[0].needed
    assert "assumed (--draw-sd 3)" in plan.render(wide)
    per = load_quiet(write(tmp_path / "per", _per_seed(
        _sentiment(np.random.default_rng(6), {t: 0.04 for t in TASKS}, seeds=(0, 1, 2)))))
    assert plan.plan(per, "sentiment7", draw_sd=3.0)["draws"] == {}
    assert "Pre-training draw: nothing added" in plan.render(plan.plan(per, "sentiment7"))
    # measured: a crossed PPT design with a 5-point draw effect
    from test_variance import crossed_cells

    both = cells + crossed_cells("ppt", "sst2", ([-0.05, 0.0, 0.05], [0.0, 0.01, -0.01]))
    measured = plan.plan(results.load(write(tmp_path / "m", both)), "sentiment7", draw_sd=0.0)
    assert measured["draws"]["ppt"][1].startswith("measured (3 draws x 3 seeds")
    assert measured["draws"]["ppt"][0] > 0.04 ** 2 and measured["draws"]["metapt"][0] == 0.0
    assert cli.main(["power", "--results", str(tmp_path / "shared"), "--draw-sd", "-1"]) == 2
    assert "--draw-sd -1.0 is invalid" in capsys.readouterr().err
