"""`python -m benchmark calibrate` on the smoke profile (tiny random backbone): outputs, resume,
bad input, and that no test row is ever read."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from benchmark import calibrate as cal, cli, config as config_mod

ARGS = ["calibrate", "--profile", "smoke", "--tasks", "sst2,sst5", "--inits", "vocab,normal", "--lrs", "0.03,0.3",
        "--steps", "6", "--eval-every", "3", "--alphas", "0.08,0.3", "--betas", "0.01,0.05", "--maml-steps", "2",
        "--maml-eval-every", "1", "--pretrain-data", "labelled", "--no-progress",
        # stability: 3 split seeds, from PT's and PPT's starting prompts, one schedule, replayed settings
        "--stab-seeds", "0,1,2", "--starts", "pt,ppt", "--schedules", "0.03:6", "--cadences", "3",
        "--patiences", "1,2", "--smooths", "1,2"]
STAB_SEEDS = [0, 1, 2]
STAB_CURVES = 2 * 2 * 1 * 3        # starts x tasks x schedules x seeds


@pytest.fixture(scope="module")
def calibrated(standin_cache, tmp_path_factory):
    """One calibration, with every text that reached the backbone's scorer recorded."""
    from benchmark.scoring import Scorer

    out = tmp_path_factory.mktemp("cal") / "out"
    seen: set = set()
    mp = pytest.MonkeyPatch()
    orig_losses, orig_predict = Scorer.losses, Scorer.predict
    mp.setattr(Scorer, "losses",
               lambda self, texts, *a, **k: (seen.update(texts), orig_losses(self, texts, *a, **k))[1])
    mp.setattr(Scorer, "predict",
               lambda self, texts, *a, **k: (seen.update(texts), orig_predict(self, texts, *a, **k))[1])
    try:
        assert cli.main(ARGS + ["--out", str(out)]) == 0
    finally:
        mp.undo()
    return out, seen


