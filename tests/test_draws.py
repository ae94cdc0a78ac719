"""Pre-training draws (``pretrain.draw``): which artefact a cell tunes from, the keys, the plan's count,
PPT's draws built together in one prompt bank, and a results folder holding both protocols.

Under ``per-seed`` seed s tunes from the artefact drawn with seed s; an integer draw is one artefact
shared by every seed; absent (or null) is the protocol every cell made before the setting used, with
the keys those cells and artefacts had."""
from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
import torch

from baselines import get_method
from baselines.base import Method
from benchmark import backbones, config, run_plan, runner
from benchmark.context import Context
from benchmark.io import config_hash, write_json
from benchmark.prompt import load_prompt
from test_bank import LABELS, TEXTS

PROMPT_METHODS = ["ppt", "metapt", "metapt_y"]


def smoke(draw="absent") -> dict:
    cfg = config.load_profile("smoke")
    if draw == "absent":
        cfg["pretrain"].pop("draw", None)
    else:
        cfg["pretrain"]["draw"] = draw
    config.validate(cfg)
    return cfg


def stored(cfg, method: str, seed: int, artifacts_dir) -> dict:
    ctx = Context(cfg, progress=False, artifacts_dir=artifacts_dir).for_seed(seed)
    return get_method(method).stored_key(ctx)


@pytest.mark.parametrize("method", PROMPT_METHODS)
def test_without_a_draw_the_keys_are_those_of_cells_made_before_the_setting(method, tmp_path):
    """Absent and null give one artefact per configuration, keyed exactly as before (no ``draw``), and
    the same cell keys: ``tests/test_keys.py`` holds those against the recorded list."""
    absent, null = smoke(), smoke(None)
    for seed in (0, 1, 4):
        key = stored(absent, method, seed, tmp_path)
        assert "draw" not in key and "draw" not in json.dumps(key.get("pretrain", {}))
        assert key == get_method(method).artifact_key(Context(absent, artifacts_dir=tmp_path))
        assert config_hash(key) == config_hash(stored(null, method, seed, tmp_path))
    cells = [runner.Cell("sentiment7", method, "sst2", 1, {}, c) for c in (absent, null)]
    assert cells[0].key == cells[1].key


@pytest.mark.parametrize("method", PROMPT_METHODS)
def test_per_seed_cells_tune_from_artefacts_whose_keys_differ_only_by_draw(method, tmp_path):
    cfg = smoke("per-seed")
    k0, k1, k2 = (stored(cfg, method, s, tmp_path) for s in (0, 1, 2))
    assert "draw" not in k0 and (k1["draw"], k2["draw"]) == (1, 2)   # draw 0 is pretrain.seed's: the old key
    assert k0 == {k: v for k, v in k1.items() if k != "draw"} == {k: v for k, v in k2.items() if k != "draw"}
    assert len({config_hash(k) for k in (k0, k1, k2)}) == 3
    # the shared inputs stay shared: the pre-training data's key names pretrain.seed, not the draw
    data = k0.get("data_key") or k0.get("data")
    assert data["seed"] == cfg["pretrain"]["seed"] == 0


def test_an_integer_draw_is_one_artefact_for_every_seed(tmp_path):
    cfg = smoke(3)
    keys = {config_hash(stored(cfg, "ppt", seed, tmp_path)) for seed in range(5)}
    assert len(keys) == 1 and stored(cfg, "ppt", 0, tmp_path)["draw"] == 3


class DrawRecorder(Method):
    """A prompt artefact that records the draw it was built for: which artefact each seed reads."""
    name = "draw_recorder"
    title = "records its draw"
    artifact_kind = "draw-recorder"

    def artifact_key(self, ctx):
        return {"method": self.name}

    def build_artifact(self, ctx, out_dir):
        (out_dir / "draw.txt").write_text(str(ctx.draw_seed))
        return {"files": ["draw.txt"], "report": {"draw": ctx.draw_seed}}


