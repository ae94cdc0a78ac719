"""train.fit checkpoints (params, optimiser, scheduler, RNG and batch-order state, step, best state)
and a run interrupted at any step resumes to the same parameters as an uninterrupted one."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.train import TrainConfig, fit


class Interrupted(Exception):
    pass


def _problem(seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(24, 5, generator=gen)
    y = x @ torch.randn(5, generator=gen)
    w = torch.nn.Parameter(torch.zeros(5))
    return x, y, w


def _run(checkpoint=None, stop_at=None, cfg=None, seed=3, flat=False, bumpy=False):
    x, y, w = _problem()
    calls = {"n": 0}

    def loss_fn(idx):
        calls["n"] += 1
        if stop_at is not None and calls["n"] > stop_at:
            raise Interrupted
        noise = 0.1 * torch.randn(len(idx))  # uses the torch RNG: resumed runs must restore it
        return (((x[idx] @ w) - y[idx] + noise) ** 2).mean()

    def eval_fn():
        if flat:   # never improves: early stop after `patience` evaluations
            return 0.0
        with torch.no_grad():
            mse = float(-(((x @ w) - y) ** 2).mean())
            # bumpy: a deterministic function of w whose best is not the latest checkpoint of a window
            return mse + (3.0 * float(torch.sin(50 * w.sum())) if bumpy else 0.0)

    torch.manual_seed(seed)
    cfg = cfg or TrainConfig(lr=0.05, warmup_steps=2, batch_size=5, max_epochs=6, patience=50, eval_every=3,
                             checkpoint_every=2)
    result = fit([w], loss_fn, eval_fn, len(x), cfg, seed=seed, progress=False, checkpoint=checkpoint)
    return w.detach().clone(), result


def test_fit_without_checkpoint_is_unchanged(tmp_path):
    w1, r1 = _run()
    w2, r2 = _run(checkpoint=tmp_path / "ck.pt")
    assert torch.equal(w1, w2)
    assert r1.evaluations == r2.evaluations and r1.steps == r2.steps


@pytest.mark.parametrize("stops", [[1], [4], [5, 3], [2, 2, 2, 7]])
def test_fit_resumes_to_the_same_parameters(tmp_path, stops):
    ref_w, ref = _run()
    ck = tmp_path / "ck.pt"
    for stop in stops:   # each interruption happens `stop` steps after the (re)start
        with pytest.raises(Interrupted):
            _run(checkpoint=ck, stop_at=stop)
    assert ck.exists() == (max(stops) >= 2)   # a checkpoint every 2 steps
    w, result = _run(checkpoint=ck)
    assert torch.equal(w, ref_w)
    assert result.steps == ref.steps
    assert result.evaluations == ref.evaluations
    assert result.best_step == ref.best_step


@pytest.mark.parametrize("stops", [[26], [29], [5, 3, 20]])
def test_fit_resumes_inside_a_smoothed_window(tmp_path, stops):
    """With select_smooth the choice depends on the validations before the resume point: they survive
    a resume, and the stops land inside the winning window (steps 24-30)."""
    cfg = TrainConfig(lr=0.05, warmup_steps=2, batch_size=5, max_epochs=6, patience=50, eval_every=3,
                      checkpoint_every=2, select_smooth=3, full_window=True)
    ref_w, ref = _run(cfg=cfg, bumpy=True)
    ck = tmp_path / "ck.pt"
    for stop in stops:
        with pytest.raises(Interrupted):
            _run(checkpoint=ck, stop_at=stop, cfg=cfg, bumpy=True)
    w, result = _run(checkpoint=ck, cfg=cfg, bumpy=True)
    assert torch.equal(w, ref_w) and result.best_step == ref.best_step
    assert result.evaluations == ref.evaluations


def test_fit_resumes_after_early_stop_as_finished(tmp_path):
    cfg = TrainConfig(lr=0.05, warmup_steps=0, batch_size=6, max_epochs=30, patience=2, eval_every=2,
                      checkpoint_every=3)
    ref_w, ref = _run(cfg=cfg, flat=True)
    assert ref.stopped_early
    ck = tmp_path / "ck.pt"
    w1, _ = _run(checkpoint=ck, cfg=cfg, flat=True)
    w2, again = _run(checkpoint=ck, cfg=cfg, stop_at=0, flat=True)   # nothing left to do: no loss evaluated
    assert torch.equal(w1, ref_w) and torch.equal(w2, ref_w)
    assert again.steps == ref.steps and again.stopped_early


def test_checkpoint_every_must_be_positive():
    from benchmark.errors import UserError

    with pytest.raises(UserError, match="checkpoint_every"):
        TrainConfig(checkpoint_every=0).validate("ppt")
    assert np.isfinite(TrainConfig().lr)
