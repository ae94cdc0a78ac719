"""The calibration grid and the checks that refuse a bad one before any training."""
from __future__ import annotations

import dataclasses
import math

from benchmark.errors import UserError

MIN_VAL_ROWS = 8          # below this one row moves accuracy by > 12 points: no plateau can be seen


@dataclasses.dataclass
class Grid:
    tasks: list = dataclasses.field(default_factory=lambda: ["sst2", "sst5", "semeval16_laptop"])
    inits: list = dataclasses.field(default_factory=lambda: ["random", "uniform", "vocab", "label"])
    lrs: list = dataclasses.field(default_factory=lambda: [0.003, 0.03, 0.3])
    steps: int = 100              # downstream optimiser steps per curve
    eval_every: int = 10
    alphas: list = dataclasses.field(default_factory=lambda: [0.01, 0.03, 0.08, 0.3, 1.0])
    betas: list = dataclasses.field(default_factory=lambda: [0.001, 0.005, 0.025])
    maml_steps: int = 24
    maml_eval_every: int = 4
    pretrain_data: str = "pseudo"  # pseudo (MetaPT's and PPT's pool) | labelled (the labelled pool, cheaper)
    maml: bool = True
    ppt: bool = True
    ppt_steps: int | None = None   # None: the rows Prompt-MAML's calibration runs put through the backbone
    # stability: downstream tuning curves over several split seeds, from each starting prompt, for
    # every (lr, budget) schedule; patience, cadence and smoothing are replayed on each curve
    stability: bool = True
    stability_only: bool = False   # skip the init grid, Prompt-MAML and PPT curves (init: the profile's)
    stab_seeds: list = dataclasses.field(default_factory=lambda: [0, 1, 2])
    starts: list = dataclasses.field(default_factory=lambda: ["pt", "ppt", "metapt"])
    schedules: list = dataclasses.field(default_factory=lambda: [[0.03, 100], [0.01, 200], [0.003, 400]])
    patiences: list = dataclasses.field(default_factory=lambda: [3, 5, 10])   # evaluations, at each cadence
    cadences: list = dataclasses.field(default_factory=lambda: [10, 20])      # steps between validations
    smooths: list = dataclasses.field(default_factory=lambda: [1, 3])         # validations in the selection mean
    # which checkpoint of the winning window is kept, replayed where smooth > 1: its latest (what
    # ``fit`` keeps) or its best raw one (a replay only, to compare with)
    picks: list = dataclasses.field(default_factory=lambda: ["latest", "best"])
    cached_starts: bool = False    # PPT / MetaPT starts only where their artefact is already built


WINDOW_PICKS = ("latest", "best")    # see Grid.picks


def check(cfg: dict, grid: Grid, ctx) -> None:
    """Refuse a bad grid before any training: one message naming what, where and what is allowed."""
    from benchmark import data
    from benchmark.prompt import PROFILE_INITS

    for name in ("lrs", "alphas", "betas"):
        values = getattr(grid, name)
        if not values:
            raise UserError(f"calibrate: --{name} is empty; allowed: one or more numbers > 0")
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise UserError(f"calibrate: --{name} value {v!r} is invalid; allowed: numbers > 0")
    for name in ("steps", "eval_every", "maml_steps", "maml_eval_every", "ppt_steps"):
        v = getattr(grid, name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
            raise UserError(f"calibrate: --{name.replace('_', '-')} = {v!r} is invalid; allowed: an integer > 0")
    if grid.eval_every > grid.steps:
        raise UserError(f"calibrate: --eval-every {grid.eval_every} is above --steps {grid.steps}; "
                        "allowed: 1 <= eval-every <= steps")
    if grid.stability:
        check_stability(grid)
    if not grid.inits:
        raise UserError(f"calibrate: --inits is empty; allowed: {', '.join(PROFILE_INITS)}")
    for init in grid.inits:
        if init not in PROFILE_INITS:
            raise UserError(f"calibrate: prompt init {init!r} is unknown; allowed: {', '.join(PROFILE_INITS)}")
    if grid.pretrain_data not in ("pseudo", "labelled"):
        raise UserError(f"calibrate: --pretrain-data {grid.pretrain_data!r} is unknown; allowed: pseudo, labelled")
    if not grid.tasks:
        raise UserError("calibrate: --tasks is empty; allowed: downstream task names, e.g. sst2,sst5")
    downstream = [s.name for s in data.list_tasks("downstream")]
    for task in grid.tasks:
        spec = data.get_task(task)          # unknown names are refused with the valid ones
        if spec.role != "downstream":
            raise UserError(f"calibrate: task {task!r} is a {spec.role} pool, not a downstream task; "
                            f"allowed: {', '.join(downstream)}")
        _, split = ctx.split(task, cfg["seeds"][0])
        if len(split.val.texts) < MIN_VAL_ROWS:
            raise UserError(f"calibrate: task {task!r} has {len(split.val.texts)} validation rows; a curve "
                            f"needs at least {MIN_VAL_ROWS} (one row moves accuracy by "
                            f"{100 / max(len(split.val.texts), 1):.0f} points)",
                            hint=f"raise n_val (--set n_val={MIN_VAL_ROWS * 5}) or choose another task")



STARTS = ("pt", "ppt", "metapt", "metapt_y")   # metapt_y: the Prompt-MAML prompt meta-trained on label meta tasks


def check_stability(grid: Grid) -> None:
    def integers(name, values, minimum=1):
        if not values:
            raise UserError(f"calibrate: --{name} is empty; allowed: one or more integers >= {minimum}")
        for v in values:
            if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
                raise UserError(f"calibrate: --{name} value {v!r} is invalid; allowed: integers >= {minimum}")

    integers("stab-seeds", grid.stab_seeds, 0)
    if len(set(grid.stab_seeds)) < 3:
        raise UserError(f"calibrate: --stab-seeds {grid.stab_seeds} has {len(set(grid.stab_seeds))} distinct seeds; "
                        "allowed: at least 3 (a between-seed spread needs them)")
    for s in grid.starts:
        if s not in STARTS:
            raise UserError(f"calibrate: start {s!r} is unknown; allowed: {', '.join(STARTS)}")
    if not grid.starts:
        raise UserError(f"calibrate: --starts is empty; allowed: {', '.join(STARTS)}")
    if not grid.schedules:
        raise UserError("calibrate: --schedules is empty; allowed: lr:steps pairs, e.g. 0.03:100,0.01:200")
    for lr, steps in grid.schedules:
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0 \
                or isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise UserError(f"calibrate: --schedules entry {lr}:{steps} is invalid; allowed: lr > 0 : steps >= 1")
    if not grid.picks or any(p not in WINDOW_PICKS for p in grid.picks):
        bad = next((p for p in grid.picks if p not in WINDOW_PICKS), "")
        raise UserError(f"calibrate: --picks {','.join(grid.picks) or '(empty)'} is invalid at {bad!r}; "
                        f"allowed: one or more of {', '.join(WINDOW_PICKS)}")
    integers("patiences", grid.patiences)
    integers("smooths", grid.smooths)
    integers("cadences", grid.cadences)
    for c in grid.cadences:
        if c % grid.eval_every:
            raise UserError(f"calibrate: --cadences value {c} is not a multiple of --eval-every {grid.eval_every}; "
                            "allowed: multiples of it (the curves are validated every --eval-every steps)")
        for lr, steps in grid.schedules:
            if steps % c:
                raise UserError(f"calibrate: --schedules budget {steps} is not a multiple of cadence {c}; "
                                "allowed: budgets that are multiples of every cadence")