@pytest.mark.parametrize("draw,want", [("per-seed", [0, 1, 2]), (7, [7, 7, 7]), ("absent", [0, 0, 0])])
def test_each_seed_reads_the_artefact_of_its_draw(draw, want, tmp_path):
    """``ctx.prepared(method, seed)`` and a cell's drawn context build and read the draw's own artefact,
    for a method that knows nothing of draws (a user's plug-in): the draw is added to its key."""
    method = DrawRecorder()
    ctx = Context(smoke(draw), progress=False, artifacts_dir=tmp_path)
    got = [ctx.prepared(method, seed)["report"]["draw"] for seed in range(3)]
    assert got == want
    assert [ctx.for_seed(s).prepared(method)["report"]["draw"] for s in range(3)] == want
    assert len(list((tmp_path / "draw-recorder").iterdir())) == len(set(want))


def test_the_plan_counts_one_artefact_per_draw(tmp_path):
    def plan(draw):
        cfg = smoke(draw)
        cfg["seeds"] = [0, 1, 2]
        cells = runner.expand("sentiment7", cfg, tasks=["sst2", "sst5"], methods=["ppt", "metapt"])
        return run_plan.make(cells, tmp_path / "results", cfg, artifacts_dir=tmp_path / "artifacts")

    kinds = lambda p: [kind for kind, _ in p.to_build]  # noqa: E731
    per_seed, shared = plan("per-seed"), plan("absent")
    assert sorted(kinds(per_seed)) == ["metapt-prompt"] * 3 + ["ppt-prompt"] * 3 + ["pseudo-labels"]
    assert sorted(kinds(shared)) == ["metapt-prompt", "ppt-prompt", "pseudo-labels"]
    assert {s.name: s.count for s in per_seed.stages if s.what == "artefact"} == \
        {"pseudo-labels": 1, "ppt-prompt": 3, "metapt-prompt": 3}
    assert "ppt-prompt x3" in per_seed.render()


def test_the_plan_counts_every_draw_of_a_block_once(tmp_path, monkeypatch):
    """Under ``draw_block: 2`` seeds 0-2 need draws 0-2, and the blocks [0, 1] and [2, 3] are built: four
    prompts per method, each once, the blocks named; a block already built is read, not counted."""
    cfg = smoke("per-seed")
    cfg["pretrain"]["draw_block"] = 2
    cfg["seeds"] = [0, 1, 2]
    cells = runner.expand("sentiment7", cfg, tasks=["sst2", "sst5"], methods=["ppt", "metapt"])
    plan = run_plan.make(cells, tmp_path / "results", cfg, artifacts_dir=tmp_path / "artifacts")
    assert {s.name: s.count for s in plan.stages if s.what == "artefact"} == \
        {"pseudo-labels": 1, "ppt-prompt": 4, "metapt-prompt": 4}
    assert len(set(plan.to_build)) == len(plan.to_build) == 9
    assert {s.blocks for s in plan.stages if s.what == "artefact" and s.name != "pseudo-labels"} == \
        {"2 blocks of 2 draws built together (draws 0-1, 2-3), each draw costed as a build alone"}
    ctx = Context(cfg, artifacts_dir=tmp_path / "artifacts")
    for draw in (0, 1):
        folder = ctx.artifact_folder("ppt-prompt", get_method("ppt").stored_key(ctx.drawn(draw)))
        folder.mkdir(parents=True)
        (folder / "artifact.json").write_text("{}")
    monkeypatch.setattr(run_plan, "_defaults", lambda cfg: {"artifacts": {"ppt-prompt": 100}})
    plan = run_plan.make(cells, tmp_path / "results", cfg, artifacts_dir=tmp_path / "artifacts")
    assert {s.name: s.count for s in plan.stages if s.what == "artefact"}["ppt-prompt"] == 2
    assert sum(kind == "ppt-prompt" for kind, _ in plan.cached) == 2
    [row] = [line for line in plan.render().splitlines() if "artefact ppt-prompt" in line]
    assert row.split()[2:4] == ["2", "100"] and "; 1 block of 2 draws built together (draws 2-3)" in row


# -- PPT's draws in one bank ---------------------------------------------------------------------

