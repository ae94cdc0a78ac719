"""Calibration: choose a backbone's prompt init, learning rates and budgets from training and
validation rows only (``python -m benchmark calibrate``; the rules are in docs/CALIBRATION.md).

The paper's settings were made for T5-base on a GPU; on another backbone they may leave the
prompt where it started (issue 10: PT on smollm2-135m scored the same before and after tuning).
This module measures, never on test rows:

* **downstream tuning**: validation accuracy against steps for every (task, init, lr) of a small
  grid, and the step where each curve flattens;
* **Prompt-MAML**: the inner rate alpha by the meta-validation query loss after one inner step
  from the initial prompt (no meta-training), then the outer rate beta from short meta-training
  runs, kept only if its meta-trained prompt validates above the initial one; the prompt's row
  norm drift (how far meta-training carries it from the embedding scale);
* **PPT**: its pre-training curve at the chosen rate, with a budget comparable to Prompt-MAML's
  (rows through the backbone).

Every grid point is a small JSON in ``<out>/points`` written atomically and skipped on rerun (a
killed calibration resumes; meta-training also resumes mid-run from its checkpoint). The output
folder gets ``report.md``, ``curves.png``, ``profile-fragment.yaml`` and ``summary.json``.
"""
from __future__ import annotations

import copy
import dataclasses
import logging
import math
import pathlib
import sys
import time

import numpy as np
import torch
import yaml

from benchmark import config as config_mod
from benchmark.errors import UserError
from benchmark.io import read_json, write_json

log = logging.getLogger(__name__)

MIN_VAL_ROWS = 8          # below this one row moves accuracy by > 12 points: no plateau can be seen
SMOOTH = 3                # evaluations in the trailing mean that finds where a curve flattens


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


# ------------------------------------------------------------------------------------ analysis
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


def _ceil_to(x: int, unit: int) -> int:
    return int(math.ceil(x / unit) * unit)


# ------------------------------------------------------------------------------------ points
class Points:
    """One JSON per grid point under ``<out>/points``, keyed by the settings it depends on."""

    def __init__(self, out: pathlib.Path, say):
        self.folder = out / "points"
        self.say = say
        self.done = self.run = 0

    def get(self, name: str, key: dict, compute):
        path = self.folder / f"{name}.json"
        if path.exists():
            try:
                stored = read_json(path, checksum=True)
                if stored.get("key") == key:
                    self.done += 1
                    self.say(f"  {name}: done earlier, skipped; its numbers:")
                    return stored["result"]
            except Exception as exc:   # a foreign or corrupt file is recomputed
                log.warning("calibration point %s unreadable (%s); recomputing", path, exc)
        start = time.perf_counter()
        result = compute()
        result["train_wall_s"] = result.get("wall_s")              # the training loop alone
        result["wall_s"] = round(time.perf_counter() - start, 2)    # the whole point, set-up included
        write_json(path, {"key": key, "result": result}, checksum=True)
        self.run += 1
        return result


def _base_key(cfg: dict) -> dict:
    """The settings every point depends on (a point from another backbone or split is never reused)."""
    keep = ("backbone", "prompt_tokens", "max_length", "bf16", "n_train", "n_val", "data_source", "seeds")
    return {k: cfg[k] for k in keep}


