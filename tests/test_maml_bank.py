"""Several Prompt-MAML prompts meta-learned together (``maml_bank.meta_train_many``) each follow the path
``meta_train`` gives them alone: meta-gradients, histories and kept prompts (float64 tiny backbones, to
1e-10), early stopping, a kill and resume, and a NaN that fails one prompt only."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from benchmark import backbones
from benchmark.errors import UserError
from benchmark.maml import MAMLConfig, meta_step_batched, meta_train, meta_validate
from benchmark.maml_bank import meta_step_many, meta_train_many, meta_validate_many
from benchmark.prompt import SoftPrompt
from benchmark.scoring import Scorer
from test_bank import LABELS, TEXTS

CLUSTERS = [list(range(0, 7)), list(range(7, 14)), list(range(14, 20))]     # K = 3 meta tasks
SEEDS = (0, 1, 2)
TOL = dict(atol=1e-10, rtol=0)
# large enough rates that a few meta steps move the prompts and their validations
CFG = MAMLConfig(inner_lr=0.5, outer_lr=0.05, m=2, max_steps=4, eval_every=2, patience=100, checkpoint_every=3)


@pytest.fixture(scope="module", params=["tiny-t5", "tiny-masked"])
def scorer(request):
    # float64: the tiny decoder's RMSNorm rounds to float32, so it is left out (as in test_bank.py)
    return Scorer(backbones.load(request.param, dtype=torch.float64), ["bad", "good"], max_length=24)


class Sampler:
    """Meta tasks of CLUSTERS drawn from (seed, step), as ``ClusterSampler`` reseeds per step."""

    def __init__(self, seed, m=2):
        self.seed, self.m = seed, m

    def train_tasks(self, step):
        rng = np.random.default_rng([self.seed, step])
        out = []
        for rows in CLUSTERS:
            pick = rng.choice(rows, 2 * self.m, replace=False)
            out.append((pick[:self.m].tolist(), pick[self.m:].tolist()))
        return out

    def validation_tasks(self):
        return self.train_tasks(10_000)


def _prompt(scorer, seed, dtype=torch.float64):
    return SoftPrompt(3, scorer.backbone.embed_dim, seed=10 + seed, dtype=dtype)


def _alone(scorer, seed, cfg, sampler=None):
    prompt = _prompt(scorer, seed)
    res = meta_train(prompt, scorer, TEXTS, LABELS, sampler or Sampler(seed), cfg, progress=False,
                     select_initial=False)
    return prompt.weight.detach(), res


def _same_run(got_weight, got, want_weight, want):
    """A prompt's kept weight, steps, history and kept step match its run alone."""
    assert got.failed is None
    assert (got.steps, got.best_step, got.stopped_early) == (want.steps, want.best_step, want.stopped_early)
    assert [h["step"] for h in got.history] == [h["step"] for h in want.history]
    assert [h["val_accuracy"] for h in got.history] == [h["val_accuracy"] for h in want.history]
    np.testing.assert_allclose([h.get("meta_train_loss", 0.0) for h in got.history],
                               [h.get("meta_train_loss", 0.0) for h in want.history], atol=1e-10, rtol=0)
    torch.testing.assert_close(got_weight, want_weight, **TOL)


@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize("chunk", ["auto", 2])      # auto: all 9 tasks in one pass; 2: chunks mixing prompts
def test_each_prompt_meta_learned_together_equals_meta_train_alone(scorer, first_order, chunk):
    cfg = dataclasses.replace(CFG, first_order=first_order, chunk_tasks=chunk)
    alone = [_alone(scorer, s, cfg) for s in SEEDS]
    prompts = [_prompt(scorer, s) for s in SEEDS]
    results = meta_train_many(prompts, scorer, TEXTS, LABELS, [Sampler(s) for s in SEEDS], cfg, progress=False)
    assert results[0].chunk["chunk_tasks"] == (9 if chunk == "auto" else 2)
    for p, got, (w, want) in zip(prompts, results, alone):
        _same_run(p.weight.detach(), got, w, want)
        assert not torch.equal(w, _prompt(scorer, 0).weight)      # the prompts did move
    assert len({round(r.history[-1]["meta_train_loss"], 6) for r in results}) == 3


