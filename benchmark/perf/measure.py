"""Measuring: the run's settings, synthetic texts, timers, FLOP and memory counters, the matmul
ceiling, the machine, and the precision switches every loop uses."""
from __future__ import annotations

import dataclasses
import datetime
import os
import pathlib
import platform
import statistics
import subprocess
import sys
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


SECTIONS = ("meta", "memory", "bf16-inits", "tune", "bank", "ppt-draws", "maml-bank", "score", "ft", "sweep")


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
    ppt_draws: tuple = (1, 2, 4)    # R of the ppt-draws section: R pre-training draws in one bank vs one by one
    ppt_steps: int = 24             # its training steps per draw
    ppt_val_rows: int = 16          # its validation rows per draw
    score_rows: int = 192
    score_batch: int = 64
    sweep: bool = True
    sweep_k: tuple = (3, 10, 30)
    sweep_prompt: tuple = (20, 50, 100)
    sweep_text: tuple = (16, 32, 64)
    sweep_base_text: int = 16
    peak_n: int | None = None       # matmul size for the ceiling (default 2048 CPU, 8192 GPU)
    seed: int = 0
    sections: tuple = SECTIONS      # which parts to run (the ceiling and the precision decision always)
    attention: tuple = ("eager", "sdpa")   # kernels timed for the loops without double backward
    cosine_k: int = 3               # meta tasks of the bf16-vs-float64 meta-gradient comparison
    cosine_inits: tuple = ("vocab", "normal")   # prompt inits of that comparison (normal: the embeddings' std)
    profile: bool = True            # torch.profiler op breakdown of each timed loop
    memory_chunks: tuple = ("2", "auto", "all")   # chunks of the memory section ("all" = K)
    compile: bool = False           # also time a tuning step under torch.compile (minutes of compiling)
    maml_bank_sizes: tuple = (1, 2, 4, 8)   # R values of the maml-bank section


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
    if device.type != "cuda":
        from benchmark.precision import cpu_model

        info["cpu_model"] = cpu_model()
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


def log(msg: str):
    print(f"[perf {datetime.datetime.now().strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- precision switches

def set_precision(bb, bf16: bool, bf16_weights: bool = True):
    """float32, bf16 autocast over float32 weights, or bf16 autocast with bf16-stored weights."""
    bb.autocast_bf16 = False
    bb.bf16_weights = bf16_weights
    bb.autocast_bf16 = bf16




# --------------------------------------------------------------------------- what bounds a loop

def _op_class(name: str) -> str:
    """Which part of the model an aten op belongs to. The linear layers run as (add)mm; batched
    matmuls (bmm) and the softmax are eager attention's, SDPA is attention whole."""
    name = name.lower()
    if "scaled_dot_product" in name or "softmax" in name or "bmm" in name:
        return "attention"
    if name.split("::")[-1] in ("mm", "addmm", "addmv", "mv", "dot", "linear") or "mkldnn" in name \
            or "onednn" in name:
        return "matmul"
    return "elementwise/other"


def profile_breakdown(fn) -> dict:
    """Share of a loop's wall time in matmuls, attention, other ops and outside any op (Python,
    autograd bookkeeping, the profiler's own cost), from torch.profiler's per-op self times."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        fn()
        wall_us = (time.perf_counter() - t0) * 1e6
    shares = {"matmul": 0.0, "attention": 0.0, "elementwise/other": 0.0}
    top: dict = {}
    for event in prof.key_averages():
        if not event.key.startswith("aten::"):
            continue
        us = event.self_cpu_time_total
        shares[_op_class(event.key)] += us
        top[event.key] = top.get(event.key, 0.0) + us
    ops = sum(shares.values())
    out = {k: v / wall_us for k, v in shares.items()}
    out["python/overhead"] = max(0.0, 1 - ops / wall_us)
    out["wall_s_profiled"] = wall_us / 1e6
    out["top_ops"] = [[k, round(v / wall_us, 4)] for k, v in sorted(top.items(), key=lambda kv: -kv[1])[:6]]
    out["bound_by"] = max(("matmul", "attention", "elementwise/other", "python/overhead"), key=lambda k: out[k])
    return out


# --------------------------------------------------------------------------- memory of a step

class PeakRSS:
    """The process's resident-memory high-water mark during a block (Linux: VmHWM, reset through
    /proc/self/clear_refs), so the table shows what a step really takes on this machine."""

    @staticmethod
    def _read(field: str) -> float | None:
        try:
            for line in pathlib.Path("/proc/self/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def __enter__(self):
        try:   # hand memory freed by earlier steps back to the system first (glibc keeps it mapped)
            import ctypes

            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass
        try:
            pathlib.Path("/proc/self/clear_refs").write_text("5")
            self.resettable = True
        except OSError:
            self.resettable = False
        self.before_mb = self._read("VmRSS")
        return self

    def __exit__(self, *exc):
        self.peak_mb = self._read("VmHWM") if self.resettable else None
        return False
