"""The prompt bank trains each of its prompts as ``fit`` trains it alone: gradients, kept prompts, early
stopping, a kill and resume, and a NaN that fails one prompt only. Float64 tiny backbones (the
encoder-decoder and the masked kind: the tiny decoder's RMSNorm rounds its hidden states to float32,
so a different batch shape moves it by float32 rounding, not by 1e-16)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from benchmark import backbones
from benchmark.bank import BankResult, PromptBank, PromptRun, prompts_per_pass
from benchmark.errors import UserError
from benchmark.prompt import SoftPrompt
from benchmark.scoring import Scorer
from benchmark.train import TrainConfig, fit

TEXTS = ["the film was great", "a terrible movie", "it was good fun , a delight , the best film of the year",
         "bad acting and a bad plot", "maybe", "great cast , good story , good music , great acting",
         "terrible and bad", "good good good", "it was bad", "a great film", "maybe good",
         "the plot was terrible and the ending slow and the book was long", "good acting", "bad",
         "great", "the story was slow", "it was terrible", "a good plot", "bad music", "great fun"]
LABELS = [1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 0, 1, 0, 1]
VAL = [0, 3, 5, 7, 10, 11, 16, 17]       # shared validation rows
# each prompt's own training rows (overlapping, of different sizes)
ROWS = [[1, 2, 4, 6, 8, 9], [12, 13, 14, 15, 18, 19, 2], [4, 8, 9, 12, 13, 18, 19, 1, 6]]
TOL = dict(atol=1e-10, rtol=0)


@pytest.fixture(scope="module", params=["tiny-t5", "tiny-masked"])
def scorer(request):
    return Scorer(backbones.load(request.param, dtype=torch.float64), ["bad", "good"], max_length=24)


def _weight(scorer, seed):
    return SoftPrompt(3, scorer.backbone.embed_dim, seed=seed, dtype=torch.float64).weight


def _accuracy(scorer):
    def validate(w):
        preds = scorer.predict([TEXTS[i] for i in VAL], w)
        return float((preds == np.asarray(LABELS)[VAL]).mean())
    return validate


def _neg_loss(scorer):
    """A validation that moves with every step, so that a prompt trains long and early stopping bites late."""
    def validate(w):
        with torch.no_grad():
            return -float(scorer.loss([TEXTS[i] for i in VAL], np.asarray(LABELS)[VAL], w))
    return validate


def _run(scorer, i, cfg, validate=None, rows=None, seed=None, select_initial=True):
    rows = ROWS[i] if rows is None else rows
    return PromptRun(_weight(scorer, 10 + i if seed is None else seed), [TEXTS[j] for j in rows],
                     [LABELS[j] for j in rows], validate or _accuracy(scorer), cfg, seed=i,
                     select_initial=select_initial, name=f"p{i}")


def _fit_alone(scorer, run: PromptRun):
    """The same prompt, rows, seed and settings through ``train.fit``."""
    w = run.weight.detach().clone().requires_grad_(True)
    labels = np.asarray(run.labels)

    def loss_fn(idx):
        return scorer.loss([run.texts[j] for j in idx], labels[idx], w)

    res = fit([w], loss_fn, lambda: run.validate(w), len(run.texts), run.cfg, seed=run.seed, progress=False,
              select_initial=run.select_initial)
    return w.detach(), res


def _first_grads(scorer, runs):
    """Every prompt's gradient in the bank's first step."""
    grads = {}
    for i, r in enumerate(runs):
        r.weight.register_hook(lambda g, i=i: grads.setdefault(i, g.detach().clone()))
    PromptBank(scorer, runs, progress=False).step()
    return [grads[i] for i in range(len(runs))]


def _grad_alone(scorer, run):
    batch = np.random.default_rng(run.seed).permutation(len(run.texts))[:run.cfg.batch_size]
    w = run.weight.detach().clone().requires_grad_(True)
    scorer.loss([run.texts[j] for j in batch], np.asarray(run.labels)[batch], w).backward()
    return w.grad


def test_each_gradient_in_a_bank_equals_its_gradient_alone(scorer):
    cfg = TrainConfig(batch_size=4)
    runs = [_run(scorer, i, cfg) for i in range(3)]
    alone = [_grad_alone(scorer, r) for r in runs]
    for got, want in zip(_first_grads(scorer, runs), alone):
        assert want.abs().max() > 1e-6
        torch.testing.assert_close(got, want, **TOL)


def test_rows_do_not_leak_between_prompts(scorer):
    """Another prompt's rows, labels and values change nothing of a prompt's gradient; its own rows do."""
    cfg = TrainConfig(batch_size=4)
    base = _first_grads(scorer, [_run(scorer, i, cfg) for i in range(3)])
    other = [_run(scorer, 0, cfg), _run(scorer, 1, cfg, rows=[3, 5, 7, 10, 11, 16, 17], seed=99), _run(scorer, 2, cfg)]
    moved = _first_grads(scorer, other)
    torch.testing.assert_close(moved[0], base[0], **TOL)
    torch.testing.assert_close(moved[2], base[2], **TOL)
    assert (moved[1] - base[1]).abs().max() > 1e-6


def test_a_bank_keeps_what_fit_keeps_for_each_prompt(scorer):
    """A few dozen steps, early stopping on trailing-mean validations with full windows: each kept prompt,
    its validations, best step and step count are fit's for that prompt alone."""
    cfg = TrainConfig(lr=0.05, warmup_steps=3, batch_size=2, max_steps=36, patience=3, eval_every=2,
                      select_smooth=2, full_window=True)
    runs = [_run(scorer, 0, cfg), _run(scorer, 1, cfg, validate=_neg_loss(scorer)),
            _run(scorer, 2, dataclasses.replace(cfg, batch_size=3, select_smooth=1, full_window=False),
                 validate=_neg_loss(scorer), select_initial=False)]
    alone = [_fit_alone(scorer, r) for r in runs]
    results = PromptBank(scorer, runs, progress=False).train()
    for run, res, (w, want) in zip(runs, results, alone):
        assert isinstance(res, BankResult) and res.failed is None
        assert (res.steps, res.best_step, res.stopped_early, res.budget) == \
            (want.steps, want.best_step, want.stopped_early, want.budget)
        assert [s for s, _ in res.evaluations] == [s for s, _ in want.evaluations]
        np.testing.assert_allclose([a for _, a in res.evaluations], [a for _, a in want.evaluations], atol=1e-10)
        assert res.best_score == pytest.approx(want.best_score, abs=1e-10)
        torch.testing.assert_close(run.weight.detach(), w, **TOL)
    steps = [r.steps for r in results]
    assert len(set(steps)) > 1 and min(steps) < 36      # prompts left the batch at different steps
    assert results[2].best_step > 0                      # select_initial=False keeps a trained prompt


