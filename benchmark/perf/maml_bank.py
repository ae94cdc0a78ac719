"""Several Prompt-MAML prompts, one engine: meta-steps of R prompts together (``maml_bank.meta_step_many``
over R x K tasks, in the chunks ``chunk_tasks: auto`` gives for them) against the same R prompts stepped
one after another (``maml.meta_step_batched``, each in its own auto chunks: ``meta_train``'s step), each
step with its AdamW update, at the precision meta-training runs in (``maml.bf16``, float32 by default).

Both sides step the same prompts from the same starts on the same meta tasks, timed alternately
(together first on even repeats), so a load on the machine falls on both alike.
"""
from __future__ import annotations

import dataclasses
import statistics

from benchmark.perf.measure import PeakRSS, PerfConfig, count_flops, label_words, log, set_precision, timed

MAML_BANK_SIZES = (1, 2, 4, 8)


def _sides(cfg: PerfConfig, bb, scorer, texts, labels, r: int, mcfg):
    """The R-prompt step, the R one-prompt steps, and the chunks each chose (``choose_chunk``'s records)."""
    import torch

    from benchmark.maml import choose_chunk, meta_step_batched
    from benchmark.maml_bank import meta_step_many
    from benchmark.perf.loops import random_tasks
    from benchmark.prompt import SoftPrompt

    tasks = [random_tasks(len(texts), cfg.k, cfg.m, cfg.seed + 1 + i) for i in range(r)]

    def prompts():
        made = [SoftPrompt(cfg.prompt_tokens, bb.embed_dim, seed=i).to(bb.device) for i in range(r)]
        return made, [torch.optim.AdamW(p.parameters(), lr=mcfg.outer_lr, weight_decay=mcfg.weight_decay)
                      for p in made]

    together, opts = prompts()
    chunk_together = choose_chunk(together[0], scorer, texts, labels, [t for ts in tasks for t in ts], mcfg)
    cfg_together = dataclasses.replace(mcfg, chunk_tasks=chunk_together["chunk_tasks"])
    apart, apart_opts = prompts()
    chunk_apart = choose_chunk(apart[0], scorer, texts, labels, tasks[0], mcfg)
    cfg_apart = dataclasses.replace(mcfg, chunk_tasks=chunk_apart["chunk_tasks"])

    def step_together():
        for opt in opts:
            opt.zero_grad(set_to_none=True)
        meta_step_many([p.weight for p in together], scorer, texts, labels, tasks, cfg_together)
        for opt in opts:
            opt.step()

    def step_apart():
        for p, opt, ts in zip(apart, apart_opts, tasks):
            opt.zero_grad(set_to_none=True)
            meta_step_batched(p, scorer, texts, labels, ts, cfg_apart)
            opt.step()

    return {"together": step_together, "separate": step_apart}, {"together": chunk_together, "separate": chunk_apart}


def _row(times, flops, rss, r, ceiling, chunk):
    med = statistics.median(times)
    gflops = flops / med / 1e9
    return {"times_s": times, "median_s": med, "meta_steps_per_s": r / med, "gflop_per_step": flops / 1e9,
            "gflops_per_s": gflops, "fraction_of_ceiling": gflops / ceiling if ceiling else None,
            "peak_rss_mb": max((x for x in rss if x is not None), default=None), "chunk": chunk}


