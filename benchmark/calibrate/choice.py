"""What calibration concludes from its curves: where a curve flattens, and the settings chosen."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from benchmark.calibrate.grid import Grid

SMOOTH = 3                # evaluations in the trailing mean that finds where a curve flattens


def smoothed(values) -> np.ndarray:
    """Trailing mean over the last ``SMOOTH`` evaluations (a plateau is claimed only once seen)."""
    v = np.asarray(values, dtype=float)
    return np.array([v[max(0, i - SMOOTH + 1):i + 1].mean() for i in range(len(v))])


def plateau(evaluations, n_val: int) -> dict:
    """Where a validation curve flattens: the first evaluation whose smoothed accuracy is within one
    validation row (1 / n_val) of the smoothed curve's best. ``flat`` is False when that is the last
    evaluation (the curve may still be rising: give it more steps) or when the curve has no more
    evaluations than the smoothing window (too short to tell)."""
    steps = [int(s) for s, _ in evaluations]
    sm = smoothed([a for _, a in evaluations])
    best = float(sm.max())
    i = int(np.flatnonzero(sm >= best - 1.0 / n_val - 1e-9)[0])
    # the longest run of evaluations without a new best before the plateau: the patience that
    # would not have stopped this curve early
    raw = [a for _, a in evaluations]
    run_len = longest = 0
    top = -math.inf
    for a in raw[:i + 1]:
        if a > top:
            top, run_len = a, 0
        else:
            run_len += 1
            longest = max(longest, run_len)
    return {"step": steps[i], "smoothed_best": round(best, 4), "best": float(max(raw)),
            "initial": float(raw[0]), "flat": i < len(steps) - 1 and len(steps) > SMOOTH, "stall": longest}


def ceil_to(x: int, unit: int) -> int:
    return int(math.ceil(x / unit) * unit)


def choose_tuning(curves: dict, grid: Grid, cfg: dict) -> dict:
    """The (init, lr) with the highest mean smoothed-best validation accuracy over the tasks (ties: the
    earlier mean plateau), and the budget that reaches every task's plateau."""
    table = []
    for init in grid.inits:
        for lr in grid.lrs:
            pts = [curves[(t, init, lr)]["plateau"] for t in grid.tasks]
            table.append({"init": init, "lr": lr, "mean_best": float(np.mean([p["smoothed_best"] for p in pts])),
                          "mean_initial": float(np.mean([p["initial"] for p in pts])),
                          "mean_plateau_step": float(np.mean([p["step"] for p in pts])),
                          "latest_plateau_step": max(p["step"] for p in pts),
                          "all_flat": all(p["flat"] for p in pts), "stall": max(p["stall"] for p in pts)})
    best = max(table, key=lambda r: (round(r["mean_best"], 6), -r["mean_plateau_step"]))
    steps = best["latest_plateau_step"] if best["all_flat"] else grid.steps
    # two more evaluations than the latest plateau: room for the smoothing lag and one noisy evaluation
    max_steps = min(grid.steps, ceil_to(max(steps, grid.eval_every), grid.eval_every) + 2 * grid.eval_every)
    per_epoch = math.ceil(cfg["n_train"] / cfg["tune"]["batch_size"])
    fragment = {"lr": float(best["lr"]), "max_steps": int(max_steps),
                "max_epochs": int(math.ceil(max_steps / per_epoch)),
                "warmup_steps": int(0.1 * max_steps), "eval_every": int(grid.eval_every),
                "patience": int(max(2, best["stall"] + 1))}
    return {"table": table, "chosen": best, "tune": fragment}



# ------------------------------------------------------------------------------------ stability
# The rule (docs in the package docstring and in the report): a setting's score is its mean
# held-out validation accuracy minus one pooled between-seed SD of it; the highest score wins
# (ties: the lower SD, then the earlier mean stop). See ``choose_stable``.
RULE = "mean-minus-sd"