def test_a_bank_of_one_is_fit_bit_for_bit(tiny_t5):
    """Alone in a bank, a prompt runs the very computation fit runs (float32 backbone, no tolerance)."""
    scorer = Scorer(tiny_t5, ["bad", "good"], max_length=24)
    cfg = TrainConfig(lr=0.05, warmup_steps=2, batch_size=2, max_steps=12, patience=100, eval_every=3)
    run = PromptRun(SoftPrompt(3, tiny_t5.embed_dim, seed=1).weight, TEXTS[:8], LABELS[:8], _accuracy(scorer), cfg,
                    seed=4)
    w, _ = _fit_alone(scorer, run)
    PromptBank(scorer, [run], progress=False).train()
    torch.testing.assert_close(run.weight.detach(), w, atol=0, rtol=0)


class Killed(Exception):
    pass


class DyingScorer:
    """The scorer, dying in the forward of the bank's ``at``-th step (counted from 1)."""

    def __init__(self, scorer, at):
        self.scorer, self.at, self.calls = scorer, at, 0

    def losses(self, *args):
        self.calls += 1
        if self.calls == self.at:
            raise Killed
        return self.scorer.losses(*args)

    def predict(self, *args, **kwargs):
        return self.scorer.predict(*args, **kwargs)


def test_a_killed_bank_resumes_bit_identically(scorer, tmp_path):
    cfg = TrainConfig(lr=0.05, warmup_steps=2, batch_size=2, max_steps=20, patience=3, eval_every=2,
                      checkpoint_every=3, select_smooth=2, full_window=True)

    def runs(seed_offset=0):
        return [_run(scorer, 0, cfg, seed=10 + seed_offset), _run(scorer, 1, cfg, validate=_neg_loss(scorer),
                                                                  seed=11 + seed_offset),
                _run(scorer, 2, cfg, seed=12 + seed_offset)]

    full = runs()
    want = PromptBank(scorer, full, progress=False).train()
    ckpt = tmp_path / "bank.pt"
    with pytest.raises(Killed):
        PromptBank(DyingScorer(scorer, 8), runs(), checkpoint=ckpt, progress=False).train()
    saved = torch.load(ckpt, weights_only=False)
    assert [r["step"] for r in saved["runs"]] == [6, 6, 6]      # the last resume point before step 8
    again = runs(seed_offset=50)      # a fresh process: the prompts come from the checkpoint
    got = PromptBank(scorer, again, checkpoint=ckpt, progress=False).train()
    for a, b, ra, rb in zip(full, again, want, got):
        torch.testing.assert_close(b.weight.detach(), a.weight.detach(), atol=0, rtol=0)
        assert (rb.steps, rb.best_step, rb.evaluations, rb.best_score) == \
            (ra.steps, ra.best_step, ra.evaluations, ra.best_score)


