"""The one tuning loop (early stopping, best-state restore, schedule) and the soft prompt itself."""
from __future__ import annotations

import pytest
import torch

from benchmark.errors import UserError
from benchmark.prompt import SoftPrompt, load_prompt, save_prompt
from benchmark.scoring import Scorer, metrics
from benchmark.train import TrainConfig, fit


def test_fit_stops_on_a_plateau_and_restores_the_best_state():
    w = torch.nn.Parameter(torch.zeros(1))
    scores = iter([0.1, 0.5, 0.9, 0.4, 0.3, 0.2, 0.95, 0.99])   # best after step 2, then 3 worse
    seen_at_best = []

    def eval_fn():
        score = next(scores)
        seen_at_best.append((score, w.item()))
        return score

    cfg = TrainConfig(lr=0.1, warmup_steps=0, batch_size=1, max_epochs=100, patience=3, eval_every=1)
    res = fit([w], lambda idx: (w - 10.0).pow(2).sum(), eval_fn, n_rows=1, cfg=cfg, progress=False)
    assert res.stopped_early and res.steps == 5 and res.best_step == 2
    assert res.best_score == pytest.approx(0.9)
    best_w = dict(seen_at_best)[0.9]
    assert w.item() == pytest.approx(best_w) and best_w != pytest.approx(seen_at_best[-1][1])


def test_fit_linear_warmup_reaches_the_peak_then_decays():
    w = torch.nn.Parameter(torch.zeros(3))
    lrs = []
    cfg = TrainConfig(lr=0.01, warmup_steps=4, batch_size=1, max_epochs=10, patience=100)

    def loss_fn(idx):
        return w.sum()

    import benchmark.train as train_mod
    orig = train_mod.linear_warmup

    def spy(opt, warmup, total):
        sched = orig(opt, warmup, total)
        step = sched.step

        def logged():
            step()
            lrs.append(opt.param_groups[0]["lr"])
        sched.step = logged
        return sched

    train_mod.linear_warmup = spy
    try:
        fit([w], loss_fn, lambda: 0.0, n_rows=1, cfg=cfg, progress=False)
    finally:
        train_mod.linear_warmup = orig
    assert lrs[3] == pytest.approx(0.01)                 # peak at the end of warm-up
    assert lrs[0] == pytest.approx(0.0025) and lrs[-1] == pytest.approx(0.0)


def test_fit_refuses_a_nan_loss():
    w = torch.nn.Parameter(torch.zeros(1))
    with pytest.raises(FloatingPointError, match="loss is nan"):
        fit([w], lambda idx: w.sum() * float("nan"), lambda: 0.0, n_rows=4, cfg=TrainConfig(), progress=False)


def test_metrics_by_hand():
    m = metrics([0, 0, 1, 1, 2], [0, 1, 1, 1, 0], ["bad", "maybe", "good"])
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["recall"] == {"bad": 0.5, "maybe": 1.0, "good": 0.0}
    # F1 per class: bad 0.5, maybe 0.8, good 0 -> macro 0.4333
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)


def test_scorer_loss_is_the_label_word_log_likelihood(tiny_decoder):
    scorer = Scorer(tiny_decoder, ["bad", "good"], max_length=16)
    prompt = SoftPrompt(2, tiny_decoder.embed_dim, seed=0)
    texts = ["a good film", "a bad film"]
    logits = tiny_decoder.slot_logits(tiny_decoder.encode(texts, 16), prompt())
    ids = tiny_decoder.label_token_ids(["bad", "good"])
    want = -(torch.log_softmax(logits, -1)[0, ids[1]] + torch.log_softmax(logits, -1)[1, ids[0]]) / 2
    torch.testing.assert_close(scorer.loss(texts, [1, 0], prompt()), want)
    preds = scorer.predict(texts, prompt())
    assert list(preds) == list(logits[:, ids].argmax(-1).numpy())


def test_prompt_inits_and_save_load_roundtrip(tmp_path, tiny_decoder):
    emb = tiny_decoder.input_embeddings().weight
    a, b = SoftPrompt(4, emb.shape[1], seed=1), SoftPrompt(4, emb.shape[1], seed=1)
    torch.testing.assert_close(a.weight, b.weight)
    assert a.weight.abs().max() <= 0.5
    vocab = SoftPrompt(4, emb.shape[1], init="vocab", embeddings=emb, seed=0)
    assert all(any(torch.equal(row, e) for e in emb) for row in vocab.weight.detach())
    path = save_prompt(tmp_path / "p.safetensors", a.weight, {"method": "pt", "backbone": "tiny-decoder"})
    weight, meta = load_prompt(path)
    torch.testing.assert_close(weight, a.weight.detach())
    assert meta == {"method": "pt", "backbone": "tiny-decoder"}
    loaded = SoftPrompt(4, emb.shape[1], init="file", path=path)
    torch.testing.assert_close(loaded.weight, a.weight)
    assert path.stat().st_size < 64 * 1024
    with pytest.raises(UserError, match="expected"):
        SoftPrompt(5, emb.shape[1], init="file", path=path)