def replay(accuracies, steps, *, cadence: int, patience: int, smooth: int, full_window: bool = False,
           pick: str = "latest") -> dict:
    """What ``benchmark.train.fit`` would have kept on a never-early-stopped curve: validations every
    ``cadence`` steps (and at the last step), the best of the trailing mean of ``smooth`` of them
    (1: the raw accuracy, fit's default), stopping after ``patience`` validations without a new best.
    ``full_window`` as fit's: only a full trailing window competes and counts for patience.
    ``pick``: the winning window's latest checkpoint (what fit keeps), or its best raw one (ties: the
    later; a replay only). Exact for fit: early stopping changes nothing in a run before it stops. Returns the kept
    evaluation's index into the curve, its step, and the step where the run would stop."""
    steps = [int(s) for s in steps]
    last = steps[-1]
    idx = [i for i, s in enumerate(steps) if s % cadence == 0 or s == last]
    seen, best, kept, bad, stop = [], -math.inf, idx[0], 0, last
    need = min(smooth, len(idx)) if full_window else 1
    for j, i in enumerate(idx):
        seen.append(float(accuracies[i]))
        window = seen[-smooth:]
        score = sum(window) / len(window)
        if len(seen) < need:
            continue
        if len(seen) == need or score > best:
            best, kept, bad = score, i, 0
            if pick == "best" and smooth > 1:
                members = idx[max(0, j - smooth + 1):j + 1]
                kept = max(reversed(members), key=lambda m: float(accuracies[m]))
        else:
            bad += 1
            if bad >= patience:
                stop = steps[i]
                break
    return {"kept": kept, "kept_step": steps[kept], "stop_step": stop, "selection_score": best}


def _fold_accuracy(correct: list[str], fold: int) -> list[float]:
    """Accuracy per evaluation on every other validation row (fold 0: rows 0, 2, 4...; fold 1: 1, 3...)."""
    return [float(np.mean([c == "1" for c in row[fold::2]])) for row in correct]


def cell_outcome(curve: dict, *, cadence: int, patience: int, smooth: int, full_window: bool = False,
                 pick: str = "latest") -> dict:
    """One curve replayed under one setting. ``kept_val``: the kept checkpoint's accuracy on the
    validation rows that chose it (optimistic: it is a maximum over noisy evaluations). ``heldout``:
    the checkpoint chosen on one half of the validation rows scored on the other half, both ways,
    averaged (an estimate of the kept prompt's accuracy that its own selection did not inflate)."""
    steps = [s for s, _ in curve["evaluations"]]
    acc = [a for _, a in curve["evaluations"]]
    rule = dict(cadence=cadence, patience=patience, smooth=smooth, full_window=full_window, pick=pick)
    full = replay(acc, steps, **rule)
    held = []
    if curve.get("correct") and len(curve["correct"][0]) >= 2:
        folds = [_fold_accuracy(curve["correct"], f) for f in (0, 1)]
        for f in (0, 1):
            r = replay(folds[f], steps, **rule)
            held.append(folds[1 - f][r["kept"]])
    return {"kept_step": full["kept_step"], "stop_step": full["stop_step"], "kept_val": float(acc[full["kept"]]),
            "heldout": float(np.mean(held)) if held else float(acc[full["kept"]]),
            "kept_start": full["kept_step"] == 0}


def pooled_sd(groups: list[list[float]]) -> float:
    """Square root of the mean of the groups' between-seed variances (ddof 1)."""
    var = [float(np.var(g, ddof=1)) for g in groups if len(g) > 1]
    return float(math.sqrt(np.mean(var))) if var else float("nan")


def choose_stable(scores: dict) -> dict:
    """The rule. ``scores``: ``{setting: {group: [score per seed]}}`` (a group is a (task, start)).
    For each setting: ``mean`` = the mean over groups of the seed mean; ``sd`` = the pooled
    between-seed SD over groups; ``objective`` = mean - sd. The highest objective wins; ties (equal
    to 1e-9): the lower sd, then the setting listed first. Returns ``table`` (one row per setting,
    best first) and ``chosen`` (the setting)."""
    table = []
    for order, (setting, groups) in enumerate(scores.items()):
        vals = list(groups.values())
        mean = float(np.mean([np.mean(v) for v in vals]))
        sd = pooled_sd(vals)
        table.append({"setting": setting, "mean": mean, "sd": sd, "objective": mean - (0.0 if math.isnan(sd) else sd),
                      "seeds": min(len(v) for v in vals), "order": order})
    table.sort(key=lambda r: (-round(r["objective"], 9), round(r["sd"], 9), r["order"]))
    return {"table": table, "chosen": table[0]["setting"], "rule": RULE}


def setting_name(lr, steps, cadence, patience, smooth, pick="latest") -> str:
    return (f"lr={lr:g} steps={steps} every={cadence} patience={patience} smooth={smooth}"
            + (f" pick={pick}" if smooth > 1 else ""))