def _grads(scorer, seeds, cfg, values=None):
    """Each prompt's meta-gradient in one ``meta_step_many``; ``values``: replace a prompt's initial weight."""
    prompts = [_prompt(scorer, s) for s in seeds]
    for r, v in (values or {}).items():
        with torch.no_grad():
            prompts[r].weight.copy_(v)
    meta_step_many([p.weight for p in prompts], scorer, TEXTS, LABELS, [Sampler(s).train_tasks(0) for s in seeds], cfg)
    return [p.weight.grad.detach().clone() for p in prompts]


@pytest.mark.parametrize("chunk", ["auto", 2])
def test_tasks_do_not_leak_between_prompts(scorer, chunk):
    """Another prompt's values and meta tasks change nothing of a prompt's meta-gradient; its own do."""
    cfg = dataclasses.replace(CFG, chunk_tasks=chunk)
    base = _grads(scorer, SEEDS, cfg)
    for r, seed in enumerate(SEEDS):       # each equals its meta-gradient alone
        prompt = _prompt(scorer, seed)
        meta_step_batched(prompt, scorer, TEXTS, LABELS, Sampler(seed).train_tasks(0), cfg)
        assert prompt.weight.grad.abs().max() > 1e-6
        torch.testing.assert_close(base[r], prompt.weight.grad, **TOL)
    moved = _grads(scorer, (0, 7, 2), cfg, values={1: 3 * _prompt(scorer, 5).weight.detach()})
    torch.testing.assert_close(moved[0], base[0], **TOL)
    torch.testing.assert_close(moved[2], base[2], **TOL)
    assert (moved[1] - base[1]).abs().max() > 1e-6


class FlatValidation(Sampler):
    """A prompt whose meta-validation never improves after its first: it stops after ``patience``."""

    def validation_tasks(self):
        return "flat"


def test_a_prompt_that_stops_early_leaves_the_others_unchanged(scorer, monkeypatch):
    """Prompt 1 stops at step 3 (patience 2); prompts 0 and 2 go on to max_steps as they would alone."""
    import benchmark.maml as maml_mod
    import benchmark.maml_bank as bank_mod

    calls: dict = {}

    def validate(weight, scorer, texts, labels, tasks, cfg):
        """Flat for prompt 1; for the others a score that improves at every validation (they never stop)."""
        if tasks == "flat":
            return 0.5
        calls[str(tasks)] = calls.get(str(tasks), 0) + 1
        return float(calls[str(tasks)])

    monkeypatch.setattr(maml_mod, "meta_validate", validate)
    monkeypatch.setattr(bank_mod, "meta_validate_many",
                        lambda ws, sc, tx, lb, tasks, cfg: [validate(w, sc, tx, lb, t, cfg) for w, t in zip(ws, tasks)])
    cfg = dataclasses.replace(CFG, patience=2, eval_every=1, max_steps=5)
    samplers = [Sampler(0), FlatValidation(1), Sampler(2)]
    alone = [_alone(scorer, s, cfg, sampler) for s, sampler in zip(SEEDS, samplers)]
    calls.clear()
    prompts = [_prompt(scorer, s) for s in SEEDS]
    results = meta_train_many(prompts, scorer, TEXTS, LABELS, samplers, cfg, progress=False)
    assert results[1].stopped_early and results[1].steps == 3 and results[1].best_step == 1
    assert [r.steps for r in (results[0], results[2])] == [5, 5]
    for p, got, (w, want) in zip(prompts, results, alone):
        _same_run(p.weight.detach(), got, w, want)


class Killed(Exception):
    pass


