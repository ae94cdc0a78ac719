"""Prompt-MAML (paper section 4.3, Algorithm 1): meta-learn the soft prompt over meta tasks.

For each meta task T_i (m support rows, m query rows):
    P'_i = P - alpha * grad_P L_support(P)                 (inner step, eq. 5)
and the prompt is updated with the summed query losses:
    P <- P - beta * grad_P sum_i L_query(P'_i)             (outer step, eq. 6; Adam with weight decay)

Two engines compute the same meta-gradient:
  * ``l2l``: the reference, ``l2l.algorithms.MAML`` around the SoftPrompt only: clone, adapt,
    query loss, one task at a time.
  * ``batched``: since only the prompt adapts, all tasks' support rows run as one forward, the
    per-task inner gradients come from one backward (each task's loss depends only on its own
    copy of P), and all query rows run as one more forward.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from benchmark.errors import UserError
from benchmark.loop import Checkpoint, EarlyStopping, LoopResult
from benchmark.settings import MAMLConfig

log = logging.getLogger(__name__)


def select_rows(texts, labels, idx):
    return [texts[i] for i in idx], [int(labels[i]) for i in idx]


def meta_step_l2l(maml, scorer, texts, labels, tasks, cfg: MAMLConfig) -> float:
    """Reference engine: accumulate grad of sum_i L_query(P'_i) into the prompt, one task at a time."""
    total = 0.0
    for support, query in tasks:
        learner = maml.clone()
        for _ in range(cfg.inner_steps):
            learner.adapt(scorer.loss(*select_rows(texts, labels, support), learner()))
        query_loss = scorer.loss(*select_rows(texts, labels, query), learner())
        query_loss.backward()
        total += query_loss.item()
    return total


def batched_adapt(prompt_weight, scorer, texts, labels, tasks, inner_lr, inner_steps, create_graph, owners=None):
    """Per-task adapted prompts [K, n, d] from one batched forward/backward per inner step.

    ``owners`` None: every task starts from ``prompt_weight`` [n, d]. Otherwise ``prompt_weight`` is a
    stack [R, n, d] and task t starts from prompt ``owners[t]``: each task's loss depends only on its
    own copy, so a prompt's gradient flows from its own tasks only."""
    n_tasks = len(tasks)
    m = len(tasks[0][0])
    sup_texts, sup_labels = select_rows(texts, labels, [i for support, _ in tasks for i in support])
    if owners is None:
        adapted = prompt_weight.unsqueeze(0).repeat(n_tasks, 1, 1)
    else:
        adapted = prompt_weight.index_select(0, torch.as_tensor(owners, dtype=torch.long,
                                                                device=prompt_weight.device))
    for _ in range(inner_steps):
        per_row = adapted.repeat_interleave(m, dim=0)
        task_losses = scorer.losses(sup_texts, sup_labels, per_row).view(n_tasks, m).mean(1)
        (grad,) = torch.autograd.grad(task_losses.sum(), adapted, create_graph=create_graph)
        adapted = adapted - inner_lr * (grad if create_graph else grad.detach())
    return adapted


def task_chunks(tasks, chunk_tasks):
    size = len(tasks) if chunk_tasks in (None, "auto") else int(chunk_tasks)
    return [tasks[i:i + size] for i in range(0, len(tasks), size)]


def meta_step_batched(prompt_module, scorer, texts, labels, tasks, cfg: MAMLConfig) -> float:
    """Task-batched engine: the same meta-gradient as ``meta_step_l2l`` in three passes per chunk of
    ``cfg.chunk_tasks`` tasks; each chunk's backward adds its part of the summed query loss's
    gradient to the prompt's ``.grad``, and frees that chunk's activations before the next."""
    if len({len(s) for s, _ in tasks} | {len(q) for _, q in tasks}) != 1:
        raise ValueError("the batched engine needs the same m for every support and query set")
    weight = prompt_module.weight
    m = len(tasks[0][1])
    total = 0.0
    for chunk in task_chunks(tasks, cfg.chunk_tasks):
        adapted = batched_adapt(weight, scorer, texts, labels, chunk, cfg.inner_lr, cfg.inner_steps,
                                 create_graph=not cfg.first_order)
        q_texts, q_labels = select_rows(texts, labels, [i for _, query in chunk for i in query])
        query_losses = scorer.losses(q_texts, q_labels, adapted.repeat_interleave(m, dim=0))
        loss = query_losses.view(len(chunk), m).mean(1).sum()
        loss.backward()
        total += loss.item()
    return total


TASK_MARGIN = 1.25   # per-task activations = this x the median task's (longer tasks pad to longer rows)
STEP_FACTOR = 1.5    # a step's memory / its saved activations (double-backward temporaries; docs/PERF.md)


def default_budget_mb() -> float:
    """1/8 of physical memory: a fixed share, so a machine always picks the same chunk."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):   # not POSIX: psutil, when installed
        import psutil

        total = psutil.virtual_memory().total
    return total / 8 / 2**20


def saved_mb(fn, exclude=()) -> float:
    """MB of tensors autograd saves for backward while ``fn`` runs (each storage once), leaving out
    the storages in ``exclude`` (the frozen weights a linear layer saves: resident anyway)."""
    seen = set()
    exclude = set(exclude)

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in exclude:
            seen.add((storage.data_ptr(), storage.nbytes()))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(nbytes for _, nbytes in seen) / 2**20


def choose_chunk(prompt_module, scorer, texts, labels, tasks, cfg: MAMLConfig) -> dict:
    """The chunk size the meta-step will use, with the evidence (for the artefact report).

    ``auto``: one task's second-order step is measured (saved activations, frozen weights left out)
    on the task of ``tasks`` with the median text length; a task's memory is taken as
    ``STEP_FACTOR`` x that (measured: the temporaries of the double backward) x 1.25 (rows are padded per length bucket,
    so a chunk of longer tasks costs more; the longest task alone would overstate the mean about 2x),
    and the chunk is the most tasks that fit ``memory_budget_mb``. The measurement depends only on
    the config and the data, so a machine always picks the same chunk."""
    n_tasks = len(tasks)
    cfg.validate()      # chunk > K was refused against pretrain.k; fewer real tasks (label grouping) clamp
    budget = cfg.memory_budget_mb or default_budget_mb()
    if cfg.engine != "batched" and cfg.algorithm == "maml":
        return {"chunk_tasks": 1, "how": "l2l engine: one task at a time", "budget_mb": budget}
    if cfg.chunk_tasks != "auto":
        return {"chunk_tasks": min(int(cfg.chunk_tasks), n_tasks), "how": "set", "budget_mb": round(budget, 1)}
    by_length = sorted(tasks, key=lambda t: sum(len(str(texts[i])) for i in t[0] + t[1]))
    median = by_length[len(by_length) // 2]
    weight = prompt_module.weight
    saved_grad = weight.grad
    one = dataclasses.replace(cfg, chunk_tasks=1)
    model = getattr(getattr(scorer, "backbone", None), "model", None)
    weights = [p.untyped_storage().data_ptr() for p in model.parameters()] if model is not None else []
    activations = saved_mb(lambda: meta_step_batched(prompt_module, scorer, texts, labels, [median], one), weights)
    task_mb = TASK_MARGIN * STEP_FACTOR * activations
    weight.grad = saved_grad
    if task_mb > budget:
        raise UserError(f"setting maml.memory_budget_mb = {budget:.0f} cannot hold one meta task: its "
                        f"meta-step needs about {task_mb:.0f} MB; allowed: a budget >= {task_mb:.0f} MB "
                        "(or null), or a shorter prompt / max_length / maml.m")
    chunk = max(1, min(n_tasks, int(budget // task_mb)))
    log.info("Prompt-MAML: %d of %d tasks per chunk (%.0f MB per task, budget %.0f MB)", chunk, n_tasks,
             task_mb, budget)
    return {"chunk_tasks": chunk, "how": "auto", "task_mb": round(task_mb, 1), "activations_mb": round(activations, 1),
            "budget_mb": round(budget, 1)}


ENGINES = {"l2l": meta_step_l2l, "batched": meta_step_batched}


def meta_validate(prompt_weight, scorer, texts, labels, tasks, cfg: MAMLConfig) -> float:
    """Meta-validation accuracy: adapt a copy of P on each task's support rows, score its query rows."""
    if not tasks:
        return float("nan")
    weight = prompt_weight.detach().requires_grad_(True)
    correct = total = 0
    for chunk in task_chunks(tasks, cfg.chunk_tasks):   # first order, but a chunk's activations still add up
        with torch.enable_grad():
            adapted = batched_adapt(weight, scorer, texts, labels, chunk, cfg.inner_lr, cfg.inner_steps,
                                     create_graph=False).detach()
        for t, (_, query) in enumerate(chunk):
            q_texts, q_labels = select_rows(texts, labels, query)
            preds = scorer.predict(q_texts, adapted[t])
            correct += int((preds == np.asarray(q_labels)).sum())
            total += len(query)
    return correct / total


@dataclasses.dataclass
class MetaResult(LoopResult):
    history: list = dataclasses.field(default_factory=list)   # per validation: step, meta-train loss, accuracy
    chunk: dict | None = None       # the meta-step's task chunk and how it was chosen
    failed: str | None = None       # why this prompt failed (``maml_bank.meta_train_many``); None: it did not


def meta_train(prompt_module, scorer, texts, labels, sampler, cfg: MAMLConfig, *,
               checkpoint: os.PathLike | None = None, progress: bool = True, desc: str = "Prompt-MAML",
               select_initial: bool = True):
    """Run Prompt-MAML (or the ``cfg.algorithm`` of ``benchmark.meta_algorithms``) on ``prompt_module``
    (a SoftPrompt) in place; return a MetaResult.

    ``select_initial=False`` (what MetaPT uses): the initial prompt's meta-validation accuracy is
    recorded at step 0 but the result is the best *meta-trained* prompt, never the initial one.

    ``sampler.train_tasks(step)`` gives the meta-batch of a step as a list of
    (support_indices, query_indices), one per meta task; ``sampler.validation_tasks()`` the
    fixed meta-validation tasks. Early stopping on meta-validation accuracy (``cfg.patience``) and the
    kept prompt are a ``loop.EarlyStopping``; ``checkpoint`` (a file, ``loop.Checkpoint``) is written
    every ``cfg.checkpoint_every`` steps and resumed from when present.
    Long because the meta-step, its meta-validation, early stopping and the checkpoint share the loop's state; the
    equations are the few lines of ``meta_step_*``."""
    from benchmark.l2l import MAML
    from benchmark.meta_algorithms import meta_step_of

    cfg.validate()
    chunk = choose_chunk(prompt_module, scorer, texts, labels, sampler.train_tasks(0), cfg)
    cfg = dataclasses.replace(cfg, chunk_tasks=chunk["chunk_tasks"])
    maml = MAML(prompt_module, lr=cfg.inner_lr, first_order=cfg.first_order)
    optimizer = torch.optim.AdamW(maml.parameters(), lr=cfg.outer_lr, weight_decay=cfg.weight_decay)
    engine = meta_step_of(cfg)
    val_tasks = sampler.validation_tasks()
    stopping = EarlyStopping(cfg.patience, select_initial=select_initial)
    ckpt = Checkpoint(checkpoint)
    step, history = 0, []
    state = ckpt.load([stopping])
    if state is not None:
        with torch.no_grad():
            prompt_module.weight.copy_(state["prompt"])
        optimizer.load_state_dict(state["optimizer"])
        step, history = state["step"], state["history"]
        log.info("resumed Prompt-MAML from %s at step %d", ckpt.path, step)
    else:
        initial = meta_validate(prompt_module.weight, scorer, texts, labels, val_tasks, cfg)
        stopping.start(initial, prompt_module.weight.detach().clone())
        history.append({"step": 0, "val_accuracy": initial})
    resumed_from = step

    start = time.perf_counter()
    bar = tqdm(total=cfg.max_steps, initial=step, desc=desc, disable=not progress, dynamic_ncols=True,
               leave=False)
    engine_arg = maml if engine is meta_step_l2l else prompt_module
    while not stopping.stopped and step < cfg.max_steps:
        optimizer.zero_grad(set_to_none=True)
        loss = engine(engine_arg, scorer, texts, labels, sampler.train_tasks(step), cfg)
        if not np.isfinite(loss):
            raise FloatingPointError(f"Prompt-MAML: meta-train loss is {loss} at step {step}")
        optimizer.step()
        step += 1
        bar.update(1)
        if step % cfg.eval_every == 0 or step == cfg.max_steps:
            acc = meta_validate(prompt_module.weight, scorer, texts, labels, val_tasks, cfg)
            history.append({"step": step, "meta_train_loss": loss, "val_accuracy": acc})
            bar.set_postfix(loss=f"{loss:.3f}", val_acc=f"{acc:.3f}", best=f"{stopping.best:.3f}")
            log.info("meta-step %d loss %.4f meta-val acc %.4f", step, loss, acc)
            stopping.update(step, acc, lambda: prompt_module.weight.detach().clone())
        if ckpt.path is not None and (step % cfg.checkpoint_every == 0 or stopping.stopped or step == cfg.max_steps):
            ckpt.save({"prompt": prompt_module.weight.detach().clone(), "optimizer": optimizer.state_dict(),
                       "step": step, "history": history}, [stopping])
    bar.close()
    with torch.no_grad():
        prompt_module.weight.copy_(stopping.best_state)
    return MetaResult(best_score=float(stopping.best_score), best_step=stopping.best_step, steps=step,
                      evaluations=stopping.evaluations, stopped_early=stopping.stopped,
                      wall_s=time.perf_counter() - start, resumed_from=resumed_from, history=history, chunk=chunk)


class ClusterSampler:
    """Meta-batches for Algorithm 1: every meta task visited once per meta-step.

    Each meta task is its own learn2learn TaskDataset (``tasks.task_dataset(c)``); a step's draw
    is reseeded from (seed, meta task, step), so a resumed run sees exactly the tasks an
    uninterrupted one would.
    """

    def __init__(self, tasks, *, m: int, seed: int = 0, val_per_task: int = 1):
        self.tasks, self.m, self.seed, self.val_per_task = tasks, m, seed, val_per_task
        self.datasets = {c: tasks.task_dataset(c) for c in tasks.task_ids}

    def train_tasks(self, step: int) -> list[tuple[list[int], list[int]]]:
        out = []
        for c, dataset in self.datasets.items():
            dataset.reseed(f"{self.seed}-{c}-{step}")
            (support, _), (query, _) = self.tasks.split_task(dataset.sample(), self.m)
            out.append(([int(i) for i in support], [int(i) for i in query]))
        return out

    def validation_tasks(self) -> list[tuple[list[int], list[int]]]:
        return [(t.support, t.query) for t in self.tasks.validation_tasks(self.val_per_task, seed=self.seed)]
