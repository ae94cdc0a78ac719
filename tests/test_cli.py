"""The command line's promises: help without the heavy imports, one name for a results folder, help
texts as printed, a true cell count, and a dry run that ends with what is to do and what it costs."""
from __future__ import annotations

import io
import json
import os
import pathlib
import subprocess
import sys

import pytest

from benchmark import cli

ROOT = pathlib.Path(__file__).resolve().parent.parent
HEAVY = ("torch", "sklearn", "transformers")


def test_help_of_every_command_imports_no_heavy_module():
    """Building the parser and printing every command's help (sub-actions included) leaves torch,
    sklearn and transformers unimported: they are imported where a command uses them."""
    script = f"""
import contextlib, io, sys
import benchmark.cli as cli
parser = cli.build_parser()
helps = [[]] + [[name] for name in cli.COMMANDS] + [["data", a] for a in ("list", "fetch", "show", "check")] \\
        + [["models", a] for a in ("list", "fetch")]
for argv in helps:
    with contextlib.redirect_stdout(io.StringIO()) as out:
        try:
            parser.parse_args([*argv, "--help"])
        except SystemExit:
            pass
    assert "usage:" in out.getvalue(), argv
print(",".join(m for m in {HEAVY!r} if m in sys.modules))
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"imported for a help text: {proc.stdout.strip()}"


def _help(capsys, *argv) -> str:
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args([*argv, "--help"])
    return capsys.readouterr().out


def test_help_texts_print_a_single_percent_sign(capsys):
    for argv in [[], ["power"], ["agree"]]:
        text = " ".join(_help(capsys, *argv).split())
        assert "%%" not in text, argv
    assert "80 % power at 5 %" in " ".join(_help(capsys, "power").split())
    assert "95 % test-row interval" in " ".join(_help(capsys, "agree").split())


@pytest.mark.parametrize("command", ["run", "status", "plot", "power", "agree", "publish"])
def test_every_command_names_its_results_folder_results(command, capsys):
    assert "--results DIR" in _help(capsys, command)


@pytest.mark.parametrize("flag", ["--results", "--out"])
def test_status_and_run_take_results_and_the_old_out(flag, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("METAPT_CACHE", str(tmp_path / "cache"))
    assert cli.main(["status", flag, str(tmp_path / "none")]) == 2
    assert f"results directory {tmp_path / 'none'} does not exist" in capsys.readouterr().err
    out = tmp_path / "results"
    assert cli.main(["run", "--suite", "sentiment7", "--profile", "smoke", "--tasks", "sst2", "--methods", "pt",
                     "--seeds", "0", flag, str(out), "--dry-run"]) == 0
    assert capsys.readouterr().out.split()[2] == "pt/sst2/seed0"
    assert not out.exists()      # a dry run writes nothing


def _cells(suite, method, task, seeds, points):
    from benchmark import runner

    return [runner.Cell(suite, method, task, seed, point, {}) for seed in seeds for point in points]


def test_the_cell_count_is_the_sum_of_each_suites_true_product():
    from benchmark import runner

    one = _cells("a", "pt", "sst2", [0, 1], [{}]) + _cells("a", "ft", "sst2", [0, 1], [{}])
    assert runner.describe_cells(one) == "4 cells (2 methods x 1 task x 2 seeds)"
    two = one + _cells("b", "metapt", "sst5", [0, 1, 2], [{"pretrain.k": 3}, {"pretrain.k": 6}])
    assert runner.describe_cells(two) == ("10 cells = a 4 (2 methods x 1 task x 2 seeds) + "
                                          "b 6 (1 method x 1 task x 3 seeds x 2 points)")
    ragged = one + _cells("a", "pt", "sst5", [0], [{}])    # not a full product: the distinct counts
    assert runner.describe_cells(ragged) == "5 cells (2 methods, 2 tasks, 2 seeds)"


def test_the_cell_count_of_suite_all_adds_up():
    import re

    from benchmark import config, runner

    cfg = config.load_profile("smoke")
    cells = runner.expand("all", cfg)
    text = runner.describe_cells(cells)
    total = int(text.split()[0])
    parts = [int(n) for n in re.findall(r" (\d+) \(", text)]
    assert total == len(cells) == sum(parts) and len(parts) == len(config.load_suite("all")["include"])
    for count, shape in re.findall(r" (\d+) \(([^)]*)\)", text):
        factors = [int(f.split()[0]) for f in shape.split(" x ")]
        assert int(count) == __import__("math").prod(factors), shape


def _smoke_cfg():
    from benchmark import config

    return config.load_profile("smoke")


def _write_cell(out, cell, wall_s, cpu):
    from benchmark.io import write_json

    write_json(out / "cells" / f"{cell.key}.json",
               {"status": "done", "method": cell.method, "task": cell.task, "seed": cell.seed, "suite": cell.suite,
                "profile": "smoke", "backbone": "tiny-decoder", "key": cell.key, "wall_s": wall_s,
                "machine": {"cpu_model": cpu}}, checksum=True)


def test_the_plan_counts_done_and_cached_work_and_prefers_measured_costs(tmp_path):
    from benchmark import config, precision, run_plan, runner
    from benchmark.context import Context

    # one shared draw (per-seed draws are counted in test_draws); 6 PT cells: 4 done, 2 to do
    cfg = config.apply_overrides(_smoke_cfg(), ["seeds=[0, 1, 2]", "pretrain.draw=null"])
    cells = runner.expand("sentiment7", cfg, tasks=["sst2", "sst5"], methods=["pt", "ppt", "metapt"])
    out, arts = tmp_path / "results", tmp_path / "artifacts"
    (out / "cells").mkdir(parents=True)
    cpu = precision.cpu_model()
    pt = [c for c in cells if c.method == "pt"]
    _write_cell(out, pt[0], 10.0, cpu)
    _write_cell(out, pt[1], 30.0, cpu)
    _write_cell(out, pt[2], 200.0, cpu)                    # this cell built an artefact: 180 s of it
    _write_cell(out, pt[3], 999.0, "another processor")    # done, but not a cost of this machine
    (out / "runs").mkdir()
    (out / "runs" / "r.json").write_text(json.dumps({
        "profile": "smoke", "backbone": "tiny-decoder", "machine": {"cpu_model": cpu},
        "cell_runs": [{"key": pt[2].key, "wall_s": 200.0, "artifacts_built_s": 180.0}],
        "artifacts_built": [{"kind": "ppt-prompt", "hash": "x", "build_s": 70.0, "within": None},
                            {"kind": "pseudo-labels", "hash": "y", "build_s": 50.0, "within": "ppt-prompt/x"}]}))
    ppt_cell = next(c for c in cells if c.method == "ppt")
    from baselines import get_method

    kind, key = get_method("ppt").artifacts(Context(ppt_cell.config, artifacts_dir=arts))[-1]
    folder = Context(ppt_cell.config, artifacts_dir=arts).artifact_folder(kind, key)
    folder.mkdir(parents=True)
    (folder / "artifact.json").write_text("{}")           # PPT's prompt cached: its pseudo-labels not needed

    plan = run_plan.make(cells, out, cfg, artifacts_dir=arts)
    assert (plan.cells, plan.done, len(plan.todo)) == (len(cells), 4, len(cells) - 4)
    assert [k for k, _ in plan.cached] == ["ppt-prompt"]
    assert [k for k, _ in plan.to_build] == ["pseudo-labels", "metapt-prompt"]    # MetaPT's, in build order
    assert plan.cost("cell", "pt") == 20.0                 # median of 10, 30 and 200 - 180
    assert plan.cost("artefact", "pseudo-labels") == 50.0
    assert plan.cost("cell", "metapt") is None             # smoke has no default
    text = plan.render()
    assert "cells 4 done" in text and "1 cached, 2 to build (pseudo-labels, metapt-prompt)" in text
    assert "measured:" in text and "none:" in text and "at least" in text


def test_the_plan_falls_back_to_labelled_defaults(tmp_path):
    from benchmark import config, run_plan, runner

    cfg = config.apply_overrides(config.load_profile("cpu"), ["bf16=false"])
    cells = runner.expand("sentiment7", cfg, tasks=["sst2"], methods=["pt", "ppt"])
    plan = run_plan.make(cells, tmp_path / "results", cfg, artifacts_dir=tmp_path / "artifacts")
    defaults = run_plan._defaults(cfg)
    assert plan.cost("cell", "pt") == defaults["cells"]["pt"]
    assert plan.cost("artefact", "ppt-prompt") == defaults["artifacts"]["ppt-prompt"]
    assert {s.source for s in plan.stages} == {"default"}
    # per-seed pre-training: each of the 5 seeds tunes PPT from its own draw
    expected = 5 * (defaults["cells"]["pt"] + defaults["cells"]["ppt"]) + defaults["artifacts"]["pseudo-labels"] \
        + 5 * defaults["artifacts"]["ppt-prompt"]
    assert plan.total_s == expected
    text = plan.render()
    assert "default: the shared-draw cpu run" in text and "at least" not in text


def test_a_dry_run_ends_with_the_plan_and_keeps_stdout_to_cells(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("METAPT_CACHE", str(tmp_path / "cache"))
    args = ["run", "--suite", "sentiment7", "--profile", "smoke", "--tasks", "sst2", "--methods", "pt,ppt",
            "--results", str(tmp_path / "r"), "--dry-run"]
    assert cli.main(args) == 0
    captured = capsys.readouterr()
    assert all(line.split()[0] == "missing" for line in captured.out.splitlines())
    err = captured.err.splitlines()
    plan_at = next(i for i, line in enumerate(err) if line.startswith("plan: "))
    assert err[plan_at] == ("plan: cells 0 done, 4 to do (of 4); artefacts 0 cached, 3 to build "
                            "(pseudo-labels, ppt-prompt x2)")   # a PPT draw per seed
    assert "estimated wall time" in err[plan_at + 1]
    assert not any("paper:" in line for line in err)       # the settings come with -v
    assert cli.main([*args, "-v"]) == 0
    assert sum("paper:" in line for line in capsys.readouterr().err.splitlines()) > 10


def test_the_progress_weighs_cells_and_artefacts_by_their_costs():
    from benchmark import run_plan, runner

    todo = _cells("s", "pt", "sst2", [0], [{}]) + _cells("s", "ppt", "sst2", [0], [{}])
    plan = run_plan.RunPlan(cells=2, done=0, todo=todo, status={}, cached=[], to_build=[("ppt-prompt", "h")],
                            stages=[run_plan.Stage("cell", "pt", 1, 10.0, "measured"),
                                    run_plan.Stage("cell", "ppt", 1, 20.0, "measured"),
                                    run_plan.Stage("artefact", "ppt-prompt", 1, 100.0, "default")])
    stream = io.StringIO()
    bar = runner.RunProgress(todo, plan, stream=stream)
    assert bar.bar.total == 130
    bar.finished(todo[0])
    assert bar.bar.n == 10
    bar.built([{"kind": "ppt-prompt", "hash": "h", "built": True},
               {"kind": "ppt-prompt", "hash": "other", "built": True}])   # not in the plan: not counted
    bar.finished(todo[1])
    assert bar.bar.n == 130 and (bar.cells, bar.arts) == (2, 1)
    bar.close()
    assert "cells 2/2, artefacts 1/1" in stream.getvalue()


def test_seeds_refusal_from_a_real_process_has_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "benchmark", "run", "--suite", "sentiment7", "--seeds", "-1",
                           "--results", str(tmp_path / "r")], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, METAPT_CACHE=str(tmp_path / "cache")))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "-1 is negative" in proc.stderr
    assert not (tmp_path / "r").exists()


def test_each_method_declares_the_artefacts_its_cells_use(tmp_path):
    """What a plan counts is what the cells build: the same kinds, and the prompt under the key its
    ``prepare`` caches it by."""
    from baselines import BUILTIN, METHODS
    from benchmark.context import Context
    from benchmark.io import config_hash

    ctx = Context(_smoke_cfg(), progress=False, artifacts_dir=tmp_path)
    builtin = {name: method for name, method in METHODS.items() if name in BUILTIN}   # not other tests' plugins
    kinds = {name: [kind for kind, _ in method.artifacts(ctx)] for name, method in builtin.items()}
    assert kinds == {"ft": [], "pt": [], "ppt": ["pseudo-labels", "ppt-prompt"],
                     "metapt": ["pseudo-labels", "metapt-prompt"], "metapt_y": ["metapt-prompt"],
                     "metapt_kmeans": ["metapt-prompt"], "metapt_lda": ["metapt-prompt"],
                     "metapt_random": ["metapt-prompt"], "metapt_label": ["metapt-prompt"],
                     **{f"metapt_{a}": ["pseudo-labels", "metapt-prompt"] for a in ("fomaml", "reptile", "multitask")},
                     "tsne": ["pseudo-labels"]}
    for name, method in builtin.items():
        for kind, key in method.artifacts(ctx):
            want = method.artifact_key(ctx) if kind.endswith("-prompt") else ctx.pseudo_labelled_key()
            assert config_hash(key) == config_hash(want), (name, kind)


def test_list_shows_the_points_a_profile_runs_not_the_papers_range(capsys):
    """`list` under the cpu profile prints the capped axis (K stops at 20), naming what the cap leaves out."""
    from benchmark.cli import main

    assert main(["list", "suites", "--profile", "cpu"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("pretrain.k = 3, 6, 10, 15"))
    assert line.strip() == "pretrain.k = 3, 6, 10, 15, 20 (capped at 20: 30 left out)"
    assert "n_train = 10, 20, 40, 80, 160, 320 (capped at 320: 640, 1,280, 2,560 left out)" in out
    assert main(["list", "suites", "--profile", "paper"]) == 0
    assert "pretrain.k = 3, 6, 10, 15, 20, 30\n" in capsys.readouterr().out


def test_list_settings_prints_each_key_with_its_help_and_what_it_allows(capsys):
    """Every key of the tree once, with the registries' choices (a grouping registered later shows up)."""
    from benchmark import settings
    from benchmark.cli import main

    assert main(["list", "settings"]) == 0
    out = capsys.readouterr().out
    keys = [ln.split()[0] for ln in out.splitlines() if ln and not ln.startswith(" ")]
    assert len(keys) == len(set(keys)) and "tune.lr" in keys and "maml.inner_lr" in keys
    assert len(keys) == len(settings.rows()) - 2          # all but the profile's own description and name
    grouping = out.splitlines()[out.splitlines().index(next(ln for ln in out.splitlines()
                                                            if ln.startswith("pretrain.grouping "))) + 1]
    assert all(name in grouping for name in ("kmeans", "lda", "random", "label"))


def test_a_method_outside_the_suite_runs_on_its_tasks_as_a_task_outside_it_does():
    """`--methods` names any registered method: one the suite does not list gets the suite's cells,
    never a silently empty run; a suite over pre-training data keeps its own methods."""
    from benchmark import config, runner

    cfg = config.load_profile("smoke")
    cells = runner.expand("sentiment7", cfg, tasks=["sst2"], methods=["metapt_lda", "pt"])
    assert sorted({(c.method, c.task) for c in cells}) == [("metapt_lda", "sst2"), ("pt", "sst2")]
    assert len(cells) == 2 * len(cfg["seeds"])
    assert not [c for c in runner.expand("tsne", cfg, methods=["pt"])]
