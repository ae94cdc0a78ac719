"""Would the golden smoke values hold on another processor? `python tests/golden/check_portability.py`

A processor changes the arithmetic a run does, not the program: which SIMD kernels ATen dispatches
to (AVX-512 on one machine, AVX2 on another), which kernels MKL picks, how a reduction is split over
threads. All three can be switched on one machine, so this script reruns the smoke golden suites
(`tests/test_regression.py`) in fresh processes under each such variant and counts, per cell, the
test rows whose prediction differs from the run with the machine's own defaults:

    ATEN_CPU_CAPABILITY=avx2 / default     ATen's element-wise and reduction kernels (AVX2, scalar)
    MKL_ENABLE_INSTRUCTIONS=AVX2            MKL's GEMM kernels (float32 and float64 matmuls)
    torch threads 1                         reduction splits

in float32 (what the smoke golden used up to 6cbb430) and in float64 (the smoke profile's `dtype`
now). A float32 row flips under a variant where a decision, or a checkpoint choice on the way to
it, rests on a last-bit difference; float64 leaves 2^29 times more room before the same happens.
The report (JSON on stdout, a line per variant on stderr) is what the README and the golden test's
docstring quote.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
VARIANTS = {
    "machine default": {},
    "ATen avx2": {"ATEN_CPU_CAPABILITY": "avx2"},         # an x86-64 without AVX-512
    "MKL CBWR compatible": {"MKL_CBWR": "COMPATIBLE"},     # another GEMM kernel (MKL's portable path)
    "ATen scalar": {"ATEN_CPU_CAPABILITY": "default"},    # no SIMD in element-wise ops and reductions
    "1 thread": {"METAPT_CHECK_THREADS": "1"},            # another split of each reduction
}

# The child records every label-word score the run computes (validation and test rows, every
# evaluation of every cell, in call order): each is a decision some later step rests on.
CHILD = r"""
import json, os, pathlib, sys, tempfile
import numpy as np, torch
if os.environ.get("METAPT_CHECK_THREADS"):
    torch.set_num_threads(int(os.environ["METAPT_CHECK_THREADS"]))
sys.path.insert(0, sys.argv[1])
from test_regression import SMOKE_RUNS, run_smoke
from benchmark import backbones, runner
scores = []
original = backbones.Backbone.slot_logits
def recording(self, batch, prompt=None, label_ids=None):
    out = original(self, batch, prompt, label_ids=label_ids)
    if label_ids is not None:
        scores.append(out.detach().double().cpu().numpy())
    return out
backbones.Backbone.slot_logits = recording
preds = {}
for golden, (suite, tasks) in SMOKE_RUNS.items():
    with tempfile.TemporaryDirectory() as tmp:
        cells, _ = run_smoke(suite, tasks, pathlib.Path(tmp), overrides=[f"dtype={sys.argv[2]}"])
        for cell in cells:
            rec = runner.read_cell(runner.cell_path(pathlib.Path(tmp), cell))
            preds[cell.describe()] = rec["test"]["preds"] if rec and rec["status"] == "done" else None
np.save(sys.argv[3], np.concatenate([np.pad(s, ((0, 0), (0, 5 - s.shape[1])), constant_values=-np.inf)
                                     for s in scores]))
print("RESULT" + json.dumps({"capability": torch.backends.cpu.get_cpu_capability(), "preds": preds}))
"""


def run_variant(env_extra: dict, dtype: str, cache: str) -> tuple[dict, "np.ndarray"]:
    import numpy as np

    env = dict(os.environ, METAPT_CACHE=cache, **env_extra)
    scores = pathlib.Path(cache) / "scores.npy"
    proc = subprocess.run([sys.executable, "-c", CHILD, str(HERE.parent), dtype, str(scores)], env=env,
                          capture_output=True, text=True, check=False)
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT")]
    if proc.returncode != 0 or not line:
        raise SystemExit(f"variant {env_extra} ({dtype}) failed:\n{proc.stderr[-3000:]}")
    return json.loads(line[-1][len("RESULT"):]), np.load(scores)


def margins(scores):
    """Per decision: the best label word's score minus the runner-up's."""
    import numpy as np

    top = np.sort(scores, axis=1)
    return top[:, -1] - top[:, -2]


def main(argv=None) -> int:
    import numpy as np

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args(argv)
    cache = os.environ.get("METAPT_CACHE") or str(pathlib.Path.home() / ".cache" / "metapt-bench")
    report = {}
    for dtype in args.dtypes.split(","):
        base = None
        for name in args.variants.split(","):
            # each variant builds its artefacts (pseudo-labels, PPT and MetaPT prompts) anew, in a
            # cache that shares only the fetched assets, so no variant reads another's arithmetic
            with tempfile.TemporaryDirectory() as tmp:
                for sub in ("assets", "downloads", "models", "data"):
                    if (pathlib.Path(cache) / sub).exists():
                        os.symlink(pathlib.Path(cache) / sub, pathlib.Path(tmp) / sub)
                got, scores = run_variant(VARIANTS[name], dtype, tmp)
            if base is None:
                base, base_scores = got, scores
            cells = base["preds"]
            flips = {c: sum(a != b for a, b in zip(cells[c], got["preds"][c])) for c in cells}
            moved = {c: n for c, n in flips.items() if n}
            same_path = scores.shape == base_scores.shape
            delta = float(np.abs(scores - base_scores)[np.isfinite(base_scores)].max()) if same_path else None
            decisions = int((scores.argmax(1) != base_scores.argmax(1)).sum()) if same_path else None
            m = margins(base_scores)
            report[f"{dtype} / {name}"] = {
                "capability": got["capability"], "cells": len(cells), "cells_changed": len(moved),
                "test_rows_changed": sum(moved.values()), "changed": moved, "decisions": int(len(m)),
                "decisions_changed": decisions, "max_score_change": delta,
                "min_margin": float(m.min()), "margin_quantiles": {q: float(np.quantile(m, q))
                                                                   for q in (0.001, 0.01, 0.5)}}
            print(f"{dtype:8s} {name:20s} ({got['capability']}): {len(moved)} of {len(cells)} cells changed, "
                  f"{sum(moved.values())} test rows; {decisions} of {len(m)} decisions (val + test) changed; "
                  f"largest score change {delta if delta is None else f'{delta:.3g}'}; smallest margin {m.min():.3g}",
                  file=sys.stderr)
    print(json.dumps(report, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
