"""How the meta-step cost grows with K, prompt and text length, and a least-squares cost model."""
from __future__ import annotations

import numpy as np

from benchmark.perf.loops import meta_step_fn, meta_variants
from benchmark.perf.measure import PeakMemory, PerfConfig, label_words, log, set_precision, synthetic_texts, timed

# --------------------------------------------------------------------------- cost growth

def run_sweep(cfg: PerfConfig, bb, device, bf16_ok: bool, have_l2l: bool) -> dict:
    """Default engine's meta-step time at K, prompt length and text length (fixed-length rows)."""
    from benchmark.maml import MAMLConfig
    from benchmark.scoring import Scorer

    default = next(v for v in meta_variants(cfg, bf16_ok, have_l2l) if v.default)
    set_precision(bb, default.bf16, default.bf16_weights)
    template = bb.template_length()
    base_k, base_n, base_l = cfg.k, cfg.prompt_tokens, cfg.sweep_base_text
    points = []
    for k in cfg.sweep_k:
        points.append(("K", k, base_n, base_l))
    for n in cfg.sweep_prompt:
        points.append(("prompt", base_k, n, base_l))
    for text in cfg.sweep_text:
        points.append(("text", base_k, base_n, text))
    seen, out = {}, []
    mcfg = MAMLConfig(inner_lr=cfg.inner_lr, m=cfg.m, first_order=cfg.first_order)
    words = label_words(bb)
    mb_per_token = None
    for axis, k, n, text in points:
        key = (k, n, text)
        if key not in seen and mb_per_token and device.type == "cpu":
            # second order keeps every activation of 2·K·m rows alive: skip a point that would not fit
            # (large K and long prompts reach tens of GB on a small backbone; docs/PERF.md)
            need = mb_per_token * 2 * k * cfg.m * (n + text + template) * 1.5
            avail = _available_mb()
            if avail is not None and need > 0.7 * avail:
                log(f"sweep K={k} n={n} text={text} skipped: needs about {need:.0f} MB, {avail:.0f} MB available")
                seen[key] = {"k": k, "prompt_tokens": n, "text_tokens": text, "skipped": True,
                             "estimated_mb": need, "available_mb": avail}
        if key not in seen:
            max_length = text + template
            texts = synthetic_texts(2 * k * cfg.m, seed=cfg.seed + 11, fixed_words=2 * text + 4)
            labels = np.arange(len(texts)) % len(words)
            scorer = Scorer(bb, words, max_length)
            lengths = bb.token_lengths(texts, max_length)
            tasks = [(list(range(2 * cfg.m * i, 2 * cfg.m * i + cfg.m)),
                      list(range(2 * cfg.m * i + cfg.m, 2 * cfg.m * (i + 1)))) for i in range(k)]
            step = meta_step_fn(default, bb, scorer, texts, labels, tasks, mcfg, n)
            if device.type == "cuda":       # a warm-up per shape is cheap on a GPU (library heuristics)
                step()
            with PeakMemory(device) as mem:
                t = timed(step, device)
            seq = n + int(np.mean(lengths))
            rows = 2 * k * cfg.m
            seen[key] = {"k": k, "prompt_tokens": n, "text_tokens": text, "seq": seq, "rows": rows,
                         "tokens": rows * seq, "attention": rows * seq * seq, "time_s": t, "peak_mb": mem.mb}
            log(f"sweep K={k} n={n} text={text}: {t:.3f} s")
            if mem.saved_mb:
                mb_per_token = max(mb_per_token or 0.0, mem.saved_mb / (rows * seq))
        out.append(dict(seen[key], axis=axis))
    return {"engine": default.name, "m": cfg.m, "first_order": cfg.first_order,
            "points": [p for p in out if not p.get("skipped")], "skipped": [p for p in out if p.get("skipped")],
            "model": cost_model([p for p in seen.values() if not p.get("skipped")])}


def _available_mb():
    try:
        import psutil
        return psutil.virtual_memory().available / 2**20
    except ImportError:  # pragma: no cover
        return None


def cost_model(points: list[dict]) -> dict:
    """Non-negative least squares: t = a + b * tokens (linear) and t = a + b * tokens + c * attention
    (attention = rows * seq^2, the eager-attention term); the second is chosen when its largest
    relative error is clearly (20%) smaller."""
    from scipy.optimize import nnls

    t = np.array([p["time_s"] for p in points])
    tok = np.array([p["tokens"] for p in points], dtype=float)
    att = np.array([p["attention"] for p in points], dtype=float)
    fits = {}
    for name, cols in (("linear", [np.ones_like(tok), tok]), ("attention", [np.ones_like(tok), tok, att])):
        if len(points) <= len(cols):
            continue
        X = np.stack(cols, 1)
        scale = X.max(0)
        coef, _ = nnls(X / scale, t)
        coef = coef / scale
        pred = X @ coef
        ss = float(((t - t.mean()) ** 2).sum())
        fits[name] = {"coef": coef.tolist(), "r2": 1 - float(((t - pred) ** 2).sum()) / ss if ss else 1.0,
                      "max_rel_err": float(np.max(np.abs(pred - t) / t)),
                      "predicted_s": pred.tolist()}
    if not fits:
        return {"fits": fits, "chosen": None}
    best = "linear" if "linear" in fits else "attention"
    if "attention" in fits and (best == "attention" or
                                fits["attention"]["max_rel_err"] < 0.8 * fits["linear"]["max_rel_err"]):
        best = "attention"
    coef = fits[best]["coef"]
    out = {"fits": fits, "chosen": best, "a_s": coef[0], "b_ms_per_token": coef[1] * 1e3}
    if best == "attention":
        out["c_us_per_attention_pair"] = coef[2] * 1e6
    return out