class TinyContext(Context):
    """A context whose pre-training rows and backbone are tiny and built here: a float64 tiny T5 (the
    tiny decoder's RMSNorm rounds to float32; see tests/test_bank.py) and 20 labelled rows."""
    BACKBONE = None

    def backbone(self):
        if TinyContext.BACKBONE is None:
            TinyContext.BACKBONE = backbones.load("tiny-t5", dtype=torch.float64)
        return TinyContext.BACKBONE

    def pseudo_labelled(self):
        return {"texts": list(TEXTS), "labels": list(LABELS), "report": {"rows": len(TEXTS)}}

    def pretrain_label_words(self):
        return ["bad", "good"]


def tiny_cfg() -> dict:
    cfg = smoke("per-seed")
    cfg["ppt"] = dict(cfg["ppt"], lr=0.05, warmup_steps=2, batch_size=2, max_steps=16, eval_every=2, patience=2)
    cfg["pretrain"] = dict(cfg["pretrain"], val_fraction=0.3)
    return cfg


def kept(ctx, draw) -> tuple[torch.Tensor, dict]:
    art = ctx.drawn(draw).prepared(get_method("ppt"))
    return load_prompt(pathlib.Path(art["dir"]) / "prompt.safetensors")[0], art["report"]


def test_ppt_draws_built_in_one_bank_equal_each_built_alone(tmp_path):
    """R = 3 draws in one bank: each kept prompt, validations, best step and rows are those of the draw's
    own ``pretrain`` run (``build_artifact``) to 1e-10, each saved under its own key."""
    cfg, draws = tiny_cfg(), [0, 1, 2]
    together = TinyContext(cfg, progress=False, artifacts_dir=tmp_path / "bank")
    get_method("ppt").build_artifacts(together, draws)
    assert len(list((tmp_path / "bank" / "ppt-prompt").glob("*/artifact.json"))) == 3
    assert not list((tmp_path / "bank" / "ppt-prompt").glob("bank-*.pt"))   # the bank's checkpoint is gone
    alone = TinyContext(cfg, progress=False, artifacts_dir=tmp_path / "alone")
    steps = set()
    for draw in draws:
        (w_bank, r_bank), (w_alone, r_alone) = kept(together, draw), kept(alone, draw)
        assert r_bank["bank"] == draws and "bank" not in r_alone
        torch.testing.assert_close(w_bank, w_alone, atol=1e-10, rtol=0)
        assert (r_bank["steps"], r_bank["best_step"], r_bank["rows"], r_bank["val_rows"]) == \
            (r_alone["steps"], r_alone["best_step"], r_alone["rows"], r_alone["val_rows"])
        assert [s for s, _ in r_bank["evaluations"]] == [s for s, _ in r_alone["evaluations"]]
        np.testing.assert_allclose([a for _, a in r_bank["evaluations"]], [a for _, a in r_alone["evaluations"]],
                                   atol=1e-10)
        assert r_bank["best_step"] > 0          # select_initial=False: a trained prompt is kept
        steps.add(r_bank["steps"])
    w0, w1 = kept(together, 0)[0], kept(together, 1)[0]
    assert (w0 - w1).abs().max() > 1e-3         # the draws differ


def test_metapt_draws_meta_learned_in_one_engine_equal_each_alone(tmp_path):
    """R = 3 Prompt-MAML draws in one batched engine (``maml_bank.meta_train_many``), each with the meta
    tasks, sampler and init its draw seeds: each kept prompt and meta-validation history equal the
    draw's own ``build_artifact`` to 1e-10."""
    cfg, draws = tiny_cfg(), [0, 1, 2]
    cfg["pretrain"] = dict(cfg["pretrain"], grouping="random", k=2, m=2)
    cfg["maml"] = dict(cfg["maml"], max_steps=4, eval_every=2, patience=3, val_tasks_per_cluster=1)
    method = get_method("metapt")
    together = TinyContext(cfg, progress=False, artifacts_dir=tmp_path / "bank")
    method.build_artifacts(together, draws)
    alone = TinyContext(cfg, progress=False, artifacts_dir=tmp_path / "alone")
    weights = []
    for draw in draws:
        a, b = together.drawn(draw).prepared(method), alone.drawn(draw).prepared(method)
        (w_bank, _), (w_alone, _) = (load_prompt(pathlib.Path(x["dir"]) / "prompt.safetensors") for x in (a, b))
        assert a["report"]["bank"] == draws and "bank" not in b["report"]
        torch.testing.assert_close(w_bank, w_alone, atol=1e-10, rtol=0)
        assert [h["step"] for h in a["report"]["history"]] == [h["step"] for h in b["report"]["history"]]
        np.testing.assert_allclose([h["val_accuracy"] for h in a["report"]["history"]],
                                   [h["val_accuracy"] for h in b["report"]["history"]], atol=1e-10)
        weights.append(w_bank)
    assert (weights[0] - weights[1]).abs().max() > 1e-3         # the draws differ


