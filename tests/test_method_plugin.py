"""A method added from outside the package, as a user would add one: a class declaring what it needs
(labelled pre-training rows split into meta tasks, its own prompt artefact), registered with
``baselines.register`` in this module. With no other edit it runs through the local executor,
preflight's pre-training checks, the Ray executor (workers import this module through
``METAPT_METHODS``) and ``plot``. The data are user tasks (a downstream CSV and a labelled
pre-training pool), the profile ``smoke``: no downloads."""
from __future__ import annotations

import json
import os
import pathlib
import random
import subprocess
import sys

import numpy as np
import pytest

from baselines import get_method, register
from baselines.base import Method, pretrain_pool
from benchmark.cli import main
from benchmark.errors import UserError
from benchmark.io import read_json
from benchmark.prompt import make_prompt

ROOT = pathlib.Path(__file__).resolve().parent.parent


class MetaTaskPT(Method):
    """PT from a prompt made once from the labelled pool's meta tasks (a stand-in for real
    pre-training: what matters here is that the executors build it from what the class declares)."""
    name = "metatask_pt"
    title = "PT from a meta-task prompt (test plug-in)"
    pretrain_data = "labelled"
    meta_tasks = True
    grouping = "label"
    artifact_kind = "metatask-prompt"

    def artifact_key(self, ctx):
        cfg = ctx.cfg
        return {"method": self.name, "backbone": cfg["backbone"], "prompt_tokens": cfg["prompt_tokens"],
                "grouping": self.grouping_of(ctx), "k": cfg["pretrain"]["k"], "data": ctx.labelled_pool_key()}

    def build_artifact(self, ctx, out_dir):
        pre = ctx.cfg["pretrain"]
        pool = pretrain_pool(ctx, self.pretrain_data)
        tasks = ctx.tasksets(self.grouping_of(ctx), pool["texts"], np.asarray(pool["labels"]), k=pre["k"],
                             m=pre["m"], seed=pre["seed"])
        prompt = make_prompt(ctx.backbone(), ctx.cfg, pre["seed"], ctx.pretrain_label_words())
        return ctx.save_prompt(out_dir, prompt.weight, method=self.name,
                               report={"rows": len(pool["texts"]), "meta_tasks": len(tasks.task_ids)})


register(MetaTaskPT())

WORDS = {"bad": "the plot was dull and the acting bad", "maybe": "not good , not bad , maybe okay",
         "good": "a good movie with a great cast"}
SETTINGS = ["--set", "pretrain.labelled_pool=mypool", "--set", "pretrain.k=3"]


def _csv(path, n, seed):
    rng = random.Random(seed)
    lines = ["text,label"] + [f"\"{WORDS[w]} {rng.randint(0, 999)} ({i})\",{w}"
                              for i, w in enumerate(["bad", "maybe", "good"][i % 3] for i in range(n))]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def user_data(tmp_path, monkeypatch):
    """A downstream task, a labelled pre-training pool and a suite of the plug-in method."""
    folder = tmp_path / "mytasks"
    folder.mkdir()
    _csv(folder / "reviews.csv", 60, 0)
    _csv(folder / "pool.csv", 90, 1)
    common = "classes: [negative, neutral, positive]\nlabel_words: [bad, maybe, good]\n"
    (folder / "mytask.yaml").write_text(f"name: mytask\ntitle: My reviews\n{common}data: reviews.csv\n")
    (folder / "mypool.yaml").write_text(f"name: mypool\ntitle: My pool\nrole: pretrain-labelled\n{common}"
                                        "data: pool.csv\n")
    suite = tmp_path / "plugin.yaml"
    suite.write_text("tasks: [mytask]\nmethods: [metatask_pt]\n")
    monkeypatch.setenv("METAPT_TASKS_PATH", str(folder))
    monkeypatch.setenv("METAPT_CACHE", str(tmp_path / "cache"))
    return suite


def _run(suite, out, *extra):
    return main(["run", "--suite", str(suite), "--profile", "smoke", "--seeds", "0", "--out", str(out),
                 "--no-progress", *SETTINGS, *extra])


def _cells(out):
    from benchmark import runner
    return [runner.read_cell(p) for p in sorted((out / "cells").glob("*.json"))]


def test_a_registered_method_runs_locally_and_is_in_the_report(user_data, tmp_path, capsys):
    out = tmp_path / "results"
    assert _run(user_data, out) == 0, capsys.readouterr().err[-2000:]
    [cell] = _cells(out)
    assert (cell["method"], cell["task"], cell["status"]) == ("metatask_pt", "mytask", "done")
    kind, digest = cell["init"]["artifact"].split("/")     # tuned from its own artefact
    assert kind == "metatask-prompt"
    built = read_json(tmp_path / "cache" / "artifacts" / kind / digest / "artifact.json", checksum=True)
    assert built["report"] == {"rows": 90, "meta_tasks": 3}
    capsys.readouterr()

    report = tmp_path / "report"
    assert main(["plot", "--results", str(out), "--out", str(report), "--only", "training"]) == 0
    rows = [r for r in (report / "training.md").read_text().splitlines() if r.startswith("| plugin |")]
    assert rows and rows[0].startswith("| plugin | metatask_pt | 1 |"), rows