def test_report_png_and_fragment_are_written(calibrated):
    out, _ = calibrated
    report = (out / "report.md").read_text()
    assert "## Downstream prompt tuning" in report and "## Prompt-MAML" in report and "## PPT pre-training" in report
    assert "| sst5 | normal | 0.3 |" in report and "label purity" in report
    assert "## Stability over split seeds" in report and "mean-minus-sd" in report
    summary = json.loads((out / "summary.json").read_text())
    for start, b in summary["stability"]["by_start"].items():      # the per-start table, one row a start
        assert f"| {start} | {b['chosen']} | {100 * b['mean']:.1f} |" in report
    assert set(summary["stability"]["by_start"]) == {"pt", "ppt"}
    assert (out / "stability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(summary["curves"]) == 2 * 2 * 2 and summary["points_run"] == 8 + 1 + 2 + 1 + STAB_CURVES
    for curve in summary["curves"].values():
        assert [s for s, _ in curve["evaluations"]] == [0, 3, 6]        # never early-stopped
    assert set(summary["maml"]["alpha"]["query_loss"]) == {"0.0", "0.08", "0.3"}
    # the chosen alpha is the grid value with the lowest query loss
    losses = summary["maml"]["alpha"]["query_loss"]
    assert summary["maml"]["alpha_chosen"] == min((0.08, 0.3), key=lambda a: losses[str(a)])


def test_fragment_loads_as_a_valid_profile_override(calibrated):
    out, _ = calibrated
    fragment = yaml.safe_load((out / "profile-fragment.yaml").read_text())
    summary = json.loads((out / "summary.json").read_text())
    assert fragment == summary["fragment"]
    cfg = cal.fragment_profile("smoke", fragment)
    chosen = summary["tuning"]["chosen"]
    # the init from the init grid; lr, budget, cadence and patience from the stability choice
    assert cfg["prompt_init"] == chosen["init"] and cfg["tune"]["lr"] == summary["stability"]["tune"]["lr"]
    assert cfg["tune"]["patience"] == summary["stability"]["table"][0]["patience"]
    assert cfg["tune"]["warmup_steps"] <= 0.1 * cfg["tune"]["max_steps"]
    assert cfg["maml"]["inner_lr"] == summary["maml"]["alpha_chosen"]
    # the same settings as --set overrides pass validation too
    config_mod.apply_overrides(config_mod.load_profile("smoke"),
                               [line for line in cal._overrides(fragment)])


def test_no_test_row_is_read(calibrated, standin_cache):
    from benchmark import data

    _, seen = calibrated
    cfg = config_mod.load_profile("smoke")
    assert seen
    def split(task, max_test):
        return data.few_shot_split(data.load(task, source="standin"), n_train=cfg["n_train"], n_val=cfg["n_val"],
                                   seed=cfg["seeds"][0], max_test=max_test)

    splits = {task: split(task, cfg["max_test"]) for task in ("sst2", "sst5")}
    # the fixed test rows of the profile (max_test) are a subset of those with no max_test (half the pool)
    wide = {task: split(task, None) for task in splits}
    # sst2 and sst5 stand in from the same snippets: one task's training rows may be the other's test rows;
    # the stability curves draw the few-shot rows of every one of their seeds
    used = {t for task in splits for seed in STAB_SEEDS
            for s in [data.few_shot_split(data.load(task, source="standin"), n_train=cfg["n_train"],
                                          n_val=cfg["n_val"], seed=seed, max_test=cfg["max_test"])]
            for t in [*s.train.texts, *s.val.texts]}
    for task, split_ in splits.items():
        assert set(split_.test.ids) <= set(wide[task].test.ids)
        assert set(split_.train.texts) <= seen and set(split_.val.texts) <= seen
        leaked = (seen & set(wide[task].test.texts)) - used
        assert not leaked, f"{task}: calibration read {len(leaked)} test rows"


def test_rerun_skips_done_points_and_recomputes_identically(calibrated, capsys):
    out, _ = calibrated
    before = json.loads((out / "summary.json").read_text())
    assert cli.main(ARGS + ["--out", str(out)]) == 0
    again = json.loads((out / "summary.json").read_text())
    assert again["points_run"] == 0 and again["points_skipped"] == before["points_run"]
    # the report's compute time is the points' own (all reused here), not this invocation's few seconds
    assert again["points_compute_s"] == pytest.approx(before["points_compute_s"], abs=0.2)
    assert again["points_compute_s"] > again["wall_s"]
    assert f"{again['points_compute_s'] / 60:.1f} min" in (out / "report.md").read_text()
    assert "done earlier, skipped" in capsys.readouterr().err
    # a lost point is recomputed, with the same numbers (same seed, same machine)
    (out / "points" / "tune-sst2-vocab-lr0.3.json").unlink()
    assert cli.main(ARGS + ["--out", str(out)]) == 0
    third = json.loads((out / "summary.json").read_text())
    assert third["points_run"] == 1
    assert third["curves"]["sst2|vocab|0.3"]["evaluations"] == before["curves"]["sst2|vocab|0.3"]["evaluations"]
    assert third["fragment"] == before["fragment"]


@pytest.mark.parametrize("extra, message", [
    (["--lrs", "0.03,0"], "--lrs value 0.0 is invalid; allowed: numbers > 0"),
    (["--alphas", "-0.1"], "--alphas value -0.1 is invalid; allowed: numbers > 0"),
    (["--betas", "x"], "is not a comma-separated list of numbers"),
    (["--tasks", "sst9"], "unknown task 'sst9'"),
    (["--tasks", "yelp5"], "is a pretrain-labelled pool, not a downstream task"),
    (["--inits", "zeros"], "prompt init 'zeros' is unknown; allowed: random, uniform, normal, vocab, label"),
    (["--set", "n_val=4"], "has 4 validation rows; a curve needs at least 8"),
    (["--steps", "0"], "--steps = 0 is invalid"),
    (["--stab-seeds", "0,1"], "has 2 distinct seeds; allowed: at least 3"),
    (["--stab-seeds", "0,1,1"], "--stab-seeds: '0,1,1': 1 given more than once; allowed: distinct integers"),
    (["--cadences", "4"], "--cadences value 4 is not a multiple of --eval-every 3"),
    (["--starts", "ft"], "start 'ft' is unknown; allowed: pt, ppt, metapt, metapt_y"),
    (["--schedules", "0.03"], "--schedules entry '0.03' is not lr:steps"),
])
def test_bad_input_exits_2_with_nothing_written(standin_cache, tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    assert cli.main(ARGS + extra + ["--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("error:") == 1
    assert not out.exists()


def test_plateau_rule_by_hand():
    ev = [(0, 0.5), (10, 0.6), (20, 0.8), (30, 0.8), (40, 0.85), (50, 0.8)]
    p = cal.plateau(ev, n_val=40)
    # trailing means: .5 .55 .6333 .7333 .8167 .8167; best .8167; within 1/40 of it first at step 40
    assert p["step"] == 40 and p["flat"] and p["smoothed_best"] == pytest.approx(0.8167, abs=1e-4)
    assert p["stall"] == 1 and p["initial"] == 0.5 and p["best"] == 0.85
    rising = cal.plateau([(0, 0.5), (10, 0.6), (20, 0.7)], n_val=40)
    assert rising["step"] == 20 and not rising["flat"]
    short = cal.plateau([(0, 0.1), (1, 0.3), (2, 0.25)], n_val=12)   # within the window: too short to call flat
    assert short["step"] == 1 and not short["flat"]
    np.testing.assert_allclose(cal.smoothed([1, 2, 3, 4]), [1, 1.5, 2, 3])


def test_choose_tuning_takes_the_best_mean_and_budgets_to_the_latest_plateau():
    grid = cal.Grid(tasks=["a", "b"], inits=["vocab", "random"], lrs=[0.1], steps=100, eval_every=10)
    flat = [(s, min(0.9, 0.5 + s / 100)) for s in range(0, 101, 10)]        # reaches .9 at step 40
    slow = [(s, min(0.9, 0.5 + s / 200)) for s in range(0, 101, 10)]        # reaches .9 at step 80
    low = [(s, 0.6) for s in range(0, 101, 10)]
    curves = {("a", "vocab", 0.1): {"plateau": cal.plateau(flat, 40)},
              ("b", "vocab", 0.1): {"plateau": cal.plateau(slow, 40)},
              ("a", "random", 0.1): {"plateau": cal.plateau(low, 40)},
              ("b", "random", 0.1): {"plateau": cal.plateau(low, 40)}}
    cfg = config_mod.load_profile("cpu")
    out = cal.choose_tuning(curves, grid, cfg)
    assert out["chosen"]["init"] == "vocab"
    latest = curves[("b", "vocab", 0.1)]["plateau"]["step"]
    assert out["tune"]["max_steps"] == min(100, latest + 20)
    assert out["tune"]["warmup_steps"] == out["tune"]["max_steps"] // 10
    assert out["tune"]["max_epochs"] * 10 >= out["tune"]["max_steps"]      # 40 rows / batch 4 = 10 steps an epoch


def test_stability_spread_is_over_three_seeds_of_training_and_validation_rows(calibrated, standin_cache):
    from benchmark import data

    out, _ = calibrated
    st = json.loads((out / "summary.json").read_text())["stability"]
    assert st["seeds"] == STAB_SEEDS and set(st["starts"]) == {"pt", "ppt"}
    assert len(st["curves"]) == STAB_CURVES and sorted(st["groups"]) == ["sst2|ppt", "sst2|pt", "sst5|ppt", "sst5|pt"]
    cfg = config_mod.load_profile("smoke")
    for row in st["table"]:
        assert row["cells"] == 2 * 2 * 3
        for g, v in row["per_group"].items():
            assert len(v["heldout"]) == len(v["kept_step"]) == 3
            assert row["heldout"]["sd"] >= 0
    for key, curve in st["curves"].items():
        task, _, _, _, seed = key.split("|")
        split = data.few_shot_split(data.load(task, source="standin"), n_train=cfg["n_train"], n_val=cfg["n_val"],
                                    seed=int(seed), max_test=cfg["max_test"])
        assert curve["val_ids"] == [str(i) for i in split.val.ids]
        assert curve["train_ids"] == [str(i) for i in split.train.ids]
        assert not set(curve["val_ids"] + curve["train_ids"]) & {str(i) for i in split.test.ids}
        assert [len(c) for c in curve["correct"]] == [len(split.val.ids)] * len(curve["evaluations"])
    # the kept prompt of each replayed setting is a checkpoint of its curve
    for row in st["table"]:
        for v in row["per_group"].values():
            assert all(step % row["eval_every"] == 0 for step in v["kept_step"])


def test_choose_stable_takes_a_planted_stable_setting_over_a_noisier_higher_mean():
    noisy = {"a|pt": [0.95, 0.45, 0.90], "b|pt": [0.80, 0.30, 0.85]}      # mean .708, SD ~ .27
    stable = {"a|pt": [0.72, 0.70, 0.68], "b|pt": [0.62, 0.60, 0.64]}     # mean .66, SD .02
    out = cal.choose_stable({"noisy": noisy, "stable": stable})
    rows = {r["setting"]: r for r in out["table"]}
    assert rows["noisy"]["mean"] > rows["stable"]["mean"]                 # the mean alone picks the noisy one
    assert out["chosen"] == "stable" and out["rule"] == "mean-minus-sd"
    assert rows["stable"]["sd"] == pytest.approx(0.02)
    assert rows["noisy"]["objective"] == pytest.approx(rows["noisy"]["mean"] - rows["noisy"]["sd"])
    # when the noisy setting is also much better, the rule takes it: it is not "the lowest SD"
    better = {g: [x + 0.4 for x in v] for g, v in noisy.items()}
    assert cal.choose_stable({"noisy": better, "stable": stable})["chosen"] == "noisy"


def _curve(accs, every=10, n_val=40, seed=0):
    """A synthetic never-early-stopped curve whose per-row correctness gives those accuracies (the rows
    right at a higher accuracy include those right at a lower one, as a prompt that improves)."""
    order = np.random.default_rng(seed).permutation(n_val)
    correct = []
    for a in accs:
        bits = np.zeros(n_val, dtype=int)
        bits[order[:int(round(a * n_val))]] = 1
        correct.append("".join(map(str, bits)))
    return {"evaluations": [[i * every, sum(c == "1" for c in row) / n_val] for i, row in enumerate(correct)],
            "correct": correct, "n_val": n_val}


def test_stability_table_chooses_the_planted_stable_schedule_from_synthetic_curves():
    grid = cal.Grid(tasks=["a", "b"], stab_seeds=[0, 1, 2], schedules=[[0.03, 60], [0.003, 60]],
                    cadences=[10], patiences=[2], smooths=[1], eval_every=10)
    spiky = {0: [.5, .9, .3, .3, .3, .3, .3], 1: [.5, .3, .3, .4, .3, .3, .3], 2: [.5, .95, .2, .2, .2, .2, .2]}
    steady = {s: [.5, .6, .65, .7, .7, .7, .7] for s in range(3)}
    curves = {}
    for task in ("a", "b"):
        for s in range(3):
            curves[(task, "pt", 0.03, 60, s)] = _curve(spiky[s], seed=s)
            curves[(task, "pt", 0.003, 60, s)] = _curve(steady[s], seed=s + 10)
    out = cal.stability_table(curves, grid, config_mod.load_profile("cpu"))
    rows = {r["lr"]: r for r in out["table"]}
    assert rows[0.03]["kept_val"]["mean"] > rows[0.003]["kept_val"]["mean"]   # the spikes win on the kept val
    assert out["table"][0]["lr"] == 0.003 and out["tune"]["lr"] == 0.003
    assert rows[0.003]["heldout"]["sd"] < rows[0.03]["heldout"]["sd"]
    assert out["tune"]["max_steps"] == 60 and out["tune"]["patience"] == 2 and out["tune"]["eval_every"] == 10


def test_each_start_gets_the_rules_own_choice_where_the_starts_disagree():
    """A planted disagreement: from "pt" the fast rate is steady and the slow one never learns; from
    "ppt" the fast rate spikes and the slow one is steady. The pooled choice is one of them; each
    start's own choice is its steady schedule, scored on that start's groups only."""
    grid = cal.Grid(tasks=["a", "b"], stab_seeds=[0, 1, 2], schedules=[[0.03, 60], [0.003, 60]],
                    cadences=[10], patiences=[10], smooths=[1], eval_every=10)
    spiky = {0: [.5, .9, .3, .3, .3, .3, .3], 1: [.5, .3, .3, .4, .3, .3, .3], 2: [.5, .95, .2, .2, .2, .2, .2]}
    steady = {s: [.5, .6, .65, .7, .7, .7, .7] for s in range(3)}
    flat = {s: [.5] * 7 for s in range(3)}
    curves = {}
    for task in ("a", "b"):
        for s in range(3):
            curves[(task, "pt", 0.03, 60, s)] = _curve(steady[s], seed=s)
            curves[(task, "pt", 0.003, 60, s)] = _curve(flat[s], seed=s)
            curves[(task, "ppt", 0.03, 60, s)] = _curve(spiky[s], seed=s + 10)
            curves[(task, "ppt", 0.003, 60, s)] = _curve(steady[s], seed=s + 10)
    out = cal.stability_table(curves, grid, config_mod.load_profile("cpu"))
    per = out["by_start"]
    assert set(per) == {"pt", "ppt"}
    assert per["pt"]["chosen"].startswith("lr=0.03 ") and per["ppt"]["chosen"].startswith("lr=0.003 ")
    pooled = out["chosen"]
    for start in ("pt", "ppt"):
        b = per[start]
        assert b["objective"] == pytest.approx(b["mean"] - b["sd"])
        if b["chosen"] == pooled:
            assert b["overall"] == {k: b[k] for k in ("mean", "sd", "objective")}
        else:
            assert b["overall"]["objective"] < b["objective"]
    # the per-start figures are of that start's curves only: pt at the fast rate is the steady curve
    row = {r["name"]: r for r in out["table"]}[per["pt"]["chosen"]]
    assert per["pt"]["mean"] == pytest.approx(np.mean([np.mean(v["heldout"]) for g, v in row["per_group"].items()
                                                       if g.endswith("|pt")]))


@pytest.mark.parametrize("smooth", [1, 3])
@pytest.mark.parametrize("patience", [1, 2, 4])
@pytest.mark.parametrize("full_window", [False, True])
@pytest.mark.parametrize("accs", [[0.5, 0.55, 0.7, 0.45, 0.72, 0.6, 0.65, 0.74, 0.5, 0.5, 0.52],
                                  [0.9, 0.5, 0.55, 0.6, 0.62, 0.58, 0.6, 0.61, 0.6, 0.59, 0.6],
                                  [0.3, 0.55, 0.5, 0.425, 0.4, 0.45, 0.45, 0.3, 0.2, 0.3, 0.3]])
def test_replay_is_what_fit_keeps_and_where_it_stops(smooth, patience, full_window, accs):
    import torch

    from benchmark.train import TrainConfig, fit

    w = torch.nn.Parameter(torch.zeros(2))
    it = iter(accs)
    res = fit([w], lambda idx: (w ** 2).sum() + 1.0, lambda: next(it), 8,
              TrainConfig(lr=0.01, warmup_steps=0, batch_size=4, max_epochs=100, max_steps=50, eval_every=5,
                          patience=patience, select_smooth=smooth, full_window=full_window),
              progress=False)
    r = cal.replay(accs, [5 * i for i in range(len(accs))], cadence=5, patience=patience, smooth=smooth,
                   full_window=full_window)
    assert (res.best_step, res.steps) == (r["kept_step"], r["stop_step"])
    assert res.best_score == accs[r["kept"]]


def _fit_on_curve(accs, **tcfg):
    import torch

    from benchmark.train import TrainConfig, fit

    w = torch.nn.Parameter(torch.zeros(2))
    it = iter(accs)
    settings = dict(lr=0.01, warmup_steps=0, batch_size=4, max_epochs=100, max_steps=25, eval_every=5, patience=5)
    return fit([w], lambda idx: (w ** 2).sum() + 1.0, lambda: next(it), 8, TrainConfig(**dict(settings, **tcfg)),
               progress=False)


def test_full_window_never_keeps_the_start_on_its_one_validation():
    """PPT SST-5 seed 1 kept its start on one validation of 0.425 (test 18.6 %, below the majority): with a
    trailing mean of 3, the start competed on its single validation while every later checkpoint was
    judged on three. With ``full_window`` the start's lucky validation only counts inside full windows."""
    lucky_start = [0.425, 0.30, 0.35, 0.40, 0.41, 0.40]        # steps 0, 5, ..., 25
    partial = _fit_on_curve(lucky_start, select_smooth=3)
    assert partial.best_step == 0                             # the old rule: 0.425 beats every 3-mean
    full = _fit_on_curve(lucky_start, select_smooth=3, full_window=True)
    assert full.best_step == 25 and full.best_score == 0.40   # window (0.40, 0.41, 0.40), steps 15-25
    # the window that holds the start can still win: then its latest checkpoint is kept, never step 0
    early = _fit_on_curve([0.9, 0.8, 0.7, 0.2, 0.2, 0.2], select_smooth=3, full_window=True)
    assert early.best_step == 10 and early.best_score == 0.7
    # a budget with fewer validations than the window: the window is all of them
    short = _fit_on_curve([0.9, 0.5], select_smooth=3, full_window=True, max_steps=5)
    assert short.best_step == 5
    from benchmark.train import TrainConfig

    with pytest.raises(Exception, match="tune.full_window = 'yes' is invalid; allowed: true or false"):
        TrainConfig(full_window="yes").validate("tune")


def test_the_replayed_best_pick_keeps_the_best_checkpoint_of_the_winning_window():
    """MetaPT SemEval-r seed 2 (cpu profile, seeds 0-2): its best full window held validations
    0.55 / 0.50 / 0.425 and fit kept the latest, 0.425. The replay's ``best`` pick keeps the window's
    0.55 checkpoint; the pick changes what is kept, never when the run stops."""
    curve = [0.3, 0.55, 0.50, 0.425, 0.40, 0.35, 0.30, 0.30, 0.30]     # steps 0, 5, ..., 40
    steps = [5 * i for i in range(len(curve))]
    rule = dict(cadence=5, patience=3, smooth=3, full_window=True)
    late, best = cal.replay(curve, steps, **rule), cal.replay(curve, steps, pick="best", **rule)
    assert (late["kept_step"], curve[late["kept"]]) == (15, 0.425)
    assert (best["kept_step"], curve[best["kept"]]) == (5, 0.55)
    assert best["stop_step"] == late["stop_step"]


def test_select_smooth_default_keeps_fits_old_choice():
    from benchmark.train import TrainConfig

    assert TrainConfig().select_smooth == 1
    with pytest.raises(Exception, match="tune.select_smooth = 0 is invalid; allowed: an integer >= 1"):
        TrainConfig(select_smooth=0).validate("tune")


def test_stability_table_replays_both_window_picks_only_where_a_window_has_several_checkpoints():
    grid = cal.Grid(tasks=["a"], stab_seeds=[0, 1, 2], schedules=[[0.03, 60]], cadences=[10], patiences=[3],
                    smooths=[1, 3], eval_every=10, picks=["latest", "best"])
    curves = {("a", "pt", 0.03, 60, s): _curve([.5, .55, .7, .45, .72, .6, .65], seed=s) for s in range(3)}
    cfg = config_mod.load_profile("cpu")
    out = cal.stability_table(curves, grid, cfg)
    names = sorted(r["name"] for r in out["table"])
    assert names == ["lr=0.03 steps=60 every=10 patience=3 smooth=1",
                     "lr=0.03 steps=60 every=10 patience=3 smooth=3 pick=best",
                     "lr=0.03 steps=60 every=10 patience=3 smooth=3 pick=latest"]
    rows = {r["name"].split()[-1]: r for r in out["table"]}
    # the profile's full window is replayed: windows of 3 from step 20; the best one is steps 20-40
    # (0.7, 0.45, 0.72 -> 0.623) vs 40-60 (0.72, 0.6, 0.65 -> 0.657): latest keeps 60, best keeps 40
    assert cfg["tune"]["full_window"] is True
    assert rows["pick=latest"]["kept_step"]["mean"] == 60 and rows["pick=best"]["kept_step"]["mean"] == 40
    # the choice is among the rules fit runs (the latest checkpoint of a window): no pick in the fragment
    assert set(out["tune"]) >= {"select_smooth", "full_window"} and "window_pick" not in out["tune"]
    assert "pick=best" not in out["chosen"]


def test_a_bad_window_pick_is_refused_before_any_training():
    from benchmark.errors import UserError

    with pytest.raises(UserError,
                       match="--picks latest,mean is invalid at 'mean'; allowed: one or more of latest, best"):
        cal.grid.check_stability(cal.Grid(picks=["latest", "mean"]))


def test_a_stability_point_stored_under_the_older_key_form_is_reused_only_for_the_same_split(tmp_path):
    from benchmark.calibrate.curves import Points, split_digest, stability_key, stability_same
    from benchmark.io import write_json

    base = {"backbone": "b", "prompt_tokens": 20, "max_length": 64, "bf16": True, "n_train": 40, "n_val": 40,
            "data_source": "standin", "seeds": [0, 1]}
    tune = {"batch_size": 4, "eval_batch_size": 64, "eval_every": 10, "lr": 0.03, "patience": 3,
            "weight_decay": 0.01, "max_steps": 100}
    point = dict(start="pt", start_prompt="init vocab", task="sst5", lr=0.03, steps=100, eval_every=10, seed=1)
    old = dict(base, point="stability", tune=tune, **point)            # how earlier calibrations keyed it
    (tmp_path / "points").mkdir()
    result = {"evaluations": [[0, 0.5]], "train_ids": ["1", "2"], "val_ids": ["3"]}
    write_json(tmp_path / "points" / "p.json", {"key": old, "result": result}, checksum=True)
    points = Points(tmp_path, lambda text: None)
    # the profile's seeds and its selection settings changed since: the curve depends on neither
    now = dict(base, seeds=[0, 1, 2, 3, 4])
    new_tune = dict(tune, eval_every=20, patience=5, select_smooth=3, full_window=True)
    key = stability_key(now, new_tune, split_digest(["1", "2"], ["3"]), **point)
    got = points.get("p", key, lambda: pytest.fail("recomputed a stored curve"), same=stability_same)
    assert got["evaluations"] == [[0, 0.5]] and points.done == 1
    other_split = stability_key(now, new_tune, split_digest(["1", "9"], ["3"]), **point)
    assert points.get("p", other_split, lambda: {"evaluations": []}, same=stability_same)["evaluations"] == []
    assert points.run == 1
    other_batch = stability_key(now, dict(new_tune, batch_size=8), split_digest(["1", "2"], ["3"]), **point)
    assert stability_same(old, {"train_ids": ["1", "2"], "val_ids": ["3"]}) != other_batch


def test_a_stability_curve_with_a_moving_average_has_its_own_key_and_the_others_keep_theirs():
    """The retired tune.ema changed the curve: a stored curve made with it keeps it in its key and is
    never reused for one without (and the reverse), while ema 0 (off) keys as the plain curves."""
    from benchmark.calibrate.curves import split_digest, stability_key

    base = {"backbone": "b", "prompt_tokens": 20, "max_length": 64, "bf16": True, "n_train": 40, "n_val": 40,
            "data_source": "standin", "seeds": [0, 1]}
    tune = {"batch_size": 4, "eval_batch_size": 64, "weight_decay": 0.01}
    point = dict(start="pt", task="sst5", lr=0.03, steps=100, eval_every=10, seed=1)
    split = split_digest(["1", "2"], ["3"])
    plain = stability_key(base, tune, split, **point)
    assert stability_key(base, dict(tune, ema=0.0), split, **point) == plain
    assert "ema" not in plain["tune"]
    with_ema = stability_key(base, dict(tune, ema=0.9), split, **point)
    assert with_ema != plain and with_ema["tune"]["ema"] == 0.9
    assert stability_key(base, dict(tune, ema=0.8), split, **point) != with_ema