class Killed(Exception):
    pass


def test_a_killed_joint_build_resumes_to_the_same_prompts(tmp_path, monkeypatch):
    """Killed inside the bank after its first checkpoint, the joint build resumes from the bank's one
    checkpoint file and ends with the prompts of an uninterrupted build."""
    from benchmark import bank

    cfg, draws = tiny_cfg(), [0, 1, 2]
    clean = TinyContext(cfg, progress=False, artifacts_dir=tmp_path / "clean")
    get_method("ppt").build_artifacts(clean, draws)
    ctx = TinyContext(cfg, progress=False, artifacts_dir=tmp_path / "killed")
    saves = []
    real_save = bank.PromptBank.save

    def dying_save(self):
        real_save(self)
        saves.append(1)
        if len(saves) == 2:
            raise Killed()
    monkeypatch.setattr(bank.PromptBank, "save", dying_save)
    with pytest.raises(Killed):
        get_method("ppt").build_artifacts(ctx, draws)
    assert list((tmp_path / "killed" / "ppt-prompt").glob("bank-*.pt"))
    assert not list((tmp_path / "killed" / "ppt-prompt").glob("*/artifact.json"))
    monkeypatch.setattr(bank.PromptBank, "save", real_save)
    resumed = []
    real_resume = bank.PromptBank._resume
    monkeypatch.setattr(bank.PromptBank, "_resume", lambda self: resumed.append(real_resume(self)) or resumed[-1])
    get_method("ppt").build_artifacts(ctx, draws)
    assert resumed == [True]
    for draw in draws:
        torch.testing.assert_close(kept(ctx, draw)[0], kept(clean, draw)[0], atol=0, rtol=0)


def test_a_draw_is_built_with_its_whole_block_and_alone_without_one(tmp_path, monkeypatch):
    """Under ``draw_block: 3`` the first cell needing draw 4 builds draws 3, 4 and 5 together (whatever
    --seeds selects, draw 4 is the same computation); a block of 1 builds draw 4 alone, never in a bank."""
    calls = []
    monkeypatch.setattr(type(get_method("ppt")), "build_artifact",
                        lambda self, ctx, out: calls.append(("alone", ctx.draw_seed)) or ctx.save_prompt(
                            out, torch.zeros(2, 3), method="ppt", report={}))
    cfg = smoke("per-seed")
    monkeypatch.setattr(type(get_method("ppt")), "build_artifacts",
                        lambda self, ctx, draws: calls.append(list(draws)) or [
                            ctx.drawn(d).artifact("ppt-prompt", self.stored_key(ctx.drawn(d)),
                                                  lambda c, out: c.save_prompt(out, torch.zeros(2, 3), method="ppt",
                                                                               report={})) for d in draws])
    cfg["pretrain"]["draw_block"] = 3
    config.validate(cfg)
    ctx = Context(cfg, progress=False, artifacts_dir=tmp_path)
    ctx.for_seed(4).prepared(get_method("ppt"))
    assert calls == [[3, 4, 5]]
    ctx.for_seed(5).prepared(get_method("ppt"))                 # built with draw 4: read back
    assert calls == [[3, 4, 5]]
    keys = [get_method("ppt").stored_key(ctx.drawn(d)) for d in (0, 4)]
    assert keys[0]["draw_block"] == keys[1]["draw_block"] == 3 and keys[1]["draw"] == 4
    calls.clear()
    alone = smoke("per-seed")
    Context(alone, progress=False, artifacts_dir=tmp_path).for_seed(4).prepared(get_method("ppt"))
    assert calls == [("alone", 4)]


