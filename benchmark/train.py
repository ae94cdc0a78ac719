"""One training loop for prompts and for the full model: AdamW, linear warm-up, early stopping.

Its callers build the loss and the validation with ``benchmark.scoring`` (the verbalised objective); its early
stopping, kept state and checkpoints from ``benchmark.loop``.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from benchmark.errors import UserError
from benchmark.loop import Checkpoint, EarlyStopping, LoopResult
from benchmark.settings import TrainConfig

log = logging.getLogger(__name__)


def linear_warmup(optimizer, warmup_steps: int, total_steps: int):
    """Linear warm-up to the peak rate, then linear decay to 0 (transformers' linear schedule)."""
    from transformers import get_linear_schedule_with_warmup

    return get_linear_schedule_with_warmup(optimizer, warmup_steps, max(total_steps, 1))


@dataclasses.dataclass(frozen=True)
class Plan:
    """A run's schedule under ``cfg`` with ``n_rows`` training rows: the steps of an epoch, the step
    budget, and the steps between validations and between resume points."""

    steps_per_epoch: int
    total: int
    eval_every: int
    checkpoint_every: int

    @classmethod
    def of(cls, cfg: TrainConfig, n_rows: int) -> Plan:
        steps_per_epoch = math.ceil(n_rows / cfg.batch_size)
        total = cfg.max_epochs * steps_per_epoch
        if cfg.max_steps:
            total = min(total, cfg.max_steps)
        eval_every = cfg.eval_every or steps_per_epoch
        return cls(steps_per_epoch, total, eval_every, cfg.checkpoint_every or eval_every)

    def stopping(self, cfg: TrainConfig, select_initial: bool) -> EarlyStopping:
        """The run's ``loop.EarlyStopping``; with ``full_window`` a window competes once it holds
        ``select_smooth`` validations, or all the budget allows when it allows fewer."""
        planned = 1 + self.total // self.eval_every + (self.total % self.eval_every != 0)  # 0, every, last
        return EarlyStopping(cfg.patience, smooth=cfg.select_smooth, select_initial=select_initial,
                             need=min(cfg.select_smooth, planned) if cfg.full_window else 1)


@dataclasses.dataclass
class FitResult(LoopResult):
    epochs: float = 0.0
    budget: int = 0          # the steps the loop would run without early stopping


def fit(params, loss_fn, eval_fn, n_rows: int, cfg: TrainConfig, *, seed: int = 0,
        snapshot=None, restore=None, desc: str = "tune", progress: bool = True,
        checkpoint=None, select_initial: bool = True) -> FitResult:
    """Minimise ``loss_fn(row_indices)`` with AdamW + linear warm-up; early-stop on ``eval_fn()``.

    ``eval_fn()`` returns the validation score (accuracy; higher is better), every ``cfg.eval_every``
    steps (default: once an epoch) and at the last step. Early stopping and the kept state are a
    ``loop.EarlyStopping`` (``cfg.patience``, ``cfg.select_smooth``, ``cfg.full_window``: with
    ``full_window`` a window competes once it holds ``select_smooth`` validations, or all the budget
    allows when it allows fewer); the best state (``snapshot()`` at the best validation) is given
    back with ``restore(state)``, and ``best_score`` is its own (raw) validation.

    ``checkpoint`` (a file): every ``cfg.checkpoint_every`` steps (default: at each validation) the
    parameters, optimiser, scheduler, RNG and batch-order states, step and early-stopping state are
    saved there atomically (``loop.Checkpoint``); a later call with the same file resumes from it and
    ends with the same parameters as an uninterrupted run.

    ``select_initial=False`` (pre-training): the untrained parameters are scored and recorded at
    step 0 but never chosen as the best state; the result is the best *trained* checkpoint, as a
    pre-trained prompt should be (the paper keeps the best of its saved checkpoints).

    Long because the loop's state (batch order, optimiser, schedule, early stopping) is restored and
    saved as one unit around the step; split, the resume path would be spread over several functions.
    """
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ValueError("nothing to train")
    if n_rows < 1:
        raise UserError("no training rows")
    snapshot = snapshot or (lambda: [p.detach().clone() for p in params])
    restore = restore or (lambda state: [p.data.copy_(s) for p, s in zip(params, state)])
    plan = Plan.of(cfg, n_rows)
    steps_per_epoch, total, eval_every, ckpt_every = (plan.steps_per_epoch, plan.total, plan.eval_every,
                                                      plan.checkpoint_every)
    stopping = plan.stopping(cfg, select_initial)
    opt = adamw(params, cfg)
    sched = linear_warmup(opt, cfg.warmup_steps, total)
    rng = np.random.default_rng(seed)
    ckpt = Checkpoint(checkpoint)

    start = time.perf_counter()
    order, step = np.array([], dtype=np.int64), 0
    state = ckpt.load([stopping])
    if state is not None:
        with torch.no_grad():
            for p, saved in zip(params, state["params"]):
                p.copy_(saved)
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        rng.bit_generator.state = state["order_rng"]
        order, step = state["order"], state["step"]
        log.info("%s: resumed from %s at step %d", desc, ckpt.path, step)
    else:
        stopping.start(eval_fn(), snapshot())
    resumed_from = step
    bar = tqdm(total=total, initial=step, desc=desc, disable=not progress, leave=False, dynamic_ncols=True)
    while step < total and not stopping.stopped:
        if len(order) < cfg.batch_size:
            order = np.concatenate([order, rng.permutation(n_rows)])
        batch, order = order[:cfg.batch_size], order[cfg.batch_size:]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{desc}: loss is {loss.item()} at step {step}")
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        bar.update(1)
        if step % eval_every == 0 or step == total:
            score = eval_fn()
            bar.set_postfix(loss=f"{loss.item():.3f}", val=f"{score:.3f}", best=f"{stopping.best:.3f}")
            stopping.update(step, score, snapshot)
        if ckpt.path is not None and (step % ckpt_every == 0 or stopping.stopped or step == total):
            ckpt.save({"params": [p.detach().clone() for p in params], "optimizer": opt.state_dict(),
                       "scheduler": sched.state_dict(), "order_rng": rng.bit_generator.state, "order": order,
                       "step": step}, [stopping])
    bar.close()
    restore(stopping.best_state)
    return FitResult(best_score=float(stopping.best_score), best_step=stopping.best_step, steps=step,
                     evaluations=stopping.evaluations, stopped_early=stopping.stopped,
                     wall_s=time.perf_counter() - start, resumed_from=resumed_from,
                     epochs=step / steps_per_epoch, budget=total)


def adamw(params, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with torch's fused kernel (one pass over each parameter, its gradient and both moments,
    instead of a chain of element-wise ops: full-model tuning updates all 135 M weights every step) where
    this torch has it for the parameters' device and dtype; the for-each implementation otherwise.
    The same update up to float rounding (docs/PERF.md has the measured effect)."""
    params = list(params)    # a generator would be spent by the first attempt
    try:
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):   # a device or dtype the fused kernel does not take
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def module_snapshot(module: torch.nn.Module):
    """Snapshot/restore pair for a whole module (full-model tuning)."""
    def snap():
        return {k: v.detach().clone() for k, v in module.state_dict().items()}

    def restore(state):
        module.load_state_dict(state)

    return snap, restore
