"""Regression on reported accuracies.

* The smoke suites (tiny random decoder, registry stand-in data) are deterministic on CPU: their
  accuracies must equal the golden values in ``tests/golden/``. A golden value changes only with
  a stated reason in the commit (regenerate with ``python tests/golden/make_golden.py``).
* ``plot`` renders Table 1 from such a run, beside the paper's numbers.
* With ``METAPT_PAPER_RESULTS=<results dir of a paper-profile sentiment7 run>``, the run is checked
  against the paper's Table 1 within a stated tolerance, and the paper's claims are asserted.
"""
from __future__ import annotations

import json
import os
import pathlib

import numpy as np
import pytest


GOLDEN = pathlib.Path(__file__).parent / "golden"
SMOKE_RUNS = {  # golden file -> (suite, tasks)
    "smoke_sentiment7.json": ("sentiment7", ["sst2", "semeval16_laptop"]),
    "smoke_clustering.json": ("clustering", None),
}


def run_smoke(suite, tasks, out):
    from benchmark import config, runner

    cfg = config.apply_overrides(config.load_profile("smoke"), [])
    cells = runner.expand(suite, cfg, tasks=tasks)
    runner.prepare_results_dir(out)
    runner.write_manifest(out, suite, cells, cfg)
    counts = runner.run_cells(cells, out, progress=False)
    return cells, counts


def accuracies(cells, out):
    from benchmark import runner

    table = {}
    for cell in cells:
        result = runner.read_cell(runner.cell_path(out, cell))
        assert result is not None and result["status"] == "done", (cell.describe(), result and result.get("error"))
        table[cell.describe()] = round(result["metrics"]["accuracy"], 6)
    return table


@pytest.fixture(scope="module")
def smoke_results(standin_cache, tmp_path_factory):
    runs = {}
    for golden, (suite, tasks) in SMOKE_RUNS.items():
        out = tmp_path_factory.mktemp(suite)
        cells, counts = run_smoke(suite, tasks, out)
        runs[golden] = (cells, out, counts)
    return runs


@pytest.mark.assets
@pytest.mark.parametrize("golden", list(SMOKE_RUNS))
def test_smoke_suite_reproduces_golden_accuracies(smoke_results, golden):
    cells, out, counts = smoke_results[golden]
    assert counts["failed"] == 0
    got = accuracies(cells, out)
    want = json.loads((GOLDEN / golden).read_text())["accuracy"]
    assert got == want


@pytest.mark.assets
def test_rerun_skips_finished_cells(smoke_results):
    from benchmark import runner

    cells, out, _ = smoke_results["smoke_sentiment7.json"]
    before = {p.name: p.stat().st_mtime_ns for p in (out / "cells").iterdir()}
    counts = runner.run_cells(cells, out, progress=False)
    assert counts["skipped"] == len(cells) and counts["done"] == 0
    assert {p.name: p.stat().st_mtime_ns for p in (out / "cells").iterdir()} == before


@pytest.mark.assets
def test_results_carry_config_provenance_and_versions(smoke_results):
    from benchmark import runner

    cells, out, _ = smoke_results["smoke_sentiment7.json"]
    result = runner.read_cell(runner.cell_path(out, cells[0]))
    assert result["config"]["profile"] == "smoke"
    assert result["provenance"][cells[0].task]["source"] == "standin"
    assert result["versions"]["torch"] and result["versions"]["learn2learn"] == "0.2.0"
    assert result["reductions"]["backbone"] == {"paper": "t5-base", "here": "tiny-decoder"}
    assert len(result["split"]["train"]) == 8 and len(result["split"]["val"]) == 8
    assert set(result["split"]["train"]).isdisjoint(result["split"]["test"])
    assert set(result["metrics"]["recall"]) == {"bad", "good"}
    for cell in cells:                    # a cell tuned from a shared prompt says how that prompt was made
        rec = runner.read_cell(runner.cell_path(out, cell))
        if cell.method in ("ppt", "metapt", "metapt_y"):
            init = rec["init"]
            assert rec["method_version"] == 2 and init["artifact"].split("/")[0] in ("ppt-prompt", "metapt-prompt")
            assert init["best_step"] > 0 and init["validations"][0][0] == 0   # never the untrained prompt
        else:
            assert "init" not in rec and rec["method_version"] == 1


@pytest.mark.assets
def test_plot_renders_table1_beside_the_paper(smoke_results, tmp_path):
    from benchmark.cli import main

    _, out, _ = smoke_results["smoke_sentiment7.json"]
    assert main(["plot", "--results", str(out), "--out", str(tmp_path), "--only", "table1"]) == 0
    table = (tmp_path / "table1.md").read_text()
    assert "88.27" in table          # the paper's FT on SST-2, transcribed
    assert "stand-in" in table.lower()


# -- a paper-profile run against the paper's Table 1 -------------------------------------------

PAPER_TOLERANCE = 3.0  # accuracy points: a reproduction within 3 points of each reported mean


@pytest.mark.skipif(not os.environ.get("METAPT_PAPER_RESULTS"),
                    reason="set METAPT_PAPER_RESULTS to a results directory of a paper-profile sentiment7 run")
def test_paper_profile_run_matches_table1():
    from reports import paper, results

    res = results.load(os.environ["METAPT_PAPER_RESULTS"], profile="paper")
    reported = paper.table1()
    far, claims = [], []
    for (method, task), (mean, std) in reported.items():
        accs = [c["metrics"]["accuracy"] * 100 for c in res.cells
                if c.get("method") == method and c.get("task") == task and c.get("status") == "done"]
        if not accs:
            far.append(f"{method}/{task}: no results")
            continue
        if abs(np.mean(accs) - mean) > PAPER_TOLERANCE:
            far.append(f"{method}/{task}: {np.mean(accs):.2f} vs paper {mean:.2f}")
    tasks = sorted({task for _, task in reported})
    for task in tasks:
        ours = {m: [c["metrics"]["accuracy"] for c in res.cells if c.get("method") == m and c.get("task") == task]
                for m in ("metapt", "ppt")}
        if ours["metapt"] and ours["ppt"]:
            if np.mean(ours["metapt"]) <= np.mean(ours["ppt"]):
                claims.append(f"{task}: MetaPT not above PPT")
            if np.std(ours["metapt"]) >= np.std(ours["ppt"]):
                claims.append(f"{task}: MetaPT std not below PPT's")
    assert not far, "cells outside the tolerance: " + "; ".join(far)
    assert not claims, "the paper's claims fail on: " + "; ".join(claims)


@pytest.mark.assets
def test_pretraining_provenance_recorded_even_from_a_cached_artefact(standin_cache):
    """A cell that reads the pseudo-labelled rows (t-SNE, PPT and MetaPT builds) names the corpus and
    pool it came from, whether the artefact was just built or read back from the cache."""
    from benchmark import config
    from benchmark.context import Context

    cfg = config.apply_overrides(config.load_profile("smoke"), [])
    pre = cfg["pretrain"]
    for attempt in ("built or cached", "cached"):
        ctx = Context(cfg, progress=False)
        ctx.pseudo_labelled()
        for name in (pre["unlabelled"], pre["labelled_pool"]):
            assert ctx.provenance[name]["source"] == "standin", (attempt, name, ctx.provenance.get(name))