def test_cells_of_methods_without_an_artefact_keep_their_keys_under_either_protocol():
    """FT and PT read no pre-training draw: their cells are the same computation, so the same key; a
    drawn method's cells are keyed by the protocol."""
    keys = {}
    for draw in ("absent", "per-seed", 3):
        cfg = smoke(draw)
        cfg["pretrain"]["draw_block"] = 2
        keys[draw] = {(c.method, c.seed): c.key for c in runner.expand("sentiment7", cfg, tasks=["sst2"],
                                                                       methods=["ft", "pt", "ppt"])}
    for method in ("ft", "pt"):
        assert keys["absent"][(method, 1)] == keys["per-seed"][(method, 1)] == keys[3][(method, 1)]
    assert len({keys[d][("ppt", 1)] for d in keys}) == 3


def test_per_seed_draw_0_alone_is_the_one_artefact_made_before_the_setting(tmp_path):
    """The same computation, the same key: per-seed seed 0 (pretrain.seed 0) reads the shared artefact."""
    for method in PROMPT_METHODS:
        assert stored(smoke("per-seed"), method, 0, tmp_path) == stored(smoke("absent"), method, 3, tmp_path)
        assert stored(smoke("per-seed"), method, 1, tmp_path) != stored(smoke("absent"), method, 1, tmp_path)


# -- the t-SNE cell's meta tasks ---------------------------------------------------------------

WORDS = ["good", "bad", "film", "plot", "cast", "dull", "fun", "long"]


class PoolContext(Context):
    """90 pseudo-labelled rows whose K-means meta tasks (hashed-word embeddings) differ between seeds 0
    and 5."""

    def pseudo_labelled(self):
        texts = [f"{WORDS[i % 8]} {WORDS[i * 3 % 7]} {WORDS[i * 5 % 8]}" for i in range(90)]
        return {"texts": texts, "labels": [i % 2 for i in range(90)], "report": {"rows": 90}}


def test_the_tsne_cell_maps_the_meta_tasks_of_its_draw(fake_encoder, tmp_path):
    """The Figure 4 cell clusters with the draw its seed tunes from, as MetaPT's meta tasks are made
    (``ctx.tasksets(..., seed=draw)``), not with pretrain.seed."""
    cfg = dict(smoke(5), encoder=fake_encoder)
    cfg["pretrain"] = dict(cfg["pretrain"], k=3)
    ctx = PoolContext(cfg, progress=False, artifacts_dir=tmp_path).for_seed(0)
    pool, pre = ctx.pseudo_labelled(), cfg["pretrain"]
    meta_tasks = {draw: ctx.tasksets("kmeans", pool["texts"], np.asarray(pool["labels"]), k=3, m=pre["m"],
                                     seed=draw).assignments.tolist() for draw in (pre["seed"], 5)}
    assert meta_tasks[5] != meta_tasks[pre["seed"]]
    cell = get_method("tsne").run(ctx, "openwebtext", 0)
    assert cell["tsne"]["assignments"] == meta_tasks[5]


def test_a_tsne_cell_names_its_draw_only_where_it_is_not_pretrain_seeds():
    """Clustered with pretrain.seed's draw the cell is the computation it was before the setting, with
    the key it had; clustered with another draw it has a key of its own."""
    def key(draw, seed=0):
        cfg = smoke(draw)
        cfg["pretrain"]["draw_block"] = 2
        return runner.Cell("tsne", "tsne", "openwebtext", seed, {}, cfg).key

    assert key("absent") == key(None) == key("per-seed") == key(0)
    assert len({key("absent"), key(3), key(5), key("per-seed", seed=1)}) == 4
    assert key("absent", seed=1) != key("per-seed", seed=1)


# -- a results folder of both protocols --------------------------------------------------------

def _cell(tmp: pathlib.Path, method: str, seed: int, draw, acc: float, suite: str = "sentiment7") -> str:
    cfg = {"pretrain": {"seed": 0, **({} if draw is None else {"draw": draw})}}
    rec = {"status": "done", "suite": suite, "method": method, "task": "sst2", "seed": seed, "point": {},
           "profile": "cpu", "backbone": "smollm2-135m", "config": cfg, "metrics": {"accuracy": acc},
           "key": f"{suite}-{method}-{seed}-{draw}"}
    write_json(tmp / "cells" / f"{rec['key']}.json", rec, checksum=True)
    return rec["key"]


