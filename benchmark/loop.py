"""What every training loop shares: early stopping with its best state, and checkpoints to resume from.

``fit`` (benchmark/train.py) and ``meta_train`` (benchmark/maml.py) each hold one ``EarlyStopping``
(which validation is best, the state kept there, when to stop) and write it, with their optimiser and
the RNG states, through one ``Checkpoint`` file. A loop that trains R runs at once (R prompts in one
forward/backward) holds R trackers: each run stops, keeps and resumes on its own validations.
"""
from __future__ import annotations

import dataclasses
import math
import pathlib
import random

import numpy as np
import torch

from benchmark.io import atomic_path

CHECKPOINT_FORMAT = 2    # 1: fit's and meta_train's own layouts (still read, see ``legacy_stopping``)


@dataclasses.dataclass
class LoopResult:
    """The fields every loop reports (``fit``'s and ``meta_train``'s results add their own)."""

    best_score: float            # the kept state's own validation score
    best_step: int
    steps: int
    evaluations: list            # [(step, validation score)], step 0 first
    stopped_early: bool
    wall_s: float
    resumed_from: int = 0        # the step a checkpoint resumed the loop at (0: from the start)


class EarlyStopping:
    """One run's validations: the best one, the state kept at it, and when patience runs out.

    ``smooth`` > 1: a validation competes with the trailing mean of the last ``smooth`` validations,
    so one lucky evaluation of a few rows is not what decides; the latest checkpoint of the best window
    is kept. ``need``: validations a window must hold before it competes (and counts for patience), so
    with ``need = smooth`` the start is never kept on its single validation. ``select_initial=False``:
    the start is recorded but never kept (a trained state replaces it at the first candidate).
    """

    def __init__(self, patience: int, *, smooth: int = 1, need: int = 1, select_initial: bool = True):
        self.patience, self.smooth, self.need = int(patience), int(smooth), int(need)
        self.select_initial = bool(select_initial)
        self.evaluations: list = []
        self.best, self.best_step, self.best_state = -math.inf, 0, None
        self.bad, self.stopped = 0, False

    def start(self, score: float, state) -> None:
        """The untrained state's validation (step 0); ``state`` is its snapshot."""
        self.evaluations = [(0, score)]
        self.best_state = state
        if self.select_initial and self.need <= 1:
            self.best = score

    def update(self, step: int, score: float, snapshot) -> bool:
        """Record the validation at ``step``; ``snapshot()`` is taken when it is the new best. Returns
        whether it is (and sets ``stopped`` once ``patience`` validations in a row were not)."""
        self.evaluations.append((step, score))
        if self.smooth > 1:
            window = [a for _, a in self.evaluations[-self.smooth:]]
            score = sum(window) / len(window)
        if len(self.evaluations) < self.need:
            return False             # its window is not full yet: neither a candidate nor a miss
        if score > self.best:
            self.best, self.best_step, self.best_state, self.bad = score, step, snapshot(), 0
            return True
        self.bad += 1
        if self.bad >= self.patience:
            self.stopped = True
        return False

    @property
    def best_score(self) -> float:
        """The kept state's own validation (with smoothing, not the window's mean)."""
        if self.smooth > 1:
            return next((a for s, a in self.evaluations if s == self.best_step), self.best)
        return self.best

    def state_dict(self) -> dict:
        return {"evaluations": self.evaluations, "best": self.best, "best_step": self.best_step,
                "best_state": self.best_state, "bad": self.bad, "stopped": self.stopped}

    def load_state_dict(self, state: dict) -> None:
        self.evaluations = state["evaluations"]
        self.best, self.best_step, self.best_state = state["best"], state["best_step"], state["best_state"]
        self.bad, self.stopped = state["bad"], state["stopped"]
        self.stopped = self.stopped or self.bad >= self.patience   # written after early stopping: finished


def legacy_stopping(state: dict) -> dict:
    """An ``EarlyStopping.state_dict`` from a checkpoint of format 1 (fit's or meta_train's layout)."""
    if "best_acc" in state:          # meta_train
        evaluations = [(h["step"], h["val_accuracy"]) for h in state["history"]]
        return {"evaluations": evaluations, "best": state["best_acc"], "best_step": state["best_step"],
                "best_state": state["best_prompt"], "bad": state["bad"], "stopped": False}
    return {key: state[key] for key in ("evaluations", "best", "best_step", "best_state", "bad", "stopped")}


def rng_state() -> dict:
    """The global Python, NumPy and torch RNG states (what a resumed loop must continue from)."""
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


class Checkpoint:
    """A loop's resume point in one file, written atomically (a kill never leaves half a file).

    ``save`` stores the loop's own state (parameters, optimiser, ...), the trackers' states and the
    global RNG states; ``load`` gives the loop's state back, restores the RNGs and the trackers, or
    returns None when there is no file (or no path: checkpointing off)."""

    def __init__(self, path):
        self.path = pathlib.Path(path) if path else None

    def exists(self) -> bool:
        return self.path is not None and self.path.exists()

    def save(self, state: dict, trackers: list[EarlyStopping]) -> None:
        if self.path is None:
            return
        with atomic_path(self.path) as tmp:
            torch.save({"format": CHECKPOINT_FORMAT, **state, "stopping": [t.state_dict() for t in trackers],
                        "rng": rng_state()}, tmp)

    def load(self, trackers: list[EarlyStopping]) -> dict | None:
        state = self.read()
        if state is not None:
            self.restore(state, trackers)
        return state

    def read(self) -> dict | None:
        """The saved state as written (nothing restored), or None when there is no file: for a loop
        that checks what it resumes from before ``restore``."""
        if not self.exists():
            return None
        return torch.load(self.path, weights_only=False)

    @staticmethod
    def restore(state: dict, trackers: list[EarlyStopping]) -> None:
        """Restore the trackers and the RNG states from ``state`` (``read``'s)."""
        saved = state["stopping"] if state.get("format", 1) >= 2 else [legacy_stopping(state)]
        for tracker, tracked in zip(trackers, saved, strict=True):
            tracker.load_state_dict(tracked)
        set_rng_state(state["rng"])