class DyingSampler(Sampler):
    """The process dies while drawing the tasks of step ``at`` (after the choice of the chunk)."""

    def __init__(self, seed, at):
        super().__init__(seed)
        self.at = at

    def train_tasks(self, step):
        if step == self.at:
            raise Killed
        return super().train_tasks(step)


def test_a_killed_bank_resumes_bit_identically(scorer, tmp_path):
    cfg = dataclasses.replace(CFG, max_steps=7, eval_every=2)
    full = [_prompt(scorer, s) for s in SEEDS]
    want = meta_train_many(full, scorer, TEXTS, LABELS, [Sampler(s) for s in SEEDS], cfg, progress=False)
    ckpt = tmp_path / "bank.pt"
    with pytest.raises(Killed):
        meta_train_many([_prompt(scorer, s) for s in SEEDS], scorer, TEXTS, LABELS,
                        [Sampler(0), Sampler(1), DyingSampler(2, at=6)], cfg, checkpoint=ckpt, progress=False)
    saved = torch.load(ckpt, weights_only=False)
    assert [p["step"] for p in saved["prompts"]] == [6, 6, 6]     # the last resume point before the 7th step
    again = [_prompt(scorer, s + 50) for s in SEEDS]    # a fresh process: the prompts come from the checkpoint
    got = meta_train_many(again, scorer, TEXTS, LABELS, [Sampler(s) for s in SEEDS], cfg, checkpoint=ckpt,
                          progress=False)
    for a, b, ra, rb in zip(full, again, want, got):
        torch.testing.assert_close(b.weight.detach(), a.weight.detach(), atol=0, rtol=0)
        assert rb.resumed_from == 6
        assert (rb.steps, rb.best_step, rb.evaluations, rb.history) == (ra.steps, ra.best_step, ra.evaluations,
                                                                        ra.history)
    with pytest.raises(UserError, match=r"holds 3 prompts .* remove it to start afresh"):
        meta_train_many([_prompt(scorer, s) for s in SEEDS], scorer, TEXTS, LABELS,
                        [Sampler(0), Sampler(1), Sampler(9)], cfg, checkpoint=ckpt, progress=False)


class PoisonSampler(Sampler):
    """Turns its prompt's first entry NaN when the tasks of step ``at`` are drawn."""

    def __init__(self, seed, prompt, at):
        super().__init__(seed)
        self.prompt, self.at = prompt, at

    def train_tasks(self, step):
        if step == self.at:
            with torch.no_grad():
                self.prompt.weight[0, 0] = float("nan")
        return super().train_tasks(step)


@pytest.mark.parametrize("at", [0, 3])
def test_a_nan_fails_its_prompt_alone(scorer, at):
    """Prompt 1 turns NaN at step ``at`` inside a chunk shared with the others: it fails with its reason,
    the others end as meta_train alone (second order, all tasks in one chunk)."""
    alone = {s: _alone(scorer, s, CFG) for s in (0, 2)}
    prompts = [_prompt(scorer, s) for s in SEEDS]
    samplers = [Sampler(0), PoisonSampler(1, prompts[1], at), Sampler(2)]
    results = meta_train_many(prompts, scorer, TEXTS, LABELS, samplers, CFG, progress=False)
    assert results[1].failed == f"meta-train loss is nan at step {at}" and results[1].steps == at
    for r in (0, 2):
        _same_run(prompts[r].weight.detach(), results[r], *alone[r])


def test_meta_validate_many_is_each_prompts_meta_validate(scorer):
    prompts = [_prompt(scorer, s) for s in SEEDS]
    tasks = [Sampler(s).validation_tasks() for s in SEEDS]
    for chunk in ("auto", 2):
        cfg = dataclasses.replace(CFG, chunk_tasks=chunk)
        got = meta_validate_many([p.weight for p in prompts], scorer, TEXTS, LABELS, tasks, cfg)
        assert got == [meta_validate(p.weight, scorer, TEXTS, LABELS, t, cfg) for p, t in zip(prompts, tasks)]


