"""The hot loops, each timed beside its variants: the Prompt-MAML meta-step of every engine, downstream
prompt tuning, test-set scoring (and, below, full fine-tuning and the bf16 meta-gradient at proper inits)."""
from __future__ import annotations

import dataclasses
import math
import statistics
import time

import numpy as np
import torch

from benchmark.perf.measure import (
    PeakMemory,
    PerfConfig,
    count_flops,
    label_words,
    log,
    profile_breakdown,
    set_precision,
    synthetic_texts,
    timed,
)

# --------------------------------------------------------------------------- meta-step

@dataclasses.dataclass
class Variant:
    name: str
    engine: str
    bf16: bool
    bf16_weights: bool = True
    bucketing: bool = True
    reference: bool = False
    default: bool = False


def meta_variants(cfg: PerfConfig, bf16_ok: bool, have_l2l: bool, maml_bf16: bool | None = None) -> list[Variant]:
    """The reference, the default engine (what Prompt-MAML runs: MAMLConfig's ``bf16``, float32 unless
    a profile says otherwise) and the faster variants beside them."""
    from benchmark.maml import MAMLConfig

    bf16_default = (MAMLConfig().bf16 if maml_bf16 is None else maml_bf16) and bf16_ok
    out = []
    if have_l2l and "l2l" in cfg.engines:
        out.append(Variant("l2l fp32 (reference)", "l2l", False, bucketing=False, reference=True))
        if bf16_ok:
            out.append(Variant("l2l bf16", "l2l", True))
    if "batched" in cfg.engines:
        out.append(Variant("batched fp32" + ("" if bf16_default else " (default)"), "batched", False,
                           default=not bf16_default,
                           reference=not (have_l2l and "l2l" in cfg.engines)))
        if bf16_ok:
            if cfg.ablations:
                out.append(Variant("batched bf16, autocast only (fp32 weights)", "batched", True,
                                   bf16_weights=False))
                out.append(Variant("batched bf16, no length bucketing", "batched", True, bucketing=False))
            out.append(Variant("batched bf16" + (" (default)" if bf16_default else " (fastest; maml.bf16)"),
                               "batched", True, default=bf16_default))
    return [v for v in out if v.reference or v.default or not any(x and x in v.name for x in cfg.skip)]


def random_tasks(n_rows: int, k: int, m: int, seed: int):
    """``k`` meta tasks of ``m`` support and ``m`` query rows, disjoint, drawn from ``n_rows`` by ``seed``."""
    rng = np.random.default_rng(seed)
    pick = rng.permutation(n_rows)[:2 * k * m].reshape(k, 2 * m)
    return [(row[:m].tolist(), row[m:].tolist()) for row in pick]


def meta_step_fn(variant: Variant, bb, scorer, texts, labels, tasks, mcfg, n_prompt, init="random"):
    from benchmark.maml import meta_step_batched, meta_step_l2l
    from benchmark.prompt import SoftPrompt

    prompt = SoftPrompt(n_prompt, bb.embed_dim, init=init, embeddings=bb.input_embeddings().weight.float(),
                        seed=0).to(bb.device)
    if variant.engine == "l2l":
        from benchmark.l2l import MAML
        arg, engine = MAML(prompt, lr=mcfg.inner_lr, first_order=mcfg.first_order), meta_step_l2l
    else:
        arg, engine = prompt, meta_step_batched

    def step():
        prompt.weight.grad = None
        engine(arg, scorer, texts, labels, tasks, mcfg)
        return prompt.weight.grad

    return step


