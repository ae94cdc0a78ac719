"""The measurements: one curve per grid point, each stored as a JSON under ``<out>/points`` (never a
test row)."""
from __future__ import annotations

import dataclasses
import logging
import pathlib
import time

import numpy as np
import torch

from benchmark.calibrate.choice import plateau
from benchmark.calibrate.grid import Grid
from benchmark.io import read_json, write_json

log = logging.getLogger(__name__)


class Points:
    """One JSON per grid point under ``<out>/points``, keyed by the settings it depends on."""

    def __init__(self, out: pathlib.Path, say):
        self.folder = out / "points"
        self.say = say
        self.done = self.run = 0
        self.compute_s = 0.0    # the points' own wall times, reused ones included (when they were run)

    def get(self, name: str, key: dict, compute, same=None):
        """The stored result of ``name`` if its key equals ``key`` (or, with ``same(stored_key,
        stored_result)``, if that gives ``key``: a point stored under an older key form that
        depends on the same things), else ``compute()`` stored under ``key``."""
        path = self.folder / f"{name}.json"
        if path.exists():
            try:
                stored = read_json(path, checksum=True)
                if stored.get("key") == key or (same is not None and same(stored["key"], stored["result"]) == key):
                    self.done += 1
                    self.compute_s += float(stored["result"].get("wall_s") or 0.0)
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
        self.compute_s += result["wall_s"]
        return result


# the settings every point depends on (a point from another backbone or split is never reused)
BASE_FIELDS = ("backbone", "prompt_tokens", "max_length", "bf16", "n_train", "n_val", "data_source", "seeds")


def base_key(cfg: dict) -> dict:
    """The settings every point depends on (a point from another backbone or split is never reused)."""
    return {k: cfg[k] for k in BASE_FIELDS}


# the tuning settings a stability curve depends on: the rest are set by the curve (lr, budget, warm-up,
# cadence, no early stopping) or only choose a checkpoint afterwards (patience, smoothing, window
# rules), which the replay varies on the stored curve
CURVE_TUNE = ("batch_size", "weight_decay", "eval_batch_size")
# retired tuning settings that changed a curve when set: a stored curve made with one keeps it in its
# key (``stability_same``), so it is never reused for a curve made without
CURVE_TUNE_SET = ("ema",)


def split_digest(train_ids, val_ids) -> str:
    """A short hash of a split's training and validation row ids (the rows a curve saw)."""
    import hashlib

    text = ",".join(map(str, train_ids)) + "|" + ",".join(map(str, val_ids))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def stability_key(base: dict, tune: dict, split: str, **point) -> dict:
    """What a stability curve depends on: the backbone and split settings (not the profile's seed
    list), the split's rows, the tuning settings in ``CURVE_TUNE`` and the point's own."""
    keyed = {k: tune.get(k) for k in CURVE_TUNE}
    keyed.update({k: tune[k] for k in CURVE_TUNE_SET if tune.get(k)})
    return dict({k: v for k, v in base.items() if k != "seeds"}, point="stability", split=split,
                tune=keyed, **point)


def stability_same(stored_key: dict, stored_result: dict) -> dict:
    """An older stability point's key (the whole tune section and the profile's seeds, no split) in
    today's form, its split hashed from the row ids it stored: it is reused when that matches."""
    point = {k: v for k, v in stored_key.items() if k not in BASE_FIELDS + ("point", "tune", "split")}
    base = {k: stored_key[k] for k in BASE_FIELDS if k in stored_key}
    return stability_key(base, stored_key.get("tune") or {},
                         split_digest(stored_result.get("train_ids", []), stored_result.get("val_ids", [])), **point)


def tune_curve(ctx, task: str, init: str, lr: float, grid: Grid, seed: int) -> dict:
    """Prompt tuning for ``grid.steps`` steps, validated every ``grid.eval_every``; never early-stopped."""
    from benchmark.prompt import make_prompt, row_norms
    from benchmark.scoring import Scorer
    from benchmark.train import TrainConfig, fit

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