def tune_curve(ctx, task: str, init: str, lr: float, grid: Grid, seed: int) -> dict:
    """Prompt tuning for ``grid.steps`` steps, validated every ``grid.eval_every``; never early-stopped."""
    from benchmark.prompt import make_prompt, row_norms
    from benchmark.train import Scorer, TrainConfig, fit

    cfg = ctx.cfg
    spec, split = ctx.split(task, seed)
    train, val = split.train, split.val        # never split.test: calibration sees no test row
    backbone = ctx.backbone()
    scorer = Scorer(backbone, spec.label_words, cfg["max_length"])
    prompt = make_prompt(backbone, dict(cfg, prompt_init=init), seed, spec.label_words).to(backbone.device)
    start_norm = row_norms(prompt.weight)
    tune = dict(cfg["tune"], lr=float(lr), max_steps=grid.steps, max_epochs=grid.steps, patience=10 ** 9,
                eval_every=grid.eval_every, warmup_steps=int(0.1 * grid.steps))
    tcfg = TrainConfig(**tune)
    labels = np.asarray(train.labels)
    val_labels = np.asarray(val.labels)

    def loss_fn(idx):
        return scorer.loss([train.texts[i] for i in idx], labels[idx], prompt())

    def val_accuracy():
        return float((scorer.predict(val.texts, prompt(), batch_size=tcfg.eval_batch_size) == val_labels).mean())

    torch.manual_seed(seed)
    res = fit(prompt.parameters(), loss_fn, val_accuracy, len(train.texts), tcfg, seed=seed,
              desc=f"calibrate {task} {init} lr={lr:g}", progress=ctx.progress,
              restore=lambda state: None)    # keep the last prompt: its row norm is where training took it
    return {"evaluations": [[int(s), float(a)] for s, a in res.evaluations], "n_val": len(val.texts),
            "n_train": len(train.texts), "row_norm_initial": start_norm, "row_norm_final": row_norms(prompt.weight),
            "wall_s": res.wall_s, "rows_forward_backward": res.steps * tcfg.batch_size,
            "plateau": plateau(res.evaluations, len(val.texts))}


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
    max_steps = min(grid.steps, _ceil_to(max(steps, grid.eval_every), grid.eval_every) + 2 * grid.eval_every)
    per_epoch = math.ceil(cfg["n_train"] / cfg["tune"]["batch_size"])
    fragment = {"lr": float(best["lr"]), "max_steps": int(max_steps), "max_epochs": int(math.ceil(max_steps / per_epoch)),
                "warmup_steps": int(0.1 * max_steps), "eval_every": int(grid.eval_every),
                "patience": int(max(2, best["stall"] + 1))}
    return {"table": table, "chosen": best, "tune": fragment}


def _pretrain_pool(ctx, grid: Grid) -> dict:
    return ctx.pseudo_labelled() if grid.pretrain_data == "pseudo" else ctx.labelled_pool()


def _meta_setup(ctx, grid: Grid, init: str):
    from benchmark.prompt import make_prompt
    from benchmark.train import Scorer

    cfg = ctx.cfg
    pre = cfg["pretrain"]
    pool = _pretrain_pool(ctx, grid)
    texts, labels = pool["texts"], np.asarray(pool["labels"])
    tasks = ctx.tasksets(pre["grouping"], texts, labels, k=pre["k"], m=pre["m"], seed=pre["seed"])
    backbone = ctx.backbone()
    scorer = Scorer(backbone, ctx.pretrain_label_words(), cfg["max_length"])
    prompt = make_prompt(backbone, dict(cfg, prompt_init=init), pre["seed"], ctx.pretrain_label_words())
    mcfg = ctx.maml_config()
    sampler = ctx.meta_sampler(tasks, m=pre["m"], seed=pre["seed"], val_per_task=mcfg.val_tasks_per_cluster)
    return pool, texts, labels, tasks, backbone, scorer, prompt.to(backbone.device), mcfg, sampler


class _maml_precision:
    """Meta-training precision (``maml.bf16``) for the block, as MetaPT runs it."""

    def __init__(self, backbone, bf16):
        self.backbone, self.bf16 = backbone, bf16

    def __enter__(self):
        self.saved = self.backbone.autocast_bf16
        self.backbone.autocast_bf16 = self.bf16

    def __exit__(self, *exc):
        self.backbone.autocast_bf16 = self.saved


def alpha_losses(ctx, grid: Grid, init: str) -> dict:
    """Mean meta-validation query loss after one inner step from the initial prompt, per alpha (and 0:
    no adaptation, the reference). Cheap: one support backward per alpha, no meta-training."""
    from benchmark.maml import _batched_adapt, _rows

    _, texts, labels, tasks, backbone, scorer, prompt, mcfg, sampler = _meta_setup(ctx, grid, init)
    val = sampler.validation_tasks()
    m = len(val[0][1])
    q_texts, q_labels = _rows(texts, labels, [i for _, q in val for i in q])
    out = {}
    with _maml_precision(backbone, mcfg.bf16):
        for alpha in [0.0, *grid.alphas]:
            weight = prompt.weight.detach().clone().requires_grad_(True)
            if alpha:
                with torch.enable_grad():
                    adapted = _batched_adapt(weight, scorer, texts, labels, val, float(alpha), 1,
                                             create_graph=False).detach()
            else:
                adapted = weight.detach().unsqueeze(0).repeat(len(val), 1, 1)
            with torch.no_grad():
                loss = scorer.losses(q_texts, q_labels, adapted.repeat_interleave(m, dim=0)).mean()
            out[str(float(alpha))] = float(loss)
    return {"query_loss": out, "val_tasks": len(val), "query_rows": len(q_texts), "summary": tasks.summary()}