def run_meta(cfg: PerfConfig, bb, device, bf16_ok: bool, have_l2l: bool, texts, labels) -> dict:
    from benchmark.maml import MAMLConfig
    from benchmark.scoring import Scorer

    words = label_words(bb)
    mcfg = MAMLConfig(inner_lr=cfg.inner_lr, m=cfg.m, first_order=cfg.first_order)
    variants = meta_variants(cfg, bf16_ok, have_l2l)
    scorers = {v.name: Scorer(bb, words, cfg.max_length, bucket_cost=None if v.bucketing else math.inf)
               for v in variants}
    rows = {v.name: {"variant": dataclasses.asdict(v), "times_s": [], "peak_mb": []} for v in variants}
    grads = {}
    tasks0 = random_tasks(len(texts), cfg.k, cfg.m, cfg.seed)
    for v in variants:                      # warm-up = the FLOP-counted step, on the repeat-0 tasks
        set_precision(bb, v.bf16, v.bf16_weights)
        step = meta_step_fn(v, bb, scorers[v.name], texts, labels, tasks0, mcfg, cfg.prompt_tokens,
                             cfg.prompt_init)
        flops, grad = count_flops(step)
        rows[v.name]["flops"] = flops
        grads[v.name] = grad.detach().float().cpu().clone()
        log(f"meta-step warm-up {v.name}: {flops / 1e9:.1f} GFLOP")
    for r in range(cfg.repeats):
        tasks = random_tasks(len(texts), cfg.k, cfg.m, cfg.seed + 1 + r)
        order = variants if r % 2 == 0 else variants[::-1]      # interleaved, alternating order
        for v in order:
            set_precision(bb, v.bf16, v.bf16_weights)
            step = meta_step_fn(v, bb, scorers[v.name], texts, labels, tasks, mcfg, cfg.prompt_tokens,
                                 cfg.prompt_init)
            with PeakMemory(device) as mem:
                t = timed(step, device)
            rows[v.name]["times_s"].append(t)
            rows[v.name]["peak_mb"].append(mem.mb)
            log(f"meta-step repeat {r + 1}/{cfg.repeats} {v.name}: {t:.3f} s")
    default = next((v for v in variants if v.default), None)
    if cfg.profile and default is not None:          # what the default engine's time goes to
        set_precision(bb, default.bf16, default.bf16_weights)
        rows[default.name]["profile"] = profile_breakdown(meta_step_fn(
            default, bb, scorers[default.name], texts, labels, tasks0, mcfg, cfg.prompt_tokens, cfg.prompt_init))
    ref = next((v for v in variants if v.reference), variants[0])
    ref_grad = grads[ref.name]
    fp32_ref = next((v for v in variants if not v.bf16 and v.engine == ref.engine), ref)
    for v in variants:
        row = rows[v.name]
        row["median_s"] = statistics.median(row["times_s"])
        row["steps_per_s"] = 1.0 / row["median_s"]
        row["gflops_per_s"] = row["flops"] / row["median_s"] / 1e9
        mems = [x for x in row["peak_mb"] if x is not None]
        row["peak_mb"] = max(mems) if mems else None
        g = grads[v.name]
        row["grad_rel_err_vs_reference"] = float((g - ref_grad).norm() / ref_grad.norm())
        row["grad_cosine_vs_fp32"] = float(torch.nn.functional.cosine_similarity(
            g.flatten(), grads[fp32_ref.name].flatten(), dim=0))
    for v in variants:
        rows[v.name]["speedup_vs_reference"] = rows[ref.name]["median_s"] / rows[v.name]["median_s"]
    return {"k": cfg.k, "m": cfg.m, "prompt_tokens": cfg.prompt_tokens, "prompt_init": cfg.prompt_init,
            "max_length": cfg.max_length,
            "first_order": cfg.first_order, "repeats": cfg.repeats, "reference": ref.name,
            "default": next((v.name for v in variants if v.default), None),
            "variants": list(rows.values())}


# --------------------------------------------------------------------------- downstream tuning and scoring

def _prec(bf16: bool) -> str:
    return "bf16" if bf16 else "fp32"


