"""Several Prompt-MAML prompts (draws, seeds) meta-learned together against one frozen backbone.

Each prompt keeps everything ``maml.meta_train`` gives a prompt alone: its own meta-task sampler
(task draws and meta-validation tasks), its own AdamW state, early stopping, history and kept prompt.
What the prompts share is the batched engine: one meta step puts the K meta tasks of each of the R
active prompts in one list of R x K tasks, task t adapting its own copy of prompt r(t)
(``maml.batched_adapt`` with ``owners``), and minimises

    L = sum_r sum_{i in tasks of r} L_query(P'_{r,i})

with one backward per chunk. A task's loss depends only on its own prompt's copy, so dL/dP_r is the
meta-gradient of prompt r's own tasks: no prompt's update depends on another's loss, and in exact
arithmetic every prompt follows the path ``meta_train`` gives it alone (float rounding may differ with
the shape of the shared batch; alone in a chunk a prompt runs ``meta_step_batched``'s very computation).

What bounds R: memory does not. The R x K tasks are cut into chunks of the size ``chunk_tasks: auto``
gives (the most tasks whose second-order step fits ``maml.memory_budget_mb``, measured on the median
task of all R prompts' first meta-batch), and a chunk may hold tasks of several prompts; more prompts
only add chunks, each freed by its backward before the next. Sharing pays while R x K is below that
chunk (fewer, fuller passes); past it every further prompt costs its own passes, as it would alone.
The prompts' own state (weight and two AdamW moments, [n, d] each) is all that grows with R.

Meta-validation of the R prompts is one pass too: every active prompt's validation tasks adapted
together in the same chunks, then each task's query rows scored with its own adapted prompt
(prefix-cached ``Scorer.predict``, as ``maml.meta_validate``).

A prompt that stops early or reaches ``max_steps`` leaves the batch; one whose meta-train loss is not
finite fails with its reason (its optimiser is not stepped, its gradient not added to anyone's) and
the others go on. The whole bank is one ``loop.Checkpoint`` file, resumed bit-identically.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from benchmark.errors import UserError
from benchmark.loop import Checkpoint, EarlyStopping
from benchmark.maml import MetaResult, batched_adapt, choose_chunk, meta_step_l2l, select_rows, task_chunks
from benchmark.settings import MAMLConfig

log = logging.getLogger(__name__)

CHECKPOINT_KIND = "prompt-maml-bank"   # what the bank's checkpoint file says it is (others are refused)


def _adapt_chunk(weights, scorer, texts, labels, chunk, cfg: MAMLConfig, create_graph):
    """Adapted copies [len(chunk), n, d] of a chunk of (prompt index, task): alone in the chunk a prompt
    is adapted exactly as ``meta_step_batched`` adapts it; several are stacked, each task taking its own."""
    present = sorted({r for r, _ in chunk})
    tasks = [task for _, task in chunk]
    if len(present) == 1:
        return batched_adapt(weights[present[0]], scorer, texts, labels, tasks, cfg.inner_lr, cfg.inner_steps,
                             create_graph)
    where = {r: i for i, r in enumerate(present)}
    stack = torch.stack([weights[r] for r in present])
    return batched_adapt(stack, scorer, texts, labels, tasks, cfg.inner_lr, cfg.inner_steps, create_graph,
                         owners=[where[r] for r, _ in chunk])


def _flat(task_lists):
    """(prompt index, task) for every task of every prompt, prompt by prompt: a prompt's tasks stay together."""
    return [(r, task) for r, tasks in enumerate(task_lists) for task in tasks]


def meta_step_many(weights: Sequence[torch.Tensor], scorer, texts, labels, task_lists, cfg: MAMLConfig) -> list:
    """One meta step of R prompts (leaf [n, d] weights) in chunks of ``cfg.chunk_tasks`` of their R x K
    tasks: each prompt's meta-gradient (``meta_step_batched``'s) is added to its own ``.grad``.

    Returns each prompt's meta-train loss; a prompt whose loss is not finite gets that value and its
    chunks from then on are left out of the backward (its ``.grad`` must not be used)."""
    flat = _flat(task_lists)
    if len({len(s) for _, (s, _) in flat} | {len(q) for _, (_, q) in flat}) != 1:
        raise ValueError("the batched engine needs the same m for every support and query set")
    m = len(flat[0][1][1])
    totals = [0.0] * len(weights)
    for chunk in task_chunks(flat, cfg.chunk_tasks):
        adapted = _adapt_chunk(weights, scorer, texts, labels, chunk, cfg, create_graph=not cfg.first_order)
        q_texts, q_labels = select_rows(texts, labels, [i for _, (_, query) in chunk for i in query])
        task_losses = scorer.losses(q_texts, q_labels, adapted.repeat_interleave(m, dim=0)).view(len(chunk), m).mean(1)
        owners = [r for r, _ in chunk]
        kept = []
        for r in sorted(set(owners)):
            start = owners.index(r)
            loss = task_losses[start:start + owners.count(r)].sum()
            totals[r] += loss.item()
            if np.isfinite(totals[r]):
                kept.append(loss)
        if kept:
            torch.stack(kept).sum().backward()
    return totals


