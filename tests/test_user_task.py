"""A user's own task through the suites, as a new user would do it: a 3-class CSV and its YAML in a folder
on METAPT_TASKS_PATH, `run --suite sentiment7 --tasks mytask` on the smoke profile, then `status` and
`plot`; suites and profiles given by path or found on METAPT_SUITES_PATH / METAPT_PROFILES_PATH."""
from __future__ import annotations

import random

import pytest

from benchmark.cli import main

WORDS = {"bad": "the plot was dull and the acting bad", "maybe": "not good , not bad , maybe okay",
         "good": "a good movie with a great cast"}


@pytest.fixture
def user_task(tmp_path, monkeypatch):
    folder = tmp_path / "mytasks"
    folder.mkdir()
    rng = random.Random(0)
    lines = ["text,label"]
    for i in range(60):
        word = ["bad", "maybe", "good"][i % 3]
        lines.append(f"\"{WORDS[word]} {rng.randint(0, 999)} ({i})\",{word}")
    (folder / "reviews.csv").write_text("\n".join(lines) + "\n")
    (folder / "mytask.yaml").write_text(
        "name: mytask\ntitle: My reviews\ndomain: product\nclasses: [negative, neutral, positive]\n"
        "label_words: [bad, maybe, good]\ndata: reviews.csv\n")
    monkeypatch.setenv("METAPT_TASKS_PATH", str(folder))
    monkeypatch.setenv("METAPT_CACHE", str(tmp_path / "cache"))
    return folder


def _run(out, *extra):
    return main(["run", "--profile", "smoke", "--methods", "pt,ft", "--seeds", "0", "--out", str(out),
                 "--no-progress", *extra])


@pytest.mark.slow
def test_user_csv_task_through_run_status_and_plot(user_task, tmp_path, capsys):
    out = tmp_path / "results"
    assert _run(out, "--suite", "sentiment7", "--tasks", "mytask") == 0
    from benchmark import runner
    cells = [runner.read_cell(p) for p in (out / "cells").glob("*.json")]
    assert sorted((c["method"], c["task"], c["status"]) for c in cells) == \
        [("ft", "mytask", "done"), ("pt", "mytask", "done")]
    assert all(c["provenance"]["mytask"]["source"] == "user" for c in cells)
    capsys.readouterr()

    assert main(["status", "--out", str(out)]) == 0
    status = capsys.readouterr().out
    assert "suite sentiment7: 2 done, 0 failed, 0 missing of 2" in status and "mytask (user) 2/2" in status

    report = tmp_path / "report"
    assert main(["plot", "--results", str(out), "--out", str(report), "--only", "table1"]) == 0
    table = (report / "table1.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith(("| mytask | FT |", "| mytask | PT |"))]
    assert len(rows) == 2, table            # PT and FT on the user task
    assert all(r.rstrip(" |").endswith("— | —") for r in rows), rows   # no paper value for a user task


def test_tasks_accepts_a_user_task_without_running_a_suite_task(user_task):
    from benchmark import config, runner
    cfg = config.apply_overrides(config.load_profile("smoke"), [])
    cells = runner.expand("sentiment7", cfg, tasks=["mytask", "sst2"], methods=["pt"])
    assert sorted({c.task for c in cells}) == ["mytask", "sst2"]
    # a suite over pre-training data keeps its own task
    assert {c.task for c in runner.expand("tsne", cfg, tasks=["mytask"])} == set()


def test_suite_and_profile_by_path_and_on_their_env_paths(user_task, tmp_path, monkeypatch, capsys):
    from benchmark import config, runner
    suite = tmp_path / "mysuite.yaml"
    suite.write_text("description: mine\ntasks: [mytask]\nmethods: [pt]\n")
    prof = tmp_path / "myprof.yaml"
    prof.write_text("extends: smoke\nseeds: [3]\n")
    cfg = config.apply_overrides(config.load_profile(str(prof)), [])
    assert cfg["profile"] == "myprof" and cfg["seeds"] == [3] and cfg["backbone"] == "tiny-decoder"
    cells = runner.expand(str(suite), cfg)
    assert [(c.suite, c.method, c.task, c.seed) for c in cells] == [("mysuite", "pt", "mytask", 3)]

    monkeypatch.setenv("METAPT_SUITES_PATH", str(tmp_path))
    monkeypatch.setenv("METAPT_PROFILES_PATH", str(tmp_path))
    assert "mysuite" in config.list_suites() and "myprof" in config.list_profiles()
    assert config.load_suite("mysuite")["tasks"] == ["mytask"]
    assert config.load_profile("myprof")["seeds"] == [3]
    assert main(["run", "--suite", "mysuite", "--profile", "myprof", "--dry-run", "--out",
                 str(tmp_path / "r")]) == 0
    assert "pt/mytask/seed3" in capsys.readouterr().out


@pytest.mark.parametrize("text", ["name: mytask\nclasses: [a, b]\nlabel_words: [bad, good]\ndata: x.csv\n",
                                  "tasks: sst2\nmethods: [pt]\n", "- a\n- b\n"])
def test_a_file_that_is_not_a_suite_exits_2_and_writes_nothing(tmp_path, capsys, text):
    bad = tmp_path / "notasuite.yaml"
    bad.write_text(text)
    out = tmp_path / "results"
    assert main(["run", "--suite", str(bad), "--profile", "smoke", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "is not a suite" in err or "expected a mapping" in err
    assert not out.exists()


def test_missing_suite_file_exits_2(tmp_path, capsys):
    assert main(["run", "--suite", str(tmp_path / "nope.yaml"), "--profile", "smoke"]) == 2
    assert "suite file" in capsys.readouterr().err