def beta_run(ctx, grid: Grid, init: str, alpha: float, beta: float, checkpoint: pathlib.Path) -> dict:
    """A short Prompt-MAML run (``grid.maml_steps`` meta-steps, no early stop) at (alpha, beta)."""
    from benchmark.maml import MAMLConfig, meta_train
    from benchmark.prompt import row_norms

    _, texts, labels, tasks, backbone, scorer, prompt, mcfg, sampler = _meta_setup(ctx, grid, init)
    initial = prompt.weight.detach().clone()
    run_cfg = MAMLConfig(**dict(dataclasses.asdict(mcfg), inner_lr=float(alpha), outer_lr=float(beta),
                                max_steps=grid.maml_steps, eval_every=grid.maml_eval_every, patience=10 ** 9,
                                checkpoint_every=grid.maml_eval_every))
    torch.manual_seed(ctx.cfg["pretrain"]["seed"])
    with _maml_precision(backbone, mcfg.bf16):
        res = meta_train(prompt, scorer, texts, labels, sampler, run_cfg, checkpoint=checkpoint,
                         progress=ctx.progress, desc=f"calibrate Prompt-MAML beta={beta:g}", select_initial=False)
    checkpoint.unlink(missing_ok=True)
    hist = [[h["step"], h["val_accuracy"]] for h in res.history]
    n_q = sum(len(q) for _, q in sampler.validation_tasks())
    k, m = len(tasks.task_ids), ctx.cfg["pretrain"]["m"]
    return {"alpha": alpha, "beta": beta, "evaluations": hist, "best_step": res.best_step,
            "best_val_accuracy": res.best_val_accuracy, "initial_val_accuracy": hist[0][1],
            "above_initial": res.best_val_accuracy > hist[0][1], "wall_s": res.wall_s,
            "row_norm_initial": row_norms(initial), "row_norm_kept": row_norms(prompt.weight),
            "distance_kept": float((prompt.weight.detach() - initial).norm() / initial.norm()),
            "rows_per_meta_step": k * 2 * m, "meta_steps": res.steps,
            "plateau": plateau(hist, n_q), "meta_val_query_rows": n_q}


