"""Faults: a cell that fails (NaN or inf loss, out of memory, a data error; injected with
METAPT_FAULT) is recorded as failed with its reason, the suite goes on, `status` lists it and a
rerun retries it. Corrupt cache entries and results are detected, reported and rebuilt, never read
as data."""
from __future__ import annotations

import logging

import pytest

import faults

FAULTS = {   # METAPT_FAULT entry -> what the failed cell's error must say
    "nan:pt/sst2/0": "FloatingPointError: pt/sst2/s0: loss is nan",
    "inf:pt/sst2/1": "FloatingPointError: pt/sst2/s1: loss is inf",
    "oom:metapt_y/sst2/0": "OutOfMemoryError: CUDA out of memory",
    "data:metapt_y/sst2/1": "UserError: sst2: malformed row",
}


@pytest.fixture(scope="module")
def cache(standin_cache):
    return standin_cache


def smoke_cells(seeds=(0, 1, 2)):
    from benchmark import config, runner

    cfg = config.apply_overrides(config.load_profile("smoke"), [f"seeds=[{','.join(map(str, seeds))}]"])
    return runner.expand("sentiment7", cfg, tasks=["sst2"], methods=["pt", "metapt_y"])


def run(cells, out):
    from benchmark import runner

    runner.prepare_results_dir(out)
    runner.write_manifest(out, "sentiment7", cells, cells[0].config)
    return runner.run_cells(cells, out, progress=False)


def test_fault_spec_is_checked(monkeypatch):
    with pytest.raises(ValueError, match="KIND:METHOD/TASK/SEED"):
        faults.parse("boom:pt/sst2/0")
    monkeypatch.setenv(faults.ENV, "nan:pt")
    with pytest.raises(ValueError, match="METAPT_FAULT"):
        faults.install()
    assert not faults._installed


def test_installed_faults_poison_only_the_armed_cell_and_uninstall_leaves_the_package_as_it_was(monkeypatch):
    from baselines import METHODS
    from benchmark import runner
    from benchmark.scoring import Scorer

    before = (runner.run_cell, Scorer.loss, {type(m): type(m).run for m in METHODS.values()})
    monkeypatch.setenv(faults.ENV, "nan:pt/sst2/0,oom:ft/*/1")
    faults.install()
    try:
        assert runner.run_cell is not before[0] and Scorer.loss is not before[1]
        cell = type("C", (), {"method": "pt", "task": "sst2", "seed": 0, "key": "k"})()
        faults._current.update(cell=cell, out=".")
        assert faults.poison_loss(1.0) != faults.poison_loss(1.0)        # NaN
        cell.seed = 1
        assert faults.poison_loss(1.0) == 1.0
        cell.method = "ft"
        with pytest.raises(Exception, match="CUDA out of memory"):
            METHODS["ft"].run(None, "sst2", 1)
    finally:
        faults._current.update(cell=None, out=None)
        faults.uninstall()
    assert (runner.run_cell, Scorer.loss, {type(m): type(m).run for m in METHODS.values()}) == before


@pytest.mark.assets
@pytest.mark.slow
def test_failed_cells_are_recorded_listed_and_retried(cache, tmp_path, monkeypatch, capsys):
    from benchmark import runner
    from benchmark.commands import status

    cells = smoke_cells()
    out = tmp_path / "out"
    monkeypatch.setenv(faults.ENV, ",".join(FAULTS))
    faults.install()
    try:
        counts = run(cells, out)
    finally:
        faults.uninstall()
    assert counts == {"total": 6, "skipped": 0, "done": 2, "failed": 4}   # the suite went on
    errors = {}
    for cell in cells:
        rec = runner.read_cell(runner.cell_path(out, cell))
        assert rec is not None
        errors[f"{cell.method}/{cell.task}/{cell.seed}"] = (rec["status"], rec["error"])
    for spec, reason in FAULTS.items():
        st, err = errors.pop(spec.split(":", 1)[1])
        assert st == "failed" and err.startswith(reason), (spec, err)
    assert all(st == "done" and err is None for st, err in errors.values())   # seed 2 of both methods

    capsys.readouterr()
    assert status.run(type("A", (), {"results": out, "suite": None})()) == 0
    listed = capsys.readouterr().out
    assert "2 done, 4 failed, 0 missing of 6" in listed
    for spec, reason in FAULTS.items():
        assert reason.split(": ", 1)[1][:12] in listed

    monkeypatch.delenv(faults.ENV)   # the rerun retries exactly the failed cells, and they succeed
    counts = run(cells, out)
    assert counts == {"total": 6, "skipped": 2, "done": 4, "failed": 0}
    assert all(runner.cell_status(out, c) == "done" for c in cells)


@pytest.mark.assets
@pytest.mark.slow
def test_corrupt_cache_entries_and_results_are_rebuilt(cache, tmp_path, caplog):
    import torch

    from benchmark import runner
    from benchmark.io import read_json
    from benchmark.prompt import load_prompt

    cells = smoke_cells(seeds=(0,))
    out = tmp_path / "out"
    assert run(cells, out)["failed"] == 0
    before = {c.key: read_json(runner.cell_path(out, c), checksum=True)["metrics"] for c in cells}
    metapt = next(c for c in cells if c.method == "metapt_y")   # the prompt this run's MetaPT(Y) cell tuned from
    prompt_dir = cache / "artifacts" / read_json(runner.cell_path(out, metapt), checksum=True)["init"]["artifact"]
    prompt = prompt_dir / "prompt.safetensors"
    good = prompt.read_bytes()
    good_weight = load_prompt(prompt)[0].clone()   # (a copy: the file is rewritten in place below)
    # every one: other tests' seeds leave other draws' clusterings in the shared cache
    clusterings = sorted((cache / "artifacts" / "clusterings").glob("*.npz"))
    standin = next((cache / "data").glob("sst2-standin-*.json"))

    # damage: flip bytes in the meta-learned prompt and a clustering, truncate one result and the
    # stand-in data cache
    raw = bytearray(good)
    raw[-8:] = bytes(8)
    prompt.write_bytes(bytes(raw))
    for clustering in clusterings:
        clustering.write_bytes(clustering.read_bytes()[:-10] + b"0123456789")
    victim = runner.cell_path(out, cells[1])
    victim.write_text(victim.read_text()[:100])
    standin.write_text(standin.read_text()[:-50])
    from benchmark import data
    data.clear_cache()

    with caplog.at_level(logging.WARNING):
        counts = run(cells, out)
    assert counts["done"] == 1 and counts["skipped"] == 1      # only the damaged result was redone
    text = caplog.text
    assert "is corrupt" in text and victim.name in text            # the result, reported
    assert "artefact metapt-prompt" in text and "rebuilding" in text   # the prompt, reported and rebuilt
    assert "corrupt clustering cache entry" in text                # the clustering, reported and rebuilt
    assert prompt.read_bytes() != bytes(raw)                       # rebuilt, not read as data ...
    assert torch.equal(load_prompt(prompt)[0], good_weight)        # ... to the same meta-learned prompt
    after = {c.key: read_json(runner.cell_path(out, c), checksum=True)["metrics"] for c in cells}
    assert after == before
