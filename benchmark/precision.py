"""``bf16: auto``: the frozen backbone's precision chosen by measuring the machine in use.

bf16 is much faster than float32 on one CPU and much slower on another of the same name (AMX or
not, AVX-512-bf16 or not; docs/PROFILES.md), so no fixed choice is right everywhere. ``auto`` is resolved
into ``true`` or ``false`` before any cell is expanded, so the precision actually used enters
every cell and artefact key (they hash the config) and one results folder never mixes the two
silently. The probe's figures are *not* in the keys (timings vary); they are printed and kept in
each cell's ``machine`` record.

* On CUDA the device decides: ``torch.cuda.is_bf16_supported()``.
* On a CPU a short probe (about a second) times the backbone's own MLP shapes (hidden x
  intermediate, forward and backward to the input, as prompt tuning runs them: the weights are
  frozen) in float32 and under bf16 autocast with bf16-stored weights, at the thread count the run
  uses. bf16 is chosen only when it is at least ``MARGIN`` faster: bf16 costs some precision, so
  a tie goes to float32.
* The decision is kept on disk per (machine, torch, threads, shapes), so a resumed or repeated run
  on the same machine gets the same precision, hence the same cell keys, without re-measuring a
  noisy probe. ``--set bf16=true|false`` forces a precision and never probes.
"""
from __future__ import annotations

import datetime
import json
import logging
import os
import platform
import statistics
import time

import torch

from benchmark import paths
from benchmark.io import config_hash, write_json

log = logging.getLogger(__name__)

CHOICES = (True, False, "auto")
MARGIN = 1.10          # bf16 must be at least 10 % faster than float32 to be chosen
PROBE_TOKENS = 512     # rows x sequence of one probe matmul: a tuning batch / meta-step slice
PROBE_SECONDS = 0.4    # time spent on each precision (after warm-up)
FALLBACK_SHAPES = (768, 3072)   # T5-base's, when the backbone's config cannot be read offline

_DECISIONS: dict = {}  # (backbone, device, threads) -> record, made once per process


def backbone_shapes(name: str) -> tuple[int, int, str]:
    """(hidden size, MLP intermediate size, where they came from) read from the backbone's config
    without loading its weights."""
    from benchmark import backbones

    entry = backbones.REGISTRY.get(name)
    if entry is not None and entry.source == "tiny":
        return 32, 64, "tiny config"
    config_dir = None
    if entry is not None and entry.source == "gguf-asset":
        config_dir = backbones.gguf_cache_dir(entry)
    elif entry is None and os.path.isdir(os.path.expanduser(name)):
        config_dir = os.path.expanduser(name)
    cfg = None
    if config_dir is not None and os.path.exists(os.path.join(config_dir, "config.json")):
        with open(os.path.join(config_dir, "config.json")) as fh:
            cfg = json.load(fh)
    elif entry is not None or "/" in name:
        try:
            from transformers import AutoConfig

            cfg = AutoConfig.from_pretrained(entry.ref if entry else name, local_files_only=True).to_dict()
        except Exception:  # noqa: BLE001 - not cached: the fallback shapes are used and said so
            cfg = None
    if cfg:
        hidden = cfg.get("hidden_size") or cfg.get("d_model")
        inter = cfg.get("intermediate_size") or cfg.get("d_ff")
        if hidden and inter:
            return int(hidden), int(inter), "backbone config"
    return (*FALLBACK_SHAPES, "fallback (config not available offline)")


def _time_pair(fns: dict, seconds: float) -> dict:
    """Median time of each function, run alternately so that a load change hits both alike."""
    for fn in fns.values():        # warm-up: oneDNN picks and caches its kernels on the first calls
        fn()
        fn()
    times = {name: [] for name in fns}
    deadline = time.perf_counter() + seconds * len(fns)
    while time.perf_counter() < deadline or min(len(t) for t in times.values()) < 3:
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
        if min(len(t) for t in times.values()) >= 50:
            break
    return {name: statistics.median(t) for name, t in times.items()}