def test_preflight_checks_the_pre_training_of_a_registered_method(user_data, tmp_path, capsys):
    # k above the pool's 90 rows (below pretrain.rows): refused before anything runs, since the method
    # declares pre-training data (a name prefix decided this before)
    assert _run(user_data, tmp_path / "results", "--set", "pretrain.k=100") == 2
    err = capsys.readouterr().err
    assert "pretrain.k = 100 is above the number of pre-training rows (90 rows of 'mypool')" in err
    assert not (tmp_path / "results").exists()


def test_the_ray_plan_builds_what_the_method_declares(user_data):
    from benchmark import config, runner
    from benchmark.context import Context
    from benchmark.executors import ray_executor

    cfg = config.apply_overrides(config.load_profile("smoke"), [s for s in SETTINGS if s != "--set"])
    cells = runner.expand(str(user_data), cfg)
    stages, deps = ray_executor.plan(cells, lambda c: Context(c, progress=False))
    kinds = [key[0] for key, *_ in stages]
    # label grouping: no embeddings, no pseudo-labels; per-seed pre-training: a clustering and an
    # artefact per seed's draw (smoke: seeds 0 and 1)
    assert kinds == ["data", "clusterings", "artefact", "clusterings", "artefact"]
    assert stages[0][2][1] == ["mypool", "mytask"]            # the pool's rows are read in the data stage
    assert stages[1][0][1] == "label" and stages[2][0][1] == "metatask-prompt"
    seed0 = next(c for c in cells if c.seed == 0)
    assert deps[seed0.key] == (stages[2][0],)


def test_register_refuses_a_declaration_the_executors_cannot_act_on():
    class Bad(Method):
        name = "bad_pt"
        grouping = "kmeans"     # a grouping without meta tasks
    with pytest.raises(ValueError, match="grouping = 'kmeans'; allowed: with meta_tasks"):
        register(Bad())
    Bad.grouping, Bad.artifact_kind = None, "bad-prompt"
    with pytest.raises(ValueError, match="needs artifact_key and build_artifact"):
        register(Bad())
    with pytest.raises(ValueError, match="built in"):
        register(type("Mine", (Method,), {"name": "ppt"})())
    assert get_method("ppt").artifact_kind == "ppt-prompt"


def test_an_unimportable_methods_module_is_one_clear_error(monkeypatch):
    import baselines

    monkeypatch.setenv("METAPT_METHODS", "no_such_module_here")
    with pytest.raises(UserError, match="METAPT_METHODS names module 'no_such_module_here', which cannot be"):
        baselines._import_user_methods()


@pytest.mark.slow
def test_a_registered_method_runs_on_ray(user_data, tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "ray"
    # a fresh process: the driver and its workers know the method only through METAPT_METHODS
    env = dict(os.environ, METAPT_METHODS=pathlib.Path(__file__).stem, HF_HUB_OFFLINE="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]), RAY_USAGE_STATS_ENABLED="0",
               TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1")
    env.pop("RAY_ADDRESS", None)
    args = ["run", "--suite", str(user_data), "--profile", "smoke", "--seeds", "0", "--out", str(out),
            "--no-progress", "--executor", "ray", *SETTINGS]
    proc = subprocess.run([sys.executable, "-m", "benchmark", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ray: 3 shared stages and 1 cells submitted" in proc.stderr
    [cell] = _cells(out)
    assert (cell["method"], cell["task"], cell["status"]) == ("metatask_pt", "mytask", "done")
    [summary] = [json.loads(p.read_text()) for p in (out / "runs").glob("*.json")]
    assert "metatask-prompt" in {a["kind"] for a in summary["artifacts_built"]}   # built by the Ray stage
    assert cell["init"]["artifact"].startswith("metatask-prompt/")


def test_training_diagnostics_read_the_budget_from_the_section_of_what_a_method_tunes(monkeypatch):
    import baselines
    from baselines.base import train_diagnostics
    from baselines.ft import FullModelTuning

    monkeypatch.setattr(baselines, "METHODS", dict(baselines.METHODS))   # the registration ends with the test
    register(type("FTCopy", (FullModelTuning,), {"name": "ft_copy"})())  # tunes the model, as FT does
    config = {"n_train": 8, "tune": {"max_epochs": 10, "batch_size": 4, "max_steps": None},
              "ft": {"max_epochs": 2, "batch_size": 4, "max_steps": None}}
    train = {"best_step": 2, "evaluations": [[2, 0.5]]}    # an old cell: no budget recorded
    assert train_diagnostics(train, config, "ft_copy")["best_fraction"] == 0.5        # 2 epochs x 2 steps
    assert train_diagnostics(train, config, "metatask_pt")["best_fraction"] == 0.1    # 10 epochs x 2 steps
    assert train_diagnostics(train, config, "gone_method")["best_fraction"] == 0.1    # unregistered: tune
