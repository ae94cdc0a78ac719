"""The calibration run: check, measure every grid point (resuming), choose, report."""
from __future__ import annotations

import dataclasses
import logging
import math
import pathlib
import sys
import time

from benchmark.calibrate.choice import ceil_to, choose_tuning, stability_table
from benchmark.calibrate.curves import (
    Points,
    alpha_losses,
    base_key,
    beta_run,
    ppt_curve,
    split_digest,
    stability_curve,
    stability_key,
    stability_same,
    start_prompt,
    tune_curve,
)
from benchmark.calibrate.grid import Grid, check
from benchmark.calibrate.report import write_outputs

log = logging.getLogger(__name__)


def calibrate(cfg: dict, grid: Grid, out: pathlib.Path, *, progress: bool = True, stream=None) -> dict:
    """Check, measure every grid point (skipping done ones), choose, and write the report."""
    from benchmark.context import Context

    def say(text):
        print(text, file=stream or sys.stderr, flush=True)
        log.info(text)

    ctx = Context(cfg, progress=progress)
    check(cfg, grid, ctx)                                 # bad input: exit 2, nothing written
    out.mkdir(parents=True, exist_ok=True)
    points = Points(out, say)
    seed = cfg["seeds"][0]
    base = base_key(cfg)
    start = time.perf_counter()

    from benchmark.runner import arithmetic

    # the processor and the settings that change its arithmetic: twin curves (agree --curves) name them
    summary = {"profile": cfg["profile"], "backbone": cfg["backbone"], "grid": dataclasses.asdict(grid),
               "arithmetic": arithmetic()}
    init, lr, fragment = cfg["prompt_init"], cfg["tune"]["lr"], {}
    if not grid.stability_only:
        tuning, curves = _tuning(ctx, cfg, grid, points, base, seed, say)
        init, lr = tuning["chosen"]["init"], tuning["chosen"]["lr"]
        summary.update(tuning=tuning, curves={"|".join(map(str, k)): v for k, v in curves.items()})
        fragment = {"prompt_init": init, "tune": tuning["tune"]}
    pre_key = dict(base, pretrain=cfg["pretrain"], maml=cfg["maml"], init=init, data=grid.pretrain_data,
                   encoder=cfg["encoder"])
    if grid.maml and not grid.stability_only:
        fragment["maml"], summary["maml"] = _maml(ctx, grid, points, pre_key, init, out, say)
    if grid.ppt and not grid.stability_only:
        fragment["ppt"], summary["ppt"] = _ppt(ctx, cfg, grid, points, pre_key, init, lr, summary.get("maml"),
                                               fragment.get("maml"), say)
    if grid.stability:
        stability = run_stability(ctx, cfg, grid, points, base, init, say)
        summary["stability"] = stability
        fragment.setdefault("tune", {}).update(stability["tune"])
    summary.update(fragment=fragment, wall_s=round(time.perf_counter() - start, 1),
                   points_run=points.run, points_skipped=points.done, points_compute_s=round(points.compute_s, 1))
    write_outputs(out, cfg, grid, summary)
    say(f"calibration written to {out} (report.md, curves.png, profile-fragment.yaml); "
        f"{points.run} points run, {points.done} skipped")
    return summary


def _tuning(ctx, cfg: dict, grid: Grid, points: Points, base: dict, seed: int, say) -> tuple[dict, dict]:
    """The downstream-tuning curve of every (task, init, lr) of the grid, and the setting chosen from them."""
    say(f"calibrate: downstream tuning, {len(grid.tasks)} tasks x {len(grid.inits)} inits x {len(grid.lrs)} "
        f"learning rates, {grid.steps} steps each (training and validation rows only)")
    curves = {}
    for task in grid.tasks:
        for init in grid.inits:
            for lr in grid.lrs:
                name = f"tune-{task}-{init}-lr{lr:g}"
                key = dict(base, point="tune", task=task, init=init, lr=lr, steps=grid.steps,
                           eval_every=grid.eval_every, tune=cfg["tune"], seed=seed)
                curves[(task, init, lr)] = r = points.get(
                    name, key, lambda: tune_curve(ctx, task, init, lr, grid, seed))
                p = r["plateau"]
                say(f"  {name}: val {p['initial']:.3f} -> best {p['best']:.3f}, flattens at step {p['step']}"
                    f"{'' if p['flat'] else ' (still rising at the end)'} ({r['wall_s']:.0f} s)")
    tuning = choose_tuning(curves, grid, cfg)
    init, lr = tuning["chosen"]["init"], tuning["chosen"]["lr"]
    say(f"chosen: prompt_init={init}, tune.lr={lr:g}, tune.max_steps={tuning['tune']['max_steps']}")
    return tuning, curves


