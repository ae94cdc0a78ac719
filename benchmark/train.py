"""One training loop for prompts and for the full model, and the scoring that both share.

The objective is the paper's (section 3.2): the log-likelihood of the label word z at the
template's slot, over the whole vocabulary. A prediction is the label word with the highest
score among the task's label words.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import pathlib
import random
import time

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score, recall_score
from tqdm.auto import tqdm

from benchmark.errors import UserError
from benchmark.io import atomic_path

log = logging.getLogger(__name__)


@dataclasses.dataclass
class TrainConfig:
    """Downstream tuning, PPT pre-training and FT all use this (paper section 5, appendix A)."""

    lr: float = 3e-3
    warmup_steps: int = 20
    batch_size: int = 4
    max_epochs: int = 200
    patience: int = 5
    weight_decay: float = 0.01
    eval_every: int | None = None   # steps between validations; None = once per epoch
    max_steps: int | None = None    # cap on optimiser steps (None = epochs decide)
    eval_batch_size: int = 32
    checkpoint_every: int | None = None  # steps between resume points (with a checkpoint file); None = each eval
    # checkpoint selection and early stopping on the trailing mean of the last ``select_smooth``
    # validations (1 = the raw validation accuracy, the default; profiles set it under ``tune``)
    select_smooth: int = 1
    # with select_smooth > 1, only a checkpoint whose trailing window holds select_smooth validations may
    # be chosen (and counts for patience): the start, judged on its one validation while later
    # checkpoints are judged on a mean of several, cannot win on one lucky evaluation of a few rows.
    # False: every window counts (how the cells before this setting existed were made)
    full_window: bool = False

    def validate(self, where: str) -> None:
        for name in ("lr", "batch_size", "max_epochs", "patience", "eval_batch_size"):
            if getattr(self, name) <= 0:
                raise UserError(f"{where}.{name} must be > 0, got {getattr(self, name)}")
        if self.warmup_steps < 0:
            raise UserError(f"{where}.warmup_steps must be >= 0, got {self.warmup_steps}")
        if isinstance(self.select_smooth, bool) or not isinstance(self.select_smooth, int) or self.select_smooth < 1:
            raise UserError(f"{where}.select_smooth must be an integer >= 1, got {self.select_smooth!r}")
        if not isinstance(self.full_window, bool):
            raise UserError(f"{where}.full_window must be true or false, got {self.full_window!r}")
        if self.checkpoint_every is not None and self.checkpoint_every <= 0:
            raise UserError(f"{where}.checkpoint_every must be > 0 (or null), got {self.checkpoint_every}")


def length_buckets(lengths, *, fixed: int = 0, call_cost: float = 0.0, max_rows: int | None = None):
    """Split rows into batches of similar length: a list of index arrays (sorted by length).

    The cost of a batch is ``rows * (fixed + its longest row) + call_cost`` (token units: what a
    padded forward processes, plus a per-call overhead). The split minimising the summed cost is
    found exactly by dynamic programming over the length-sorted rows; ``max_rows`` caps a batch.
    ``call_cost=inf`` (or a single row) gives one batch.
    """
    lengths = np.asarray(lengths)
    order = np.argsort(lengths, kind="stable")
    n = len(order)
    if n <= 1 or not np.isfinite(call_cost):
        if max_rows:
            return [order[i:i + max_rows] for i in range(0, n, max_rows)]
        return [order]
    width = lengths[order] + fixed
    best = np.full(n + 1, np.inf)
    best[0] = 0.0
    cut = np.zeros(n + 1, dtype=np.int64)
    for j in range(1, n + 1):
        lo = max(0, j - max_rows) if max_rows else 0
        i = np.arange(lo, j)
        costs = best[i] + (j - i) * float(width[j - 1]) + call_cost
        k = int(np.argmin(costs))
        best[j], cut[j] = costs[k], i[k]
    out, j = [], n
    while j > 0:
        out.append(order[cut[j]:j])
        j = int(cut[j])
    return out[::-1]


# per-call overhead of one forward (+ backward) in token units: a few tens of tokens on a CPU, where
# time grows with the tokens; thousands on a GPU, where a small batch is launch-bound and padding
# is almost free (measured with `python -m benchmark perf`, see docs/PERF.md)
BUCKET_CALL_COST = {"cpu": 128.0, "cuda": 16384.0}


class Scorer:
    """Verbalised scoring on a frozen or trainable backbone: loss and predictions at the slot.

    Large batches of rows (the task-batched meta-step, scoring) are split into length buckets so
    that short rows are not padded to the longest one (``bucket_cost``: the per-call overhead in
    tokens, see ``length_buckets``; None = by device, ``inf`` = never split). Rows are scored
    independently, so bucketing changes no result beyond float rounding.
    """

    def __init__(self, backbone, label_words, max_length: int = 128, bucket_cost: float | None = None):
        self.backbone = backbone
        self.label_words = list(label_words)
        self.label_ids = torch.tensor(backbone.label_token_ids(self.label_words), dtype=torch.long)
        self.max_length = max_length
        self.bucket_cost = bucket_cost

    def _call_cost(self) -> float:
        if self.bucket_cost is not None:
            return float(self.bucket_cost)
        return BUCKET_CALL_COST.get(self.backbone.device.type, BUCKET_CALL_COST["cuda"])

    def buckets(self, texts, prompt=None, max_rows: int | None = None, call_cost: float | None = None):
        """Index arrays of length-bucketed rows (see ``length_buckets``)."""
        n_prompt = 0 if prompt is None else int(prompt.shape[-2])
        lengths = self.backbone.token_lengths(texts, self.max_length)
        return length_buckets(lengths, fixed=n_prompt, max_rows=max_rows,
                              call_cost=self._call_cost() if call_cost is None else call_cost)

    def vocab_logits(self, texts, prompt=None) -> torch.Tensor:
        batch = self.backbone.encode(list(texts), max_length=self.max_length)
        return self.backbone.slot_logits(batch, prompt)

    def losses(self, texts, labels, prompt=None) -> torch.Tensor:
        """Per-row negative log-likelihood of the label word, over the full vocabulary."""
        texts = list(texts)
        target = self.label_ids.to(self.backbone.device)[torch.as_tensor(labels, dtype=torch.long)]
        buckets = self.buckets(texts, prompt) if len(texts) > 1 else [np.arange(len(texts))]
        if len(buckets) == 1:
            return F.cross_entropy(self.vocab_logits(texts, prompt), target, reduction="none")
        parts = []
        for idx in buckets:
            rows = torch.as_tensor(idx, dtype=torch.long, device=target.device)
            p = prompt[rows.to(prompt.device)] if prompt is not None and prompt.dim() == 3 else prompt
            parts.append(F.cross_entropy(self.vocab_logits([texts[i] for i in idx], p), target[rows],
                                         reduction="none"))
        inverse = torch.as_tensor(np.argsort(np.concatenate(buckets), kind="stable"), device=target.device)
        return torch.cat(parts)[inverse]

    def loss(self, texts, labels, prompt=None) -> torch.Tensor:
        return self.losses(texts, labels, prompt).mean()

    @torch.no_grad()
    def predict(self, texts, prompt=None, batch_size: int = 32) -> np.ndarray:
        """Label index per text; texts are scored in length-bucketed batches of at most ``batch_size``
        (less padding), and only the label words' rows of the LM head are computed."""
        texts = list(texts)
        preds = np.empty(len(texts), dtype=np.int64)
        if not texts:
            return preds
        label_ids = self.label_ids.to(self.backbone.device)
        for idx in self.buckets(texts, prompt, max_rows=batch_size):
            batch = self.backbone.encode([texts[i] for i in idx], max_length=self.max_length)
            logits = self.backbone.slot_logits(batch, prompt, label_ids=label_ids)
            preds[idx] = logits.argmax(-1).cpu().numpy()
        return preds