def test_a_folder_of_both_protocols_is_read_as_one_with_one_line(tmp_path, capsys):
    from benchmark.cli import main
    from reports import results

    (tmp_path / "cells").mkdir()
    for seed in (0, 1):
        _cell(tmp_path, "ppt", seed, None, 0.5)
        _cell(tmp_path, "pt", seed, None, 0.5)
        _cell(tmp_path, "ppt", seed, "per-seed", 0.7)
    with pytest.warns(results.ResultWarning, match="both pre-training protocols"):
        res = results.load(tmp_path)
    assert res.protocol == "per-seed"
    assert {results.protocol(c) for c in res.cells if c["method"] == "ppt"} == {"per-seed"}
    assert [g.mean for g in res.select(method="ppt")] == [pytest.approx(0.7)]
    # PT reads no pre-training draw: the same computation and key under both protocols, read by both
    assert [g.mean for g in res.select(method="pt")] == [pytest.approx(0.5)]
    assert "sentiment7 cells of both" in res.mixed and "2 shared, 2 per-seed" in res.mixed
    assert "--protocol shared" in res.mixed_of("sentiment7")
    with pytest.warns(results.ResultWarning, match="the per-seed ones: --protocol per-seed"):
        shared = results.load(tmp_path, protocol="shared")
    assert shared.protocol == "shared" and [g.mean for g in shared.select(method="ppt")] == [pytest.approx(0.5)]
    assert [g.mean for g in shared.select(method="pt")] == [pytest.approx(0.5)]
    assert main(["plot", "--results", str(tmp_path), "--out", str(tmp_path / "r"), "--only", "table1"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("both pre-training protocols") == 1
    assert "Mixed protocols." in (tmp_path / "r" / "table1.md").read_text()


def test_a_folder_of_one_protocol_says_which(tmp_path):
    from reports import results

    (tmp_path / "cells").mkdir()
    _cell(tmp_path, "ppt", 0, None, 0.5)
    res = results.load(tmp_path)
    assert res.protocol == "shared" and res.mixed is None and len(res.cells) == 1


def test_each_suite_reads_its_own_protocol_and_a_shared_point_keeps_the_draw_it_was_made_with(tmp_path):
    """A folder republished per seed for one suite keeps another suite (a figure's points) at one shared
    draw: each suite is read under its own protocol, the mixed line names only the suite holding both,
    and a cell another suite's manifest expects is that suite's point under that suite's protocol."""
    from reports import results, tables

    (tmp_path / "cells").mkdir()
    entries = []
    for seed in (0, 1):
        shared = _cell(tmp_path, "ppt", seed, None, 0.5)                 # sentiment7, before the republication
        _cell(tmp_path, "ppt", seed, "per-seed", 0.7)                   # sentiment7, republished
        _cell(tmp_path, "metapt", seed, None, 0.6, suite="clusters")    # a figure's suite, left shared
        entries.append({"suite": "clusters", "method": "ppt", "task": "sst2", "seed": seed, "point": {},
                        "key": shared})                                 # the figure expects the shared PPT cell
    write_json(tmp_path / "manifest.json", {"suite": "clusters", "cells": entries})
    with pytest.warns(results.ResultWarning) as caught:
        res = results.load(tmp_path)
    assert len(caught) == 1 and "sentiment7 cells of both" in str(caught[0].message)
    assert res.protocol_of("sentiment7") == "per-seed" and res.protocol_of("clusters") == "shared"
    assert res.protocol is None and res.mixed_of("clusters") is None
    assert [g.mean for g in res.select(suite="sentiment7", method="ppt")] == [pytest.approx(0.7)]
    assert [g.mean for g in res.select(suite="clusters", method="ppt")] == [pytest.approx(0.5)]
    assert [g.mean for g in res.select(suite="clusters", method="metapt")] == [pytest.approx(0.6)]
    notes = tables.notes(res.select(suite="clusters"), res, "clusters", protocol=True)
    assert "Pre-training protocol: shared" in notes and "Mixed protocols" not in notes
    notes = tables.notes(res.select(suite="sentiment7"), res, "sentiment7", protocol=True)
    assert "Pre-training protocol: per-seed" in notes and "Mixed protocols" in notes
    with pytest.warns(results.ResultWarning, match="reads the 2 shared cells only"):
        forced = results.load(tmp_path, protocol="shared")
    assert [g.mean for g in forced.select(suite="sentiment7", method="ppt")] == [pytest.approx(0.5)]
    assert forced.protocol == "shared"


def test_a_figure_says_which_protocol_its_pretrained_prompts_were_drawn_under():
    from reports.figures import _common

    def cell(method, draw):
        return {"method": method, "config": {"pretrain": {} if draw is None else {"draw": draw}}}

    assert "shared by every seed" in _common.pretraining_note([cell("metapt", None), cell("ft", None)])
    assert "drawn per seed" in _common.pretraining_note([cell("ppt", "per-seed")])
    both = _common.pretraining_note([cell("ppt", "per-seed"), cell("metapt", 3)])
    assert "drawn per seed" in both and "shared by every seed" in both
    assert _common.pretraining_note([cell("ft", None), cell("pt", None)]) == ""        # no pre-trained prompt
    assert _common.pretraining_note([cell("ppt", 1)], axes=["pretrain.draw"]) == ""    # the draw is the axis


def test_a_place_run_again_under_the_other_protocol_reads_only_its_new_cell(tmp_path):
    """The runner replaces a place's manifest entry when the place is run again (here per seed): the cell
    it superseded is not that place's result, so nothing is mixed, yet it still serves the suite whose
    entry names its key."""
    import warnings

    from reports import results

    (tmp_path / "cells").mkdir()
    entries = []
    for seed in (0, 1):
        old = _cell(tmp_path, "ppt", seed, None, 0.5)
        new = _cell(tmp_path, "ppt", seed, "per-seed", 0.7)
        entries += [{"suite": "sentiment7", "method": "ppt", "task": "sst2", "seed": seed, "point": {}, "key": new},
                    {"suite": "clusters", "method": "ppt", "task": "sst2", "seed": seed, "point": {}, "key": old}]
    write_json(tmp_path / "manifest.json", {"cells": entries})
    with warnings.catch_warnings():
        warnings.simplefilter("error", results.ResultWarning)      # no mixed line, no duplicate seed
        res = results.load(tmp_path)
    assert res.mixed is None and res.missing() == []
    assert [g.mean for g in res.select(suite="sentiment7", method="ppt")] == [pytest.approx(0.7)]
    assert [g.mean for g in res.select(suite="clusters", method="ppt")] == [pytest.approx(0.5)]
    assert res.protocol_of("sentiment7") == "per-seed" and res.protocol_of("clusters") == "shared"
    write_json(tmp_path / "manifest.json", {"cells": entries[1::2]})   # sentiment7's places not listed: both read
    with pytest.warns(results.ResultWarning, match="sentiment7 cells of both"):
        results.load(tmp_path)
    # a place still listed under its old key (a republication under way): left out for its protocol, not missing
    write_json(tmp_path / "manifest.json", {"cells": [dict(entries[0], key=entries[1]["key"]), *entries[1:]]})
    with pytest.warns(results.ResultWarning, match=r"\(1 shared, 1 per-seed\)"):
        res = results.load(tmp_path)
    assert res.missing() == []
    assert [g.seeds for g in res.select(suite="sentiment7")] == [[1]]


def test_status_counts_each_suites_cells_by_pre_training_protocol(tmp_path, capsys):
    from benchmark.cli import main

    (tmp_path / "cells").mkdir()
    listed = [_cell(tmp_path, "ppt", 0, None, 0.5), _cell(tmp_path, "ppt", 1, "per-seed", 0.7),
              _cell(tmp_path, "pt", 0, None, 0.5), _cell(tmp_path, "metapt", 0, None, 0.6, suite="clusters")]
    entries = [{"suite": k.split("-")[0], "method": k.split("-")[1], "task": "sst2", "seed": int(k.split("-")[2]),
                "point": {}, "key": k} for k in listed]
    write_json(tmp_path / "manifest.json", {"cells": entries})
    assert main(["status", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "1 shared, 1 per-seed (plot and compare read the per-seed ones)" in out     # sentiment7; PT not counted
    assert out.count("pre-training of the done cells") == 2 and ": 1 shared\n" in out  # clusters
