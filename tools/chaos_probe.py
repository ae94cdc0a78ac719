"""How chaotic is prompt tuning? Twin runs from starts 1e-6 apart, on validation rows only.

A diagnostic, not a command of the suite. For each (task, split seed), PT's fresh prompt is tuned
twice with the profile's ``tune`` settings (``fit`` itself: its AdamW, warm-up and schedule; never
early-stopped): once from the start, once from the start times ``1 + eps * N(0, 1)``. At every
validation it prints

- ``d``: the distance between the twins' prompts over the distance the first has moved from the
  start (about 0 for a stable trajectory; about 1 when the twins are as far apart as each has
  travelled, i.e. the start's last bits decide where it ends);
- the twins' validation accuracy and ``flip``, the share of validation rows predicted differently.

A perturbation of 1e-6 is below bf16's rounding (2 ** -8), so in bf16 it acts as another processor's
rounding does: it changes the last bits of the first forward pass and nothing else.

Usage: python tools/chaos_probe.py --tasks sst2,sst5 --seeds 0 [--set tune.lr=0.003 ...] [--out F.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch


def twin(ctx, task: str, seed: int, eps: float) -> dict:
    from benchmark.prompt import SoftPrompt, make_prompt
    from benchmark.train import Scorer, TrainConfig, fit

    cfg = ctx.cfg
    spec, split = ctx.split(task, seed)
    train, val = split.train, split.val          # never split.test
    backbone = ctx.backbone()
    scorer = Scorer(backbone, spec.label_words, cfg["max_length"])
    start = make_prompt(backbone, cfg, seed, spec.label_words)().detach().clone()
    tcfg = TrainConfig(**dict(cfg["tune"], patience=10 ** 9))
    labels, val_labels = np.asarray(train.labels), np.asarray(val.labels)
    gen = torch.Generator().manual_seed(12345)
    runs = []
    for init in (start, start * (1 + eps * torch.randn(start.shape, generator=gen, dtype=start.dtype))):
        prompt = SoftPrompt.from_tensor(init.clone()).to(backbone.device)
        seen = {"prompts": [], "preds": []}

        def loss_fn(idx, prompt=prompt):
            return scorer.loss([train.texts[i] for i in idx], labels[idx], prompt())

        def val_accuracy(prompt=prompt, seen=seen):
            with torch.no_grad():
                x = prompt().detach().clone()
            pred = scorer.predict(val.texts, x, batch_size=tcfg.eval_batch_size)
            seen["prompts"].append(x)
            seen["preds"].append(pred)
            return float(np.mean(pred == val_labels))

        torch.manual_seed(seed)
        res = fit(prompt.parameters(), loss_fn, val_accuracy, len(train.texts), tcfg, seed=seed,
                  desc=f"twin {task} s{seed}", progress=ctx.progress,
                  snapshot=lambda: None, restore=lambda state: None)
        runs.append(dict(seen, steps=[s for s, _ in res.evaluations], acc=[a for _, a in res.evaluations]))
    a, b = runs
    rows = []
    for i, step in enumerate(a["steps"]):
        moved = float((a["prompts"][i] - a["prompts"][0]).norm())
        gap = float((a["prompts"][i] - b["prompts"][i]).norm())
        rows.append({"step": step, "d": gap / moved if moved else 0.0, "acc": [a["acc"][i], b["acc"][i]],
                     "flip": float(np.mean(a["preds"][i] != b["preds"][i]))})
    return {"task": task, "seed": seed, "n_val": len(val.texts), "points": rows}


def main(argv=None) -> int:
    from benchmark import config as config_mod, precision
    from benchmark.context import Context
    from benchmark.runner import arithmetic

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--tasks", default="sst2,sst5,semeval16_laptop")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--eps", type=float, default=1e-6, help="relative perturbation of the second twin's start")
    ap.add_argument("--out", help="write the points as JSON here")
    args = ap.parse_args(argv)
    cfg = precision.resolve(config_mod.apply_overrides(config_mod.load_profile(args.profile), args.overrides),
                            stream=sys.stderr)
    ctx = Context(cfg, progress=False)
    out = {"profile": args.profile, "overrides": args.overrides, "eps": args.eps, "tune": cfg["tune"],
           "arithmetic": arithmetic(), "twins": []}
    for task in args.tasks.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            t = time.perf_counter()
            r = twin(ctx, task, seed, args.eps)
            r["wall_s"] = time.perf_counter() - t
            out["twins"].append(r)
            print(f"{task} seed {seed} ({r['wall_s']:.0f} s): " + " | ".join(
                f"s{p['step']} d={p['d']:.2f} acc={p['acc'][0]:.2f}/{p['acc'][1]:.2f} flip={p['flip']:.2f}"
                for p in r["points"][1:]), flush=True)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(out, fh, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
