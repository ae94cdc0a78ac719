"""Comparing two results folders (reports/compare.py, `python -m benchmark compare`): a planted shift
is found with the right sign and size, symmetric noise is not taken for one, cells of one key or of
other test rows are not compared, and bad folders get one line and exit 2."""
from __future__ import annotations

import json

import numpy as np
import pytest

from benchmark import cli
from benchmark.io import write_json
from reports import compare

TASKS = [f"t{i}" for i in range(7)]
N = 400


def _cell(method, task, seed, labels, preds, key=None, rows=None):
    return {"suite": "s", "method": method, "task": task, "seed": seed, "point": {}, "status": "done",
            "key": key or f"{method}-{task}-{seed}-{np.random.default_rng().integers(1 << 40)}",
            "split": {"test": list(range(len(labels))) if rows is None else rows},
            "test": {"labels": labels.tolist(), "preds": preds.tolist()}}


def _folders(rng, change, seeds=4):
    """First and second cells of one method on 7 tasks: ``change(labels, preds, rng)`` gives the second's
    predictions from the first's. Each seed's first accuracy moves by a few points (a seed effect)."""
    first, second = [], []
    for task in TASKS:
        for seed in range(seeds):
            labels = rng.integers(0, 3, N)
            preds = np.where(rng.random(N) < 0.5 + 0.05 * rng.standard_normal(), labels, (labels + 1) % 3)
            first.append(_cell("m", task, seed, labels, preds))
            second.append(_cell("m", task, seed, labels, change(labels, preds.copy(), rng)))
    return first, second


def _fix(labels, preds, rng, k=24):
    """A better method: k wrong rows made right (6 points at 400 rows)."""
    wrong = np.flatnonzero(preds != labels)
    pick = rng.choice(wrong, min(k, wrong.size), replace=False)
    preds[pick] = labels[pick]
    return preds


def _flip(labels, preds, rng, k=10):
    """Another processor: k rows flipped, right to wrong or wrong to right alike."""
    pick = rng.choice(labels.size, k, replace=False)
    preds[pick] = np.where(preds[pick] == labels[pick], (labels[pick] + 2) % 3, labels[pick])
    return preds


def test_a_planted_gain_is_found_with_its_sign_and_size():
    first, second = _folders(np.random.default_rng(0), _fix)
    (row,) = compare.compare(first, second)["rows"]
    assert row["cells"] == 28 and row["tasks"] == 7 and row["seeds"] == [0, 1, 2, 3] and row["df"] == 21
    assert row["diff"] == pytest.approx(24 / N)                      # every cell gained exactly 24 rows
    assert row["second"] - row["first"] == pytest.approx(row["diff"])
    assert 0 < row["lo"] < row["diff"] < row["hi"]
    reverse = compare.compare(second, first)["rows"][0]               # the other way round: the mirror image
    assert (reverse["diff"], reverse["lo"], reverse["hi"]) == pytest.approx((-row["diff"], -row["hi"], -row["lo"]))


def test_symmetric_noise_covers_zero_at_about_the_stated_rate():
    rng = np.random.default_rng(1)
    covered = []
    for _ in range(100):
        first, second = _folders(rng, _flip, seeds=2)
        row = compare.compare(first, second)["rows"][0]
        covered.append(row["lo"] <= 0 <= row["hi"])
        assert row["same_predictions"] == pytest.approx(1 - 10 / N)
    assert np.mean(covered) >= 0.88          # 95 % stated; 100 runs put 0.88 three SDs below


def test_one_key_is_counted_not_compared_and_other_rows_are_listed():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, N)
    preds = rng.integers(0, 3, N)
    same = _cell("ft", "t0", 0, labels, preds, key="k1")
    moved_a = _cell("pt", "t0", 0, labels, preds)
    moved_b = _cell("pt", "t0", 0, labels, _fix(labels, preds.copy(), rng))
    other_a = _cell("pt", "t1", 0, labels, preds)
    other_b = _cell("pt", "t1", 0, labels, preds, rows=list(range(1, N + 1)))
    lone = _cell("pt", "t2", 0, labels, preds)
    out = compare.compare([same, moved_a, other_a, lone], [dict(same), moved_b, other_b])
    rows = {r["method"]: r for r in out["rows"]}
    assert rows["ft"]["cells"] == 0 and rows["ft"]["same_key"] == 1
    assert rows["pt"]["cells"] == 1 and np.isnan(rows["pt"]["lo"])     # one seed: no interval
    assert [p[2] for p in out["other_rows"]] == ["t1"] and [p[2] for p in out["only_first"]] == ["t2"]
    text = compare.markdown(out, "A", "B")
    assert "one seed: no interval" in text and "other test rows" in text and "only in A" in text


def _folder(root, cells):
    (root / "cells").mkdir(parents=True)
    for c in cells:
        write_json(root / "cells" / f"{c['key']}.json", c, checksum=True)
    return root


def test_the_command_prints_the_table_and_writes_the_report(tmp_path, capsys):
    first, second = _folders(np.random.default_rng(3), _fix, seeds=3)
    a, b = _folder(tmp_path / "a", first), _folder(tmp_path / "b", second)
    assert cli.main(["compare", str(a), str(b), "--report", str(tmp_path / "r" / "cmp")]) == 0
    out = capsys.readouterr().out
    assert "| s | m | — | 21 | 7 x 3 (0,1,2) |" in out and "+6.0 [" in out
    assert (tmp_path / "r" / "cmp.md").read_text().endswith(out)
    assert (tmp_path / "r" / "cmp.json").exists()


def test_a_place_held_under_both_protocols_pairs_the_protocol_plot_reads(tmp_path, capsys):
    """A folder republished per seed holds the shared cell of a place beside the per-seed one: compare
    pairs the per-seed one, whatever the file order, and says what it left out."""
    first, second = _folders(np.random.default_rng(5), _fix, seeds=2)
    per_seed = [dict(c, config={"pretrain": {"draw": "per-seed"}}, key="z" + c["key"]) for c in second]
    stale = [dict(c, key="a" + c["key"]) for c in first]     # shared, sorted first: file order would pick it
    a, b = _folder(tmp_path / "a", first), _folder(tmp_path / "b", stale + per_seed)
    assert cli.main(["compare", str(a), str(b), "--report", str(tmp_path / "cmp")]) == 0
    assert "14 shared, 14 per-seed" in capsys.readouterr().err
    (row,) = json.loads((tmp_path / "cmp.json").read_text())["rows"]
    assert row["diff"] == pytest.approx(24 / N)
    assert cli.main(["compare", str(a), str(b), "--protocol", "shared", "--report", str(tmp_path / "cmp")]) == 0
    (row,) = json.loads((tmp_path / "cmp.json").read_text())["rows"]
    assert row["same_predictions"] == pytest.approx(1.0)


def test_bad_folders_get_one_line_and_exit_2(tmp_path, capsys):
    first, second = _folders(np.random.default_rng(4), _fix, seeds=2)
    a = _folder(tmp_path / "a", first)
    assert cli.main(["compare", str(a), str(tmp_path / "nowhere")]) == 2
    assert "is not a results folder" in capsys.readouterr().err
    b = _folder(tmp_path / "b", [dict(c, suite="other") for c in second])
    assert cli.main(["compare", str(a), str(b)]) == 2
    assert "share no place" in capsys.readouterr().err
    assert cli.main(["compare", str(a), str(b), "--suite", "s"]) == 2
    err = capsys.readouterr().err
    assert "holds no finished cells of suite s" in err and err.count("\n") == 1