def test_prompt_bad_inputs(tmp_path):
    with pytest.raises(UserError, match="prompt length"):
        SoftPrompt(0, 8)
    with pytest.raises(UserError, match="unknown prompt init"):
        SoftPrompt(2, 8, init="zeros")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a prompt")
    with pytest.raises(UserError, match="not a readable"):
        load_prompt(bad)
    with pytest.raises(UserError, match="does not exist"):
        load_prompt(tmp_path / "missing.safetensors")


def test_manifest_keeps_one_entry_per_cell_place(tmp_path):
    from benchmark import config, runner

    cfg = config.apply_overrides(config.load_profile("smoke"), [])
    old = runner.expand("sentiment7", cfg, tasks=["sst2"], methods=["pt"])
    runner.write_manifest(tmp_path, "sentiment7", old, cfg)
    newer = config.apply_overrides(cfg, ["tune.max_epochs=4"])
    new = runner.expand("sentiment7", newer, tasks=["sst2"], methods=["pt"])
    other = runner.expand("sentiment7", newer, tasks=["sst5"], methods=["pt"])
    runner.write_manifest(tmp_path, "sentiment7", new, newer)
    runner.write_manifest(tmp_path, "sentiment7", other, newer)
    import json
    keys = {e["key"] for e in json.loads((tmp_path / "manifest.json").read_text())["cells"]}
    assert keys == {c.key for c in new + other}
    assert not keys & {c.key for c in old}


@pytest.mark.parametrize("select_initial", [True, False])
def test_fit_never_returns_the_untrained_state_when_told_not_to(select_initial):
    """Pre-training (PPT) passes select_initial=False: the step-0 score is recorded, but the result
    is the best *trained* state even when the untrained one scored higher."""
    w = torch.nn.Parameter(torch.zeros(1))
    scores = iter([0.9, 0.2, 0.6, 0.4, 0.3, 0.1])    # untrained 0.9; best trained at step 2
    at = {}

    def eval_fn():
        score = next(scores)
        at[score] = w.item()
        return score

    cfg = TrainConfig(lr=0.1, warmup_steps=0, batch_size=1, max_epochs=100, patience=3, eval_every=1)
    res = fit([w], lambda idx: (w - 10.0).pow(2).sum(), eval_fn, n_rows=1, cfg=cfg, progress=False,
              select_initial=select_initial)
    assert res.evaluations[0] == (0, 0.9)
    if select_initial:
        assert res.best_step == 0 and w.item() == 0.0
    else:
        assert res.best_step == 2 and res.best_score == pytest.approx(0.6)
        assert w.item() == pytest.approx(at[0.6]) and w.item() != 0.0


def test_a_method_version_changes_only_its_own_cell_keys():
    """Version 1 keeps the key it had before versions existed; a bumped version gives new keys, so
    cells made by the old behaviour are never taken for the new one."""
    from benchmark import config, runner
    from benchmark.io import config_hash

    cfg = config.apply_overrides(config.load_profile("smoke"), [])
    cells = {c.method: c for c in runner.expand("sentiment7", cfg, tasks=["sst2"])}
    ft, ppt = cells["ft"], cells["ppt"]
    assert ft.method_version == 1 and ppt.method_version == 2
    keyed = dict(ft.config, test_rows="fixed")      # the retired setting at the value every cell had
    keyed.pop("tune_group")                         # never in a key: a grouped cell's key names its group
    if keyed.get("few_shot") == "balanced":         # the draw every cell made before the setting used
        keyed.pop("few_shot")
    # FT reads no pre-training draw: its key leaves pretrain.draw out, as before the setting existed
    ft_keyed = dict(keyed, pretrain={k: v for k, v in keyed["pretrain"].items() if k != "draw"})
    legacy = {"method": ft.method, "task": ft.task, "seed": ft.seed, "config": ft_keyed, "format": 1}
    assert ft.key == config_hash(legacy)
    legacy_ppt = {"method": ppt.method, "task": ppt.task, "seed": ppt.seed, "config": dict(keyed), "format": 1}
    assert ppt.key != config_hash(legacy_ppt)
    assert ppt.key == config_hash(dict(legacy_ppt, method_version=2))


def test_override_reaches_a_setting_whose_name_holds_a_dot():
    """axis_limits keys are dotted setting names ('pretrain.k'); --set axis_limits.pretrain.k=10 sets
    that key, and a wrong one is refused naming the valid keys."""
    from benchmark import config

    cfg = config.apply_overrides(config.load_profile("cpu"), ["axis_limits.pretrain.k=10", "pretrain.k=6"])
    assert cfg["axis_limits"]["pretrain.k"] == 10 and cfg["pretrain"]["k"] == 6
    with pytest.raises(UserError) as err:
        config.apply_overrides(config.load_profile("cpu"), ["axis_limits.pretrain.q=10"])
    assert "unknown setting 'pretrain' in override (axis_limits)" in str(err.value)
    assert "valid settings: n_train, pretrain.k, pretrain.rows" in str(err.value)


