"""The prompt bank: R soft prompts trained at once against one frozen backbone.

Each prompt keeps everything ``train.fit`` gives a prompt trained alone: its own training rows and
data order, its own AdamW and linear warm-up schedule, its own validations, early stopping and kept
state. What the prompts share is the pass through the backbone: one step takes the next batch of
every active prompt, concatenates the rows, gives each row its own prompt (``[rows, n, d]``) and
minimises

    L = sum_r mean_{i in B_r} loss(x_i; P_r)

with one backward. A row sees only its own prompt, so dL/dP_r is the gradient of prompt r's own mean
loss: no prompt's update depends on another's loss, and in exact arithmetic every prompt follows the
path ``fit`` gives it alone (float rounding may differ with the shape of the shared batch). A prompt
that has stopped leaves the batch; one whose loss is not finite fails with its reason, alone.

The loop machinery is ``benchmark.loop``'s, as ``fit``'s: each prompt holds one ``EarlyStopping``
(its schedule and stopping rule from ``train.Plan``, the same as ``fit`` makes), and the whole bank is
one ``Checkpoint`` file that holds every prompt's state and tracker.

Memory: a pass holds the activations of every row in it, so ``per_pass`` bounds the prompts one
forward/backward takes (``prompts_per_pass`` picks it from the memory budget Prompt-MAML's
``chunk_tasks: auto`` respects); the passes of one step each add their own prompts' gradients, so a
prompt's update is the same whichever pass holds it. A pass that runs out of memory is halved and
retried (one warning); a prompt that does not fit alone fails with that reason, alone.

Scoring R prompts on shared rows stays one prefix-cached ``Scorer.predict`` per prompt
(``predict_each``): every prompt changes every text position after it, so one pass with a prompt per
row saves no work and gives up the prefix cache.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from benchmark.errors import UserError
from benchmark.loop import Checkpoint
from benchmark.train import FitResult, Plan, TrainConfig, adamw, linear_warmup

log = logging.getLogger(__name__)

CHECKPOINT_KIND = "prompt-bank"   # what a bank's checkpoint file says it is (other loops' files are refused)


@dataclasses.dataclass
class PromptRun:
    """One prompt's training in a bank: what ``fit`` takes for that prompt alone."""

    weight: torch.Tensor                          # leaf [n, d] with requires_grad, trained in place
    texts: Sequence[str]                          # training rows
    labels: Sequence[int]
    validate: Callable[[torch.Tensor], float]     # validation score of a weight (higher is better)
    cfg: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    seed: int = 0                                 # the data order's seed, as ``fit``'s
    select_initial: bool = True                   # as ``fit``'s: False never keeps the untrained prompt
    name: str = ""                                # what messages and results call it


@dataclasses.dataclass
class BankResult(FitResult):
    """``fit``'s record of one prompt, and why it failed (None: it did not)."""

    failed: str | None = None
    name: str = ""


class _Slot:
    """A prompt's place in the bank: its run, schedule, early stopping, optimiser and data order."""

    def __init__(self, run: PromptRun):
        self.run = run
        self.n_rows = len(run.texts)
        self.labels = np.asarray(run.labels)
        self.plan = Plan.of(run.cfg, self.n_rows)
        self.stopping = self.plan.stopping(run.cfg, run.select_initial)
        self.opt = adamw([run.weight], run.cfg)
        self.sched = linear_warmup(self.opt, run.cfg.warmup_steps, self.plan.total)
        self.rng = np.random.default_rng(run.seed)
        self.order = np.array([], dtype=np.int64)
        self.step = self.resumed_from = 0
        self.failed: str | None = None
        self.wall_s = 0.0

    @property
    def active(self) -> bool:
        return self.failed is None and not self.stopping.stopped and self.step < self.plan.total

    def validation_due(self) -> bool:
        return self.step % self.plan.eval_every == 0 or self.step == self.plan.total

    def checkpoint_due(self) -> bool:
        return self.failed is not None or self.step % self.plan.checkpoint_every == 0 or not self.active

    def next_batch(self) -> np.ndarray:
        """The next rows of this prompt's order: ``fit``'s batch-order rule (a fresh permutation is
        appended whenever fewer than a batch of rows is left)."""
        bs = self.run.cfg.batch_size
        if len(self.order) < bs:
            self.order = np.concatenate([self.order, self.rng.permutation(self.n_rows)])
        batch, self.order = self.order[:bs], self.order[bs:]
        return batch

    def snapshot(self) -> torch.Tensor:
        return self.run.weight.detach().clone()

    def state(self) -> dict:
        """Everything but the tracker (``Checkpoint`` writes the trackers)."""
        return {"weight": self.snapshot(), "optimizer": self.opt.state_dict(),
                "scheduler": self.sched.state_dict(), "order_rng": self.rng.bit_generator.state,
                "order": self.order, "step": self.step, "failed": self.failed, "wall_s": self.wall_s}

    def load(self, state: dict) -> None:
        with torch.no_grad():
            self.run.weight.copy_(state["weight"])
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        self.rng.bit_generator.state = state["order_rng"]
        self.order, self.step = state["order"], state["step"]
        self.failed, self.wall_s, self.resumed_from = state["failed"], state["wall_s"], state["step"]

    def result(self) -> BankResult:
        t = self.stopping
        if self.failed is None:
            with torch.no_grad():
                self.run.weight.copy_(t.best_state)
        return BankResult(best_score=float(t.best_score), best_step=t.best_step, steps=self.step,
                          evaluations=list(t.evaluations), stopped_early=t.stopped, wall_s=self.wall_s,
                          resumed_from=self.resumed_from, epochs=self.step / self.plan.steps_per_epoch,
                          budget=self.plan.total, failed=self.failed, name=self.run.name)


