"""Regression on reported accuracies: a small sample of the published cells (docs/results, cpu
profile, smollm2-135m) is rerun from the config each cell recorded, on whatever machine runs the
tests, and compared with the published predictions row by row.

Another processor is not a regression; a changed method is. Both runs score the same test rows
(asserted), so the tolerance comes from those rows (reports/agreement.py, tested in test_agree.py):
the two runs' predictions are compared with an exact McNemar test on the rows where they disagree,
and the cell fails only when that is significant at 1 % (two-sided) *and* the accuracies differ by
more than one test row per hundred. A change of the method, the data draw or the scoring moves many
rows one way and fails; a processor's arithmetic moves a few rows both ways and passes.

The sample holds only cells measured stable across processors. Prompt tuning at the cpu profile's
rate is not: its checkpoint choice hinges on the last bits of the arithmetic, so it is in
``UNSTABLE`` and not run across processors until a stable protocol is published (the measurements:
docs/RELIABILITY.md, "Reported-accuracy regression").

PT is still checked where a rerun can be held to more: on the published cell's own arithmetic (the
same processor model and flags, torch build and threads, bf16 decision, and no arithmetic setting in
the environment), a rerun must give the published predictions on every test row: the one promise the
protocol can keep. On any other arithmetic the test says why it is skipped rather than passing a
chaotic cell on a loose tolerance.
"""
from __future__ import annotations

import pathlib

import pytest

PUBLISHED = pathlib.Path(__file__).resolve().parent.parent / "docs" / "results"
SAMPLE = [("ft", "sst5", 0)]        # (method, task, seed) of suite sentiment7, measured stable across processors
UNSTABLE = [("pt", "sst2", 0)]      # measured moving across processors (see above)
SAME_ARITHMETIC = UNSTABLE          # rerun and held to identical predictions on the publishing arithmetic
ALPHA = 0.01
# settings added since the published cells were made, at the values they were made with
SINCE = {"dtype": "float32"}
SINCE_TUNE = {"select_smooth": 1, "full_window": False}


def published(method: str, task: str, seed: int) -> dict:
    from benchmark import runner

    for path in sorted((PUBLISHED / "cells").glob("*.json")):
        rec = runner.read_cell(path)
        if rec and (rec.get("suite"), rec.get("method"), rec.get("task"), rec.get("seed")) == \
                ("sentiment7", method, task, seed):
            return rec
    raise AssertionError(f"no published sentiment7 cell {method}/{task}/seed{seed} in {PUBLISHED}")


def rerun(old: dict, tmp_path) -> dict:
    from benchmark import config, runner

    cfg = dict(SINCE, **{k: v for k, v in old["config"].items() if k not in runner.RETIRED_KEY_SETTINGS})
    cfg["tune"] = dict(SINCE_TUNE, **cfg["tune"])
    config.validate(cfg)
    cell = runner.Cell("sentiment7", old["method"], old["task"], old["seed"], old.get("point") or {}, cfg)
    runner.prepare_results_dir(tmp_path)
    new = runner.run_cell(cell, tmp_path, progress=False)
    assert new["status"] == "done", new.get("error")
    return new


def arithmetic_of(rec: dict) -> dict:
    """What decides a cell's last bits on CPU: processor, flags, torch build and threads, bf16."""
    m = rec.get("machine") or {}
    return {"cpu_model": m.get("cpu_model"), "cpu_flags": m.get("cpu_flags"),
            "torch_threads": m.get("torch_threads"), "torch": (rec.get("versions") or {}).get("torch"),
            "bf16": (rec.get("config") or {}).get("bf16")}


def other_arithmetic(old: dict, new: dict | None = None) -> str | None:
    """Why this machine's arithmetic is not the published cell's, or None when it is. Before a rerun
    (``new`` None) only the machine is compared: the rerun keeps the published cell's bf16 setting."""
    import torch

    from benchmark import runner

    env = runner.arithmetic()["env"]
    if env:
        return f"arithmetic settings in the environment: {env}"
    there = arithmetic_of(old)
    here = arithmetic_of(new) if new else dict(arithmetic_of({"machine": runner.machine()}),
                                                torch=torch.__version__, bf16=there["bf16"])
    diff = [f"{k} {there[k]!r} there, {here[k]!r} here" for k in there if there[k] != here[k]]
    return "published under other arithmetic: " + ", ".join(diff) if diff else None


@pytest.mark.assets
@pytest.mark.parametrize("method,task,seed", SAME_ARITHMETIC)
def test_unstable_cell_reruns_identically_on_its_own_arithmetic(method, task, seed, tmp_path):
    import os

    import numpy as np
    import torch

    old = published(method, task, seed)
    want = (old.get("machine") or {}).get("torch_threads")
    before = torch.get_num_threads()
    if want and want <= (os.cpu_count() or 1):    # an earlier test may have left torch on other threads
        torch.set_num_threads(want)
    try:
        why = other_arithmetic(old)
        if why:
            pytest.skip(f"{method}/{task}/seed{seed}: {why}; this protocol is not stable across processors, "
                        "so only a rerun on the publishing arithmetic can tell a changed method")
        new = rerun(old, tmp_path)
    finally:
        torch.set_num_threads(before)
    assert other_arithmetic(old, new) is None, "the rerun did not keep the published arithmetic"
    assert new["split"]["test"] == old["split"]["test"], "the rerun scored other test rows"
    a, b = np.asarray(old["test"]["preds"]), np.asarray(new["test"]["preds"])
    differ = np.flatnonzero(a != b)
    print(f"{method}/{task}/seed{seed}: published {100 * old['metrics']['accuracy']:.1f} %, "
          f"rerun {100 * new['metrics']['accuracy']:.1f} %, {differ.size} of {a.size} predictions differ")
    assert differ.size == 0, (
        f"{method}/{task}/seed{seed} on its own arithmetic: {differ.size} of {a.size} test predictions differ "
        f"(first rows {differ[:5].tolist()}); accuracy {100 * old['metrics']['accuracy']:.1f} -> "
        f"{100 * new['metrics']['accuracy']:.1f} %: the method, its data or its scoring changed")


@pytest.mark.assets
@pytest.mark.parametrize("method,task,seed", SAMPLE)
def test_published_cell_reruns_within_its_test_row_tolerance(method, task, seed, tmp_path):
    from reports import agreement

    old = published(method, task, seed)
    new = rerun(old, tmp_path)
    why = agreement.regression(old, new, alpha=ALPHA)
    print(f"{method}/{task}/seed{seed}: published {100 * old['metrics']['accuracy']:.1f} %, "
          f"rerun {100 * new['metrics']['accuracy']:.1f} %")
    assert why is None, f"{method}/{task}/seed{seed}: {why}"


def test_the_arithmetic_check_passes_its_own_machine_and_names_what_differs(monkeypatch):
    import torch

    from benchmark import runner

    for k in runner.ARITHMETIC_ENV:
        monkeypatch.delenv(k, raising=False)
    here = {"machine": runner.machine(), "versions": {"torch": torch.__version__}, "config": {"bf16": True}}
    assert other_arithmetic(here) is None
    assert other_arithmetic(here, here) is None
    elsewhere = dict(here, machine=dict(here["machine"], cpu_model="Another CPU"))
    assert "cpu_model 'Another CPU' there" in other_arithmetic(elsewhere)
    fp32 = dict(here, config={"bf16": False})
    assert "bf16 True there, False here" in other_arithmetic(here, fp32)
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    assert "ATEN_CPU_CAPABILITY" in other_arithmetic(here)
