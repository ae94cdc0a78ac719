"""`run` reports itself: at its end (and when stopped with Ctrl-C) it prints the wall time, the cells
done / skipped / failed, the artefacts it built with their build times and those it read from the
cache, and its peak RSS, and saves the same as ``<results>/runs/<start>-<pid>.json``, which
``status``, ``plot`` and ``publish`` do not take for a result. Driven through ``cli.main`` on the
smoke profile (tiny random model, registry stand-ins)."""
from __future__ import annotations

import json
import resource

import pytest

from benchmark import cli

pytestmark = [pytest.mark.assets, pytest.mark.slow]
ARGS = ["run", "--suite", "sentiment7", "--profile", "smoke", "--tasks", "sst2", "--no-progress"]


def run(out, *args):
    return cli.main([*ARGS, "--out", str(out), *args])


def summaries(out) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))]


def cell_files(out) -> set[str]:
    return {p.stem for p in (out / "cells").glob("*.json")}


def test_the_summary_counts_what_two_runs_did(standin_cache, tmp_path, capsys):
    from benchmark import precision

    out = tmp_path / "results"
    # one PPT prompt for every seed (the shared-artefact protocol): a new seed reads it back
    shared = ("--set", "pretrain.draw=null")
    assert run(out, "--methods", "pt,ppt", "--seeds", "0,1", *shared) == 0
    err = capsys.readouterr().err
    assert "run finished: sentiment7 (profile smoke)" in err
    assert "cells: 4 done, 0 skipped (already done), 0 failed of 4" in err
    [first] = summaries(out)
    assert first["cells"] == {"total": 4, "done": 4, "skipped": 0, "failed": 0, "not_run": 0}
    assert not first["interrupted"] and first["profile"] == "smoke" and first["executor"] == "local"
    assert {c["key"] for c in first["cell_runs"]} == cell_files(out)
    assert first["wall_s"] >= sum(c["wall_s"] for c in first["cell_runs"]) > 0   # start to end covers every cell
    # PPT's prompt, and the pseudo-labels its pre-training asked for, built once each with their times
    built = {a["kind"]: a for a in first["artifacts_built"]}
    assert sorted(built) == ["ppt-prompt", "pseudo-labels"]
    assert built["pseudo-labels"]["within"] == f"ppt-prompt/{built['ppt-prompt']['hash']}"
    assert built["ppt-prompt"]["build_s"] >= built["pseudo-labels"]["build_s"] > 0
    for a in built.values():
        assert (standin_cache / "artifacts" / a["kind"] / a["hash"] / "artifact.json").exists()
        assert f"{a['kind']}/{a['hash'][:12]}  {a['build_s']:.1f} s" in err
    assert first["artifacts_cached"] == []
    peak = first["peak_rss_mib"]["process"]
    now = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KiB on Linux, read as MiB
    assert 50 < peak and now / 2 < peak <= now + 0.05                  # this process's peak, in MiB
    assert f"peak RSS: {peak:,.0f} MiB" in err
    assert first["machine"]["cpu_model"] == precision.cpu_model() and first["machine"]["torch_threads"] >= 1
    assert first["command"].startswith("python -m benchmark run --suite sentiment7 --profile smoke")

    assert run(out, "--methods", "pt,ppt", "--seeds", "0,1", *shared) == 0     # again: everything is done
    err = capsys.readouterr().err
    assert "cells: 0 done, 4 skipped (already done), 0 failed of 4" in err and "artefacts built: 0" in err
    second = summaries(out)[1]
    assert second["cells"] == {"total": 4, "done": 0, "skipped": 4, "failed": 0, "not_run": 0}
    assert second["artifacts_built"] == [] and second["cell_runs"] == []

    assert run(out, "--methods", "pt,ppt", "--seeds", "0,1,2", *shared) == 0   # a new seed: the prompt is read back
    third = summaries(out)[2]
    assert third["cells"]["done"] == 2 and third["cells"]["skipped"] == 4
    assert third["artifacts_built"] == []
    assert third["artifacts_cached"] == [{"kind": "ppt-prompt", "hash": built["ppt-prompt"]["hash"]}]

    # the results folder's readers do not take runs/ for results
    capsys.readouterr()
    assert cli.main(["status", "--out", str(out)]) == 0
    assert cli.main(["publish", "--results", str(out), "--to", str(tmp_path / "published")]) == 0
    assert "published 6 cells" in capsys.readouterr().out
    assert not (tmp_path / "published" / "runs").exists()
    from reports import results

    loaded = results.load(out)
    assert len(loaded.cells) == 6 and not loaded.warnings


def test_ctrl_c_prints_and_saves_what_was_done_and_exits_130(standin_cache, tmp_path, capsys, monkeypatch):
    from benchmark import runner

    out = tmp_path / "results"
    real, calls = runner.run_cell, []

    def interrupted_on_the_second_cell(cell, *args, **kwargs):
        calls.append(cell.key)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(cell, *args, **kwargs)

    monkeypatch.setattr(runner, "run_cell", interrupted_on_the_second_cell)
    assert run(out, "--methods", "pt", "--seeds", "0,1,2") == 130
    err = capsys.readouterr().err
    assert "run stopped by Ctrl-C: sentiment7 (profile smoke)" in err
    assert "cells: 1 done, 0 skipped (already done), 0 failed, 2 not run of 3 (stopped in pt/sst2/seed1)" in err
    assert "rerun the same command to resume" in err
    [saved] = summaries(out)
    assert saved["interrupted"] is True and saved["stopped_in"] == "pt/sst2/seed1"
    assert saved["cells"] == {"total": 3, "done": 1, "skipped": 0, "failed": 0, "not_run": 2}
    assert [c["key"] for c in saved["cell_runs"]] == calls[:1]
    assert cell_files(out) == {calls[0]}                      # the finished cell is kept, nothing else written

    monkeypatch.setattr(runner, "run_cell", real)
    assert run(out, "--methods", "pt", "--seeds", "0,1,2") == 0   # the rerun does only the other two
    resumed = summaries(out)[1]
    assert resumed["cells"] == {"total": 3, "done": 2, "skipped": 1, "failed": 0, "not_run": 0}
    assert {c["key"] for c in resumed["cell_runs"]} == cell_files(out) - {calls[0]} and calls[1] in cell_files(out)