def meta_validate_many(weights: Sequence[torch.Tensor], scorer, texts, labels, task_lists, cfg: MAMLConfig) -> list:
    """Each prompt's meta-validation accuracy (``maml.meta_validate``'s) with every prompt's validation
    tasks adapted together in chunks of ``cfg.chunk_tasks``; query rows scored per task."""
    flat = _flat(task_lists)
    leaves = [w.detach().requires_grad_(True) for w in weights]
    correct, total = [0] * len(weights), [0] * len(weights)
    for chunk in task_chunks(flat, cfg.chunk_tasks):   # first order, but a chunk's activations still add up
        with torch.enable_grad():
            adapted = _adapt_chunk(leaves, scorer, texts, labels, chunk, cfg, create_graph=False).detach()
        for t, (r, (_, query)) in enumerate(chunk):
            q_texts, q_labels = select_rows(texts, labels, query)
            preds = scorer.predict(q_texts, adapted[t])
            correct[r] += int((preds == np.asarray(q_labels)).sum())
            total[r] += len(query)
    return [c / n if n else float("nan") for c, n in zip(correct, total)]


class _Slot:
    """One prompt's place in the bank: its sampler, optimiser, early stopping and history."""

    def __init__(self, prompt, sampler, cfg: MAMLConfig, select_initial: bool):
        self.prompt, self.sampler, self.cfg = prompt, sampler, cfg
        self.optimizer = torch.optim.AdamW(prompt.parameters(), lr=cfg.outer_lr, weight_decay=cfg.weight_decay)
        self.stopping = EarlyStopping(cfg.patience, select_initial=select_initial)
        self.val_tasks = sampler.validation_tasks()
        self.step = self.resumed_from = 0
        self.history: list = []
        self.failed: str | None = None
        self.wall_s = 0.0
        self.maml = None            # the l2l engine's wrapper, made when that engine runs

    @property
    def weight(self) -> torch.Tensor:
        return self.prompt.weight

    @property
    def active(self) -> bool:
        return self.failed is None and not self.stopping.stopped and self.step < self.cfg.max_steps

    def validation_due(self) -> bool:
        return self.step % self.cfg.eval_every == 0 or self.step == self.cfg.max_steps

    def checkpoint_due(self) -> bool:
        return self.step % self.cfg.checkpoint_every == 0 or not self.active

    def snapshot(self) -> torch.Tensor:
        return self.weight.detach().clone()

    def state(self) -> dict:
        return {"prompt": self.snapshot(), "optimizer": self.optimizer.state_dict(), "step": self.step,
                "history": self.history, "failed": self.failed, "wall_s": self.wall_s,
                "seed": getattr(self.sampler, "seed", None)}

    def load(self, state: dict) -> None:
        with torch.no_grad():
            self.weight.copy_(state["prompt"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = self.resumed_from = state["step"]
        self.history, self.failed, self.wall_s = state["history"], state["failed"], state["wall_s"]

    def result(self, chunk: dict) -> MetaResult:
        t = self.stopping
        if self.failed is None:
            with torch.no_grad():
                self.weight.copy_(t.best_state)
        return MetaResult(best_score=float(t.best_score), best_step=t.best_step, steps=self.step,
                          evaluations=list(t.evaluations), stopped_early=t.stopped, wall_s=self.wall_s,
                          resumed_from=self.resumed_from, history=self.history, chunk=chunk, failed=self.failed)


def _meta_step(slots, scorer, texts, labels, cfg: MAMLConfig) -> list:
    """The active prompts' meta-train losses, their meta-gradients in their ``.grad``."""
    tasks = [s.sampler.train_tasks(s.step) for s in slots]
    if cfg.engine == "batched":
        return meta_step_many([s.weight for s in slots], scorer, texts, labels, tasks, cfg)
    from benchmark.l2l import MAML

    for s in slots:
        s.maml = s.maml or MAML(s.prompt, lr=cfg.inner_lr, first_order=cfg.first_order)
    return [meta_step_l2l(s.maml, scorer, texts, labels, t, cfg) for s, t in zip(slots, tasks)]


def meta_train_many(prompts, scorer, texts, labels, samplers, cfg: MAMLConfig, *, checkpoint=None,
                    progress: bool = True, desc: str = "Prompt-MAML", select_initial: bool = False) -> list:
    """Run Prompt-MAML on each of ``prompts`` (SoftPrompts of one shape), prompt r drawing its meta
    tasks from ``samplers[r]``, all in the batched engine together; return one ``MetaResult`` per
    prompt, in order (``failed``: why it failed, None when it did not). Each kept prompt is restored
    into its module, as ``meta_train`` does.

    ``checkpoint`` (a file): the whole bank, written whenever a prompt reaches a resume point
    (``cfg.checkpoint_every``), stops or fails, and resumed from when present. ``select_initial``:
    as ``meta_train``'s (False, what MetaPT uses: the kept prompt is a meta-trained one).
    Long because the meta step, the validations, early stopping and the checkpoint share the loop's state."""
    prompts, samplers = list(prompts), list(samplers)
    if not prompts or len(prompts) != len(samplers):
        raise ValueError(f"meta_train_many needs one sampler per prompt, at least one; got {len(prompts)} prompts "
                         f"and {len(samplers)} samplers")
    first = prompts[0].weight
    for r, p in enumerate(prompts):
        w = p.weight
        if w.shape != first.shape or w.dtype != first.dtype or w.device != first.device:
            raise ValueError(f"{desc}[{r}]: every prompt must share shape, dtype and device; got {tuple(w.shape)} "
                             f"{w.dtype} {w.device}, the first is {tuple(first.shape)} {first.dtype} {first.device}")
    cfg.validate()
    chunk = choose_chunk(prompts[0], scorer, texts, labels, [t for s in samplers for t in s.train_tasks(0)], cfg)
    cfg = dataclasses.replace(cfg, chunk_tasks=chunk["chunk_tasks"])
    slots = [_Slot(p, s, cfg, select_initial) for p, s in zip(prompts, samplers)]
    ckpt = Checkpoint(checkpoint)
    if not _resume(ckpt, slots, desc):
        accs = meta_validate_many([s.weight for s in slots], scorer, texts, labels, [s.val_tasks for s in slots], cfg)
        for s, acc in zip(slots, accs):
            s.stopping.start(acc, s.snapshot())
            s.history.append({"step": 0, "val_accuracy": acc})

    start = time.perf_counter()
    walls = [s.wall_s for s in slots]
    bar = tqdm(total=cfg.max_steps * len(slots), initial=sum(s.step for s in slots), desc=desc,
               disable=not progress, dynamic_ncols=True, leave=False)
    while active := [s for s in slots if s.active]:
        for s in active:
            s.optimizer.zero_grad(set_to_none=True)
        losses = _meta_step(active, scorer, texts, labels, cfg)
        stepped = []
        for s, loss in zip(active, losses):
            if not np.isfinite(loss):
                s.failed = f"meta-train loss is {loss} at step {s.step}"
                s.weight.grad = None
                log.warning("%s[%d]: fails: %s", desc, slots.index(s), s.failed)
                continue
            s.optimizer.step()
            s.step += 1
            stepped.append((s, loss))
        bar.update(len(stepped))
        due = [(s, loss) for s, loss in stepped if s.validation_due()]
        accs = meta_validate_many([s.weight for s, _ in due], scorer, texts, labels,
                                  [s.val_tasks for s, _ in due], cfg) if due else []
        for (s, loss), acc in zip(due, accs):
            s.history.append({"step": s.step, "meta_train_loss": loss, "val_accuracy": acc})
            log.info("%s[%d]: meta-step %d loss %.4f meta-val acc %.4f", desc, slots.index(s), s.step, loss, acc)
            s.stopping.update(s.step, acc, s.snapshot)
        for s in active:        # a prompt's time runs until it leaves the batch (a checkpoint holds it so far)
            s.wall_s = walls[slots.index(s)] + time.perf_counter() - start
        if ckpt.path is not None and any(s.failed or s.checkpoint_due() for s in active):
            ckpt.save({"kind": CHECKPOINT_KIND, "prompts": [s.state() for s in slots]}, [s.stopping for s in slots])
    bar.close()
    return [s.result(chunk) for s in slots]


def _resume(ckpt: Checkpoint, slots, desc: str) -> bool:
    """Load the bank's checkpoint into ``slots`` (False: none to resume from); one of another loop, another
    number of prompts, other shapes or other sampler seeds is refused."""
    state = ckpt.read()
    if state is None:
        return False
    path = ckpt.path
    if not isinstance(state, dict) or state.get("kind") != CHECKPOINT_KIND:
        raise UserError(f"{path}: not a Prompt-MAML bank checkpoint; remove it to start afresh")
    saved = [(tuple(p["prompt"].shape), p["seed"]) for p in state["prompts"]]
    here = [(tuple(s.weight.shape), getattr(s.sampler, "seed", None)) for s in slots]
    if saved != here:
        raise UserError(f"{path}: holds {len(saved)} prompts (shape, seed) {saved}, this bank has {len(here)}: "
                        f"{here}; remove it to start afresh")
    for s, p in zip(slots, state["prompts"]):
        s.load(p)
    Checkpoint.restore(state, [s.stopping for s in slots])
    log.info("%s: resumed from %s at steps %s", desc, path, [s.step for s in slots])
    return True
