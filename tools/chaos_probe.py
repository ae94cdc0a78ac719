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
import sys
import time

import numpy as np
import torch


def twin(ctx, task: str, seed: int, eps: float) -> dict:
    """Two ``stability_curve`` runs with the profile's ``tune`` settings (its rate, budget, cadence and
    warm-up; never early-stopped), from PT's fresh prompt for ``seed`` and from that prompt times
    ``1 + eps * N(0, 1)``; each validation's prompt and predictions are kept for the comparison."""
    from benchmark.calibrate.curves import stability_curve
    from benchmark.prompt import make_prompt

    cfg, tune = ctx.cfg, ctx.cfg["tune"]
    spec, _ = ctx.split(task, seed)
    start = make_prompt(ctx.backbone(), cfg, seed, spec.label_words)().detach().clone()
    gen = torch.Generator().manual_seed(12345)
    runs = []
    for init in (start, start * (1 + eps * torch.randn(start.shape, generator=gen, dtype=start.dtype))):
        seen = {"prompts": [], "preds": []}
        curve = stability_curve(ctx, task, "pt", init.clone(), lr=tune["lr"], steps=tune["max_steps"],
                                eval_every=tune["eval_every"], seed=seed, warmup_steps=tune["warmup_steps"],
                                on_eval=lambda x, pred, seen=seen: (seen["prompts"].append(x),
                                                                    seen["preds"].append(pred)))
        runs.append(dict(seen, steps=[s for s, _ in curve["evaluations"]],
                         acc=[a for _, a in curve["evaluations"]], n_val=curve["n_val"]))
    a, b = runs
    rows = []
    for i, step in enumerate(a["steps"]):
        moved = float((a["prompts"][i] - a["prompts"][0]).norm())
        gap = float((a["prompts"][i] - b["prompts"][i]).norm())
        rows.append({"step": step, "d": gap / moved if moved else 0.0, "acc": [a["acc"][i], b["acc"][i]],
                     "flip": float(np.mean(a["preds"][i] != b["preds"][i]))})
    return {"task": task, "seed": seed, "n_val": a["n_val"], "points": rows}


def main(argv=None) -> int:
    from benchmark import config as config_mod, precision
    from benchmark.context import Context
    from benchmark.io import write_json
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
        write_json(args.out, out)        # atomic: a killed run leaves no partial file
    return 0


if __name__ == "__main__":
    sys.exit(main())
