"""The performance benchmark behind ``python -m benchmark perf``.

One run measures, on the backbone and device it is given:

* the ceiling: matrix-multiply peak of this torch on this device, float32 and bf16;
* the Prompt-MAML meta-step of every engine variant beside the reference (learn2learn's
  clone/adapt loop, float32), timed *interleaved* in the same process on the same tasks:
  meta-steps per second, executed GFLOP (counted with torch's FlopCounterMode, backward and
  double backward included), GFLOP/s, the fraction of the ceiling and peak memory;
* downstream prompt-tuning steps per second (batch of rows, backward, AdamW) and test-set
  scoring rows per second (no grad), with their GFLOP/s;
* how the cost grows: meta-step time against K, prompt length and text length, and a least-squares
  cost model ``t = a + b * tokens + c * attention`` over those points;
* correctness of the fast paths on this very backbone: the batched engine's meta-gradient against
  the reference, the bf16 meta-gradient's cosine similarity to float32, and to float64 at the
  vocab init and at a normal init in the embeddings' scale (both orders);
* full fine-tuning steps per second; the meta-step at task chunks K, auto and 2 (time, saved
  activations, peak RSS);
* for each loop, its fraction of the ceiling of the precision ``bf16: auto`` chose on this machine
  and, from torch.profiler, the share of its time in matmuls, attention, other ops and Python.

Layout: ``measure`` (settings, timers, counters, ceiling, profile), ``loops`` (the hot loops),
``sweep`` (cost growth and the cost model), ``report`` (targets and Markdown); this module runs them.

Medians of ``repeats`` runs are reported, and every speed-up is a ratio of medians measured in the
same run. Texts are synthetic (words of a fixed list, with a seeded length distribution like the
pre-training corpus: median about 15 tokens), so the run needs no data and no network.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import os
import pathlib
import time

import numpy as np
import torch

from benchmark.errors import UserError
from benchmark.perf.bank import run_bank, run_ppt_draws  # noqa: F401
from benchmark.perf.loops import (  # noqa: F401
    Variant,
    meta_variants,
    run_bf16_inits,
    run_ft,
    run_memory,
    run_meta,
    run_score,
    run_tune,
)
from benchmark.perf.maml_bank import run_maml_bank  # noqa: F401
from benchmark.perf.measure import (  # noqa: F401
    LABEL_WORDS,
    RANDOM_T5,
    SECTIONS,
    PeakMemory,
    PerfConfig,
    bf16_supported,
    count_flops,
    label_words,
    load_backbone,
    log,
    machine,
    matmul_peak,
    profile_breakdown,
    set_precision,
    synthetic_texts,
    timed,
)
from benchmark.perf.report import markdown, targets, write  # noqa: F401
from benchmark.perf.sweep import cost_model, run_sweep  # noqa: F401


def _partial(path, result):
    """Each finished section is saved at once, so a killed run (out of memory, time) keeps its numbers."""
    if path is not None:
        pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(path).write_text(json.dumps(result, indent=1, default=str))


def run(cfg: PerfConfig, partial: os.PathLike | None = None) -> dict:
    """Measure every selected section on one loaded backbone and return the result.
    Long because it is the measurement script in its order (ceiling, one call per section, ceiling again); each
    section is its own function (``loops.py``, ``bank.py``, ``sweep.py``)."""
    from benchmark import precision
    from benchmark.context import resolve_device

    device = torch.device(resolve_device(cfg.device))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    started = time.perf_counter()
    info = machine(device)
    try:
        import benchmark.l2l  # noqa: F401
        have_l2l = True
    except UserError as exc:
        have_l2l = False
        info["learn2learn_note"] = f"learn2learn missing, the l2l reference engine was skipped: {exc}"
        log(info["learn2learn_note"])
    bf16_ok = bf16_supported(device)
    auto = precision.decide(cfg.backbone if cfg.backbone not in RANDOM_T5 else "t5-base", str(device))
    auto_bf16 = bool(auto["bf16"]) and bf16_ok
    log(precision.describe(auto))
    n = cfg.peak_n or (8192 if device.type == "cuda" else 2048)
    log(f"matmul ceiling n={n} on {device}")
    peaks = {"fp32": matmul_peak(torch.float32, device, n)}
    if bf16_ok:
        peaks["bf16"] = matmul_peak(torch.bfloat16, device, n)
    log("ceiling " + ", ".join(f"{k} {v['gflops']:.0f} GFLOP/s" for k, v in peaks.items()))
    t0 = time.perf_counter()
    bb = load_backbone(cfg.backbone, device)
    log(f"backbone {cfg.backbone} ({bb.n_params() / 1e6:.1f}M) loaded in {time.perf_counter() - t0:.1f} s")
    words = label_words(bb)
    texts = synthetic_texts(max(400, 4 * 2 * cfg.k * cfg.m), seed=cfg.seed)
    labels = np.arange(len(texts)) % len(words)
    lengths = bb.token_lengths(texts, cfg.max_length)
    result = {
        "config": dataclasses.asdict(cfg), "machine": info, "device": str(device), "bf16_supported": bf16_ok,
        "bf16_auto": auto, "auto_precision": "bf16" if auto_bf16 else "fp32",
        "backbone": {"name": cfg.backbone, "params_m": bb.n_params() / 1e6, "kind": bb.kind,
                     "attn": sorted(bb.attn_implementations())},
        "texts": {"synthetic": True, "rows": len(texts), "mean_tokens": float(np.mean(lengths)),
                  "median_tokens": float(np.median(lengths)), "max_tokens": int(np.max(lengths))},
        "ceiling": peaks,
    }
    sections = set(cfg.sections)
    # memory first: the step's peak RSS is read in a process no earlier section has fragmented (after
    # the meta section the same chunk reads far more; docs/PERF.md)
    steps = [("memory", "memory", lambda: run_memory(cfg, bb, device, texts, labels)),
             ("meta", "meta_step", lambda: run_meta(cfg, bb, device, bf16_ok, have_l2l, texts, labels)),
             ("bf16-inits", "bf16_inits", lambda: run_bf16_inits(cfg, bb, device, texts, labels)),
             ("tune", "tune", lambda: run_tune(cfg, bb, device, bf16_ok, texts, labels, auto_bf16)),
             ("bank", "bank", lambda: run_bank(cfg, bb, device, texts, labels, auto_bf16, peaks)),
             ("ppt-draws", "ppt_draws", lambda: run_ppt_draws(cfg, bb, device, texts, labels, auto_bf16)),
             ("maml-bank", "maml_bank", lambda: run_maml_bank(cfg, bb, device, texts, labels, peaks,
                                                              cfg.maml_bank_sizes)),
             ("score", "score", lambda: run_score(cfg, bb, device, bf16_ok, auto_bf16)),
             ("ft", "ft", lambda: run_ft(cfg, bb, device, _ft_precisions(cfg, bf16_ok, auto_bf16), texts, labels,
                                         auto_bf16)),
             ("sweep", "sweep", lambda: run_sweep(cfg, bb, device, bf16_ok, have_l2l) if cfg.sweep else None)]
    for section, key, fn in steps:
        if section in sections:
            value = fn()
            if value is not None:
                result[key] = value
            _partial(partial, result)
    set_precision(bb, False)
    # the ceiling again at the end: on a shared machine the better of the two is the closer to the truth
    for key, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        if key in peaks:
            again = matmul_peak(dtype, device, n)
            peaks[key]["gflops_start"], peaks[key]["gflops_end"] = peaks[key]["gflops"], again["gflops"]
            peaks[key]["gflops"] = max(peaks[key]["gflops"], again["gflops"])
    try:
        info["loadavg_end"] = list(os.getloadavg())
    except OSError:  # pragma: no cover
        pass
    result["targets"] = targets(result)
    result["wall_s"] = time.perf_counter() - started
    result["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return result


def _ft_precisions(cfg: PerfConfig, bf16_ok: bool, auto_bf16: bool) -> list:
    out = [("fp32", False, "eager")] + ([("bf16", True, "eager")] if bf16_ok else [])
    if "sdpa" in cfg.attention:
        out.append((f"{'bf16' if auto_bf16 else 'fp32'} + sdpa", auto_bf16, "sdpa"))
    return out
