"""`python -m benchmark calibrate` on the smoke profile (tiny random backbone): outputs, resume,
bad input, and that no test row is ever read."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from benchmark import calibrate as cal
from benchmark import cli
from benchmark import config as config_mod

ARGS = ["calibrate", "--profile", "smoke", "--tasks", "sst2,sst5", "--inits", "vocab,normal", "--lrs", "0.03,0.3",
        "--steps", "6", "--eval-every", "3", "--alphas", "0.08,0.3", "--betas", "0.01,0.05", "--maml-steps", "2",
        "--maml-eval-every", "1", "--pretrain-data", "labelled", "--no-progress"]


@pytest.fixture(scope="module")
def calibrated(standin_cache, tmp_path_factory):
    """One calibration, with every text that reached the backbone's scorer recorded."""
    from benchmark.train import Scorer

    out = tmp_path_factory.mktemp("cal") / "out"
    seen: set = set()
    mp = pytest.MonkeyPatch()
    orig_losses, orig_predict = Scorer.losses, Scorer.predict
    mp.setattr(Scorer, "losses", lambda self, texts, *a, **k: (seen.update(texts), orig_losses(self, texts, *a, **k))[1])
    mp.setattr(Scorer, "predict", lambda self, texts, *a, **k: (seen.update(texts), orig_predict(self, texts, *a, **k))[1])
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
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["curves"]) == 2 * 2 * 2 and summary["points_run"] == 8 + 1 + 2 + 1
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
    assert cfg["prompt_init"] == chosen["init"] and cfg["tune"]["lr"] == chosen["lr"]
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
    # sst2 and sst5 stand in from the same snippets: one task's training rows may be the other's test rows
    used = {t for s in splits.values() for t in [*s.train.texts, *s.val.texts]}
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
    curves = {("a", "vocab", 0.1): {"plateau": cal.plateau(flat, 40)}, ("b", "vocab", 0.1): {"plateau": cal.plateau(slow, 40)},
              ("a", "random", 0.1): {"plateau": cal.plateau(low, 40)}, ("b", "random", 0.1): {"plateau": cal.plateau(low, 40)}}
    cfg = config_mod.load_profile("cpu")
    out = cal.choose_tuning(curves, grid, cfg)
    assert out["chosen"]["init"] == "vocab"
    latest = curves[("b", "vocab", 0.1)]["plateau"]["step"]
    assert out["tune"]["max_steps"] == min(100, latest + 20) and out["tune"]["warmup_steps"] == out["tune"]["max_steps"] // 10
    assert out["tune"]["max_epochs"] * 10 >= out["tune"]["max_steps"]      # 40 rows / batch 4 = 10 steps an epoch