def _maml(ctx, grid: Grid, points: Points, pre_key: dict, init: str, out: pathlib.Path, say) -> tuple[dict, dict]:
    """Prompt-MAML's inner rate by the query loss after one inner step, then its outer rate from short
    meta-training runs; returns the profile fragment and the summary."""
    say(f"calibrate: Prompt-MAML inner rate alpha over {grid.alphas} (query loss after one inner step)")
    alphas = points.get("maml-alpha", dict(pre_key, point="alpha", alphas=grid.alphas),
                        lambda: alpha_losses(ctx, grid, init))
    losses = {float(a): v for a, v in alphas["query_loss"].items()}
    alpha = min(grid.alphas, key=lambda a: losses[float(a)])
    say("  " + ", ".join(f"alpha {a:g}: {v:.3f}" for a, v in losses.items()) + f" -> alpha {alpha:g}")
    betas = {}
    for beta in grid.betas:
        name = f"maml-beta{beta:g}"
        key = dict(pre_key, point="beta", alpha=alpha, beta=beta, steps=grid.maml_steps,
                   eval_every=grid.maml_eval_every)
        betas[beta] = r = points.get(name, key, lambda: beta_run(ctx, grid, init, alpha, beta,
                                                                 out / "points" / f"{name}.ckpt"))
        say(f"  {name}: meta-val {r['initial_val_accuracy']:.3f} -> best {r['best_val_accuracy']:.3f} at step "
            f"{r['best_step']}; row norm {r['row_norm_initial']['median']:.2f} -> "
            f"{r['row_norm_kept']['median']:.2f} "
            f"({r['wall_s']:.0f} s)")
    good = [b for b in grid.betas if betas[b]["above_initial"]]
    beta = max(good, key=lambda b: (betas[b]["best_val_accuracy"], -betas[b]["distance_kept"])) if good else None
    maml_frag = {"inner_lr": float(alpha)}
    if beta is not None:
        chosen = betas[beta]
        steps = chosen["plateau"]["step"] if chosen["plateau"]["flat"] else grid.maml_steps
        steps = max(steps, chosen["best_step"], grid.maml_eval_every)
        maml_frag.update(outer_lr=float(beta), max_steps=int(ceil_to(steps, grid.maml_eval_every)),
                         eval_every=int(grid.maml_eval_every))
    say(f"chosen: maml.inner_lr={alpha:g}, " + (f"maml.outer_lr={beta:g}" if beta is not None else
                                                "no beta kept a prompt above the initial one"))
    return maml_frag, {"alpha": alphas, "alpha_chosen": alpha, "betas": {str(b): v for b, v in betas.items()},
                       "beta_chosen": beta}


