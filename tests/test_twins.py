"""Twin stability curves (benchmark/calibrate/twins.py, `agree --curves`): flips per validation,
each twin's kept checkpoint, and the arithmetic SD, by hand on SYNTHETIC curves (made-up rows)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from benchmark import cli
from benchmark.calibrate import twins
from benchmark.errors import UserError
from benchmark.io import write_json

RULE = {"cadence": 10, "patience": 5, "smooth": 1, "full_window": False, "pick": "latest"}


def curve(rows: list[str]) -> dict:
    """A stability curve validated at steps 0, 10, 20 ... with ``rows`` the right/wrong string per validation."""
    return {"evaluations": [[10 * i, r.count("1") / len(r)] for i, r in enumerate(rows)], "correct": rows}


def key(seed, task="sst5", **extra):
    return dict(point="stability", start="pt", task=task, lr=0.03, steps=20, seed=seed, **extra)


def folder(root, curves: dict):
    (root / "points").mkdir(parents=True)
    for name, (k, c) in curves.items():
        write_json(root / "points" / f"{name}.json", {"key": k, "result": c}, checksum=True)
    return root


def test_flips_and_kept_checkpoints_by_hand():
    a = curve(["1100", "1110", "1000"])
    b = curve(["1100", "0111", "1001"])
    row = twins.compare_pair(a, b, RULE)
    assert row["flips"] == [0.0, 0.5, 0.25]                    # rows 0 and 3 at step 10; row 3 at step 20
    assert row["first_flip_step"] == 10 and row["flips_last"] == 0.25 and row["flips_mean"] == pytest.approx(0.375)
    assert row["last_acc"] == [0.25, 0.5]
    assert row["kept_step"] == [10, 10]                        # the best raw validation (0.75 in both)
    same = twins.compare_pair(a, a, RULE)
    assert same["first_flip_step"] is None and same["flips_mean"] == 0.0


def test_arithmetic_sd_and_pairing_by_key(tmp_path):
    """Held-out accuracy: rows 0, 2 choose a checkpoint (ties: the earlier), rows 1, 3 score it, and
    the reverse, averaged. Seed 0, first twin: rows 0, 2 tie (1.0, 1.0) and keep step 0, where rows
    1, 3 score 0; rows 1, 3 keep step 10, where rows 0, 2 score 1: 0.5. Second twin: 0 and 0: 0.
    d = 0.5 there and 0 at seed 1: arithmetic SD sqrt((0.25 + 0) / 2 / 2). A curve of another split
    is not compared."""
    a = folder(tmp_path / "a", {"stab-pt-sst5-s0": (key(0), curve(["1010", "1111"])),
                                "stab-pt-sst5-s1": (key(1), curve(["0000", "1010"])),
                                "stab-pt-sst5-s2": (key(2, split="x"), curve(["1111", "1111"])),
                                "stab-pt-sst2-s0": (key(0, task="sst2"), curve(["11", "11"]))})
    b = folder(tmp_path / "b", {"stab-pt-sst5-s0": (key(0), curve(["1010", "0101"])),
                                "stab-pt-sst5-s1": (key(1), curve(["0000", "1010"])),
                                "stab-pt-sst5-s2": (key(2, split="y"), curve(["1111", "0000"]))})
    res = twins.compare_folders(a, b, RULE)
    assert [p["name"] for p in res["pairs"]] == ["stab-pt-sst5-s0", "stab-pt-sst5-s1"]
    assert res["other_keys"] == ["stab-pt-sst5-s2"] and res["only_first"] == ["stab-pt-sst2-s0"]
    held = [p["heldout"] for p in res["pairs"]]
    assert held[0] == [0.5, 0.0] and held[1][0] == held[1][1]
    s = res["summary"]
    assert s["arithmetic_sd_heldout"] == pytest.approx(math.sqrt((0.25 + 0.0) / 2 / 2))
    assert s["identical"] == 1 and s["pairs"] == 2
    md = twins.render(res, "a", "b", {"ATEN_CPU_CAPABILITY": "avx2"})
    assert "ATEN_CPU_CAPABILITY=avx2" in md and "not comparable (other keys): stab-pt-sst5-s2" in md


def test_agree_curves_from_the_command_line(tmp_path, capsys):
    a = folder(tmp_path / "a", {"stab-pt-sst5-s0": (key(0), curve(["1010", "1111"]))})
    b = folder(tmp_path / "b", {"stab-pt-sst5-s0": (key(0), curve(["1010", "1110"]))})
    assert cli.main(["agree", "--curves", str(a), "--against", str(b), "--profile", "cpu"]) == 0
    assert "**1 pairs.**" in capsys.readouterr().out and (b / "twins.md").exists() and (b / "twins.json").exists()
    with pytest.raises(UserError, match="no points/ folder"):
        twins.compare_folders(tmp_path / "a", tmp_path, RULE)
    with pytest.raises(UserError, match="share no stability curve"):
        twins.compare_folders(a, folder(tmp_path / "c", {"stab-pt-sst2-s9": (key(9), curve(["1"]))}), RULE)


def test_the_replayed_rule_is_what_fit_runs_for_the_profile():
    from benchmark import config

    assert twins.rule_of(config.load_profile("cpu")["tune"]) == {
        "cadence": 20, "patience": 5, "smooth": 3, "full_window": True, "pick": "latest"}
    assert twins.rule_of({"eval_every": 10})["smooth"] == 1          # TrainConfig's default, not a copy of it
    with pytest.raises(UserError, match="tune.eval_every is not set"):
        twins.rule_of(config.load_profile("paper")["tune"])         # once an epoch: no step cadence to replay


def _chaos_probe():
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "tools" / "chaos_probe.py"
    spec = importlib.util.spec_from_file_location("chaos_probe", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_chaos_probe_finds_no_gap_between_equal_starts_and_a_gap_between_unequal_ones(standin_cache):
    """tools/chaos_probe.py: twins from the same start (eps 0) must end equal, prompts and predictions
    (the second twin reruns with the same seed and batch order); a start perturbed by 10 % must not."""
    from benchmark import config as config_mod
    from benchmark.context import Context

    probe = _chaos_probe()
    cfg = config_mod.apply_overrides(config_mod.load_profile("smoke"),
                                     ["tune.max_steps=6", "tune.eval_every=3", "bf16=false"])
    ctx = Context(cfg, progress=False)
    same = probe.twin(ctx, "sst2", 0, eps=0.0)
    assert [p["step"] for p in same["points"]] == [0, 3, 6]
    assert all(p["d"] == 0.0 and p["flip"] == 0.0 for p in same["points"])
    apart = probe.twin(ctx, "sst2", 0, eps=0.1)
    assert apart["points"][-1]["d"] > 0.0


def test_stability_curve_hands_each_validation_to_on_eval_and_takes_a_given_warm_up(standin_cache, monkeypatch):
    """The probe's hook: one call per validation, the start's prompt first, predictions that give the
    curve's own per-row correctness; and ``warmup_steps`` reaches ``fit`` (10 % of the steps otherwise)."""
    import benchmark.train as train_mod
    from benchmark import config as config_mod
    from benchmark.calibrate.curves import stability_curve
    from benchmark.context import Context
    from benchmark.prompt import make_prompt

    cfg = config_mod.apply_overrides(config_mod.load_profile("smoke"), ["bf16=false"])
    ctx = Context(cfg, progress=False)
    spec, split = ctx.split("sst2", 0)
    init = make_prompt(ctx.backbone(), cfg, 0, spec.label_words)().detach().clone()
    seen, warmups, real_fit = [], [], train_mod.fit

    def spy_fit(params, loss_fn, val_fn, n, tcfg, **kw):
        warmups.append(tcfg.warmup_steps)
        return real_fit(params, loss_fn, val_fn, n, tcfg, **kw)

    monkeypatch.setattr(train_mod, "fit", spy_fit)
    curve = stability_curve(ctx, "sst2", "pt", init.clone(), lr=0.03, steps=4, eval_every=2, seed=0,
                            warmup_steps=3, on_eval=lambda x, pred: seen.append((x, pred)))
    assert [s for s, _ in curve["evaluations"]] == [0, 2, 4] and len(seen) == 3
    assert torch.equal(seen[0][0], init) and not torch.equal(seen[-1][0], init)
    labels = np.asarray(split.val.labels)
    assert ["".join("1" if ok else "0" for ok in pred == labels) for _, pred in seen] == curve["correct"]
    stability_curve(ctx, "sst2", "pt", init.clone(), lr=0.03, steps=20, eval_every=20, seed=0)
    assert warmups == [3, 2]
