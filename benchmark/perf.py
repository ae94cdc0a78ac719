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
  the reference, the bf16 meta-gradient's cosine similarity to float32.

Medians of ``repeats`` runs are reported, and every speed-up is a ratio of medians measured in the
same run. Texts are synthetic (words of a fixed list, with a seeded length distribution like the
pre-training corpus: median about 15 tokens), so the run needs no data and no network.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import threading
import time

import numpy as np
import torch

from benchmark import backbones
from benchmark.errors import UserError

LABEL_WORDS = ["terrible", "bad", "maybe", "good", "great"]

# randomly initialised T5 configurations (the tiny BPE tokenizer; no hub access needed)
RANDOM_T5 = {
    "random-t5-base": dict(vocab_size=32128, d_model=768, d_kv=64, d_ff=3072, num_layers=12,
                           num_decoder_layers=12, num_heads=12),
    "random-t5-small": dict(vocab_size=32128, d_model=512, d_kv=64, d_ff=2048, num_layers=6,
                            num_decoder_layers=6, num_heads=8),
    "random-t5-mini": dict(vocab_size=512, d_model=64, d_kv=16, d_ff=128, num_layers=2,
                           num_decoder_layers=2, num_heads=4),
}


@dataclasses.dataclass
class PerfConfig:
    backbone: str = "smollm2-135m"
    device: str = "cpu"
    threads: int | None = None
    k: int = 10
    m: int = 4
    prompt_tokens: int = 20
    prompt_init: str = "random"     # the profiles' prompt_init: random | vocab
    max_length: int = 64            # text + template tokens, as the profiles' max_length
    first_order: bool = False
    inner_lr: float = 0.08
    repeats: int = 3
    engines: tuple = ("l2l", "batched")
    ablations: bool = True          # bf16 autocast without bf16 weights; no length bucketing; fp32 attention
    skip: tuple = ()                # leave out meta-step variants whose name contains one of these
    tune_batch: int = 4
    tune_steps: int = 6
    score_rows: int = 192
    score_batch: int = 64
    sweep: bool = True
    sweep_k: tuple = (3, 10, 30)
    sweep_prompt: tuple = (20, 50, 100)
    sweep_text: tuple = (16, 32, 64)
    sweep_base_text: int = 16
    peak_n: int | None = None       # matmul size for the ceiling (default 2048 CPU, 8192 GPU)
    seed: int = 0


# --------------------------------------------------------------------------- helpers

def _words():
    return [w for line in backbones.TINY_CORPUS for w in line.split()]


def synthetic_texts(n: int, *, seed: int, fixed_words: int | None = None, median: float = 15.0,
                    max_words: int = 120) -> list[str]:
    """``n`` texts of corpus words; lognormal word counts (median ``median``) or ``fixed_words``."""
    rng = np.random.default_rng(seed)
    words = _words()
    if fixed_words:
        counts = np.full(n, fixed_words)
    else:
        counts = np.clip(np.round(np.exp(rng.normal(np.log(median), 0.7, n))), 2, max_words).astype(int)
    return [" ".join(rng.choice(words, int(c))) for c in counts]


def _sync(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class PeakMemory:
    """Memory a step needs: on CUDA the allocator's peak above the level at entry; everywhere the bytes
    autograd saved for backward (the activations, each storage counted once), which is what grows with
    K, the prompt and the text (a process's RSS on a CPU keeps freed memory and says little)."""

    def __init__(self, device: torch.device):
        self.device, self.peak_mb, self.saved_mb = device, None, 0.0
        self._seen = set()

    def _pack(self, t):
        try:
            storage = t.untyped_storage()
            key = (storage.data_ptr(), storage.nbytes())
            if key not in self._seen:
                self._seen.add(key)
                self.saved_mb += storage.nbytes() / 2**20
        except Exception:  # pragma: no cover - exotic tensors
            pass
        return t

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc):
        self._hooks.__exit__(*exc)
        self._seen.clear()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_mb = (torch.cuda.max_memory_allocated(self.device) - self._base) / 2**20
        return False

    @property
    def mb(self) -> float:
        return self.peak_mb if self.peak_mb is not None else self.saved_mb


def count_flops(fn) -> tuple[float, object]:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        out = fn()
    return float(counter.get_total_flops()), out