def run_tune(cfg: PerfConfig, bb, device, bf16_ok: bool, texts, labels, auto_bf16: bool = False) -> dict:
    """Prompt-tuning steps/s at each precision with eager attention, and at the precision ``bf16: auto``
    chose with SDPA as well (no double backward here, so SDPA may be used)."""
    from benchmark.prompt import SoftPrompt
    from benchmark.scoring import Scorer
    from benchmark.train import TrainConfig, adamw

    scorer = Scorer(bb, label_words(bb), cfg.max_length)
    rng = np.random.default_rng(cfg.seed)
    out = []
    precisions = [("fp32", False, "eager")]
    if bf16_ok:
        precisions.append(("bf16", True, "eager"))
    if "sdpa" in cfg.attention:
        precisions.append((f"{_prec(auto_bf16)} + sdpa", auto_bf16, "sdpa"))
    grads = {}
    idx0 = rng.choice(len(texts), cfg.tune_batch, replace=False)
    for name, bf16, attn in precisions:   # the gradient of one batch at each precision, same prompt
        set_precision(bb, bf16)
        prompt = SoftPrompt(cfg.prompt_tokens, bb.embed_dim, seed=0).to(device)
        with bb.attention(attn):
            scorer.loss([texts[i] for i in idx0], labels[idx0], prompt()).backward()
        grads[name] = prompt.weight.grad.detach().float().cpu()
    for name, bf16, attn in precisions:
        set_precision(bb, bf16)
        prompt = SoftPrompt(cfg.prompt_tokens, bb.embed_dim, seed=0).to(device)
        opt = adamw(prompt.parameters(), TrainConfig(lr=3e-3, weight_decay=0.01))

        def step():
            idx = rng.choice(len(texts), cfg.tune_batch, replace=False)
            opt.zero_grad(set_to_none=True)
            loss = scorer.loss([texts[i] for i in idx], labels[idx], prompt())
            loss.backward()
            opt.step()

        with bb.attention(attn):
            flops = [count_flops(step)[0] for _ in range(2)]          # warm-up, counted
            times = [timed(step, device) for _ in range(cfg.tune_steps)]
            profile = profile_breakdown(step) if cfg.profile else None
        med = statistics.median(times)
        out.append({"precision": name, "bf16": bf16, "attention": attn,
                    "profile": profile, "batch": cfg.tune_batch, "times_s": times, "median_s": med,
                    "steps_per_s": 1 / med, "gflop_per_step": statistics.mean(flops) / 1e9,
                    "gflops_per_s": statistics.mean(flops) / med / 1e9,
                    "grad_cosine_vs_fp32": float(torch.nn.functional.cosine_similarity(
                        grads[name].flatten(), grads["fp32"].flatten(), dim=0))})
        log(f"tune {name}: {1 / med:.2f} steps/s, {statistics.mean(flops) / med / 1e9:.0f} GFLOP/s")
    res = {"prompt_tokens": cfg.prompt_tokens, "max_length": cfg.max_length, "rows": out}
    if cfg.compile:
        set_precision(bb, auto_bf16)
        res["compiled"] = run_tune_compiled(cfg, bb, device, scorer, texts, labels, auto_bf16)
    return res


def run_tune_compiled(cfg: PerfConfig, bb, device, scorer, texts, labels, bf16: bool) -> dict:
    """A prompt-tuning step with the frozen backbone's base model under ``torch.compile`` (inductor,
    dynamic shapes: every batch has its own length) against the same step eager, at the precision in
    use, the steps alternating (eager, compiled, eager, ...) so that a load on the machine falls on
    both alike; the same batches and the same starting prompt on both sides. The compile time (the
    first steps) is reported apart. Not a path the suite runs: a measurement of whether fusing the
    element-wise ops would pay."""
    from benchmark.prompt import SoftPrompt
    from benchmark.train import TrainConfig, adamw

    eager_base = bb.base_model
    compiled_base = torch.compile(eager_base, dynamic=True)

    def use(base):
        object.__setattr__(bb, "base_model", base)

    def make_step():
        prompt = SoftPrompt(cfg.prompt_tokens, bb.embed_dim, seed=0).to(device)
        opt = adamw(prompt.parameters(), TrainConfig(lr=3e-3, weight_decay=0.01))
        rng = np.random.default_rng(cfg.seed + 1)

        def step():
            idx = rng.choice(len(texts), cfg.tune_batch, replace=False)
            opt.zero_grad(set_to_none=True)
            scorer.loss([texts[i] for i in idx], labels[idx], prompt()).backward()
            opt.step()
            return prompt.weight.grad.detach().float().cpu()
        return step

    eager, compiled = make_step(), make_step()
    try:
        grads = {}
        use(eager_base)
        grads["eager"] = eager()
        use(compiled_base)
        t0 = time.perf_counter()
        grads["compiled"] = compiled()            # the same first batch: the two gradients compare
        warm = [compiled() for _ in range(2)]     # recompiles for new lengths mostly happen here
        compile_s = time.perf_counter() - t0
        del warm
        for _ in range(2):
            use(eager_base)
            eager()
        te, tc = [], []
        for _ in range(cfg.tune_steps):
            use(eager_base)
            te.append(timed(eager, device))
            use(compiled_base)
            tc.append(timed(compiled, device))
    finally:
        use(eager_base)
    me, mc = statistics.median(te), statistics.median(tc)
    cos = float(torch.nn.functional.cosine_similarity(grads["eager"].flatten(), grads["compiled"].flatten(), dim=0))
    log(f"tune compiled: eager {me * 1e3:.0f} ms, compiled {mc * 1e3:.0f} ms ({me / mc:.2f}x), "
         f"compile {compile_s:.0f} s")
    return {"precision": _prec(bf16), "batch": cfg.tune_batch, "eager_times_s": te, "compiled_times_s": tc,
            "eager_median_s": me, "compiled_median_s": mc, "speedup": me / mc, "compile_s": compile_s,
            "grad_cosine_eager": cos}


