"""``bf16: auto``: the probe's choice is what runs, is recorded in each cell, and is in the keys;
a forced precision is never probed; a bad value is refused naming the allowed ones."""
from __future__ import annotations

import json
import types

import pytest
import torch

from benchmark import precision


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """No decision made yet in this process, and a private cache for the kept decisions."""
    monkeypatch.setattr(precision, "_DECISIONS", {})
    monkeypatch.setenv("METAPT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(precision, "_load_per_core", lambda: 0.1)   # a quiet machine unless a test says not
    calls = []

    def planted(speedup):
        def probe(hidden, intermediate, **kw):
            calls.append((hidden, intermediate))
            return {"fp32_ms": 10.0 * speedup, "bf16_ms": 10.0, "fp32_gflops": 1.0, "bf16_gflops": speedup,
                    "speedup_bf16": speedup}
        monkeypatch.setattr(precision, "probe_cpu", probe)
    return types.SimpleNamespace(planted=planted, calls=calls)


def _resolved(overrides):
    import sys

    from benchmark.commands._common import resolve_profile

    # bf16 needs a float32 backbone: smoke's own dtype is float64 (its golden values hold on any processor)
    args = types.SimpleNamespace(profile="smoke", overrides=["dtype=float32", *overrides], seeds=None, out=None)
    return resolve_profile(args, stream=sys.stderr)     # looked up now: capsys replaces it


def _keys(cfg):
    from benchmark import runner

    return [c.key for c in runner.expand("sentiment7", cfg, tasks=["sst2"], methods=["pt", "metapt"])]


@pytest.mark.parametrize("speedup, want", [(2.0, True), (1.05, False), (0.5, False)])
def test_probe_choice_is_honoured_and_keyed_like_the_forced_value(fresh, speedup, want):
    fresh.planted(speedup)
    auto = _resolved(["bf16=auto", "device=cpu"])
    assert auto["bf16"] is want and fresh.calls == [(32, 64)]       # the backbone's own shapes, probed once
    forced = _resolved([f"bf16={str(want).lower()}", "device=cpu"])
    assert _keys(auto) == _keys(forced)
    assert len(fresh.calls) == 1                                     # forcing never probes


def test_auto_true_and_auto_false_give_different_keys(fresh, monkeypatch, tmp_path):
    fresh.planted(2.0)
    on = _resolved(["bf16=auto"])
    monkeypatch.setattr(precision, "_DECISIONS", {})             # another machine: nothing kept, bf16 slower
    monkeypatch.setenv("METAPT_CACHE", str(tmp_path / "other-machine"))
    fresh.planted(0.5)
    off = _resolved(["bf16=auto"])
    assert on["bf16"] is True and off["bf16"] is False
    assert set(_keys(on)).isdisjoint(_keys(off))


def test_forced_value_never_probes(fresh, monkeypatch, capsys):
    def boom(*a, **k):
        raise AssertionError("probed although bf16 was forced")
    monkeypatch.setattr(precision, "probe_cpu", boom)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", boom)
    for value in ("true", "false"):
        assert _resolved([f"bf16={value}"])["bf16"] is (value == "true")
    assert precision.recorded() is None
    assert "auto" not in capsys.readouterr().err


def test_decision_is_printed_recorded_and_kept_out_of_the_keys(fresh, capsys):
    from benchmark import runner

    fresh.planted(1.5)
    cfg = _resolved(["bf16=auto"])
    err = capsys.readouterr().err
    assert "bf16: auto -> true" in err and "1.50x" in err
    record = runner.machine()["bf16_auto"]
    assert record and record[0]["bf16"] is True and record[0]["probe"]["speedup_bf16"] == 1.5
    assert "probe" not in json.dumps(cfg)            # timings vary: never in the config, hence never in a key


def test_decision_is_kept_per_machine_so_a_rerun_gets_the_same_keys(fresh, monkeypatch):
    fresh.planted(2.0)
    first = _resolved(["bf16=auto"])
    monkeypatch.setattr(precision, "_DECISIONS", {})            # a new process on the same machine
    fresh.planted(0.5)                                          # the probe would now say otherwise
    again = _resolved(["bf16=auto"])
    assert again["bf16"] is first["bf16"] is True and len(fresh.calls) == 1
    assert "earlier run" in precision.recorded()[0]["how"]


def test_a_probe_on_a_busy_machine_is_used_but_not_kept(fresh, monkeypatch):
    monkeypatch.setattr(precision, "_load_per_core", lambda: 3.5)   # other jobs on every core
    fresh.planted(0.9)
    first = _resolved(["bf16=auto"])
    assert first["bf16"] is False and "not kept" in precision.recorded()[0]["how"]
    monkeypatch.setattr(precision, "_DECISIONS", {})                 # a new process, the machine now quiet
    monkeypatch.setattr(precision, "_load_per_core", lambda: 0.1)
    fresh.planted(3.0)
    again = _resolved(["bf16=auto"])
    assert again["bf16"] is True and len(fresh.calls) == 2           # measured again, not the busy verdict
    assert precision.recorded()[0]["how"] == "probe (measured now)"


def test_cuda_device_support_decides_without_a_probe(fresh, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("a CUDA device needs no CPU probe")
    monkeypatch.setattr(precision, "probe_cpu", boom)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "planted GPU")
    for supported in (True, False):
        monkeypatch.setattr(precision, "_DECISIONS", {})
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda s=supported: s)
        record = precision.decide("tiny-decoder", "cuda")
        assert record["bf16"] is supported and record["how"] == "CUDA device bf16 support"