@pytest.mark.parametrize("at", [0, 4])
def test_a_nan_fails_its_prompt_alone(scorer, at):
    """Prompt 1's values turn NaN at its step ``at``: it fails with the reason, the others end as fit alone."""
    cfg = TrainConfig(lr=0.05, warmup_steps=2, batch_size=2, max_steps=16, patience=100, eval_every=2)
    runs = [_run(scorer, i, cfg) for i in range(3)]
    alone = [_fit_alone(scorer, r) for r in (runs[0], runs[2])]
    validate = runs[1].validate

    def poisoned(w):
        if len(calls) == at // cfg.eval_every:
            with torch.no_grad():
                w[0, 0] = float("nan")
        calls.append(1)
        return validate(w)

    calls: list = []
    runs[1].validate = poisoned
    results = PromptBank(scorer, runs, progress=False).train()
    assert results[1].failed == f"loss is nan at step {at}" and results[1].steps == at
    for i, (w, want) in zip((0, 2), alone):
        assert results[i].failed is None and results[i].steps == want.steps == 16
        torch.testing.assert_close(runs[i].weight.detach(), w, **TOL)


def test_predict_each_is_each_prompts_own_predict(scorer):
    runs = [_run(scorer, i, TrainConfig()) for i in range(3)]
    bank = PromptBank(scorer, runs, progress=False)
    texts = [TEXTS[i] for i in VAL]
    for got, run in zip(bank.predict_each(texts), runs):
        np.testing.assert_array_equal(got, scorer.predict(texts, run.weight))


def test_bad_banks_are_refused(scorer, tmp_path):
    cfg = TrainConfig()
    with pytest.raises(ValueError, match="share shape"):
        PromptBank(scorer, [_run(scorer, 0, cfg),
                            PromptRun(torch.zeros(4, scorer.backbone.embed_dim, dtype=torch.float64,
                                                  requires_grad=True), TEXTS, LABELS, _accuracy(scorer))])
    with pytest.raises(UserError, match=r"patience = 0 is invalid; allowed: an integer > 0"):
        PromptBank(scorer, [_run(scorer, 0, dataclasses.replace(cfg, patience=0))])
    with pytest.raises(UserError, match="no training rows"):
        PromptBank(scorer, [_run(scorer, 0, cfg, rows=[])])
    ckpt = tmp_path / "bank.pt"
    PromptBank(scorer, [_run(scorer, 0, cfg)], checkpoint=ckpt).save()
    with pytest.raises(UserError, match="holds 1 prompts"):
        PromptBank(scorer, [_run(scorer, i, cfg) for i in range(2)], checkpoint=ckpt, progress=False).train()