def test_a_bank_of_one_is_meta_train_bit_for_bit(tiny_t5):
    """Alone, a prompt runs the very computation meta_train runs (float32 backbone, no tolerance)."""
    scorer = Scorer(tiny_t5, ["bad", "good"], max_length=24)
    want = SoftPrompt(3, tiny_t5.embed_dim, seed=1)
    ref = meta_train(want, scorer, TEXTS, LABELS, Sampler(4), CFG, progress=False, select_initial=False)
    got = SoftPrompt(3, tiny_t5.embed_dim, seed=1)
    (res,) = meta_train_many([got], scorer, TEXTS, LABELS, [Sampler(4)], CFG, progress=False)
    torch.testing.assert_close(got.weight, want.weight, atol=0, rtol=0)
    assert res.history == ref.history and res.chunk == ref.chunk


def test_bad_banks_are_refused(scorer, tmp_path):
    with pytest.raises(ValueError, match="one sampler per prompt"):
        meta_train_many([_prompt(scorer, 0)], scorer, TEXTS, LABELS, [Sampler(0), Sampler(1)], CFG, progress=False)
    with pytest.raises(ValueError, match="share shape, dtype and device"):
        meta_train_many([_prompt(scorer, 0), SoftPrompt(4, scorer.backbone.embed_dim, dtype=torch.float64)],
                        scorer, TEXTS, LABELS, [Sampler(0), Sampler(1)], CFG, progress=False)
    other = tmp_path / "other.pt"
    torch.save({"format": 2, "prompt": torch.zeros(1)}, other)
    with pytest.raises(UserError, match="not a Prompt-MAML bank checkpoint"):
        meta_train_many([_prompt(scorer, 0)], scorer, TEXTS, LABELS, [Sampler(0)], CFG, checkpoint=other,
                        progress=False)


def test_perf_command_runs_the_maml_bank_section(tmp_path, monkeypatch):
    """`python -m benchmark perf --sections maml-bank`: the section is registered, saved and reported."""
    import json

    from benchmark import cli

    monkeypatch.setenv("METAPT_CACHE", str(tmp_path / "cache"))
    argv = ["perf", "--backbone", "tiny-t5", "--threads", "1", "--prompt-tokens", "2", "--max-length", "16",
            "--repeats", "1", "--k", "2", "--m", "1", "--sections", "maml-bank", "--maml-bank-sizes", "1,3",
            "--peak-n", "64", "--no-profile", "--out", str(tmp_path / "perf"), "--name", "t"]
    assert cli.main(argv) == 0
    result = json.loads((tmp_path / "perf" / "t.json").read_text())
    assert [row["r"] for row in result["maml_bank"]["sizes"]] == [1, 3] and "bank" not in result
    for row in result["maml_bank"]["sizes"]:
        for side in ("together", "separate"):
            assert len(row[side]["times_s"]) == 1 and row[side]["meta_steps_per_s"] > 0
            assert row[side]["gflop_per_step"] > 0 and row[side]["fraction_of_ceiling"] > 0
        assert row["together"]["chunk"]["chunk_tasks"] == 2 * row["r"]       # the budget holds every task
        assert row["separate"]["chunk"]["chunk_tasks"] == 2
    first, three = result["maml_bank"]["sizes"]
    assert three["together"]["gflop_per_step"] == pytest.approx(3 * first["together"]["gflop_per_step"])
    assert "## Prompt-MAML prompts in one engine" in (tmp_path / "perf" / "t.md").read_text()


def test_bad_maml_bank_sizes_exit_2(capsys):
    from benchmark import cli

    assert cli.main(["perf", "--sections", "maml-bank", "--maml-bank-sizes", "0,2"]) == 2
    assert "--maml-bank-sizes '0,2' is invalid; allowed: comma-separated integers >= 1" in capsys.readouterr().err