def test_a_cell_made_without_a_version_takes_the_registry_one():
    """Executors rebuild cells from plain fields; they must get the same key as the runner's."""
    from benchmark import config, runner

    cfg = config.apply_overrides(config.load_profile("smoke"), [])
    for cell in runner.expand("sentiment7", cfg, tasks=["sst2"]):
        rebuilt = runner.Cell(cell.suite, cell.method, cell.task, cell.seed, cell.point, cell.config)
        assert rebuilt.method_version == cell.method_version and rebuilt.key == cell.key


def _dry_run_keys(capsys, *args) -> dict:
    from benchmark import cli

    assert cli.main(["run", "--profile", "smoke", "--dry-run", "--no-progress", *args]) == 0
    keys = {}
    for line in capsys.readouterr().out.splitlines():
        state, key, where = line.split()
        keys[where] = key
    return keys


@pytest.mark.parametrize("run_args", [["--seeds", "0"], ["--seeds", "0,1,2"], ["--set", "seeds=[1]"]])
def test_choosing_seeds_reuses_the_cells_of_a_default_run(capsys, run_args):
    """Which seeds a run has never changes what a seed's cell computes: `--seeds` keeps the keys of
    the cells a default run made, so adding a seed (or running one) redoes nothing already done."""
    default = _dry_run_keys(capsys, "--suite", "sentiment7", "--tasks", "sst2", "--methods", "ft,pt")
    chosen = _dry_run_keys(capsys, "--suite", "sentiment7", "--tasks", "sst2", "--methods", "ft,pt", *run_args)
    shared = set(default) & set(chosen)
    assert shared and all(default[c] == chosen[c] for c in shared)
    assert set(chosen) - set(default) == ({"ft/sst2/seed2", "pt/sst2/seed2"} if "0,1,2" in run_args else set())


def test_a_narrower_axis_reuses_its_points_and_records_what_the_run_chose(capsys):
    from benchmark import config, runner

    default = _dry_run_keys(capsys, "--suite", "clusters")
    narrow = _dry_run_keys(capsys, "--suite", "clusters", "--set", "axis_limits.pretrain.k=3")
    assert narrow and set(narrow) < set(default) and all(default[c] == narrow[c] for c in narrow)
    # a setting a cell does compute with still changes its key
    other = _dry_run_keys(capsys, "--suite", "clusters", "--set", "maml.inner_lr=0.5")
    assert not set(other.values()) & set(default.values())
    # the run-scope values the run used go with the cell, outside its key
    cfg = config.apply_overrides(config.load_profile("smoke"), ["seeds=[3]"])
    base = config.apply_overrides(config.load_profile("smoke"), [])
    cells = runner.expand("sentiment7", config.cell_settings(cfg, base), tasks=["sst2"], methods=["ft"], plan=cfg)
    assert [c.seed for c in cells] == [3] and cells[0].run == {"seeds": [3]}
    assert cells[0].config["seeds"] == base["seeds"]


def test_adamw_is_fused_on_cpu_and_makes_the_for_each_update():
    """fit's AdamW uses torch's fused kernel where it exists (it does for float32 CPU tensors in the pinned
    torch), and its update is the for-each AdamW's up to float rounding, over several steps."""
    from benchmark.train import TrainConfig, adamw

    torch.manual_seed(0)
    start = torch.randn(64, 16)
    grads = [torch.randn(64, 16) for _ in range(5)]
    out = []
    for make in (lambda p: adamw([p], TrainConfig(lr=0.03, weight_decay=0.01)),
                 lambda p: torch.optim.AdamW([p], lr=0.03, weight_decay=0.01)):
        p = torch.nn.Parameter(start.clone())
        opt = make(p)
        for g in grads:
            p.grad = g.clone()
            opt.step()
        out.append((opt.defaults.get("fused"), p.detach()))
    assert out[0][0] is True and not out[1][0]
    assert not torch.equal(out[0][1], start)
    torch.testing.assert_close(out[0][1], out[1][1], atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("setting", ["tune.ema=0.9", "tune.window_pick=best", "test_rows=per-seed"])
def test_retired_experiment_settings_are_refused(setting):
    """Settings of retired experiments name no setting any more: --set refuses them as unknown."""
    from benchmark import config

    with pytest.raises(UserError, match="unknown setting"):
        config.apply_overrides(config.load_profile("smoke"), [setting])


def test_the_compute_axis_at_1x_reuses_the_plain_runs_cells_and_4x_does_not(capsys):
    """pretrain.compute = 1 is the profile's own budget: meta-compute's 1x cells are sentiment7's SST-5
    cells of the same seeds (done once, paired exactly), while 4x cells are other computations."""
    plain = _dry_run_keys(capsys, "--suite", "sentiment7", "--tasks", "sst5", "--methods", "metapt,ppt",
                          "--seeds", "0,1,2")
    axis = _dry_run_keys(capsys, "--suite", "meta-compute")
    for where, key in plain.items():
        assert axis[f"{where}/pretrain.compute=1"] == key
        assert axis[f"{where}/pretrain.compute=4"] != key