def _predict_unbucketed(scorer, texts, prompt, batch_size):
    """The scoring path before this benchmark: batches of character-sorted rows, full-vocab logits."""
    order = np.argsort([len(t) for t in texts], kind="stable")
    preds = np.empty(len(texts), dtype=np.int64)
    label_ids = scorer.label_ids.to(scorer.backbone.device)
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            idx = order[start:start + batch_size]
            logits = scorer.vocab_logits([texts[i] for i in idx], prompt)
            preds[idx] = logits[:, label_ids].argmax(-1).cpu().numpy()
    return preds


def _predict_every_row(scorer, texts, prompt, batch_size):
    """Scoring with the prompt prepended to every row: a per-row ``[B, n, d]`` prompt never takes the
    key/value prefix path, the rest is ``Scorer.predict``."""
    preds = np.empty(len(texts), dtype=np.int64)
    label_ids = scorer.label_ids.to(scorer.backbone.device)
    with torch.no_grad():
        for idx in scorer.buckets(texts, prompt, max_rows=batch_size):
            batch = scorer.backbone.encode([texts[i] for i in idx], max_length=scorer.max_length)
            per_row = prompt.unsqueeze(0).expand(len(idx), -1, -1)
            preds[idx] = scorer.backbone.slot_logits(batch, per_row, label_ids=label_ids).argmax(-1).cpu().numpy()
    return preds


def run_score(cfg: PerfConfig, bb, device, bf16_ok: bool, auto_bf16: bool = False) -> dict:
    from benchmark.prompt import SoftPrompt
    from benchmark.scoring import Scorer

    texts = synthetic_texts(cfg.score_rows, seed=cfg.seed + 7)
    scorer = Scorer(bb, label_words(bb), cfg.max_length)
    prompt = SoftPrompt(cfg.prompt_tokens, bb.embed_dim, seed=0).to(device).weight.detach()
    paths = [("fp32, previous path (char-sorted batches, full-vocab head)", False, "old", "eager"),
             ("fp32", False, "new", "eager")]
    if bf16_ok:
        paths += [("bf16, previous path", True, "old", "eager"), ("bf16", True, "new", "eager")]
    if "sdpa" in cfg.attention:
        paths.append((f"{_prec(auto_bf16)} + sdpa", auto_bf16, "new", "sdpa"))
    if bb.kind_strategy.prefix_cache:   # the path before the prompt ran once as a key/value prefix
        paths.append((f"{_prec(auto_bf16)}, prompt on every row (previous path)", auto_bf16, "every-row", "eager"))
    results = {name: {"path": name, "bf16": bf16, "attention": attn, "times_s": []} for name, bf16, _, attn in paths}
    preds = {}

    def fn_of(kind):
        if kind == "every-row":
            return lambda: _predict_every_row(scorer, texts, prompt, cfg.score_batch)
        return (lambda: _predict_unbucketed(scorer, texts, prompt, cfg.score_batch)) if kind == "old" else \
            (lambda: scorer.predict(texts, prompt, batch_size=cfg.score_batch))

    for name, bf16, kind, attn in paths:                  # warm-up and FLOPs
        set_precision(bb, bf16)
        with bb.attention(attn):
            flops, preds[name] = count_flops(fn_of(kind))
        results[name]["flops"] = flops
    for r in range(cfg.repeats):
        for name, bf16, kind, attn in (paths if r % 2 == 0 else paths[::-1]):
            set_precision(bb, bf16)
            with bb.attention(attn):
                results[name]["times_s"].append(timed(fn_of(kind), device))
    if cfg.profile:
        for name, bf16, kind, attn in paths:
            if kind == "new":
                set_precision(bb, bf16)
                with bb.attention(attn):
                    results[name]["profile"] = profile_breakdown(fn_of(kind))
    base = preds[paths[1][0]]
    for name, row in results.items():
        row["median_s"] = statistics.median(row["times_s"])
        row["rows_per_s"] = cfg.score_rows / row["median_s"]
        row["gflops_per_s"] = row["flops"] / row["median_s"] / 1e9
        row["agreement_with_fp32"] = float((preds[name] == base).mean())
        log(f"score {name}: {row['rows_per_s']:.1f} rows/s")
    return {"rows": cfg.score_rows, "batch": cfg.score_batch, "prompt_tokens": cfg.prompt_tokens,
            "max_length": cfg.max_length, "paths": list(results.values())}




