"""benchmark.loop: one early-stopping tracker per run (a bank of runs holds one each), and checkpoints
of the format before the shared loop still resume."""
from __future__ import annotations

import math

import pytest
import torch

from benchmark.loop import Checkpoint, EarlyStopping, legacy_stopping
from benchmark.train import TrainConfig, fit


def test_each_run_stops_and_keeps_on_its_own_validations():
    runs = [EarlyStopping(2), EarlyStopping(2), EarlyStopping(2, select_initial=False)]
    curves = [[0.5, 0.6, 0.4, 0.4, 0.9], [0.5, 0.4, 0.3, 0.9, 0.9], [0.9, 0.2, 0.3, 0.1, 0.1]]
    for run, curve in zip(runs, curves):
        run.start(curve[0], ("state", 0))
    for step in range(1, 5):
        for run, curve in zip(runs, curves):
            if not run.stopped:
                run.update(step, curve[step], lambda step=step: ("state", step))
    assert [(r.best_step, r.best_score, r.stopped) for r in runs] == [(1, 0.6, True), (0, 0.5, True),
                                                                       (2, 0.3, True)]
    assert [r.best_state for r in runs] == [("state", 1), ("state", 0), ("state", 2)]
    assert [len(r.evaluations) for r in runs] == [4, 3, 5]


def test_a_smoothed_window_keeps_its_latest_checkpoint_and_reports_its_raw_score():
    run = EarlyStopping(5, smooth=3, need=3)
    run.start(0.9, "start")                       # one lucky validation never competes alone
    for step, acc in enumerate([0.2, 0.3, 0.9, 0.95], start=1):
        run.update(step, acc, lambda step=step: step)
    assert run.best_step == 4 and run.best_state == 4 and run.best_score == 0.95
    assert run.best == pytest.approx((0.3 + 0.9 + 0.95) / 3) and run.bad == 0


def _problem():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(24, 5, generator=gen)
    return x, x @ torch.randn(5, generator=gen), torch.nn.Parameter(torch.zeros(5))


class Stop(Exception):
    pass


def _fit(checkpoint=None, stop_at=None):
    x, y, w = _problem()
    calls = {"n": 0}

    def loss_fn(idx):
        calls["n"] += 1
        if stop_at is not None and calls["n"] > stop_at:
            raise Stop
        return (((x[idx] @ w) - y[idx] + 0.1 * torch.randn(len(idx))) ** 2).mean()

    torch.manual_seed(3)
    cfg = TrainConfig(lr=0.05, warmup_steps=2, batch_size=5, max_epochs=6, patience=50, eval_every=3,
                      checkpoint_every=2)
    res = fit([w], loss_fn, lambda: float(-(((x @ w) - y) ** 2).mean()), len(x), cfg, seed=3, progress=False,
              checkpoint=checkpoint)
    return w.detach().clone(), res


def test_a_checkpoint_of_the_format_before_the_shared_loop_resumes_to_the_same_parameters(tmp_path):
    ref_w, ref = _fit()
    ck = tmp_path / "ck.pt"
    with pytest.raises(Stop):
        _fit(checkpoint=ck, stop_at=7)
    state = torch.load(ck, weights_only=False)
    legacy = {k: v for k, v in state.items() if k not in ("format", "stopping")}
    legacy.update(state["stopping"][0])           # fit's format-1 layout: the tracker's fields at the top
    torch.save(legacy, ck)
    w, res = _fit(checkpoint=ck)
    assert res.resumed_from == 6 and torch.equal(w, ref_w) and res.evaluations == ref.evaluations


def test_meta_train_s_format_1_layout_is_read():
    state = {"history": [{"step": 0, "val_accuracy": 0.5}, {"step": 3, "meta_train_loss": 1.0, "val_accuracy": 0.6}],
             "best_acc": 0.6, "best_step": 3, "best_prompt": "p", "bad": 0}
    got = legacy_stopping(state)
    assert got["evaluations"] == [(0, 0.5), (3, 0.6)] and got["best_state"] == "p" and got["best"] == 0.6
    run = EarlyStopping(1)
    run.load_state_dict(dict(got, bad=1))
    assert run.stopped                             # written after early stopping: resumes as finished


def test_no_path_means_no_checkpoint(tmp_path):
    ck = Checkpoint(None)
    ck.save({"step": 1}, [EarlyStopping(1)])
    assert not ck.exists() and ck.load([EarlyStopping(1)]) is None
    assert EarlyStopping(1).best == -math.inf
