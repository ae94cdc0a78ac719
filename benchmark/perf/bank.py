"""Many prompts, one pass: prompt-tuning steps of R prompts in one forward and backward
(``benchmark.bank.PromptBank``) against the same R prompts stepped one after another, one prompt per
pass (a bank of one: the very computation ``train.fit`` makes), at the precision ``bf16: auto`` chose.

Both sides train the same prompts from the same starts on the same rows in the same orders, timed
alternately (bank first on even repeats), so a load on the machine falls on both alike.
"""
from __future__ import annotations

import statistics

from benchmark.perf.measure import PeakRSS, PerfConfig, count_flops, label_words, log, set_precision, timed

BANK_SIZES = (1, 2, 4, 8, 16)


def _banks(cfg: PerfConfig, bb, scorer, texts, labels, r: int):
    """The bank of ``r`` prompts and the ``r`` banks of one that step the same prompts apart."""
    from benchmark.bank import PromptBank, PromptRun
    from benchmark.prompt import SoftPrompt
    from benchmark.train import TrainConfig

    tcfg = TrainConfig(lr=3e-3, warmup_steps=0, batch_size=cfg.tune_batch, max_steps=10**9)

    def runs():
        return [PromptRun(SoftPrompt(cfg.prompt_tokens, bb.embed_dim, seed=i).to(bb.device).weight, texts, labels,
                          validate=lambda w: 0.0, cfg=tcfg, seed=cfg.seed + i) for i in range(r)]

    together = PromptBank(scorer, runs(), progress=False)
    apart = [PromptBank(scorer, [run], progress=False) for run in runs()]
    return together.step, lambda: [b.step() for b in apart]


def _row(times, flops, rss, r, ceiling):
    med = statistics.median(times)
    gflops = flops / med / 1e9
    return {"times_s": times, "median_s": med, "prompt_steps_per_s": r / med, "gflop_per_step": flops / 1e9,
            "gflops_per_s": gflops, "fraction_of_ceiling": gflops / ceiling if ceiling else None,
            "peak_rss_mb": max((x for x in rss if x is not None), default=None)}


def run_bank(cfg: PerfConfig, bb, device, texts, labels, auto_bf16: bool, peaks: dict | None = None,
             sizes=BANK_SIZES) -> dict:
    """Prompt-steps per second of tuning at each R in ``sizes``: one bank against R separate steps,
    ``cfg.tune_batch`` rows per prompt, medians of ``cfg.repeats``; GFLOP/s, the fraction of the
    ceiling of the precision in use (``peaks``), and the process's peak RSS during the steps."""
    from benchmark.scoring import Scorer

    set_precision(bb, auto_bf16)
    scorer = Scorer(bb, label_words(bb), cfg.max_length)
    precision = "bf16" if auto_bf16 else "fp32"
    ceiling = ((peaks or {}).get(precision) or {}).get("gflops")
    rows = []
    for r in sizes:
        sides = dict(zip(("bank", "separate"), _banks(cfg, bb, scorer, texts, labels, r)))
        flops = {name: count_flops(step)[0] for name, step in sides.items()}     # warm-up, counted
        times = {name: [] for name in sides}
        rss = {name: [] for name in sides}
        for rep in range(cfg.repeats):
            for name in (("bank", "separate") if rep % 2 == 0 else ("separate", "bank")):
                with PeakRSS() as mem:
                    times[name].append(timed(sides[name], device))
                rss[name].append(mem.peak_mb)
        row = {"r": r, **{name: _row(times[name], flops[name], rss[name], r, ceiling) for name in sides}}
        row["speedup"] = row["bank"]["prompt_steps_per_s"] / row["separate"]["prompt_steps_per_s"]
        rows.append(row)
        log(f"bank R={r}: {row['bank']['prompt_steps_per_s']:.2f} prompt-steps/s together, "
             f"{row['separate']['prompt_steps_per_s']:.2f} apart ({row['speedup']:.2f}x)")
    return {"precision": precision, "rows_per_prompt": cfg.tune_batch, "prompt_tokens": cfg.prompt_tokens,
            "max_length": cfg.max_length, "repeats": cfg.repeats, "sizes": rows}