def metrics(labels, preds, label_words) -> dict:
    """Accuracy, macro-F1 and recall per class (keyed by label word; the paper reads 'terrible')."""
    labels = np.asarray(labels)
    preds = np.asarray(preds)
    classes = list(range(len(label_words)))
    recall = recall_score(labels, preds, labels=classes, average=None, zero_division=0)
    return {
        "accuracy": float((labels == preds).mean()) if len(labels) else float("nan"),
        "macro_f1": float(f1_score(labels, preds, labels=classes, average="macro", zero_division=0)),
        "recall": {w: float(r) for w, r in zip(label_words, recall)},
        "n": int(len(labels)),
    }


def linear_warmup(optimizer, warmup_steps: int, total_steps: int):
    """Linear warm-up to the peak rate, then linear decay to 0 (transformers' linear schedule)."""
    from transformers import get_linear_schedule_with_warmup

    return get_linear_schedule_with_warmup(optimizer, warmup_steps, max(total_steps, 1))


@dataclasses.dataclass
class FitResult:
    best_score: float
    best_step: int
    steps: int
    epochs: float
    evaluations: list
    stopped_early: bool
    wall_s: float
    budget: int = 0          # the steps the loop would run without early stopping


def fit(params, loss_fn, eval_fn, n_rows: int, cfg: TrainConfig, *, seed: int = 0,
        snapshot=None, restore=None, desc: str = "tune", progress: bool = True,
        checkpoint=None, select_initial: bool = True) -> FitResult:
    """Minimise ``loss_fn(row_indices)`` with AdamW + linear warm-up; early-stop on ``eval_fn()``.

    ``eval_fn()`` returns the validation score (accuracy; higher is better). After
    ``cfg.patience`` evaluations without improvement the loop stops, and the best state
    (``snapshot()`` taken at the best evaluation) is given back with ``restore(state)``.

    ``checkpoint`` (a file): every ``cfg.checkpoint_every`` steps (default: at each evaluation) the
    parameters, optimiser, scheduler, RNG and batch-order states, step and best state are saved
    there atomically; a later call with the same file resumes from it and ends with the same
    parameters as an uninterrupted run.

    ``select_initial=False`` (pre-training): the untrained parameters are scored and recorded at
    step 0 but never chosen as the best state; the result is the best *trained* checkpoint, as a
    pre-trained prompt should be (the paper keeps the best of its saved checkpoints).

    ``cfg.select_smooth`` > 1: the best checkpoint and the patience count are judged on the trailing
    mean of the last ``select_smooth`` validations (the latest checkpoint of the best window is
    kept), so one lucky evaluation on a few validation rows is not what decides; ``best_score`` is
    then that checkpoint's own (raw) validation accuracy. 1 (default): the raw accuracy.
    ``cfg.full_window``: with smoothing, a checkpoint competes (and counts for patience) only once its
    window is full (``select_smooth`` validations, or all the budget allows when it allows fewer), so
    the start is never kept on its single validation; the window that holds it can still win.
    """
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ValueError("nothing to train")
    if n_rows < 1:
        raise UserError("no training rows")
    snapshot = snapshot or (lambda: [p.detach().clone() for p in params])
    restore = restore or (lambda state: [p.data.copy_(s) for p, s in zip(params, state)])
    steps_per_epoch = math.ceil(n_rows / cfg.batch_size)
    total = cfg.max_epochs * steps_per_epoch
    if cfg.max_steps:
        total = min(total, cfg.max_steps)
    eval_every = cfg.eval_every or steps_per_epoch
    # validations a checkpoint's window must hold before it competes (1: every checkpoint competes)
    planned = 1 + total // eval_every + (total % eval_every != 0)    # step 0, every eval_every, the last
    need = min(cfg.select_smooth, planned) if cfg.full_window else 1
    opt = adamw(params, cfg)
    sched = linear_warmup(opt, cfg.warmup_steps, total)
    rng = np.random.default_rng(seed)
    ckpt = pathlib.Path(checkpoint) if checkpoint else None
    ckpt_every = cfg.checkpoint_every or eval_every

    start = time.perf_counter()
    order = np.array([], dtype=np.int64)
    if ckpt and ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        with torch.no_grad():
            for p, saved in zip(params, state["params"]):
                p.copy_(saved)
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        rng.bit_generator.state = state["order_rng"]
        order = state["order"]
        best, best_step, best_state = state["best"], state["best_step"], state["best_state"]
        evaluations, bad, step, stopped = state["evaluations"], state["bad"], state["step"], state["stopped"]
        _set_rng_state(state["rng"])
        log.info("%s: resumed from %s at step %d", desc, ckpt, step)
    else:
        initial = eval_fn()
        evaluations = [(0, initial)]
        if select_initial and need <= 1:
            best, best_step, best_state = initial, 0, snapshot()
        else:
            best, best_step, best_state = -math.inf, 0, snapshot()  # replaced by the first trained evaluation
        bad, step, stopped = 0, 0, False
    bar = tqdm(total=total, initial=step, desc=desc, disable=not progress, leave=False, dynamic_ncols=True)
    while step < total and not stopped:
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
            evaluations.append((step, score))
            bar.set_postfix(loss=f"{loss.item():.3f}", val=f"{score:.3f}", best=f"{best:.3f}")
            if cfg.select_smooth > 1:
                window = [a for _, a in evaluations[-cfg.select_smooth:]]
                score = sum(window) / len(window)
            if len(evaluations) < need:
                pass                 # its window is not full yet: neither a candidate nor a miss
            elif score > best:
                best, best_step, best_state, bad = score, step, snapshot(), 0
            else:
                bad += 1
                if bad >= cfg.patience:
                    stopped = True
        if ckpt and (step % ckpt_every == 0 or stopped or step == total):
            with atomic_path(ckpt) as tmp:
                torch.save({"params": [p.detach().clone() for p in params], "optimizer": opt.state_dict(),
                            "scheduler": sched.state_dict(), "order_rng": rng.bit_generator.state,
                            "order": order, "best": best, "best_step": best_step, "best_state": best_state,
                            "evaluations": evaluations, "bad": bad, "step": step, "stopped": stopped,
                            "rng": _rng_state()}, tmp)
    bar.close()
    restore(best_state)
    if cfg.select_smooth > 1:
        best = next((a for s, a in evaluations if s == best_step), best)
    return FitResult(best_score=float(best), best_step=best_step, steps=step,
                     epochs=step / steps_per_epoch, evaluations=evaluations, stopped_early=stopped,
                     wall_s=time.perf_counter() - start, budget=total)


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


def _rng_state():
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def _set_rng_state(state):
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def module_snapshot(module: torch.nn.Module):
    """Snapshot/restore pair for a whole module (full-model tuning)."""
    def snap():
        return {k: v.detach().clone() for k, v in module.state_dict().items()}

    def restore(state):
        module.load_state_dict(state)

    return snap, restore