def _pretrain_pool(ctx, grid: Grid) -> dict:
    return ctx.pseudo_labelled() if grid.pretrain_data == "pseudo" else ctx.labelled_pool()


def _meta_setup(ctx, grid: Grid, init: str):
    from benchmark.prompt import make_prompt
    from benchmark.scoring import Scorer

    cfg = ctx.cfg
    pre = cfg["pretrain"]
    pool = _pretrain_pool(ctx, grid)
    texts, labels = pool["texts"], np.asarray(pool["labels"])
    tasks = ctx.tasksets(pre["grouping"], texts, labels, k=pre["k"], m=pre["m"], seed=ctx.draw_seed)
    backbone = ctx.backbone()
    scorer = Scorer(backbone, ctx.pretrain_label_words(), cfg["max_length"])
    prompt = make_prompt(backbone, dict(cfg, prompt_init=init), ctx.draw_seed, ctx.pretrain_label_words())
    mcfg = ctx.maml_config()
    sampler = ctx.meta_sampler(tasks, m=pre["m"], seed=ctx.draw_seed, val_per_task=mcfg.val_tasks_per_cluster)
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
    from benchmark.maml import batched_adapt, select_rows

    _, texts, labels, tasks, backbone, scorer, prompt, mcfg, sampler = _meta_setup(ctx, grid, init)
    val = sampler.validation_tasks()
    m = len(val[0][1])
    q_texts, q_labels = select_rows(texts, labels, [i for _, q in val for i in q])
    out = {}
    with _maml_precision(backbone, mcfg.bf16):
        for alpha in [0.0, *grid.alphas]:
            weight = prompt.weight.detach().clone().requires_grad_(True)
            if alpha:
                with torch.enable_grad():
                    adapted = batched_adapt(weight, scorer, texts, labels, val, float(alpha), 1,
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
    torch.manual_seed(ctx.draw_seed)
    with _maml_precision(backbone, mcfg.bf16):
        res = meta_train(prompt, scorer, texts, labels, sampler, run_cfg, checkpoint=checkpoint,
                         progress=ctx.progress, desc=f"calibrate Prompt-MAML beta={beta:g}", select_initial=False)
    checkpoint.unlink(missing_ok=True)
    hist = [[h["step"], h["val_accuracy"]] for h in res.history]
    n_q = sum(len(q) for _, q in sampler.validation_tasks())
    k, m = len(tasks.task_ids), ctx.cfg["pretrain"]["m"]
    return {"alpha": alpha, "beta": beta, "evaluations": hist, "best_step": res.best_step,
            "best_val_accuracy": res.best_score, "initial_val_accuracy": hist[0][1],
            "above_initial": res.best_score > hist[0][1], "wall_s": res.wall_s,
            "row_norm_initial": row_norms(initial), "row_norm_kept": row_norms(prompt.weight),
            "distance_kept": float((prompt.weight.detach() - initial).norm() / initial.norm()),
            "rows_per_meta_step": k * 2 * m, "meta_steps": res.steps,
            "plateau": plateau(hist, n_q), "meta_val_query_rows": n_q}


def ppt_curve(ctx, grid: Grid, init: str, lr: float, steps: int) -> dict:
    """PPT pre-training (pooled pre-training rows, plain prompt tuning) for ``steps`` steps at ``lr``."""
    from baselines.ppt import pretrain
    from benchmark.prompt import make_prompt, row_norms
    from benchmark.scoring import Scorer
    from benchmark.train import TrainConfig

    cfg = ctx.cfg
    pool = _pretrain_pool(ctx, grid)
    seed = ctx.draw_seed
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
    return {"lr": lr, "steps": steps, "eval_every": eval_every,
            "evaluations": [[int(s), float(a)] for s, a in res.evaluations],
            "n_val": n_val, "rows": len(train_idx), "rows_forward_backward": res.steps * tcfg.batch_size,
            "row_norm_initial": start_norm, "row_norm_final": row_norms(prompt.weight), "wall_s": res.wall_s,
            "plateau": plateau(res.evaluations, n_val)}



# ------------------------------------------------------------------------------------ stability
def start_prompt(ctx, start: str, *, cached_only: bool):
    """The starting prompt of ``start`` ("ppt", "metapt"): the run's own shared artefact (the same
    key a cell uses, so a calibration reuses what ``run`` built and the reverse), or None when
    ``cached_only`` and it is not built yet. ``pt`` has no shared start: its prompt is made per seed."""
    from baselines import get_method
    from benchmark.io import config_hash

    method = get_method(start)
    key = method.stored_key(ctx)
    kind = method.artifact_kind
    if cached_only and not (ctx.artifacts_dir / kind / config_hash(key) / "artifact.json").exists():
        return None, None
    artifact = ctx.prepared(method)
    return ctx.load_prompt(artifact), f"{artifact.get('kind')}/{artifact.get('hash')}"


def stability_curve(ctx, task: str, start: str, init, lr: float, steps: int, eval_every: int, seed: int,
                    *, warmup_steps: int | None = None, on_eval=None) -> dict:
    """Prompt tuning on seed ``seed``'s few-shot split from ``init`` (a tensor, or the name of a prompt
    init: a fresh prompt of that init for this seed, as PT makes), for ``steps`` steps at ``lr`` (warm-up
    10 %), validated every ``eval_every`` steps and never early-stopped. Each validation also keeps which
    validation rows were right (``correct``: one "0"/"1" string per evaluation), so any patience, cadence and
    smoothing can be replayed on the curve afterwards, and on either half of the validation rows.

    ``warmup_steps`` replaces the 10 % warm-up; ``on_eval(prompt, predictions)``, if given, is called
    at every validation with a detached copy of the prompt and the validation predictions (what
    ``tools/chaos_probe.py`` compares between twins)."""
    from benchmark.prompt import SoftPrompt, make_prompt
    from benchmark.scoring import Scorer
    from benchmark.train import TrainConfig, fit

    cfg = ctx.cfg
    spec, split = ctx.split(task, seed)
    train, val = split.train, split.val        # never split.test: calibration sees no test row
    backbone = ctx.backbone()
    scorer = Scorer(backbone, spec.label_words, cfg["max_length"])
    prompt = (make_prompt(backbone, dict(cfg, prompt_init=init), seed, spec.label_words) if isinstance(init, str)
              else SoftPrompt.from_tensor(init)).to(backbone.device)
    tcfg = TrainConfig(**dict(cfg["tune"], lr=float(lr), max_steps=int(steps), max_epochs=int(steps),
                              patience=10 ** 9, eval_every=int(eval_every),
                              warmup_steps=int(0.1 * steps) if warmup_steps is None else int(warmup_steps)))
    labels, val_labels = np.asarray(train.labels), np.asarray(val.labels)
    correct = []

    def loss_fn(idx):
        return scorer.loss([train.texts[i] for i in idx], labels[idx], prompt())

    def val_accuracy():
        with torch.no_grad():
            current = prompt().detach().clone()
        pred = scorer.predict(val.texts, current, batch_size=tcfg.eval_batch_size)
        ok = pred == val_labels
        correct.append("".join("1" if x else "0" for x in ok))
        if on_eval is not None:
            on_eval(current, pred)
        return float(ok.mean())

    torch.manual_seed(seed)
    res = fit(prompt.parameters(), loss_fn, val_accuracy, len(train.texts), tcfg, seed=seed,
              desc=f"stability {start} {task} s{seed} lr={lr:g}", progress=ctx.progress,
              snapshot=lambda: None, restore=lambda state: None)
    return {"evaluations": [[int(s), float(a)] for s, a in res.evaluations], "correct": correct,
            "n_val": len(val.texts), "n_train": len(train.texts), "wall_s": res.wall_s,
            "val_ids": [str(i) for i in split.val.ids], "train_ids": [str(i) for i in split.train.ids]}