# --------------------------------------------------------------------------- full fine-tuning

def run_ft(cfg: PerfConfig, bb, device, precisions, texts, labels, auto_bf16: bool = False) -> dict:
    """Full fine-tuning steps/s as FT runs it: a trainable copy of the backbone, every weight in AdamW."""
    import copy

    from benchmark.scoring import Scorer
    from benchmark.train import TrainConfig, adamw

    set_precision(bb, False)                 # copy the float32 weights, never bf16-stored ones
    clone = copy.deepcopy(bb)
    clone.unfreeze()
    scorer = Scorer(clone, label_words(clone), cfg.max_length)
    params = list(clone.model.parameters())
    fused = adamw(params, TrainConfig(lr=3e-5, weight_decay=0.01))
    foreach = torch.optim.AdamW(params, lr=3e-5, weight_decay=0.01)
    rng = np.random.default_rng(cfg.seed + 3)
    rows = []
    auto = next((p for p in precisions if p[2] == "eager" and p[1] == auto_bf16), precisions[0])
    # AdamW as fit() makes it (fused where this torch has the kernel), and the for-each AdamW before it
    runs = [(name, bf16, attn, fused) for name, bf16, attn in precisions]
    if fused.defaults.get("fused"):
        runs.append((f"{auto[0]}, for-each AdamW (previous path)", auto[1], auto[2], foreach))
    for name, bf16, attn, opt in runs:
        set_precision(clone, bf16)

        def step():
            idx = rng.choice(len(texts), cfg.tune_batch, replace=False)
            opt.zero_grad(set_to_none=True)
            scorer.loss([texts[i] for i in idx], labels[idx]).backward()
            opt.step()

        with clone.attention(attn):
            flops = count_flops(step)[0]                          # warm-up, counted
            times = [timed(step, device) for _ in range(max(2, cfg.tune_steps // 2))]
            profile = profile_breakdown(step) if cfg.profile else None
        med = statistics.median(times)
        rows.append({"precision": name, "attention": attn, "profile": profile, "batch": cfg.tune_batch,
                     "times_s": times,
                     "median_s": med, "steps_per_s": 1 / med, "gflop_per_step": flops / 1e9,
                     "gflops_per_s": flops / med / 1e9, "bf16": bf16})
        log(f"ft {name}: {1 / med:.2f} steps/s, {flops / med / 1e9:.0f} GFLOP/s")

    return {"max_length": cfg.max_length, "rows": rows}


# --------------------------------------------------------------------------- memory-bounded meta-step

def run_memory(cfg: PerfConfig, bb, device, texts, labels) -> dict:
    """The meta-step Prompt-MAML runs (batched, float32 unless maml.bf16) at chunk K, auto and 2:
    seconds, saved activations and the process's peak RSS during the step."""
    from benchmark.maml import MAMLConfig, choose_chunk, meta_step_batched, saved_mb
    from benchmark.perf.measure import PeakRSS
    from benchmark.prompt import SoftPrompt
    from benchmark.scoring import Scorer

    set_precision(bb, MAMLConfig().bf16)
    scorer = Scorer(bb, label_words(bb), cfg.max_length)
    tasks = random_tasks(len(texts), cfg.k, cfg.m, cfg.seed + 5)
    base = MAMLConfig(inner_lr=cfg.inner_lr, m=cfg.m, first_order=cfg.first_order)
    prompt = SoftPrompt(cfg.prompt_tokens, bb.embed_dim, seed=0).to(device)
    auto = choose_chunk(prompt, scorer, texts, labels, tasks, base)
    weights = [p.untyped_storage().data_ptr() for p in bb.model.parameters()]
    rows, grads = [], {}
    wanted = {"2": min(2, cfg.k), f"auto = {auto['chunk_tasks']}": auto["chunk_tasks"],
              f"{cfg.k} (all tasks at once)": cfg.k}
    wanted = {label: chunk for label, chunk in wanted.items()     # smallest first: freed memory stays mapped
              if any((x == "auto" and label.startswith("auto")) or (x == "all" and label.endswith("once)"))
                     or (x == label) for x in cfg.memory_chunks)}
    for label, chunk in sorted(wanted.items(), key=lambda kv: kv[1]):
        mcfg = dataclasses.replace(base, chunk_tasks=chunk)
        prompt.weight.grad = None
        per_chunk = []

        def step():
            # saved activations of each chunk apart (a chunk's are freed by its backward), frozen weights left out
            for part in (tasks[i:i + chunk] for i in range(0, len(tasks), chunk)):
                per_chunk.append(saved_mb(lambda: meta_step_batched(prompt, scorer, texts, labels, part, mcfg),
                                           weights))

        with PeakRSS() as rss:
            t = timed(step, device)
        grads[label] = prompt.weight.grad.detach().clone()
        rows.append({"chunk": label, "chunk_tasks": chunk, "time_s": t, "saved_mb": max(per_chunk),
                     "peak_rss_mb": rss.peak_mb, "rss_before_mb": rss.before_mb})
        log(f"meta-step chunk {label}: {t:.2f} s, saved {max(per_chunk):.0f} MB, peak RSS {rss.peak_mb} MB")
    whole = grads[rows[-1]["chunk"]]       # the largest chunk is the reference
    for row in rows:
        row["grad_rel_err_vs_unchunked"] = float((grads[row["chunk"]] - whole).norm() / whole.norm())
    return {"k": cfg.k, "m": cfg.m, "prompt_tokens": cfg.prompt_tokens, "max_length": cfg.max_length,
            "first_order": cfg.first_order, "auto": auto, "rows": rows}


# --------------------------------------------------------------------------- bf16 meta-gradient at proper inits

def run_bf16_inits(cfg: PerfConfig, bb, device, texts, labels) -> dict:
    """Cosine of the float32 and the bf16 meta-gradient to a float64 computation, at the vocab init
    and at a normal init with the embeddings' std (rows in the backbone's own scale), both orders."""
    import copy

    from benchmark.maml import MAMLConfig, meta_step_batched
    from benchmark.prompt import SoftPrompt, embedding_std
    from benchmark.scoring import Scorer

    set_precision(bb, False)
    double = copy.deepcopy(bb)
    double.model.double()
    words = label_words(bb)
    tasks = random_tasks(len(texts), cfg.cosine_k, cfg.m, cfg.seed + 9)
    emb = bb.input_embeddings().weight.detach().float().cpu()
    rows = []
    for init in cfg.cosine_inits:
        for first_order in (False, True):
            mcfg = MAMLConfig(inner_lr=cfg.inner_lr, m=cfg.m, first_order=first_order)
            grads = {}
            for name, model, bf16 in (("float64", double, False), ("float32", bb, False), ("bf16", bb, True)):
                if model is bb:
                    set_precision(bb, bf16)
                prompt = SoftPrompt(cfg.prompt_tokens, bb.embed_dim, init=init, embeddings=emb, seed=0)
                if name == "float64":
                    prompt = prompt.double()
                prompt = prompt.to(device)
                meta_step_batched(prompt, Scorer(model, words, cfg.max_length), texts, labels, tasks, mcfg)
                grads[name] = prompt.weight.grad.detach().double().cpu()
            ref = grads["float64"]
            row = {"init": init, "order": "first" if first_order else "second", "k": cfg.cosine_k,
                   "prompt_row_norm": float(SoftPrompt(cfg.prompt_tokens, bb.embed_dim, init=init, embeddings=emb,
                                                       seed=0).weight.detach().norm(dim=1).mean())}
            for name in ("float32", "bf16"):
                row[f"cosine_{name}"] = float(torch.nn.functional.cosine_similarity(
                    grads[name].flatten(), ref.flatten(), dim=0))
            rows.append(row)
            log(f"bf16 meta-gradient, {init} init, {row['order']} order: cosine to float64 "
                 f"fp32 {row['cosine_float32']:.4f}, bf16 {row['cosine_bf16']:.4f}")
    set_precision(bb, False)
    del double
    return {"k": cfg.cosine_k, "embedding_std": embedding_std(emb),
            "embedding_row_norm": float(emb.norm(dim=1).mean()), "rows": rows}
