"""Cells tuned in groups (``tune_group: task-seed``): which cells form a group and how their keys say
so, a grouped cell equals the same cell tuned alone (float64, to 1e-10), a NaN fails one cell of a
group alone, and a group interrupted while it trains or while it writes its cells resumes to the
uninterrupted results without recomputing a finished cell."""
from __future__ import annotations

import logging

import numpy as np
import pytest

import faults
from benchmark import config, runner

GROUPED = ["tune_group=task-seed"]
# a few steps, validated at each (each a resume point)
TINY = ["backbone=tiny-t5", "tune.lr=0.05", "tune.warmup_steps=2", "tune.max_epochs=4", "tune.eval_every=1",
        "tune.patience=3", "seeds=[0,1]"]
COMPARED = ("status", "method", "task", "seed", "metrics", "split", "test", "train", "before_tuning", "error")


def test_prompt_cells_of_a_task_and_seed_form_a_group_named_in_their_keys():
    def cells(methods, seeds="0,1", grouped=True):
        base = config.load_profile("smoke")
        plan = config.apply_overrides(base, [f"seeds=[{seeds}]", *(GROUPED if grouped else [])])
        cells = runner.expand("sentiment7", config.cell_settings(plan, base), tasks=["sst2"], methods=methods,
                              plan=plan)       # as `run --seeds` makes them
        return {c.describe(): c for c in cells}

    four = ["ft", "pt", "ppt", "metapt", "metapt_y"]
    alone, grouped = cells(four, grouped=False), cells(four)
    members = [["metapt", 2], ["metapt_y", 2], ["ppt", 2], ["pt", 1]]
    for name, cell in grouped.items():
        assert alone[name].group is None
        if cell.method == "ft":                       # FT trains the backbone: always alone, its key unchanged
            assert cell.group is None and cell.key == alone[name].key
        else:
            assert [list(m) for m in cell.group] == members and cell.key != alone[name].key
    assert len({c.group_key for c in grouped.values() if c.group}) == 2       # one group per seed
    # widening --seeds or --tasks reuses every grouped cell; another --methods is another group
    narrow = {n: c.key for n, c in cells(four, seeds="0").items()}
    assert narrow.items() <= {n: c.key for n, c in grouped.items()}.items()
    two = cells(["pt", "ppt"])
    assert two["pt/sst2/seed0"].key not in {c.key for c in grouped.values()}
    # a group of one is a cell tuned alone
    assert cells(["pt"])["pt/sst2/seed0"].key == alone["pt/sst2/seed0"].key


def test_tune_group_is_checked():
    from benchmark.errors import UserError

    with pytest.raises(UserError, match="tune_group = 'seeds' is invalid; allowed: none, task-seed"):
        config.apply_overrides(config.load_profile("smoke"), ["tune_group=seeds"])


@pytest.fixture(scope="module")
def cache(standin_cache):
    return standin_cache


@pytest.fixture
def other_starts(monkeypatch):
    """pt_b and pt_c registered for the test only."""
    from baselines import METHODS

    monkeypatch.setattr("baselines.METHODS", dict(METHODS))
    import importlib

    import group_methods
    importlib.reload(group_methods)
    return [m.name for m in group_methods.METHODS]


def tiny_cells(grouped: bool, methods=("pt", "pt_b", "pt_c")):
    cfg = config.apply_overrides(config.load_profile("smoke"), [*TINY, *(GROUPED if grouped else [])])
    cells = [runner.Cell("test", m, "sst2", seed, {}, cfg) for seed in cfg["seeds"] for m in methods]
    return runner.assign_groups(cells)


def run(cells, out):
    runner.prepare_results_dir(out)
    return runner.run_cells(cells, out, progress=False)


def results(cells, out) -> dict:
    return {c.describe(): {k: runner.read_cell(runner.cell_path(out, c)).get(k) for k in COMPARED} for c in cells}


@pytest.mark.assets
def test_grouped_cells_equal_the_cells_tuned_alone(cache, tmp_path, other_starts):
    """Float64 tiny backbone: each grouped cell's predictions, validations and kept step are those of
    the same cell tuned alone (validations to 1e-10). (Prompts that leave the bank at different steps:
    tests/test_bank.py, and the NaN test below.)"""
    alone_cells, grouped_cells = tiny_cells(False), tiny_cells(True)
    assert run(alone_cells, tmp_path / "alone")["done"] == 6
    assert run(grouped_cells, tmp_path / "grouped")["done"] == 6
    alone, grouped = results(alone_cells, tmp_path / "alone"), results(grouped_cells, tmp_path / "grouped")
    for name, want in alone.items():
        got = grouped[name]
        assert got["test"] == want["test"] and got["before_tuning"] == want["before_tuning"]
        assert got["metrics"] == want["metrics"] and got["split"] == want["split"]
        for field in ("steps", "best_step", "stopped_early", "budget"):
            assert got["train"][field] == want["train"][field], (name, field)
        np.testing.assert_allclose([a for _, a in got["train"]["evaluations"]],
                                   [a for _, a in want["train"]["evaluations"]], atol=1e-10, rtol=0)
    assert not list((tmp_path / "grouped" / "groups").glob("*.pt"))   # checkpoints go once the cells are written
    # one grouped cell run on its own (`agree`'s path) tunes its group and writes that cell only
    one = grouped_cells[1]
    runner.prepare_results_dir(tmp_path / "one")
    runner.run_cell(one, tmp_path / "one", progress=False)
    assert [p.stem for p in (tmp_path / "one" / "cells").glob("*.json")] == [one.key]
    assert results([one], tmp_path / "one")[one.describe()] == grouped[one.describe()]