def stability_table(curves: dict, grid, cfg: dict) -> dict:
    """Replay every (schedule, cadence, patience, smooth, pick) on the stability curves ``{(task,
    start, lr, steps, seed): curve}``, summarise each setting over seeds, and choose by
    ``choose_stable`` on the held-out validation accuracy. The profile's ``tune.full_window`` is
    replayed as ``fit`` runs it; ``pick`` only where smooth > 1 (a window of one has one checkpoint).
    The chosen setting is the best one ``fit`` can run (pick ``latest``); the others are shown beside it."""
    groups = sorted({(t, st) for (t, st, _, _, _) in curves})
    full_window = bool(cfg["tune"].get("full_window", False))
    settings, outcomes = {}, {}
    for lr, steps in grid.schedules:
        for cadence in grid.cadences:
            for patience in grid.patiences:
                for smooth in grid.smooths:
                    for pick in grid.picks if smooth > 1 else ["latest"]:
                        name = setting_name(lr, steps, cadence, patience, smooth, pick)
                        settings[name] = {"lr": float(lr), "steps": int(steps), "eval_every": int(cadence),
                                          "patience": int(patience), "select_smooth": int(smooth),
                                          "full_window": full_window, "window_pick": pick}
                        outcomes[name] = {g: [cell_outcome(curves[(*g, lr, steps, s)], cadence=cadence,
                                                           patience=patience, smooth=smooth,
                                                           full_window=full_window, pick=pick)
                                              for s in grid.stab_seeds if (*g, lr, steps, s) in curves]
                                          for g in groups}
    heldout = {n: {g: [o["heldout"] for o in per] for g, per in outs.items() if per} for n, outs in outcomes.items()}
    chosen = choose_stable(heldout)
    rows = []
    for r in chosen["table"]:
        outs = outcomes[r["setting"]]
        flat = [o for per in outs.values() for o in per]

        def stat(field):
            return {"mean": float(np.mean([np.mean([o[field] for o in per]) for per in outs.values() if per])),
                    "sd": pooled_sd([[o[field] for o in per] for per in outs.values() if per])}

        rows.append(dict(settings[r["setting"]], name=r["setting"], objective=r["objective"],
                         heldout=stat("heldout"), kept_val=stat("kept_val"), kept_step=stat("kept_step"),
                         stop_step=stat("stop_step"), kept_start=sum(o["kept_start"] for o in flat), cells=len(flat),
                         per_group={"|".join(g): {"heldout": [o["heldout"] for o in per],
                                                  "kept_val": [o["kept_val"] for o in per],
                                                  "kept_step": [o["kept_step"] for o in per]}
                                    for g, per in outs.items() if per}))
    best = next(r for r in rows if r["window_pick"] == "latest")
    per_epoch = math.ceil(cfg["n_train"] / cfg["tune"]["batch_size"])
    fragment = {"lr": best["lr"], "max_steps": best["steps"], "max_epochs": int(math.ceil(best["steps"] / per_epoch)),
                "warmup_steps": int(0.1 * best["steps"]), "eval_every": best["eval_every"],
                "patience": best["patience"],
                "select_smooth": best["select_smooth"], "full_window": best["full_window"]}
    from benchmark.train import TrainConfig  # torch: imported where used, so `--help` stays fast

    for name in ("full_window",):   # a default the profile leaves unset stays unset (cell keys)
        if name not in cfg["tune"] and fragment[name] == TrainConfig.__dataclass_fields__[name].default:
            del fragment[name]
    return {"rule": RULE, "table": rows, "chosen": best["name"], "tune": fragment,
            "groups": ["|".join(g) for g in groups], "seeds": list(grid.stab_seeds),
            "by_start": by_start(heldout, best["name"])}


def by_start(scores: dict, chosen: str) -> dict:
    """The rule on each start's groups alone: ``scores`` as :func:`choose_stable` takes them (groups
    are (task, start)); returns ``{start: {"chosen", "mean", "sd", "objective", "overall": the pooled
    choice's row on this start}}``. One choice is pooled over starts; this says whether a start on
    its own would choose otherwise (a per-method rate would then be a choice made on validation
    rows, not on test rows)."""
    keep = ("mean", "sd", "objective")
    out = {}
    for start in sorted({g[1] for groups in scores.values() for g in groups}):
        table = choose_stable({n: {g: v for g, v in groups.items() if g[1] == start}
                               for n, groups in scores.items()})["table"]
        pooled = next(r for r in table if r["setting"] == chosen)
        out[start] = dict({k: table[0][k] for k in keep}, chosen=table[0]["setting"],
                          overall={k: pooled[k] for k in keep})
    return out