def test_cell_carries_the_decision(fresh, standin_cache, tmp_path):
    from benchmark import cli, runner

    fresh.planted(0.5)
    out = tmp_path / "results"
    assert cli.main(["run", "--suite", "sentiment7", "--profile", "smoke", "--tasks", "sst2", "--methods", "pt",
                     "--seeds", "0", "--set", "bf16=auto", "--set", "dtype=float32", "--out", str(out),
                     "--no-progress"]) == 0
    (path,) = (out / "cells").glob("*.json")
    cell = runner.read_cell(path)
    assert cell["config"]["bf16"] is False
    assert cell["machine"]["bf16_auto"][0]["bf16"] is False
    assert cell["machine"]["bf16_auto"][0]["probe"]["speedup_bf16"] == 0.5


@pytest.mark.parametrize("value", ["maybe", "1", "[true]"])
def test_bad_bf16_value_exits_2_naming_the_allowed_values(tmp_path, capsys, value):
    from benchmark import cli

    code = cli.main(["run", "--suite", "sentiment7", "--profile", "smoke", "--out", str(tmp_path / "r"),
                     "--set", f"bf16={value}"])
    assert code == 2
    assert "allowed: true, false, auto" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_real_probe_measures_both_precisions():
    figures = precision.probe_cpu(32, 64, tokens=16, seconds=0.01)
    assert figures["fp32_ms"] > 0 and figures["bf16_ms"] > 0
    assert figures["speedup_bf16"] == pytest.approx(figures["fp32_ms"] / figures["bf16_ms"])


def test_a_cell_run_alone_records_the_decision_its_backbone_made(fresh, standin_cache, tmp_path):
    from benchmark import runner

    fresh.planted(0.5)
    cfg = dict(_resolved(["bf16=auto"]), bf16="auto")   # a config made without `run`: still auto
    precision._DECISIONS.clear()                        # nothing decided before the cell starts
    cell = runner.expand("sentiment7", cfg, tasks=["sst2"], methods=["pt"])[0]
    runner.prepare_results_dir(tmp_path)
    record = runner.run_cell(cell, tmp_path, progress=False)
    assert record["status"] == "done", record.get("error")
    assert [d["bf16"] for d in record["machine"]["bf16_auto"]] == [False]
