"""Agreement of two runs of one cell (reports/agreement.py) and the `agree` command that reruns a
sample of finished cells: the criteria pass a processor-like flip of a few rows and fail a shift,
refuse runs on other test rows, and the command reruns, resumes and reports (smoke profile)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from benchmark import cli
from benchmark.errors import UserError
from reports import agreement


def _record(labels, preds, rows=None):
    return {"split": {"test": list(range(len(labels))) if rows is None else rows},
            "test": {"labels": np.asarray(labels).tolist(), "preds": np.asarray(preds).tolist()}}


def _cell(seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 5, 500)
    preds = np.where(rng.random(500) < 0.4, labels, (labels + 1) % 5)
    return rng, labels, preds


def test_a_few_rows_flipped_both_ways_agree_and_a_shift_does_not():
    rng, labels, preds = _cell()
    first = _record(labels, preds)
    noisy = preds.copy()
    flip = rng.choice(500, 12, replace=False)             # a processor: a few rows either way
    noisy[flip] = np.where(noisy[flip] == labels[flip], (labels[flip] + 2) % 5, labels[flip])
    c = agreement.compare(first, _record(labels, noisy))
    assert c["agrees"] and not c["regressed"]
    assert c["same_predictions"] == pytest.approx(1 - 12 / 500)
    worse = preds.copy()
    right = np.flatnonzero(preds == labels)[:40]          # a changed method: 40 right rows now wrong
    worse[right] = (labels[right] + 1) % 5
    c = agreement.compare(first, _record(labels, worse))
    assert not c["agrees"] and c["regressed"]
    assert (c["only_first"], c["only_second"]) == (40, 0)
    assert c["acc_second"] < c["lo"] <= c["acc_first"] <= c["hi"]
    assert "McNemar" in agreement.regression(first, _record(labels, worse))


def test_the_interval_is_the_first_runs_wilson_interval():
    from scipy.stats import binomtest

    _, labels, preds = _cell(1)
    c = agreement.compare(_record(labels, preds), _record(labels, preds))
    ci = binomtest(int((preds == labels).sum()), 500).proportion_ci(method="wilson")
    assert (c["lo"], c["hi"]) == pytest.approx((ci.low, ci.high))
    assert c["agrees"] and c["same_predictions"] == 1.0 and c["p_mcnemar"] == 1.0


def test_other_test_rows_are_refused():
    _, labels, preds = _cell()
    with pytest.raises(ValueError, match="other test rows"):
        agreement.compare(_record(labels, preds), _record(labels, preds, rows=list(range(1, 501))))
    assert "other test rows" in agreement.regression(_record(labels, preds),
                                                     _record(labels, preds, rows=list(range(1, 501))))


def test_summary_counts_per_method_against_the_target():
    rows = [{"method": "pt", "agrees": True, "regressed": False}] * 9 + \
           [{"method": "ft", "agrees": False, "regressed": True}]
    s = agreement.summarise(rows)
    assert (s["cells"], s["agree"], s["regressed"], s["met"]) == (10, 9, 1, True)
    assert s["by_method"] == {"ft": {"cells": 1, "agree": 0}, "pt": {"cells": 9, "agree": 9}}
    assert not agreement.summarise(rows[1:])["met"]       # 8 of 9 < 90 %


def test_the_sample_takes_methods_in_turn_and_is_the_same_each_time():
    from benchmark.commands.agree import sample

    have = {(m, t, s): {} for m in ("ft", "pt", "ppt") for t in ("a", "b", "c") for s in (0, 1)}
    got = sample(have, 7)
    assert got == sample(have, 7) and len(set(got)) == 7
    assert [k[0] for k in got] == ["ft", "ppt", "pt"] * 2 + ["ft"]
    assert {k[0] for k in sample(have, 4, ["pt"])} == {"pt"}


@pytest.mark.assets
@pytest.mark.slow
def test_agree_reruns_resumes_and_finds_a_planted_change(standin_cache, tmp_path, capsys):
    first = tmp_path / "first"
    assert cli.main(["run", "--suite", "sentiment7", "--profile", "smoke", "--tasks", "sst2", "--methods", "pt",
                     "--seeds", "0", "--no-progress", "--out", str(first)]) == 0
    again = tmp_path / "again"
    args = ["agree", "--results", str(first), "--out", str(again), "--no-progress"]
    assert cli.main(args) == 0
    report = json.loads((again / "agreement.json").read_text())
    assert report["summary"]["cells"] == 1 and report["summary"]["agree"] == 1
    assert report["cells"][0]["same_predictions"] == 1.0          # same machine, same arithmetic
    assert "1 of 1 agree" in (again / "agreement.md").read_text()
    capsys.readouterr()
    # plant a changed method: the first run's predictions right on the rows it got wrong
    path = next((first / "cells").glob("*.json"))
    rec = json.loads(path.read_text())
    payload = rec["payload"]
    labels, preds = np.asarray(payload["test"]["labels"]), np.asarray(payload["test"]["preds"])
    wrong = np.flatnonzero(preds != labels)
    preds[wrong] = labels[wrong]
    payload["test"]["preds"] = preds.tolist()
    from benchmark.io import write_json

    write_json(path, payload, checksum=True)
    assert cli.main(args) == 0                                     # resumes: the rerun is not redone
    err = capsys.readouterr().err
    assert "seed0: rerunning" not in err and "DOES NOT AGREE" in err
    assert json.loads((again / "agreement.json").read_text())["summary"]["agree"] == 0
    # a second folder of reruns (another process's --out) is read, not rerun
    third = tmp_path / "third"
    assert cli.main(["agree", "--results", str(first), "--out", str(third), "--also", str(again), "--no-progress"]) == 0
    assert "seed0: rerunning" not in capsys.readouterr().err
    report = json.loads((third / "agreement.json").read_text())
    assert report["cells"][0]["rerun_in"] == str(again) and report["also"] == [str(again)]
    assert "read from" in (third / "agreement.md").read_text()
    assert not list((third / "cells").glob("*.json"))
    # ... but only when it ran under this process's arithmetic, and says so
    rerun = next((again / "cells").glob("*.json"))
    payload = json.loads(rerun.read_text())["payload"]
    for machine, message in (({**payload["machine"], "arithmetic_env": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}},
                              "ONEDNN_MAX_CPU_ISA"),
                             ({k: v for k, v in payload["machine"].items() if k != "arithmetic_env"},
                              "does not record its arithmetic settings")):
        write_json(rerun, dict(payload, machine=machine), checksum=True)
        capsys.readouterr()
        assert cli.main(["agree", "--results", str(first), "--out", str(tmp_path / "fourth"),
                         "--also", str(again), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert "not made under this process's arithmetic" in err and message in err
    assert not list((tmp_path / "fourth" / "cells").glob("*.json"))


def test_agree_refuses_bad_input(tmp_path, capsys):
    (tmp_path / "cells").mkdir()
    cases = [(["--out", str(tmp_path / "x")], "no finished cell of suite"),
             (["--out", str(tmp_path)], "the results folder itself"),
             (["--results", str(tmp_path / "nothing")], "has no cells/ folder"),
             (["--also", str(tmp_path / "nothing")], "--also"),
             (["--out", str(tmp_path / "x"), "--also", str(tmp_path)], "the results folder itself")]
    for extra, message in cases:
        capsys.readouterr()
        assert cli.main(["agree", "--results", str(tmp_path), *extra]) == 2
        assert message in capsys.readouterr().err


def test_cells_are_named_method_task_seed():
    from benchmark.commands.agree import _parse_cells

    have = {("pt", "sst2", 0): {}}
    assert _parse_cells("pt/sst2/0, pt/sst2/seed0", have) == [("pt", "sst2", 0)] * 2
    with pytest.raises(UserError, match="expected METHOD/TASK/SEED"):
        _parse_cells("pt/sst2", have)
    with pytest.raises(UserError, match="no finished cell of it"):
        _parse_cells("pt/sst5/0", have)


def test_a_cache_folder_offers_only_the_cells_its_manifest_lists(tmp_path):
    """A cache results folder keeps cells of older settings under other keys: never sampled."""
    from benchmark.commands.agree import _finished
    from benchmark.io import write_json

    def rec(key, acc):
        return {"status": "done", "suite": "sentiment7", "method": "pt", "task": "sst2", "seed": 0, "point": {},
                "key": key, "metrics": {"accuracy": acc}}

    (tmp_path / "cells").mkdir()
    write_json(tmp_path / "cells" / "aaaa.json", rec("aaaa", 0.5), checksum=True)
    write_json(tmp_path / "cells" / "zzzz.json", rec("zzzz", 0.9), checksum=True)   # older settings
    write_json(tmp_path / "manifest.json", {"cells": [{"key": "aaaa"}]})
    assert _finished(tmp_path, "sentiment7")[("pt", "sst2", 0)]["key"] == "aaaa"
    (tmp_path / "manifest.json").unlink()                 # a folder without one: every finished cell
    assert _finished(tmp_path, "sentiment7")[("pt", "sst2", 0)]["key"] == "zzzz"


def test_publish_leaves_out_cells_the_manifest_does_not_list(tmp_path, capsys):
    """The same rule in publish (runner.listed_keys): a cache folder's cells of older settings are
    not published beside the current ones."""
    from benchmark.io import write_json

    src = tmp_path / "src"
    (src / "cells").mkdir(parents=True)
    for key, acc in (("aaaa", 0.5), ("zzzz", 0.9)):
        write_json(src / "cells" / f"{key}.json", {"status": "done", "suite": "sentiment7", "method": "pt",
                                                     "task": "sst2", "seed": 0, "key": key,
                                                     "metrics": {"accuracy": acc}}, checksum=True)
    write_json(src / "manifest.json", {"cells": [{"key": "aaaa"}]})
    assert cli.main(["publish", "--results", str(src), "--to", str(tmp_path / "pub")]) == 0
    out = capsys.readouterr().out
    assert sorted(p.stem for p in (tmp_path / "pub" / "cells").glob("*.json")) == ["aaaa"]
    assert "published 1 cells" in out and "1 of older settings (not in the manifest)" in out


def test_publish_add_replaces_the_places_it_republishes_and_keeps_what_other_suites_name(tmp_path, capsys):
    """Republishing one suite under another protocol into the published folder: its places take the new
    cells, a superseded cell that another suite's entry names stays, one that nothing names goes, and
    the folder reads without a mixed line."""
    import json
    import warnings

    from benchmark.io import write_json
    from reports import results

    def put(root, key, suite, method, seed, acc, draw=None):
        write_json(root / "cells" / f"{key}.json", {
            "status": "done", "suite": suite, "method": method, "task": "sst2", "seed": seed, "point": {},
            "key": key, "metrics": {"accuracy": acc}, "config": {"pretrain": {"draw": draw} if draw else {}}},
            checksum=True)
        return {"suite": suite, "method": method, "task": "sst2", "seed": seed, "point": {}, "key": key}

    pub, src = tmp_path / "pub", tmp_path / "src"
    (pub / "cells").mkdir(parents=True)
    (src / "cells").mkdir(parents=True)
    old = [put(pub, "s0", "sentiment7", "ppt", 0, 0.5), put(pub, "s1", "sentiment7", "ppt", 1, 0.5),
           put(pub, "c0", "clusters", "metapt", 0, 0.6)]
    old.append(dict(old[0], suite="clusters"))                       # clusters reads sentiment7's seed-0 cell
    write_json(pub / "manifest.json", {"suite": "all", "profile": "cpu", "cells": old})
    new = [put(src, f"p{s}", "sentiment7", "ppt", s, 0.7, draw="per-seed") for s in (0, 1)]
    write_json(src / "manifest.json", {"suite": "sentiment7", "profile": "cpu", "cells": new})

    assert cli.main(["publish", "--results", str(src), "--to", str(pub), "--add"]) == 0
    out = capsys.readouterr().out
    assert "published 2 cells" in out and "kept 2 cells published before; left out 1" in out
    assert sorted(p.stem for p in (pub / "cells").glob("*.json")) == ["c0", "p0", "p1", "s0"]
    manifest = json.loads((pub / "manifest.json").read_text())
    listed = {(e["suite"], e["method"], e["seed"]): e["key"] for e in manifest["cells"]}
    assert listed == {("sentiment7", "ppt", 0): "p0", ("sentiment7", "ppt", 1): "p1",
                      ("clusters", "metapt", 0): "c0", ("clusters", "ppt", 0): "s0"}
    with warnings.catch_warnings():
        warnings.simplefilter("error", results.ResultWarning)
        res = results.load(pub)
    assert [g.mean for g in res.select(suite="sentiment7")] == [0.7]
    assert {g.method: g.mean for g in res.select(suite="clusters")} == {"ppt": 0.5, "metapt": 0.6}