def test_perf_command_runs_the_bank_section(tmp_path, monkeypatch):
    """`python -m benchmark perf --sections bank`: the section is registered, saved and reported."""
    import json

    from benchmark import cli
    from benchmark.perf.bank import BANK_SIZES

    monkeypatch.setenv("METAPT_CACHE", str(tmp_path / "cache"))
    argv = ["perf", "--backbone", "tiny-t5", "--threads", "1", "--prompt-tokens", "2", "--max-length", "16",
            "--repeats", "1", "--tune-batch", "1", "--sections", "bank", "--peak-n", "64", "--no-profile",
            "--out", str(tmp_path / "perf"), "--name", "t"]
    assert cli.main(argv) == 0
    result = json.loads((tmp_path / "perf" / "t.json").read_text())
    assert [row["r"] for row in result["bank"]["sizes"]] == list(BANK_SIZES) and "tune" not in result
    for row in result["bank"]["sizes"]:
        for side in ("bank", "separate"):
            assert len(row[side]["times_s"]) == 1 and row[side]["prompt_steps_per_s"] > 0
            assert row[side]["gflop_per_step"] > 0 and row[side]["fraction_of_ceiling"] > 0
        assert row["speedup"] > 0
        # the same prompts on the same rows: one pass and R passes count the same FLOPs up to padding
        assert row["bank"]["gflop_per_step"] == pytest.approx(row["separate"]["gflop_per_step"], rel=0.5)
    assert "## Many prompts in one pass" in (tmp_path / "perf" / "t.md").read_text()


def test_passes_of_fewer_prompts_keep_each_prompts_path(scorer):
    """``per_pass`` 1 and 2 split each step into passes; every prompt ends where one pass of all puts it."""
    cfg = TrainConfig(lr=0.05, warmup_steps=2, batch_size=2, max_steps=10, patience=100, eval_every=5)
    def runs():
        return [_run(scorer, i, cfg, validate=_neg_loss(scorer), select_initial=False) for i in range(3)]

    want = [r.weight.detach().clone() for r in runs()]
    whole = runs()
    PromptBank(scorer, whole, progress=False).train()
    for per_pass in (1, 2):
        runs_ = runs()
        PromptBank(scorer, runs_, progress=False, per_pass=per_pass).train()
        for got, ref, start in zip(runs_, whole, want):
            torch.testing.assert_close(got.weight.detach(), ref.weight.detach(), **TOL)
            assert (got.weight.detach() - start).abs().max() > 1e-4   # it trained


class OutOfMemoryScorer:
    """The scorer, refusing any pass of more than ``rows`` rows as an allocator would."""

    def __init__(self, scorer, rows):
        self.scorer, self.rows, self.refused = scorer, rows, 0

    def losses(self, texts, *args):
        if len(texts) > self.rows:
            self.refused += 1
            raise RuntimeError(f"DefaultCPUAllocator: can't allocate memory: you tried to allocate {len(texts)} rows")
        return self.scorer.losses(texts, *args)

    def predict(self, *args, **kwargs):
        return self.scorer.predict(*args, **kwargs)


def test_out_of_memory_halves_the_pass_and_fails_only_a_prompt_too_big_alone(scorer, caplog):
    cfg = TrainConfig(lr=0.05, warmup_steps=2, batch_size=2, max_steps=8, patience=100, eval_every=4)
    ref = [_run(scorer, i, cfg) for i in range(3)]
    PromptBank(scorer, ref, progress=False).train()
    runs = [_run(scorer, i, cfg) for i in range(3)]
    oom = OutOfMemoryScorer(scorer, rows=2)           # one prompt's batch of 2 fits, two prompts' do not
    bank = PromptBank(oom, runs, progress=False)
    results = bank.train()
    assert bank.per_pass == 1 and oom.refused == 1    # 3 -> 1 (halved), then never refused again
    assert "ran out of memory; 1 per pass from now on" in caplog.text
    for got, want, res in zip(runs, ref, results):
        assert res.failed is None
        torch.testing.assert_close(got.weight.detach(), want.weight.detach(), **TOL)
    alone = PromptBank(OutOfMemoryScorer(scorer, rows=1), [_run(scorer, 0, cfg), _run(scorer, 1, cfg)],
                       progress=False).train()
    assert [r.failed.startswith("out of memory alone at step 0") for r in alone] == [True, True]


def test_prompts_per_pass_fits_the_budget(scorer):
    runs = [_run(scorer, i, TrainConfig(batch_size=2)) for i in range(3)]
    big = prompts_per_pass(scorer, runs, budget_mb=1e6)
    assert big["per_pass"] == 3 and big["prompt_mb"] > 0
    small = prompts_per_pass(scorer, runs, budget_mb=big["prompt_mb"] * 1.5)
    assert small["per_pass"] == 1
    with pytest.raises(ValueError, match="per_pass = 0"):
        PromptBank(scorer, runs, per_pass=0)