def _ppt(ctx, cfg: dict, grid: Grid, points: Points, pre_key: dict, init: str, lr: float, maml_summary,
         maml_fragment, say) -> tuple[dict, dict]:
    """The PPT pre-training curve at the chosen rate, with a budget of as many rows as Prompt-MAML's
    calibration put through; returns the profile fragment and the curve."""
    maml_rows = (maml_summary or {}).get("betas") or {}
    per_step = next(iter(maml_rows.values()))["rows_per_meta_step"] if maml_rows else None
    steps = grid.ppt_steps or (math.ceil(grid.maml_steps * per_step / cfg["ppt"]["batch_size"]) if per_step
                               else grid.steps)
    say(f"calibrate: PPT pre-training curve at lr {lr:g}, {steps} steps")
    ppt = points.get(f"ppt-lr{lr:g}", dict(pre_key, point="ppt", lr=lr, steps=steps, ppt=cfg["ppt"]),
                     lambda: ppt_curve(ctx, grid, init, lr, steps))
    p = ppt["plateau"]
    say(f"  PPT: val {p['initial']:.3f} -> best {p['best']:.3f}, flattens at step {p['step']}")
    maml_steps = (maml_fragment or {}).get("max_steps")
    budget = math.ceil(maml_steps * per_step / cfg["ppt"]["batch_size"]) if maml_steps and per_step else steps
    frag = {"lr": float(lr), "max_steps": int(budget), "eval_every": int(max(1, budget // 8)),
            "warmup_steps": int(0.1 * budget)}
    return frag, ppt


def run_stability(ctx, cfg: dict, grid: Grid, points: Points, base: dict, init: str, say) -> dict:
    """Stability curves: every (start, task, schedule, seed), seed by seed, then the replayed choice."""
    starts = {}
    for start in grid.starts:
        if start == "pt":
            starts[start] = (init, f"init {init}")
            continue
        say(f"calibrate: the {start} starting prompt (the artefact `run` uses)")
        weight, name = start_prompt(ctx, start, cached_only=grid.cached_starts)
        if weight is None:
            say(f"  {start}: its artefact is not built yet and --cached-starts is set: skipped "
                f"(build it with `python -m benchmark run` of a {start} cell, or drop --cached-starts)")
            continue
        starts[start] = (weight, name)
    total = len(starts) * len(grid.tasks) * len(grid.schedules) * len(grid.stab_seeds)
    budget = sum(steps for _, steps in grid.schedules) * len(starts) * len(grid.tasks) * len(grid.stab_seeds)
    say(f"calibrate: stability, {len(starts)} starts ({', '.join(starts)}) x {len(grid.tasks)} tasks x "
        f"{len(grid.schedules)} schedules x {len(grid.stab_seeds)} seeds = {total} curves, {budget} steps "
        "(training and validation rows only; patience, cadence and smoothing replayed on each curve)")
    curves, done_steps, t0 = {}, 0, time.perf_counter()
    i = 0
    # schedule by schedule: a calibration stopped part-way has whole schedules, whose table a rerun with
    # the finished --schedules writes from the stored points
    for lr, steps in grid.schedules:
        for start, (start_init, start_name) in starts.items():
            for task in grid.tasks:
                for seed in grid.stab_seeds:
                    i += 1
                    name = f"stab-{start}-{task}-lr{lr:g}-n{steps}-s{seed}"
                    _, split = ctx.split(task, seed)
                    key = stability_key(base, cfg["tune"], split_digest(split.train.ids, split.val.ids), start=start,
                                        start_prompt=start_name, task=task, lr=lr, steps=steps,
                                        eval_every=grid.eval_every, seed=seed)
                    r = points.get(name, key, lambda: stability_curve(ctx, task, start, start_init, lr, steps,
                                                                      grid.eval_every, seed), same=stability_same)
                    curves[(task, start, float(lr), int(steps), int(seed))] = r
                    done_steps += steps
                    ev = r["evaluations"]
                    best = max(ev, key=lambda e: e[1])
                    elapsed = time.perf_counter() - t0
                    say(f"  [{i}/{total}] {name}: val {ev[0][1]:.3f} -> best {best[1]:.3f} at step {best[0]} "
                        f"({r['wall_s']:.0f} s; {elapsed / 60:.1f} min so far, {done_steps}/{budget} steps)")
    grid_norm = dataclasses.replace(grid, schedules=[[float(lr), int(s)] for lr, s in grid.schedules])
    result = stability_table(curves, grid_norm, cfg)
    c = result["table"][0]
    say(f"chosen by stability ({result['rule']}): {c['name']}: held-out val {c['heldout']['mean']:.3f} "
        f"+- {c['heldout']['sd']:.3f} (pooled between-seed SD), kept step {c['kept_step']['mean']:.0f} "
        f"+- {c['kept_step']['sd']:.0f}")
    result["starts"] = {k: v[1] for k, v in starts.items()}
    result["curves"] = {"|".join(map(str, k)): v for k, v in curves.items()}
    return result