def ppt_curve(ctx, grid: Grid, init: str, lr: float, steps: int) -> dict:
    """PPT pre-training (pooled pre-training rows, plain prompt tuning) for ``steps`` steps at ``lr``."""
    from baselines.ppt import pretrain
    from benchmark.prompt import make_prompt, row_norms
    from benchmark.train import Scorer, TrainConfig

    cfg = ctx.cfg
    pool = _pretrain_pool(ctx, grid)
    seed = cfg["pretrain"]["seed"]
    backbone = ctx.backbone()
    scorer = Scorer(backbone, ctx.pretrain_label_words(), cfg["max_length"])
    prompt = make_prompt(backbone, dict(cfg, prompt_init=init), seed, ctx.pretrain_label_words()).to(backbone.device)
    start_norm = row_norms(prompt.weight)
    eval_every = max(1, steps // 8)
    tcfg = TrainConfig(**dict(cfg["ppt"], lr=float(lr), max_steps=steps, max_epochs=10 ** 6, patience=10 ** 9,
                              eval_every=eval_every, warmup_steps=int(0.1 * steps)))
    res, train_idx, val_idx = pretrain(scorer, prompt, pool["texts"], pool["labels"], tcfg, seed=seed,
                                       val_fraction=cfg["pretrain"]["val_fraction"],
                                       max_val=200,   # bounded evaluation cost
                                       desc=f"calibrate PPT lr={lr:g}", progress=ctx.progress,
                                       restore=lambda state: None)
    n_val = len(val_idx)
    return {"lr": lr, "steps": steps, "eval_every": eval_every, "evaluations": [[int(s), float(a)] for s, a in res.evaluations],
            "n_val": n_val, "rows": len(train_idx), "rows_forward_backward": res.steps * tcfg.batch_size,
            "row_norm_initial": start_norm, "row_norm_final": row_norms(prompt.weight), "wall_s": res.wall_s,
            "plateau": plateau(res.evaluations, n_val)}


# ------------------------------------------------------------------------------------ the run
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
    base = _base_key(cfg)
    start = time.perf_counter()

    say(f"calibrate: downstream tuning, {len(grid.tasks)} tasks x {len(grid.inits)} inits x {len(grid.lrs)} "
        f"learning rates, {grid.steps} steps each (training and validation rows only)")
    curves = {}
    for task in grid.tasks:
        for init in grid.inits:
            for lr in grid.lrs:
                name = f"tune-{task}-{init}-lr{lr:g}"
                key = dict(base, point="tune", task=task, init=init, lr=lr, steps=grid.steps,
                           eval_every=grid.eval_every, tune=cfg["tune"], seed=seed)
                curves[(task, init, lr)] = r = points.get(name, key, lambda: tune_curve(ctx, task, init, lr, grid, seed))
                p = r["plateau"]
                say(f"  {name}: val {p['initial']:.3f} -> best {p['best']:.3f}, flattens at step {p['step']}"
                    f"{'' if p['flat'] else ' (still rising at the end)'} ({r['wall_s']:.0f} s)")
    tuning = choose_tuning(curves, grid, cfg)
    init, lr = tuning["chosen"]["init"], tuning["chosen"]["lr"]
    say(f"chosen: prompt_init={init}, tune.lr={lr:g}, tune.max_steps={tuning['tune']['max_steps']}")

    summary = {"profile": cfg["profile"], "backbone": cfg["backbone"], "grid": dataclasses.asdict(grid),
               "tuning": tuning, "curves": {"|".join(map(str, k)): v for k, v in curves.items()}}
    fragment = {"prompt_init": init, "tune": tuning["tune"]}
    pre_key = dict(base, pretrain=cfg["pretrain"], maml=cfg["maml"], init=init, data=grid.pretrain_data,
                   encoder=cfg["encoder"])
    if grid.maml:
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
                f"{r['best_step']}; row norm {r['row_norm_initial']['median']:.2f} -> {r['row_norm_kept']['median']:.2f} "
                f"({r['wall_s']:.0f} s)")
        good = [b for b in grid.betas if betas[b]["above_initial"]]
        beta = max(good, key=lambda b: (betas[b]["best_val_accuracy"], -betas[b]["distance_kept"])) if good else None
        maml_frag = {"inner_lr": float(alpha)}
        if beta is not None:
            chosen = betas[beta]
            steps = chosen["plateau"]["step"] if chosen["plateau"]["flat"] else grid.maml_steps
            steps = max(steps, chosen["best_step"], grid.maml_eval_every)
            maml_frag.update(outer_lr=float(beta), max_steps=int(_ceil_to(steps, grid.maml_eval_every)),
                             eval_every=int(grid.maml_eval_every))
        say(f"chosen: maml.inner_lr={alpha:g}, " + (f"maml.outer_lr={beta:g}" if beta is not None else
                                                    "no beta kept a prompt above the initial one"))
        fragment["maml"] = maml_frag
        summary["maml"] = {"alpha": alphas, "alpha_chosen": alpha, "betas": {str(b): v for b, v in betas.items()},
                           "beta_chosen": beta}
    if grid.ppt:
        maml_rows = (summary.get("maml") or {}).get("betas") or {}
        per_step = next(iter(maml_rows.values()))["rows_per_meta_step"] if maml_rows else None
        steps = grid.ppt_steps or (math.ceil(grid.maml_steps * per_step / cfg["ppt"]["batch_size"]) if per_step
                                   else grid.steps)
        say(f"calibrate: PPT pre-training curve at lr {lr:g}, {steps} steps")
        ppt = points.get(f"ppt-lr{lr:g}", dict(pre_key, point="ppt", lr=lr, steps=steps, ppt=cfg["ppt"]),
                         lambda: ppt_curve(ctx, grid, init, lr, steps))
        p = ppt["plateau"]
        say(f"  PPT: val {p['initial']:.3f} -> best {p['best']:.3f}, flattens at step {p['step']}")
        maml_steps = (fragment.get("maml") or {}).get("max_steps")
        budget = math.ceil(maml_steps * per_step / cfg["ppt"]["batch_size"]) if maml_steps and per_step else steps
        fragment["ppt"] = {"lr": float(lr), "max_steps": int(budget), "eval_every": int(max(1, budget // 8)),
                           "warmup_steps": int(0.1 * budget)}
        summary["ppt"] = ppt
    summary.update(fragment=fragment, wall_s=round(time.perf_counter() - start, 1),
                   points_run=points.run, points_skipped=points.done)
    write_outputs(out, cfg, grid, summary)
    say(f"calibration written to {out} (report.md, curves.png, profile-fragment.yaml); "
        f"{points.run} points run, {points.done} skipped")
    return summary


def fragment_profile(cfg_profile: str, fragment: dict) -> dict:
    """The profile that the fragment makes: ``cfg_profile`` with the fragment merged over it, validated."""
    cfg = config_mod._merge(config_mod.load_profile(cfg_profile), copy.deepcopy(fragment))
    config_mod.validate(cfg)
    return cfg


def _overrides(fragment: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in fragment.items():
        if isinstance(v, dict):
            out += _overrides(v, f"{prefix}{k}.")
        else:
            out.append(f"{prefix}{k}={v}")
    return out


def write_outputs(out: pathlib.Path, cfg: dict, grid: Grid, summary: dict) -> None:
    from benchmark.io import atomic_path

    fragment = summary["fragment"]
    with atomic_path(out / "profile-fragment.yaml") as tmp:
        tmp.write_text(f"# made by `python -m benchmark calibrate` for profile {cfg['profile']} ({cfg['backbone']});\n"
                       "# merge it into a profile, or pass each line as --set key=value\n"
                       + yaml.safe_dump(fragment, sort_keys=True))
    write_json(out / "summary.json", summary)
    _plot(out / "curves.png", grid, summary)
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(report_markdown(cfg, grid, summary))


def _plot(path: pathlib.Path, grid: Grid, summary: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmark.io import atomic_path

    panels = len(grid.tasks) + (1 if "maml" in summary else 0) + (1 if "ppt" in summary else 0)
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.4), squeeze=False)
    axes = axes[0]
    for ax, task in zip(axes, grid.tasks):
        for init in grid.inits:
            for lr in grid.lrs:
                ev = np.asarray(summary["curves"][f"{task}|{init}|{lr}"]["evaluations"])
                ax.plot(ev[:, 0], ev[:, 1], marker=".", lw=1, label=f"{init} lr={lr:g}")
        ax.set(title=f"{task}: validation accuracy", xlabel="step", ylabel="accuracy")
    i = len(grid.tasks)
    if "maml" in summary:
        ax = axes[i]
        for b, r in summary["maml"]["betas"].items():
            ev = np.asarray(r["evaluations"])
            ax.plot(ev[:, 0], ev[:, 1], marker=".", label=f"beta={float(b):g}")
        ax.set(title=f"Prompt-MAML meta-validation (alpha={summary['maml']['alpha_chosen']:g})",
               xlabel="meta-step", ylabel="accuracy")
        ax.legend(fontsize=7)
        i += 1
    if "ppt" in summary:
        ev = np.asarray(summary["ppt"]["evaluations"])
        axes[i].plot(ev[:, 0], ev[:, 1], marker=".")
        axes[i].set(title=f"PPT pre-training (lr={summary['ppt']['lr']:g})", xlabel="step", ylabel="val accuracy")
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def report_markdown(cfg: dict, grid: Grid, summary: dict) -> str:
    from tasksets.pseudo_label import label_purity

    t = summary["tuning"]
    lines = [f"# Calibration: {cfg['backbone']} (profile `{cfg['profile']}`)", "",
             "Every number here comes from training and validation rows; no test row was read. "
             "The rules are in docs/CALIBRATION.md.", "",
             "## Downstream prompt tuning", "",
             f"{grid.steps} steps per curve, validated every {grid.eval_every}, warm-up 10 %, never early-stopped; "
             f"seed {cfg['seeds'][0]}. *best*: the best trailing mean of {SMOOTH} evaluations; *flat at*: the first "
             "evaluation within one validation row of it.", "",
             "| task | init | lr | val at 0 | best | flat at | row norm 0 -> end | wall s |", "|---|---|---|---|---|---|---|---|"]
    for task in grid.tasks:
        for init in grid.inits:
            for lr in grid.lrs:
                r = summary["curves"][f"{task}|{init}|{lr}"]
                p = r["plateau"]
                lines.append(f"| {task} | {init} | {lr:g} | {p['initial']:.3f} | {p['smoothed_best']:.3f} | "
                             f"{p['step']}{'' if p['flat'] else ' (rising)'} | {r['row_norm_initial']['median']:.2f} -> "
                             f"{r['row_norm_final']['median']:.2f} | {r['wall_s']:.0f} |")
    lines += ["", "Mean over the tasks:", "", "| init | lr | mean val at 0 | mean best | mean flat at |", "|---|---|---|---|---|"]
    for row in sorted(t["table"], key=lambda r: -r["mean_best"]):
        lines.append(f"| {row['init']} | {row['lr']:g} | {row['mean_initial']:.3f} | {row['mean_best']:.3f} | "
                     f"{row['mean_plateau_step']:.0f} |")
    c = t["chosen"]
    lines += ["", f"**Chosen:** `prompt_init: {c['init']}`, `tune.lr: {c['lr']:g}`; budget "
              f"`tune.max_steps: {t['tune']['max_steps']}` ("
              + (f"latest plateau {c['latest_plateau_step']} + 2 evaluations" if c["all_flat"] else
                 f"all {grid.steps} steps: a chosen curve still rose at the end, so rerun with more --steps") + "), warm-up "
              f"{t['tune']['warmup_steps']}, patience {t['tune']['patience']} evaluations (the longest stall before "
              "a plateau, + 1). Apply the same budget to FT only after checking its curve; FT was not calibrated here.", ""]
    if "maml" in summary:
        mm = summary["maml"]
        alpha = mm["alpha"]
        lines += ["## Prompt-MAML", "",
                  f"Pre-training data: {grid.pretrain_data}; {alpha['val_tasks']} meta-validation tasks, "
                  f"{alpha['query_rows']} query rows.", "",
                  "Inner rate alpha: mean meta-validation query loss after one inner step from the initial prompt "
                  "(alpha 0 = no adaptation):", "", "| alpha | query loss |", "|---|---|"]
        lines += [f"| {float(a):g} | {v:.4f} |" for a, v in alpha["query_loss"].items()]
        purity = label_purity(alpha["summary"])
        lines += ["", f"Meta tasks ({alpha['summary'].get('grouping')}, K={alpha['summary'].get('k_effective')}): "
                  f"sizes {[tk['size'] for tk in alpha['summary']['tasks']]}; label purity (share of rows carrying "
                  f"their task's commonest label) {purity['overall']}, per task {purity['per_task']}.", "",
                  f"Outer rate beta: {grid.maml_steps} meta-steps at alpha {mm['alpha_chosen']:g}, meta-validated every "
                  f"{grid.maml_eval_every}:", "",
                  "| beta | meta-val at 0 | best (step) | above initial | row norm 0 -> kept | relative distance | wall s |",
                  "|---|---|---|---|---|---|---|"]
        for b, r in mm["betas"].items():
            lines.append(f"| {float(b):g} | {r['initial_val_accuracy']:.3f} | {r['best_val_accuracy']:.3f} ({r['best_step']}) | "
                         f"{'yes' if r['above_initial'] else 'no'} | {r['row_norm_initial']['median']:.2f} -> "
                         f"{r['row_norm_kept']['median']:.2f} | {r['distance_kept']:.3f} | {r['wall_s']:.0f} |")
        lines += ["", f"**Chosen:** alpha {mm['alpha_chosen']:g}, " +
                  (f"beta {float(mm['beta_chosen']):g} (highest meta-validation accuracy above the initial prompt's)."
                   if mm["beta_chosen"] is not None else
                   "no beta: none kept a prompt above the initial one's meta-validation accuracy; "
                   "the profile's beta stays and MetaPT's meta-learning cannot be said to help here."), ""]
    if "ppt" in summary:
        p = summary["ppt"]
        lines += ["## PPT pre-training", "",
                  f"lr {p['lr']:g}, {p['steps']} steps ({p['rows_forward_backward']} rows forward + backward; "
                  f"the same number Prompt-MAML's calibration runs put through per run), {p['rows']} training rows, "
                  f"{p['n_val']} validation rows: accuracy {p['plateau']['initial']:.3f} -> best {p['plateau']['best']:.3f}, "
                  f"flattens at step {p['plateau']['step']}{'' if p['plateau']['flat'] else ' (still rising)'}; row norm "
                  f"{p['row_norm_initial']['median']:.2f} -> {p['row_norm_final']['median']:.2f}; {p['wall_s']:.0f} s.", ""]
    lines += ["## Profile fragment", "", "`profile-fragment.yaml` (merge into a profile, or pass as overrides):", "",
              "```", *("--set " + o for o in _overrides(summary["fragment"])), "```", "",
              f"Calibration wall time {summary['wall_s']:.0f} s ({summary['points_run']} points run, "
              f"{summary['points_skipped']} reused from an earlier run); curves: `curves.png`.", ""]
    return "\n".join(lines)