@pytest.mark.assets
def test_a_nan_fails_one_cell_of_its_group_alone(cache, tmp_path, other_starts, monkeypatch):
    cells = tiny_cells(True)
    run(cells, tmp_path / "ref")
    want = results(cells, tmp_path / "ref")
    alone_cells = tiny_cells(False, methods=("pt", "pt_c"))
    run(alone_cells, tmp_path / "alone")
    alone = results(alone_cells, tmp_path / "alone")
    monkeypatch.setenv(faults.ENV, "nan:pt_b/sst2/0")
    faults.install()
    try:
        counts = run(cells, tmp_path / "out")
    finally:
        faults.uninstall()
    assert counts["done"] == 5 and counts["failed"] == 1
    got = results(cells, tmp_path / "out")
    assert got["pt_b/sst2/seed0"]["error"] == "FloatingPointError: pt_b/sst2/s0: loss is nan at step 0"
    for name in ("pt/sst2/seed0", "pt_c/sst2/seed0"):     # its group went on without it, as if tuned alone
        assert got[name]["status"] == "done"
        assert got[name]["test"] == want[name]["test"] == alone[name]["test"]
        np.testing.assert_allclose([a for _, a in got[name]["train"]["evaluations"]],
                                   [a for _, a in alone[name]["train"]["evaluations"]], atol=1e-10, rtol=0)
    # a rerun retries the failed cell (its group again from the start) and rewrites no done cell
    done = {c.key: runner.cell_path(tmp_path / "out", c).stat().st_mtime_ns for c in cells
            if c.describe() != "pt_b/sst2/seed0"}
    assert run(cells, tmp_path / "out") == {"total": 6, "skipped": 5, "done": 1, "failed": 0}
    assert results(cells, tmp_path / "out") == want
    assert done == {c.key: runner.cell_path(tmp_path / "out", c).stat().st_mtime_ns for c in cells if c.key in done}


@pytest.mark.assets
@pytest.mark.parametrize("where", ["training", "writing"])
def test_an_interrupted_group_resumes_to_the_uninterrupted_results(cache, tmp_path, other_starts, monkeypatch,
                                                                   caplog, where):
    """Interrupted at the bank's 3rd step (its checkpoint holds step 2), or between its first and its
    second cell's result: the rerun resumes the bank from the checkpoint, writes only what is missing
    and ends with the uninterrupted run's results, bit for bit."""
    from benchmark import bank

    cells = tiny_cells(True)
    run(cells, tmp_path / "ref")
    want = results(cells, tmp_path / "ref")
    out = tmp_path / "out"
    calls = {"n": 0}
    step, write = bank.PromptBank.step, runner.write_json

    def dying_step(self):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return step(self)

    def dying_write(path, *args, **kwargs):
        if "cells" in path.parts:
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt
        return write(path, *args, **kwargs)

    with monkeypatch.context() as patch:
        if where == "training":
            patch.setattr(bank.PromptBank, "step", dying_step)
        else:
            patch.setattr(runner, "write_json", dying_write)
        with pytest.raises(KeyboardInterrupt):
            run(cells, out)
    saved = list((out / "groups").glob("*.pt"))
    assert len(saved) == 1
    written = {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}
    assert len(written) == (0 if where == "training" else 1)
    stepped = []
    caplog.set_level(logging.INFO, logger="benchmark")
    monkeypatch.setattr(bank.PromptBank, "step", lambda self: stepped.append(self.desc) or step(self))
    counts = run(cells, out)
    assert counts["skipped"] == len(written) and counts["done"] == 6 - len(written)
    assert results(cells, out) == want
    assert written == {n: (out / "cells" / n).stat().st_mtime_ns for n in written}   # never rewritten
    assert f"resumed from {saved[0]}" in caplog.text
    if where == "writing":      # the bank had finished: the rerun only scored and wrote seed 0's group
        assert "group sst2/s0" not in stepped and "group sst2/s1" in stepped