def run_maml_bank(cfg: PerfConfig, bb, device, texts, labels, peaks: dict | None = None,
                  sizes=MAML_BANK_SIZES) -> dict:
    """Prompt-MAML meta-steps per second (one per prompt) at each R in ``sizes``: R prompts in one
    ``meta_step_many`` against R ``meta_step_batched`` calls, K = ``cfg.k`` tasks of ``cfg.m`` + ``cfg.m``
    rows per prompt, medians of ``cfg.repeats`` after one FLOP-counted warm-up step of one prompt (a
    step's GFLOP is R times that); GFLOP/s, the fraction of the ceiling (``peaks``), the process's peak
    RSS during the steps and each side's chunk."""
    from benchmark.maml import MAMLConfig
    from benchmark.scoring import Scorer

    mcfg = MAMLConfig(inner_lr=cfg.inner_lr, m=cfg.m, first_order=cfg.first_order)
    set_precision(bb, mcfg.bf16)
    scorer = Scorer(bb, label_words(bb), cfg.max_length)
    precision = "bf16" if mcfg.bf16 else "fp32"
    ceiling = ((peaks or {}).get(precision) or {}).get("gflops")
    # the warm-up, counted: a second-order step under the FLOP counter costs many plain ones, so it runs
    # once, on one prompt; the same prompts on the same tasks execute R times that on either side (up to padding)
    one, _ = _sides(cfg, bb, scorer, texts, labels, 1, mcfg)
    prompt_flops = count_flops(one["separate"])[0]
    rows = []
    for r in sizes:
        sides, chunks = _sides(cfg, bb, scorer, texts, labels, r, mcfg)
        flops = {name: r * prompt_flops for name in sides}
        times = {name: [] for name in sides}
        rss = {name: [] for name in sides}
        for rep in range(cfg.repeats):
            for name in (("together", "separate") if rep % 2 == 0 else ("separate", "together")):
                with PeakRSS() as mem:
                    times[name].append(timed(sides[name], device))
                rss[name].append(mem.peak_mb)
        row = {"r": r, **{name: _row(times[name], flops[name], rss[name], r, ceiling, chunks[name]) for name in sides}}
        row["speedup"] = row["together"]["meta_steps_per_s"] / row["separate"]["meta_steps_per_s"]
        rows.append(row)
        log(f"Prompt-MAML bank R={r}: {row['together']['meta_steps_per_s']:.3f} meta-steps/s together "
            f"(chunk {chunks['together']['chunk_tasks']} of {r * cfg.k} tasks), "
            f"{row['separate']['meta_steps_per_s']:.3f} apart ({row['speedup']:.2f}x); peak RSS "
            f"{_mb(row['together']['peak_rss_mb'])} / {_mb(row['separate']['peak_rss_mb'])} MB")
    return {"precision": precision, "k": cfg.k, "m": cfg.m, "prompt_tokens": cfg.prompt_tokens,
            "max_length": cfg.max_length, "first_order": cfg.first_order, "repeats": cfg.repeats, "sizes": rows}


def markdown_lines(result: dict) -> list[str]:
    """The section's table for the perf report (nothing when the section did not run)."""
    bank = result.get("maml_bank")
    if not bank:
        return []
    order = "first" if bank["first_order"] else "second"
    lines = ["", f"## Prompt-MAML prompts in one engine ({bank['precision']}, {order} order, K = {bank['k']}, "
             f"m = {bank['m']}, {bank['prompt_tokens']} prompt tokens, median of {bank['repeats']})", "",
             "| R | meta-steps/s, together | meta-steps/s, R calls | speed-up | chunk, together | chunk, alone | "
             "% of ceiling, together | peak RSS MB, together | peak RSS MB, R calls |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in bank["sizes"]:
        t, s = row["together"], row["separate"]
        frac = "–" if t["fraction_of_ceiling"] is None else f"{100 * t['fraction_of_ceiling']:.1f}%"
        lines.append(f"| {row['r']} | {t['meta_steps_per_s']:.3f} | {s['meta_steps_per_s']:.3f} | "
                     f"{row['speedup']:.2f}× | {t['chunk']['chunk_tasks']} of {row['r'] * bank['k']} | "
                     f"{s['chunk']['chunk_tasks']} of {bank['k']} | {frac} | {_mb(t['peak_rss_mb'])} | "
                     f"{_mb(s['peak_rss_mb'])} |")
    return lines


def _mb(x) -> str:
    return "–" if x is None else f"{x:,.0f}"