def probe_cpu(hidden: int, intermediate: int, *, tokens: int = PROBE_TOKENS, seconds: float = PROBE_SECONDS) -> dict:
    """Seconds per forward+backward of the backbone's MLP shapes, float32 and bf16 autocast."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(tokens, hidden, generator=gen, requires_grad=True)
    up = torch.randn(intermediate, hidden, generator=gen) / hidden ** 0.5
    down = torch.randn(hidden, intermediate, generator=gen) / intermediate ** 0.5
    up16, down16 = up.bfloat16(), down.bfloat16()

    def fp32():
        x.grad = None
        y = torch.nn.functional.linear(torch.nn.functional.silu(torch.nn.functional.linear(x, up)), down)
        y.sum().backward()

    def bf16():
        x.grad = None
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = torch.nn.functional.linear(torch.nn.functional.silu(torch.nn.functional.linear(x, up16)), down16)
        y.float().sum().backward()

    t = _time_pair({"fp32": fp32, "bf16": bf16}, seconds)
    flops = 8 * tokens * hidden * intermediate     # two matmuls forward, two backward (to the input only)
    return {"fp32_ms": 1e3 * t["fp32"], "bf16_ms": 1e3 * t["bf16"],
            "fp32_gflops": flops / t["fp32"] / 1e9, "bf16_gflops": flops / t["bf16"] / 1e9,
            "speedup_bf16": t["fp32"] / t["bf16"]}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def decide(backbone: str, device: str = "cpu", *, stream=None) -> dict:
    """The bf16 decision for ``backbone`` on ``device`` (a record with ``bf16`` and the evidence)."""
    device = _device(device)
    threads = torch.get_num_threads()
    key = (backbone, device, threads)
    if key in _DECISIONS:
        return _DECISIONS[key]
    if device.startswith("cuda"):
        ok = bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
        record = {"setting": "auto", "bf16": ok, "device": device, "how": "CUDA device bf16 support",
                  "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    else:
        hidden, inter, shapes_from = backbone_shapes(backbone)
        ident = {"cpu": _cpu_model(), "flags": _cpu_flags(), "torch": torch.__version__, "threads": threads,
                 "hidden": hidden, "intermediate": inter, "tokens": PROBE_TOKENS, "margin": MARGIN}
        cache = paths.sub("precision") / f"{config_hash(ident)}.json"
        record = None
        if cache.exists():
            try:
                record = dict(json.loads(cache.read_text()), how="probe (kept from an earlier run on this machine)")
            except (OSError, ValueError):
                record = None
        if record is None:
            load = _load_per_core()
            figures = probe_cpu(hidden, inter)
            busy = load is not None and load > BUSY_LOAD
            record = {"setting": "auto", "bf16": figures["speedup_bf16"] >= MARGIN, "device": "cpu",
                      "how": "probe (measured now" + (f", machine busy: load {load:.1f} per core, not kept)"
                                                      if busy else ")"),
                      "probe": figures, "shapes_from": shapes_from, "load_per_core": load,
                      "measured": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                      **ident}
            # Other jobs distort the two timings unequally (a probe under load can read no gain where
            # the idle machine gives a large one), so only a decision measured on a quiet machine is kept.
            if not busy:
                try:
                    write_json(cache, record)
                except OSError as exc:  # a read-only cache only costs a probe next time
                    log.warning("could not keep the bf16 decision in %s: %s", cache, exc)
    record["backbone"] = backbone
    _DECISIONS[key] = record
    return record


BUSY_LOAD = 0.75   # 1-minute load average per core above which a probe is not kept


def _load_per_core() -> float | None:
    try:
        return os.getloadavg()[0] / (os.cpu_count() or 1)
    except (OSError, AttributeError):   # not on every platform
        return None


def cpu_model() -> str:
    """The processor's model name (what a timing must be read beside)."""
    return _cpu_model()


def cpu_flags() -> list[str]:
    """The processor's bf16 and AMX flags (why bf16 is fast or slow on it)."""
    return _cpu_flags()


def _cpu_flags() -> list[str]:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return sorted(f for f in line.split(":", 1)[1].split() if f.startswith(("avx512_bf16", "amx")))
    except OSError:
        pass
    return []


def describe(record: dict) -> str:
    choice = "bf16" if record["bf16"] else "float32"
    if "probe" in record:
        p = record["probe"]
        return (f"bf16: auto -> {str(record['bf16']).lower()} ({choice}; {record['how']}: backbone MLP "
                f"{record['hidden']}x{record['intermediate']}, {record['threads']} threads: float32 "
                f"{p['fp32_ms']:.1f} ms, bf16 {p['bf16_ms']:.1f} ms, bf16 {p['speedup_bf16']:.2f}x; "
                f"bf16 needs >= {record['margin']:.2f}x)")
    return f"bf16: auto -> {str(record['bf16']).lower()} ({choice}; {record['how']})"


def resolve(cfg: dict, stream=None) -> dict:
    """``cfg`` with ``bf16: auto`` replaced by the decision (a forced true/false is left alone and
    never probed); the decision is printed to ``stream``."""
    if cfg.get("bf16") != "auto":
        return cfg
    record = decide(cfg["backbone"], cfg.get("device", "cpu"))
    if stream is not None:
        print(describe(record), file=stream)
    return dict(cfg, bf16=bool(record["bf16"]))


def recorded() -> list[dict] | None:
    """The decisions made (or adopted) in this process, for a cell's ``machine`` record."""
    return list(_DECISIONS.values()) or None


def adopt(records: list[dict] | None) -> None:
    """Take over the driver's decisions in a worker process (Ray), so its cells carry the same record."""
    for record in records or []:
        key = (record["backbone"], record["device"], record.get("threads", torch.get_num_threads()))
        _DECISIONS.setdefault(key, record)