def timed(fn, device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t0


def matmul_peak(dtype: torch.dtype, device: torch.device, n: int, repeats: int = 5) -> dict:
    """GFLOP/s of an n x n x n matrix product (median of ``repeats`` timings of ``inner`` products)."""
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(device=device, dtype=dtype)
    b = torch.randn(n, n, generator=gen).to(device=device, dtype=dtype)
    inner = 10 if device.type == "cuda" else 1
    for _ in range(2):
        a @ b
    times = []
    for _ in range(repeats):
        def run():
            for _ in range(inner):
                a @ b
        times.append(timed(run, device) / inner)
    t = statistics.median(times)
    return {"dtype": str(dtype).replace("torch.", ""), "n": n, "gflops": 2 * n**3 / t / 1e9,
            "times_s": times}


def cpu_flags() -> list[str]:
    try:
        text = pathlib.Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return sorted(f for f in flags if f.startswith(("avx512_bf16", "amx", "avx512f", "avx2")))
    return []


def machine(device: torch.device) -> dict:
    info = {"python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform(),
            "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "cpu_flags": cpu_flags(),
            "processor": platform.processor() or platform.machine()}
    try:
        import transformers
        info["transformers"] = transformers.__version__
    except Exception:  # pragma: no cover
        pass
    try:
        from importlib import metadata
        info["learn2learn"] = metadata.version("learn2learn")
    except Exception:
        info["learn2learn"] = None
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    try:
        info["loadavg_start"] = list(os.getloadavg())
    except OSError:  # pragma: no cover
        pass
    try:
        info["git"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                     cwd=pathlib.Path(__file__).parent, timeout=10).stdout.strip() or None
    except Exception:  # pragma: no cover
        info["git"] = None
    return info


def bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return any(f.startswith(("avx512_bf16", "amx_bf16")) for f in cpu_flags())


def load_backbone(name: str, device: torch.device):
    if name in RANDOM_T5:
        model, tok = backbones.build_tiny("encoder-decoder", seed=0, **RANDOM_T5[name])
        bb = backbones.from_model(model, tok, "encoder-decoder", name)
    else:
        bb = backbones.load(name)
    return bb.to(device)


def label_words(bb) -> list[str]:
    try:
        bb.label_token_ids(LABEL_WORDS)
        return list(LABEL_WORDS)
    except UserError:
        return ["bad", "good"]


def _log(msg: str):
    print(f"[perf {datetime.datetime.now().strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- precision switches

def set_precision(bb, bf16: bool, bf16_weights: bool = True, fp32_attention: bool = False):
    """float32, bf16 autocast over float32 weights, or bf16 autocast with bf16-stored weights
    (optionally with the attention matmuls in float32)."""
    bb.autocast_bf16 = False
    bb.bf16_weights = bf16_weights
    bb.fp32_attention = fp32_attention
    bb.autocast_bf16 = bf16


# --------------------------------------------------------------------------- meta-step

@dataclasses.dataclass
class Variant:
    name: str
    engine: str
    bf16: bool
    bf16_weights: bool = True
    bucketing: bool = True
    fp32_attention: bool = False
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
                out.append(Variant("batched bf16, attention matmuls in fp32", "batched", True, fp32_attention=True))
            out.append(Variant("batched bf16" + (" (default)" if bf16_default else " (fastest; maml.bf16)"),
                               "batched", True, default=bf16_default))
    return [v for v in out if v.reference or v.default or not any(x and x in v.name for x in cfg.skip)]


def _tasks(n_rows: int, k: int, m: int, seed: int):
    rng = np.random.default_rng(seed)
    pick = rng.permutation(n_rows)[:2 * k * m].reshape(k, 2 * m)
    return [(row[:m].tolist(), row[m:].tolist()) for row in pick]


def _meta_step_fn(variant: Variant, bb, scorer, texts, labels, tasks, mcfg, n_prompt, init="random"):
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
    from benchmark.train import Scorer

    words = label_words(bb)
    mcfg = MAMLConfig(inner_lr=cfg.inner_lr, m=cfg.m, first_order=cfg.first_order)
    variants = meta_variants(cfg, bf16_ok, have_l2l)
    scorers = {v.name: Scorer(bb, words, cfg.max_length, bucket_cost=None if v.bucketing else math.inf)
               for v in variants}
    rows = {v.name: {"variant": dataclasses.asdict(v), "times_s": [], "peak_mb": []} for v in variants}
    grads = {}
    tasks0 = _tasks(len(texts), cfg.k, cfg.m, cfg.seed)
    for v in variants:                      # warm-up = the FLOP-counted step, on the repeat-0 tasks
        set_precision(bb, v.bf16, v.bf16_weights, v.fp32_attention)
        step = _meta_step_fn(v, bb, scorers[v.name], texts, labels, tasks0, mcfg, cfg.prompt_tokens,
                             cfg.prompt_init)
        flops, grad = count_flops(step)
        rows[v.name]["flops"] = flops
        grads[v.name] = grad.detach().float().cpu().clone()
        _log(f"meta-step warm-up {v.name}: {flops / 1e9:.1f} GFLOP")
    for r in range(cfg.repeats):
        tasks = _tasks(len(texts), cfg.k, cfg.m, cfg.seed + 1 + r)
        order = variants if r % 2 == 0 else variants[::-1]      # interleaved, alternating order
        for v in order:
            set_precision(bb, v.bf16, v.bf16_weights, v.fp32_attention)
            step = _meta_step_fn(v, bb, scorers[v.name], texts, labels, tasks, mcfg, cfg.prompt_tokens,
                                 cfg.prompt_init)
            with PeakMemory(device) as mem:
                t = timed(step, device)
            rows[v.name]["times_s"].append(t)
            rows[v.name]["peak_mb"].append(mem.mb)
            _log(f"meta-step repeat {r + 1}/{cfg.repeats} {v.name}: {t:.3f} s")
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

def run_tune(cfg: PerfConfig, bb, device, bf16_ok: bool, texts, labels) -> dict:
    from benchmark.prompt import SoftPrompt
    from benchmark.train import Scorer

    scorer = Scorer(bb, label_words(bb), cfg.max_length)
    rng = np.random.default_rng(cfg.seed)
    out = []
    precisions = [("fp32", False, False)]
    if bf16_ok:
        precisions += [("bf16", True, False)] + ([("bf16 + fp32 attention", True, True)] if cfg.ablations else [])
    grads = {}
    idx0 = rng.choice(len(texts), cfg.tune_batch, replace=False)
    for name, bf16, fp32_attn in precisions:   # the gradient of one batch at each precision, same prompt
        set_precision(bb, bf16, fp32_attention=fp32_attn)
        prompt = SoftPrompt(cfg.prompt_tokens, bb.embed_dim, seed=0).to(device)
        scorer.loss([texts[i] for i in idx0], labels[idx0], prompt()).backward()
        grads[name] = prompt.weight.grad.detach().float().cpu()
    for name, bf16, fp32_attn in precisions:
        set_precision(bb, bf16, fp32_attention=fp32_attn)
        prompt = SoftPrompt(cfg.prompt_tokens, bb.embed_dim, seed=0).to(device)
        opt = torch.optim.AdamW(prompt.parameters(), lr=3e-3, weight_decay=0.01)

        def step():
            idx = rng.choice(len(texts), cfg.tune_batch, replace=False)
            opt.zero_grad(set_to_none=True)
            loss = scorer.loss([texts[i] for i in idx], labels[idx], prompt())
            loss.backward()
            opt.step()

        flops = [count_flops(step)[0] for _ in range(2)]          # warm-up, counted
        times = [timed(step, device) for _ in range(cfg.tune_steps)]
        med = statistics.median(times)
        out.append({"precision": name, "batch": cfg.tune_batch, "times_s": times, "median_s": med,
                    "steps_per_s": 1 / med, "gflop_per_step": statistics.mean(flops) / 1e9,
                    "gflops_per_s": statistics.mean(flops) / med / 1e9,
                    "grad_cosine_vs_fp32": float(torch.nn.functional.cosine_similarity(
                        grads[name].flatten(), grads["fp32"].flatten(), dim=0))})
        _log(f"tune {name}: {1 / med:.2f} steps/s, {statistics.mean(flops) / med / 1e9:.0f} GFLOP/s")
    return {"prompt_tokens": cfg.prompt_tokens, "max_length": cfg.max_length, "rows": out}


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


def run_score(cfg: PerfConfig, bb, device, bf16_ok: bool) -> dict:
    from benchmark.prompt import SoftPrompt
    from benchmark.train import Scorer

    texts = synthetic_texts(cfg.score_rows, seed=cfg.seed + 7)
    scorer = Scorer(bb, label_words(bb), cfg.max_length)
    prompt = SoftPrompt(cfg.prompt_tokens, bb.embed_dim, seed=0).to(device).weight.detach()
    paths = [("fp32, previous path (char-sorted batches, full-vocab head)", False, "old"),
             ("fp32", False, "new")]
    if bf16_ok:
        paths += [("bf16, previous path", True, "old"), ("bf16 (default)", True, "new")]
    results = {name: {"path": name, "times_s": []} for name, _, _ in paths}
    preds = {}
    for name, bf16, kind in paths:                  # warm-up and FLOPs
        set_precision(bb, bf16)
        fn = (lambda: _predict_unbucketed(scorer, texts, prompt, cfg.score_batch)) if kind == "old" else \
            (lambda: scorer.predict(texts, prompt, batch_size=cfg.score_batch))
        flops, preds[name] = count_flops(fn)
        results[name]["flops"] = flops
    for r in range(cfg.repeats):
        for name, bf16, kind in (paths if r % 2 == 0 else paths[::-1]):
            set_precision(bb, bf16)
            fn = (lambda: _predict_unbucketed(scorer, texts, prompt, cfg.score_batch)) if kind == "old" else \
                (lambda: scorer.predict(texts, prompt, batch_size=cfg.score_batch))
            results[name]["times_s"].append(timed(fn, device))
    base = preds[paths[1][0]]
    for name, row in results.items():
        row["median_s"] = statistics.median(row["times_s"])
        row["rows_per_s"] = cfg.score_rows / row["median_s"]
        row["gflops_per_s"] = row["flops"] / row["median_s"] / 1e9
        row["agreement_with_fp32"] = float((preds[name] == base).mean())
        _log(f"score {name}: {row['rows_per_s']:.1f} rows/s")
    return {"rows": cfg.score_rows, "batch": cfg.score_batch, "prompt_tokens": cfg.prompt_tokens,
            "max_length": cfg.max_length, "paths": list(results.values())}


# --------------------------------------------------------------------------- cost growth

def run_sweep(cfg: PerfConfig, bb, device, bf16_ok: bool, have_l2l: bool) -> dict:
    """Default engine's meta-step time at K, prompt length and text length (fixed-length rows)."""
    from benchmark.maml import MAMLConfig
    from benchmark.train import Scorer

    default = next(v for v in meta_variants(cfg, bf16_ok, have_l2l) if v.default)
    set_precision(bb, default.bf16, default.bf16_weights, default.fp32_attention)
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
            # (a SmolLM2 step at K=10, 100 prompt tokens needed about 20 GB and was OOM-killed once)
            need = mb_per_token * 2 * k * cfg.m * (n + text + template) * 1.5
            avail = _available_mb()
            if avail is not None and need > 0.7 * avail:
                _log(f"sweep K={k} n={n} text={text} skipped: needs about {need:.0f} MB, {avail:.0f} MB available")
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
            step = _meta_step_fn(default, bb, scorer, texts, labels, tasks, mcfg, n)
            if device.type == "cuda":       # a warm-up per shape is cheap on a GPU (library heuristics)
                step()
            with PeakMemory(device) as mem:
                t = timed(step, device)
            seq = n + int(np.mean(lengths))
            rows = 2 * k * cfg.m
            seen[key] = {"k": k, "prompt_tokens": n, "text_tokens": text, "seq": seq, "rows": rows,
                         "tokens": rows * seq, "attention": rows * seq * seq, "time_s": t, "peak_mb": mem.mb}
            _log(f"sweep K={k} n={n} text={text}: {t:.3f} s")
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


# --------------------------------------------------------------------------- whole run

def _partial(path, result):
    """Each finished section is saved at once, so a killed run (out of memory, time) keeps its numbers."""
    if path is not None:
        pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(path).write_text(json.dumps(result, indent=1, default=str))


def run(cfg: PerfConfig, partial: os.PathLike | None = None) -> dict:
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
        _log(info["learn2learn_note"])
    bf16_ok = bf16_supported(device)
    n = cfg.peak_n or (8192 if device.type == "cuda" else 2048)
    _log(f"matmul ceiling n={n} on {device}")
    peaks = {"fp32": matmul_peak(torch.float32, device, n)}
    if bf16_ok:
        peaks["bf16"] = matmul_peak(torch.bfloat16, device, n)
    _log("ceiling " + ", ".join(f"{k} {v['gflops']:.0f} GFLOP/s" for k, v in peaks.items()))
    t0 = time.perf_counter()
    bb = load_backbone(cfg.backbone, device)
    _log(f"backbone {cfg.backbone} ({bb.n_params() / 1e6:.1f}M) loaded in {time.perf_counter() - t0:.1f} s")
    words = label_words(bb)
    texts = synthetic_texts(max(400, 4 * 2 * cfg.k * cfg.m), seed=cfg.seed)
    labels = np.arange(len(texts)) % len(words)
    lengths = bb.token_lengths(texts, cfg.max_length)
    result = {
        "config": dataclasses.asdict(cfg), "machine": info, "device": str(device), "bf16_supported": bf16_ok,
        "backbone": {"name": cfg.backbone, "params_m": bb.n_params() / 1e6, "kind": bb.kind,
                     "attn": sorted(bb.attn_implementations())},
        "texts": {"synthetic": True, "rows": len(texts), "mean_tokens": float(np.mean(lengths)),
                  "median_tokens": float(np.median(lengths)), "max_tokens": int(np.max(lengths))},
        "ceiling": peaks,
    }
    result["meta_step"] = run_meta(cfg, bb, device, bf16_ok, have_l2l, texts, labels)
    _partial(partial, result)
    result["tune"] = run_tune(cfg, bb, device, bf16_ok, texts, labels)
    _partial(partial, result)
    result["score"] = run_score(cfg, bb, device, bf16_ok)
    _partial(partial, result)
    if cfg.sweep:
        result["sweep"] = run_sweep(cfg, bb, device, bf16_ok, have_l2l)
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


def targets(result: dict) -> dict:
    meta = result["meta_step"]
    by = {v["variant"]["name"]: v for v in meta["variants"]}
    out = {}
    default, ref = by.get(meta["default"]), by.get(meta["reference"])
    if default and ref and ref["variant"]["engine"] == "l2l":
        ratio = default["speedup_vs_reference"]
        out["meta_step_3x"] = {"target": 3.0, "measured": ratio, "met": ratio >= 3.0,
                               "what": f"{meta['default']} vs {meta['reference']}, K={meta['k']}, m={meta['m']}"}
    if default and default["variant"]["bf16"]:
        cos = default["grad_cosine_vs_fp32"]
        out["bf16_meta_grad_cosine"] = {"target": 0.99, "measured": cos, "met": cos >= 0.99,
                                        "what": f"cosine of the {meta['default']} meta-gradient to float32's "
                                                f"on this backbone"}
    # the batched engine in the other precision (no ablation), beside the default one
    other = next((v for v in meta["variants"] if default and v["variant"]["engine"] == "batched"
                  and v["variant"]["bf16"] != default["variant"]["bf16"] and v["variant"].get("bucketing", True)
                  and v["variant"].get("bf16_weights", True) and not v["variant"].get("fp32_attention")), None)
    if other and ref and ref["variant"]["engine"] == "l2l":
        ratio, name = other["speedup_vs_reference"], other["variant"]["name"]
        if other["variant"]["bf16"]:
            cos = other.get("grad_cosine_vs_fp32")
            key, what = "meta_step_3x_bf16", (f"{name} vs {meta['reference']} (not the default: meta-gradient "
                                              f"cosine to float32 {'n/a' if cos is None else f'{cos:.2f}'})")
        else:
            key, what = "meta_step_3x_fp32", f"{name} (no bf16) vs {meta['reference']}"
        out[key] = {"target": 3.0, "measured": ratio, "met": ratio >= 3.0, "what": what}
    ceiling = result["ceiling"].get("bf16")
    tune = {r["precision"]: r for r in result["tune"]["rows"]}
    if ceiling and "bf16" in tune:
        frac = tune["bf16"]["gflops_per_s"] / ceiling["gflops"]
        out["tune_40pct_bf16_ceiling"] = {"target": 0.40, "measured": frac, "met": frac >= 0.40,
                                          "what": "bf16 prompt-tuning GFLOP/s / bf16 matmul ceiling"}
    return out


# --------------------------------------------------------------------------- report

def _f(x, digits=2):
    if x is None:
        return "–"
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return "–"
    return f"{x:,.{digits}f}"


def markdown(result: dict, command: str | None = None) -> str:
    m, cfg = result["machine"], result["config"]
    dev = m.get("gpu") or f"CPU ({m.get('processor')}, {m['threads']} threads; {', '.join(m['cpu_flags'])})"
    lines = [f"# Performance: {result['backbone']['name']} on {result['device']}", ""]
    lines += [f"- device: {dev}; torch {m['torch']}, transformers {m.get('transformers')}, "
              f"learn2learn {m.get('learn2learn') or 'missing'}; git {m.get('git')}; {result['date']}; "
              f"wall {result['wall_s'] / 60:.1f} min",
              f"- backbone: {result['backbone']['name']} ({result['backbone']['params_m']:.1f}M parameters, "
              f"{result['backbone']['kind']}, attention {', '.join(result['backbone']['attn'])})",
              f"- texts: synthetic, {result['texts']['mean_tokens']:.1f} tokens on average "
              f"(median {result['texts']['median_tokens']:.0f}, max {result['texts']['max_tokens']}; "
              f"template included, max_length {cfg['max_length']})",
              f"- load average at start {_fmt_load(m.get('loadavg_start'))}, at end {_fmt_load(m.get('loadavg_end'))}"
              + (" (the machine was shared: absolute numbers are pessimistic; ratios are from the same run)"
                 if (m.get("loadavg_start") or [0])[0] > 0.75 * (m.get("cpu_count") or 1) and result["device"] == "cpu"
                 else "")]
    if m.get("learn2learn_note"):
        lines.append(f"- {m['learn2learn_note']}")
    if command:
        lines.append(f"- command: `{command}`")
    lines += ["", "## Ceiling: matrix-multiply peak of this torch (the better of a run at the start and at the end)",
              "", "| dtype | n | GFLOP/s | at start | at end |", "|---|---:|---:|---:|---:|"]
    for k, v in result["ceiling"].items():
        lines.append(f"| {k} | {v['n']} | {_f(v['gflops'], 0)} | {_f(v.get('gflops_start'), 0)} | "
                     f"{_f(v.get('gflops_end'), 0)} |")
    ms = result["meta_step"]
    lines += ["", f"## Prompt-MAML meta-step (K={ms['k']}, m={ms['m']}, {ms['prompt_tokens']} prompt tokens "
              f"({ms.get('prompt_init', 'random')} init), "
              f"{'first' if ms['first_order'] else 'second'} order; median of {ms['repeats']}, interleaved)", "",
              "| engine | s/step | meta-steps/s | × reference | GFLOP/step | GFLOP/s | % of ceiling | peak MB "
              "| grad rel. err. vs ref. | grad cosine vs fp32 |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for v in ms["variants"]:
        var = v["variant"]
        ceil = result["ceiling"].get("bf16" if var["bf16"] else "fp32", result["ceiling"]["fp32"])["gflops"]
        name = var["name"] + (" **(default)**" if var["default"] and "(default)" not in var["name"] else "")
        lines.append(f"| {name} | {_f(v['median_s'], 3)} | {_f(v['steps_per_s'], 3)} | "
                     f"{_f(v['speedup_vs_reference'])}× | {_f(v['flops'] / 1e9, 1)} | {_f(v['gflops_per_s'], 0)} | "
                     f"{_f(100 * v['gflops_per_s'] / ceil, 1)}% | {_f(v['peak_mb'], 0)} | "
                     f"{v['grad_rel_err_vs_reference']:.1e} | {v['grad_cosine_vs_fp32']:.5f} |")
    lines.append("")
    lines.append("% of ceiling: of the bf16 ceiling for bf16 rows, of the fp32 one for fp32 rows. GFLOP are the "
                 "executed matmul FLOPs (padding included) counted by torch's FlopCounterMode. "
                 + ("Peak MB: the CUDA allocator's peak above the loaded model." if result["device"].startswith("cuda")
                    else "Peak MB: the tensors autograd saved for backward (activations, each storage once)."))
    tn = result["tune"]
    lines += ["", f"## Downstream prompt tuning (batch {tn['rows'][0]['batch']}, {tn['prompt_tokens']} prompt tokens, "
              "forward + backward + AdamW)", "",
              "| precision | s/step | steps/s | GFLOP/step | GFLOP/s | % of bf16 ceiling | % of own-dtype ceiling "
              "| grad cosine vs fp32 |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in tn["rows"]:
        bf = result["ceiling"].get("bf16", {}).get("gflops")
        own = result["ceiling"].get(r["precision"].split()[0], result["ceiling"]["fp32"])["gflops"]
        lines.append(f"| {r['precision']} | {_f(r['median_s'], 3)} | {_f(r['steps_per_s'])} | "
                     f"{_f(r['gflop_per_step'], 1)} | {_f(r['gflops_per_s'], 0)} | "
                     f"{_f(100 * r['gflops_per_s'] / bf, 1) + '%' if bf else '–'} | {_f(100 * r['gflops_per_s'] / own, 1)}% | "
                     f"{r.get('grad_cosine_vs_fp32', float('nan')):.4f} |")
    sc = result["score"]
    lines += ["", f"## Test-set scoring ({sc['rows']} rows, batch {sc['batch']}, no grad)", "",
              "| path | rows/s | GFLOP/s | predictions equal to fp32 |", "|---|---:|---:|---:|"]
    for p in sc["paths"]:
        lines.append(f"| {p['path']} | {_f(p['rows_per_s'], 1)} | {_f(p['gflops_per_s'], 0)} | "
                     f"{100 * p['agreement_with_fp32']:.1f}% |")
    if "sweep" in result:
        sw = result["sweep"]
        lines += ["", f"## How the meta-step cost grows ({sw['engine']}, m={sw['m']}, one run per point, "
                  "fixed-length rows)", "",
                  "| varied | K | prompt | text | rows × seq | s/step | peak MB |", "|---|---:|---:|---:|---:|---:|---:|"]
        for p in sw["points"]:
            lines.append(f"| {p['axis']} | {p['k']} | {p['prompt_tokens']} | {p['text_tokens']} | "
                         f"{p['rows']} × {p['seq']} | {_f(p['time_s'], 3)} | {_f(p['peak_mb'], 0)} |")
        cm = sw["model"]
        if cm.get("chosen"):
            fit = cm["fits"][cm["chosen"]]
            extra = (f" + {cm['c_us_per_attention_pair']:.4f} µs × rows·seq²" if cm["chosen"] == "attention" else "")
            lines += ["", f"Cost model (least squares over the points): t ≈ {cm['a_s']:.3f} s + "
                      f"{cm['b_ms_per_token']:.4f} ms × tokens{extra}, tokens = 2·K·m·(prompt + text + template); "
                      f"R² = {fit['r2']:.4f}, largest relative error {100 * fit['max_rel_err']:.1f}%."]
    if result.get("targets"):
        lines += ["", "## Targets", ""]
        for name, t in result["targets"].items():
            verdict = "met" if t["met"] else f"missed by {_f(100 * (1 - t['measured'] / t['target']), 0)}%"
            if name.startswith("meta"):
                shown, want = f"{t['measured']:.2f}×", f"{t['target']:.0f}×"
            elif "cosine" in name:
                shown, want = f"{t['measured']:.4f}", f"{t['target']:.2f}"
            else:
                shown, want = f"{100 * t['measured']:.1f}%", f"{100 * t['target']:.0f}%"
            lines.append(f"- {t['what']}: {shown} (target ≥ {want}): **{verdict}**")
    return "\n".join(lines) + "\n"


def _fmt_load(x):
    return "–" if not x else "/".join(f"{v:.1f}" for v in x)


def write(result: dict, out: pathlib.Path, name: str, command: str | None = None) -> tuple[pathlib.Path, pathlib.Path]:
    out.mkdir(parents=True, exist_ok=True)
    jpath, mpath = out / f"{name}.json", out / f"{name}.md"
    jpath.write_text(json.dumps(result, indent=1, default=str))
    mpath.write_text(markdown(result, command))
    return jpath, mpath