class PromptBank:
    """R prompts (``PromptRun``) trained together on ``scorer``'s frozen backbone.

    ``checkpoint`` (a file): the whole bank is saved there atomically whenever a prompt reaches one
    of its own resume points (``checkpoint_every``, default each validation), stops or fails; a bank
    built again with the same runs and file resumes from it and ends bit-identical to one never
    interrupted.
    """

    def __init__(self, scorer, runs: Sequence[PromptRun], *, checkpoint=None, desc: str = "bank",
                 progress: bool = True, per_pass: int | None = None):
        runs = list(runs)
        if not runs:
            raise ValueError("a prompt bank needs at least one prompt")
        for i, run in enumerate(runs):
            _check_run(run, f"{desc}[{run.name or i}]", runs[0].weight)
        if per_pass is not None and (not isinstance(per_pass, int) or per_pass < 1):
            raise ValueError(f"{desc}: per_pass = {per_pass!r}; allowed: an integer >= 1 or None (every prompt)")
        self.scorer, self.desc, self.progress = scorer, desc, progress
        self.per_pass = per_pass or len(runs)
        self.checkpoint = Checkpoint(checkpoint)
        self.slots = [_Slot(run) for run in runs]

    def active(self) -> list[int]:
        """Indices of the prompts still training."""
        return [i for i, s in enumerate(self.slots) if s.active]

    def step(self) -> dict:
        """One optimiser step of every active prompt, in passes of at most ``per_pass`` prompts (one
        forward and one backward each).

        Returns ``{index: mean training loss}`` of the prompts stepped; a prompt whose loss is not
        finite, or that runs out of memory alone, is marked failed instead (its optimiser is not
        stepped) and the others go on.
        """
        idx = self.active()
        if not idx:
            return {}
        slots = [self.slots[i] for i in idx]
        batches = [s.next_batch() for s in slots]
        for s in slots:
            s.opt.zero_grad(set_to_none=True)
        losses: dict = {}
        pos = 0
        while pos < len(slots):
            part = range(pos, min(pos + self.per_pass, len(slots)))
            try:
                losses.update(self._pass(idx, slots, batches, part))
            except RuntimeError as exc:
                if not _out_of_memory(exc):
                    raise
                for k in part:             # a backward cut short may have left part of a gradient
                    slots[k].opt.zero_grad(set_to_none=True)
                if len(part) == 1:
                    slots[pos].failed = f"out of memory alone at step {slots[pos].step} ({exc})".splitlines()[0]
                    log.warning("%s: %s fails: %s", self.desc, slots[pos].run.name or idx[pos], slots[pos].failed)
                    pos += 1
                    continue
                self.per_pass = max(1, len(part) // 2)
                log.warning("%s: %d prompts in one pass ran out of memory; %d per pass from now on",
                            self.desc, len(part), self.per_pass)
                continue
            pos += len(part)
        for i in losses:
            s = self.slots[i]
            s.opt.step()
            s.sched.step()
            s.step += 1
        return losses

    def _pass(self, idx, slots, batches, part) -> dict:
        """One forward and backward of the prompts ``part`` (positions in ``slots``); their mean losses."""
        texts = [slots[k].run.texts[j] for k in part for j in batches[k]]
        labels = np.concatenate([slots[k].labels[batches[k]] for k in part])
        if len(part) == 1:            # alone, the prompt is [n, d]: the very computation ``fit`` makes
            prompt = slots[part[0]].run.weight
        else:
            owner = torch.as_tensor(np.repeat(np.arange(len(part)), [len(batches[k]) for k in part]),
                                    device=slots[0].run.weight.device)
            prompt = torch.stack([slots[k].run.weight for k in part]).index_select(0, owner)
        losses = self.scorer.losses(texts, labels, prompt)
        means = {}
        for k, row_losses in zip(part, torch.split(losses, [len(batches[k]) for k in part])):
            s, loss = slots[k], row_losses.mean()
            if not torch.isfinite(loss):
                s.failed = f"loss is {loss.item()} at step {s.step}"
                log.warning("%s: %s fails: %s", self.desc, s.run.name or idx[k], s.failed)
                continue
            means[idx[k]] = loss
        if means:
            torch.stack(list(means.values())).sum().backward()
        return {i: float(m.detach()) for i, m in means.items()}

    def train(self) -> list[BankResult]:
        """Train every prompt to its own end (budget, early stop or failure); each kept state is
        restored into its weight. Returns one ``BankResult`` per run, in order."""
        start = time.perf_counter()
        if not self._resume():
            for s in self.slots:
                s.stopping.start(s.run.validate(s.run.weight), s.snapshot())
        bar = tqdm(total=sum(s.plan.total for s in self.slots), initial=sum(s.step for s in self.slots),
                   desc=self.desc, disable=not self.progress, leave=False, dynamic_ncols=True)
        while active := self.active():
            stepped = self.step()
            bar.update(len(stepped))
            save = False
            for i in active:
                s = self.slots[i]
                if i in stepped and s.validation_due():
                    s.stopping.update(s.step, s.run.validate(s.run.weight), s.snapshot)
                if not s.active:
                    s.wall_s += time.perf_counter() - start
                save = save or s.checkpoint_due()
            if save:
                self.save()
        bar.close()
        return [s.result() for s in self.slots]

    @torch.no_grad()
    def predict_each(self, texts, batch_size: int = 32) -> list[np.ndarray]:
        """Each prompt's label predictions on the same ``texts``: one prefix-cached pass per prompt."""
        return [self.scorer.predict(texts, s.run.weight, batch_size=batch_size) for s in self.slots]

    def save(self) -> None:
        """Write every prompt's state and tracker to the bank's checkpoint (nothing without one)."""
        self.checkpoint.save({"kind": CHECKPOINT_KIND, "runs": [s.state() for s in self.slots]},
                             [s.stopping for s in self.slots])

    def _resume(self) -> bool:
        state = self.checkpoint.read()
        if state is None:
            return False
        path = self.checkpoint.path
        if not isinstance(state, dict) or state.get("kind") != CHECKPOINT_KIND:
            raise UserError(f"{path}: not a prompt-bank checkpoint; remove it to start afresh")
        shapes = [tuple(r["weight"].shape) for r in state["runs"]]
        if shapes != [tuple(s.run.weight.shape) for s in self.slots]:
            raise UserError(f"{path}: holds {len(shapes)} prompts of shapes {shapes}, this bank has "
                            f"{len(self.slots)} of shape {tuple(self.slots[0].run.weight.shape)}; remove it to "
                            "start afresh")
        for s, saved in zip(self.slots, state["runs"]):
            s.load(saved)
        self.checkpoint.restore(state, [s.stopping for s in self.slots])
        log.info("%s: resumed from %s at steps %s", self.desc, path, [s.step for s in self.slots])
        return True


def _out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocator's out-of-memory (CUDA's own error, or the CPU allocator's)."""
    oom = getattr(torch.cuda, "OutOfMemoryError", None)
    text = str(exc)
    return (oom is not None and isinstance(exc, oom)) or "out of memory" in text or "can't allocate memory" in text


def prompts_per_pass(scorer, runs: Sequence[PromptRun], budget_mb: float | None = None) -> dict:
    """The most prompts of ``runs`` one pass may take within ``budget_mb`` (None: Prompt-MAML's default
    budget, 1/8 of the machine's memory), with the evidence.

    One prompt's step is measured on its longest batch (saved activations, frozen weights left out)
    and counted ``STEP_FACTOR`` times, as ``maml.choose_chunk`` counts a meta task; it depends only on
    the rows and the config, so a machine always picks the same number.
    """
    from benchmark.maml import STEP_FACTOR, default_budget_mb, saved_mb

    budget = budget_mb or default_budget_mb()
    run = max(runs, key=lambda r: max(len(str(t)) for t in r.texts))
    order = np.argsort([-len(str(t)) for t in run.texts])[:run.cfg.batch_size]
    texts, labels = [run.texts[j] for j in order], np.asarray(run.labels)[order]
    model = getattr(getattr(scorer, "backbone", None), "model", None)
    frozen = [p.untyped_storage().data_ptr() for p in model.parameters()] if model is not None else []
    weight = run.weight.detach().clone().requires_grad_(True)
    prompt_mb = STEP_FACTOR * saved_mb(lambda: scorer.losses(texts, labels, weight).mean().backward(), frozen)
    fits = max(1, int(budget // max(prompt_mb, 1e-6)))
    return {"per_pass": min(len(runs), fits), "prompt_mb": round(prompt_mb, 1), "budget_mb": round(budget, 1)}


def _check_run(run: PromptRun, where: str, first: torch.Tensor) -> None:
    """What a run must be for the bank to train it as ``fit`` would (settings ``fit`` alone takes are refused)."""
    w = run.weight
    if not (isinstance(w, torch.Tensor) and w.is_leaf and w.requires_grad and w.dim() == 2):
        raise ValueError(f"{where}: the weight must be a leaf [n, d] tensor with requires_grad")
    if w.shape != first.shape or w.dtype != first.dtype or w.device != first.device:
        raise ValueError(f"{where}: every prompt of a bank must share shape, dtype and device; got "
                         f"{tuple(w.shape)} {w.dtype} {w.device}, the first is {tuple(first.shape)} {first.dtype} "
                         f"{first.device}")
    run.cfg.validate(where)
    if len(run.texts) < 1:
        raise UserError(f"{where}: no training rows")
    if len(run.labels) != len(run.texts):
        raise UserError(f"{where}: {len(run.texts)} training texts but {len(run.labels)} labels")