def markdown_lines(result: dict) -> list[str]:
    """The section's table for the perf report (nothing when the section did not run)."""
    bank = result.get("bank")
    if not bank:
        return []
    lines = ["", f"## Many prompts in one pass ({bank['precision']}, {bank['rows_per_prompt']} rows per prompt, "
             f"{bank['prompt_tokens']} prompt tokens, median of {bank['repeats']})", "",
             "| R | prompt-steps/s, one pass | prompt-steps/s, R passes | speed-up | % of ceiling, one pass | "
             "peak RSS MB, one pass | peak RSS MB, R passes |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for row in bank["sizes"]:
        b, s = row["bank"], row["separate"]
        frac = "–" if b["fraction_of_ceiling"] is None else f"{100 * b['fraction_of_ceiling']:.1f}%"
        lines.append(f"| {row['r']} | {b['prompt_steps_per_s']:.2f} | {s['prompt_steps_per_s']:.2f} | "
                     f"{row['speedup']:.2f}× | {frac} | {_mb(b['peak_rss_mb'])} | {_mb(s['peak_rss_mb'])} |")
    return lines


def _mb(x) -> str:
    return "–" if x is None else f"{x:,.0f}"



def run_ppt_draws(cfg: PerfConfig, bb, device, texts, labels, auto_bf16: bool) -> dict:
    """R draws of PPT's pre-training, each to its own end (budget or early stop, ``select_initial=False``):
    all R in one ``bank.PromptBank`` (``PretrainedPromptTuning.build_artifacts``) against the R draws one
    after another (``baselines.ppt.pretrain``, as ``build_artifact`` runs each), on the same rows, draws
    and settings. Reports prompt-steps per second (training steps of all draws over the wall time,
    validations included) and the process's peak RSS on each side; each side runs once per R (a whole
    pre-training per draw is long enough to time without repeats)."""
    import time

    from baselines.ppt import draw_run, pretrain
    from benchmark.bank import PromptBank
    from benchmark.prompt import SoftPrompt
    from benchmark.scoring import Scorer
    from benchmark.train import TrainConfig

    set_precision(bb, auto_bf16)
    scorer = Scorer(bb, label_words(bb), cfg.max_length)
    tcfg = TrainConfig(lr=3e-3, warmup_steps=2, batch_size=cfg.tune_batch, max_epochs=10 ** 6,
                       max_steps=cfg.ppt_steps, eval_every=max(1, cfg.ppt_steps // 2), patience=10 ** 6)
    val_fraction = cfg.ppt_val_rows / len(texts)

    def weight(draw):
        return SoftPrompt(cfg.prompt_tokens, bb.embed_dim, seed=draw).to(bb.device).weight

    warm, _, _ = draw_run(scorer, weight(10 ** 6), texts, labels, tcfg, seed=0, val_fraction=val_fraction)
    warm_bank = PromptBank(scorer, [warm], progress=False)      # the first passes allocate and fill caches:
    warm.validate(warm.weight)                                  # kept out of both sides' times
    warm_bank.step()
    rows = []
    for r in cfg.ppt_draws:
        draws = list(range(r))
        with PeakRSS() as mem:
            started = time.perf_counter()
            made = [draw_run(scorer, weight(d), texts, labels, tcfg, seed=d, val_fraction=val_fraction)
                    for d in draws]
            runs, n_val = [run for run, _, _ in made], made[0][2]
            together = PromptBank(scorer, runs, progress=False).train()
            bank_s = time.perf_counter() - started
        bank_rss = mem.peak_mb
        with PeakRSS() as mem:
            started = time.perf_counter()
            apart = [pretrain(scorer, SoftPrompt.from_tensor(weight(d).detach()).to(bb.device), texts, labels, tcfg,
                              seed=d, val_fraction=val_fraction, progress=False)[0] for d in draws]
            apart_s = time.perf_counter() - started
        steps = sum(x.steps for x in together)
        assert steps == sum(x.steps for x in apart), "the two sides trained different numbers of steps"
        row = {"r": r, "steps": steps,
               "bank": {"wall_s": bank_s, "prompt_steps_per_s": steps / bank_s, "peak_rss_mb": bank_rss},
               "separate": {"wall_s": apart_s, "prompt_steps_per_s": steps / apart_s, "peak_rss_mb": mem.peak_mb}}
        row["speedup"] = apart_s / bank_s
        rows.append(row)
        log(f"PPT draws R={r}: {row['bank']['prompt_steps_per_s']:.2f} prompt-steps/s in one bank, "
            f"{row['separate']['prompt_steps_per_s']:.2f} one after another ({row['speedup']:.2f}x)")
    return {"precision": "bf16" if auto_bf16 else "fp32", "rows_per_prompt": cfg.tune_batch,
            "prompt_tokens": cfg.prompt_tokens, "max_length": cfg.max_length, "steps_per_draw": cfg.ppt_steps,
            "validations_per_draw": len(together[0].evaluations), "val_rows": n_val, "pool_rows": len(texts),
            "sizes": rows}


def ppt_draws_markdown(result: dict) -> list[str]:
    """The PPT-draws section's table for the perf report (nothing when the section did not run)."""
    ppt = result.get("ppt_draws")
    if not ppt:
        return []
    lines = ["", f"## PPT draws in one bank ({ppt['precision']}, {ppt['steps_per_draw']} steps per draw, "
             f"{ppt['rows_per_prompt']} rows per step, {ppt['validations_per_draw']} validations of "
             f"{ppt['val_rows']} rows per draw)", "",
             "| R | prompt-steps/s, one bank | prompt-steps/s, one after another | speed-up | "
             "peak RSS MB, one bank | peak RSS MB, one after another |", "|---:|---:|---:|---:|---:|---:|"]
    for row in ppt["sizes"]:
        b, s = row["bank"], row["separate"]
        lines.append(f"| {row['r']} | {b['prompt_steps_per_s']:.2f} | {s['prompt_steps_per_s']:.2f} | "
                     f"{row['speedup']:.2f}× | {_mb(b['peak_rss_mb'])} | {_mb(s['peak_rss_mb'])} |")
    return lines
