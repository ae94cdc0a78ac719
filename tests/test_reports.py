"""reports/: paper numbers, loading, aggregation, tables, figures and the plot command.

Every result cell here is SYNTHETIC (made-up numbers written to a tmp folder); none is a result.
"""
from __future__ import annotations

import json
import math
import statistics
import warnings

import numpy as np
import pytest

from benchmark import cli
from benchmark.errors import UserError
from reports import paper, results, tables
from reports.figures import FIGURES, NoData

TASKS = ["sst5", "sst2", "amazon5", "amazon2", "sentihood", "semeval16_restaurant", "semeval16_laptop"]
WORDS = ["terrible", "bad", "maybe", "good", "great"]


def cell(method, task, seed, acc, *, suite="sentiment7", point=None, status="done", standin=True,
         recall=None, profile="synthetic", backbone="tiny-synthetic", reductions=None, flat=False, **extra):
    """A synthetic cell as benchmark/runner.py writes it (``flat``: the DESIGN.md flat provenance)."""
    prov = ({"task": task, "source": "standin", "standin_for": paper.task_title(task),
             "title": f"{paper.task_title(task)} stand-in: synthetic test snippets", "origin": "synthetic"}
            if standin else {"task": task, "source": "paper", "standin_for": None, "title": "real"})
    c = {
        "status": status, "suite": suite, "method": method, "task": task, "seed": seed,
        "point": point or {}, "profile": profile, "backbone": backbone,
        "metrics": None if acc is None else {"accuracy": acc, "macro_f1": acc - 0.05,
                                             "recall": recall or {}},
        "config": {}, "reductions": reductions or {}, "wall_s": 1.0, "error": None,
        "provenance": prov if flat else {task: prov},
    }
    c.update(extra)
    return c


def write(root, cells, manifest=None):
    d = root / "cells"
    d.mkdir(parents=True, exist_ok=True)
    for i, c in enumerate(cells):
        (d / f"c{i:04d}.json").write_text(json.dumps(c))
    if manifest is not None:
        (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def load_quiet(root, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", results.ResultWarning)
        return results.load(root, **kw)


# -- paper numbers -------------------------------------------------------------------------------
def test_paper_table1_is_complete():
    t1 = paper.numbers()["table1"]
    assert t1["tasks"] == TASKS
    assert t1["methods"] == ["ft", "ppt", "metapt", "metapt_y"]
    for m in t1["methods"]:
        for t in TASKS:
            c = paper.table1_cell(m, t)
            assert c is not None, (m, t)
            assert 0 < c["mean"] < 100 and 0 < c["std"] < 10
    assert "pt" in t1["not_reported"]  # the paper leaves plain PT out of Table 1


def test_paper_spot_values():
    assert paper.table1_cell("ft", "sst5") == {"mean": 43.57, "std": 2.56}
    assert paper.table1_cell("metapt_y", "amazon2") == {"mean": 95.39, "std": 0.03}
    assert paper.table1_cell("ppt", "semeval16_laptop") == {"mean": 56.37, "std": 4.11}
    assert paper.table2_cell("metapt_kmeans") == {"mean": 46.24, "std": 0.42}
    assert paper.table2_cell("metapt_lda") == {"mean": 44.10, "std": 0.83}
    assert paper.table2_cell("metapt_random") == {"mean": 42.95, "std": 1.05}
    assert paper.table2_cell("metapt_label") == {"mean": 42.84, "std": 0.76}
    assert paper.table2_cell("ppt") == {"mean": 42.89, "std": 1.08}
    assert paper.recall_cell("metapt", "sst5", "terrible") == 0.22
    assert paper.recall_cell("metapt_y", "sst5", "terrible") == 0.61
    for f in ("fig2", "fig3a", "fig3b", "fig4"):
        assert paper.numbers()["figures"][f]["transcribed"] is False


# -- loading and aggregation ---------------------------------------------------------------------
def test_aggregation_mean_std_by_hand(tmp_path):
    accs = [0.40, 0.45, 0.47]
    write(tmp_path, [cell("metapt", "sst5", s, a) for s, a in enumerate(accs)]
          + [cell("metapt", "sst5", 0, 0.9, point={"shots": 10}, suite="shots")])
    res = load_quiet(tmp_path)
    (g,) = res.select(suite="sentiment7", method="metapt", task="sst5")
    mean = sum(accs) / 3
    std = math.sqrt(sum((a - mean) ** 2 for a in accs) / 2)  # sample std, ddof=1
    assert g.n == 3 and g.seeds == [0, 1, 2]
    assert g.mean == pytest.approx(mean) and g.std == pytest.approx(std)
    assert g.std == pytest.approx(statistics.stdev(accs))
    (p,) = res.select(axis=("n_train", "shots"))
    assert p.point == {"shots": 10} and p.n == 1 and math.isnan(p.std)
    assert tables.pct(g.mean, g.std, g.n) == f"{100 * mean:.2f} ± {100 * std:.2f}"


def test_recall_aggregated(tmp_path):
    write(tmp_path, [cell("metapt", "sst5", 0, 0.4, recall={"terrible": 0.2, "great": 0.5}),
                     cell("metapt", "sst5", 1, 0.4, recall={"terrible": 0.4, "great": 0.7})])
    (g,) = load_quiet(tmp_path).select()
    rec = g.recall()
    assert rec["terrible"][0] == pytest.approx(0.3) and rec["terrible"][2] == 2
    assert rec["great"][1] == pytest.approx(statistics.stdev([0.5, 0.7]))


def test_corrupt_and_malformed_files_skipped_with_warning(tmp_path):
    write(tmp_path, [cell("ft", "sst5", 0, 0.4)])
    (tmp_path / "cells" / "bad.json").write_text('{"status": "done", "suite": ')
    (tmp_path / "cells" / "list.json").write_text("[1, 2]")
    (tmp_path / "cells" / "nomethod.json").write_text(json.dumps({"status": "done", "suite": "s"}))
    (tmp_path / "cells" / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.warns(results.ResultWarning, match="bad.json"):
        res = results.load(tmp_path)
    assert len(res.cells) == 1
    assert len(res.warnings) == 4
    assert any("binary.json" in w for w in res.warnings)
    assert any("no 'method'" in w for w in res.warnings)


def test_failed_cells_not_aggregated_and_listed(tmp_path):
    write(tmp_path, [cell("ft", "sst5", 0, 0.4),
                     cell("ft", "sst5", 1, None, status="failed", error="CUDA out of memory\ntrace")])
    res = load_quiet(tmp_path)
    (g,) = res.select()
    assert g.n == 1
    md = tables.table1(res)
    assert "Failed cells (1)" in md and "CUDA out of memory" in md and "trace" not in md


def test_checksummed_cell_is_read(tmp_path):
    from benchmark import io
    (tmp_path / "cells").mkdir()
    io.write_json(tmp_path / "cells" / "x.json", cell("ft", "sst5", 0, 0.4), checksum=True)
    (g,) = load_quiet(tmp_path).select()
    assert g.method == "ft"


def test_profile_filter_and_duplicate_seed_warning(tmp_path):
    write(tmp_path, [cell("ft", "sst5", 0, 0.4), cell("ft", "sst5", 0, 0.5),
                     cell("ft", "sst5", 1, 0.6, profile="other")])
    res = load_quiet(tmp_path)
    res.groups()
    assert any("duplicate" in w for w in res.warnings)
    assert any("mixes profiles" in w for w in res.warnings)
    only = load_quiet(tmp_path, profile="other")
    (g,) = only.select()
    assert g.n == 1 and g.mean == pytest.approx(0.6)


# -- tables --------------------------------------------------------------------------------------
def _table1_cells():
    rng = np.random.default_rng(0)
    out = []
    for m, base in [("ft", 0.42), ("ppt", 0.41), ("metapt", 0.45), ("metapt_y", 0.46)]:
        for s in range(5):
            out.append(cell(m, "sst5", s, float(base + rng.normal(0, 0.01)),
                            recall=dict(zip(WORDS, rng.uniform(0, 1, 5).round(2).tolist())),
                            reductions={"train.max_epochs": {"paper": 200, "here": 3},
                                        "prompt_tokens": {"paper": 100, "here": 20}}))
    return out


def with_rows(c, labels, correct, *, before=None, n_classes=5):
    """Give a synthetic cell per-row labels and predictions (right where ``correct``), as
    baselines/base.py cell_result writes them; ``before``: the same for the initial prompt."""
    labels = np.asarray(labels)
    def preds(ok):
        return np.where(np.asarray(ok), labels, (labels + 1) % n_classes).astype(int).tolist()
    c["split"] = {"test": [f"r{i}" for i in range(len(labels))]}
    c["test"] = {"labels": labels.astype(int).tolist(), "preds": preds(correct)}
    c["metrics"] = dict(c["metrics"], accuracy=float(np.mean(correct)), n=len(labels))
    if before is not None:
        c["before_tuning"] = {"accuracy": float(np.mean(before)), "n": len(labels), "preds": preds(before)}
    return c


def md_tables(md: str) -> list[list[list[str]]]:
    """Every Markdown table of a text, in order: its rows (header first, the rule left out) as cells."""
    tables_, current = [], None
    for line in md.splitlines():
        if line.startswith("|"):
            if current is None:
                current = []
                tables_.append(current)
            if not line.startswith("|---"):
                current.append([x.strip() for x in line.strip().strip("|").split(" | ")])
        else:
            current = None
    return tables_


def _grid_cells(rng, tasks=TASKS, methods=("ft", "pt", "ppt", "metapt", "metapt_y"), seeds=(0, 1, 2)):
    out = []
    for t in tasks:
        labels = [0, 0, 0, 1, 1, 1, 2, 2, 2, 0]                # majority class 0: 40 %
        for m in methods:
            for s in seeds:
                out.append(with_rows(cell(m, t, s, 0.0), labels, rng.random(10) < 0.6, n_classes=3))
    return out


def test_table1_opens_with_the_papers_grid_one_row_per_method_one_column_per_task_and_their_mean(tmp_path):
    write(tmp_path, _grid_cells(np.random.default_rng(3)))
    res = load_quiet(tmp_path)
    md = tables.table1(res)
    first, paper_block, long = md_tables(md)[:3]
    titles = [paper.task_title(t) for t in TASKS]
    assert first[0] == ["Method"] + titles + ["Mean over tasks"]
    assert [r[0] for r in first[1:]] == ["FT", "PT", "PPT", "MetaPT", "MetaPT(Y)", "*Majority class (test rows)*"]
    assert all(len(r) == len(TASKS) + 2 for r in first)
    by = {(g.method, g.task): g for g in res.select()}
    ft = first[1]
    for t, text in zip(TASKS, ft[1:-1]):
        g = by[("ft", t)]
        assert text == f"{100 * g.mean:.2f} ± {100 * g.std:.2f}"
    assert ft[-1] == f"{statistics.mean(100 * by[('ft', t)].mean for t in TASKS):.2f}"
    assert first[-1][1:] == ["40.00"] * len(TASKS) + ["40.00"]      # same test rows every seed: no ± 0.00
    # the paper's own numbers as a block of their own, on the same columns, then the per-cell table
    assert paper_block[0] == first[0] and paper_block[1][:2] == ["FT", "43.57 ± 2.56"]
    assert paper_block[1][-1] == f"{statistics.mean(paper.table1_cell('ft', t)['mean'] for t in TASKS):.2f}"
    assert long[0][:2] == ["Task", "Method"] and len(long) - 1 == len(TASKS) * (5 + 1)
    assert md.index("## Per cell") > md.index("| Method | SST-5")
    assert md.index("## Per cell") < md.index("| Task | Method |")


def test_table1_grid_leaves_the_mean_blank_where_a_task_is_missing(tmp_path):
    cells = _grid_cells(np.random.default_rng(4), tasks=TASKS[:3], methods=("ft", "metapt"), seeds=(0, 1))
    cells += _grid_cells(np.random.default_rng(5), tasks=TASKS[3:4], methods=("ft",), seeds=(0, 1))
    write(tmp_path, cells)
    first = md_tables(tables.table1(load_quiet(tmp_path)))[0]
    assert first[0] == ["Method"] + [paper.task_title(t) for t in TASKS[:4]] + ["Mean over tasks"]
    rows = {r[0]: r for r in first[1:]}
    assert rows["MetaPT"][4] == "—" and rows["MetaPT"][-1] == "—"
    assert rows["FT"][-1] != "—"


def test_paired_comparison_by_hand(tmp_path):
    """8 rows, one seed: MetaPT right on rows 0-5, PPT on rows 4-7 -> 4 wins, 2 losses; exact
    McNemar p = P(Bin(6, .5) <= 2) * 2 = 2 * (1 + 6 + 15) / 64."""
    labels = [0, 1, 2, 0, 1, 2, 0, 1]
    a = with_rows(cell("metapt", "sst5", 0, 0.0), labels, [1, 1, 1, 1, 1, 1, 0, 0], before=[1, 0, 0, 0, 0, 0, 0, 0])
    b = with_rows(cell("ppt", "sst5", 0, 0.0), labels, [0, 0, 0, 0, 1, 1, 1, 1])
    write(tmp_path, [a, b])
    md = tables.table1(load_quiet(tmp_path))
    assert "| SST-5 | MetaPT vs PPT | 1 | 8 | +25.0 |" in md
    assert f"| {2 * 22 / 64:.2g} |" in md and "rows only (1 seed)" in md
    # reference rows: majority class of the test rows (0 and 1: 3 of 8), MetaPT before tuning (1 of 8)
    assert "*Majority class (test rows)* (reference) | 1 | 37.50 (n=1)" in md
    assert "*MetaPT before tuning* (reference) | 1 | 12.50 (n=1)" in md
    assert "PPT before tuning" not in md  # that cell saved no before-tuning score


def test_older_cells_render_and_say_what_was_not_computed(tmp_path):
    write(tmp_path, _table1_cells())
    md = tables.table1(load_quiet(tmp_path))
    assert "| SST-5 (stand-in: synthetic test snippets) | MetaPT | 5 | 45.22 ± 1.00 | — |" in md
    assert "MetaPT vs PPT: not computed, the cells carry no per-row predictions" in md
    assert "Majority-class row not computed for SST-5" in md
    assert "Welch" not in md


def test_comparison_without_shared_seed_is_skipped_with_a_note(tmp_path):
    labels = [0, 1] * 10
    write(tmp_path, [with_rows(cell("metapt", "sst5", 0, 0.0), labels, [1] * 20),
                     with_rows(cell("ppt", "sst5", 1, 0.0), labels, [0] * 20)])
    md = tables.table1(load_quiet(tmp_path))
    assert "MetaPT vs PPT: not computed, no seed in common" in md


def test_table1_paper_column_and_standin_note(tmp_path):
    write(tmp_path, _table1_cells())
    md = tables.table1(load_quiet(tmp_path))
    assert "SST-5 (stand-in: synthetic test snippets)" in md
    assert "45.26 ± 0.39" in md and "43.57 ± 2.56" in md  # paper column
    assert "Stand-in data" in md and "not the paper's" in md
    assert "profile: synthetic" in md.lower() and "tiny-synthetic" in md
    assert "train.max_epochs: 3 (paper: 200)" in md and "prompt_tokens: 20 (paper: 100)" in md


def test_paper_data_rows_not_called_standin(tmp_path):
    write(tmp_path, [cell("ft", "sst2", s, 0.8 + s / 100, standin=False) for s in range(2)])
    md = tables.table1(load_quiet(tmp_path))
    assert "stand-in" not in md.lower()
    assert "| SST-2 | FT | 2 |" in md


def test_missing_cells_from_manifest(tmp_path):
    manifest = {"suite": "sentiment7", "cells": [
        {"method": m, "task": t, "seed": s, "point": {}}
        for m in ("ft", "metapt") for t in ("sst5", "sst2") for s in (0, 1)]}
    write(tmp_path, [cell("ft", "sst5", 0, 0.4), cell("ft", "sst5", 1, 0.42),
                     cell("metapt", "sst5", 0, 0.45),
                     cell("metapt", "sst2", 0, None, status="failed", error="boom")], manifest)
    res = load_quiet(tmp_path)
    miss = res.missing("sentiment7")
    states = {(m["method"], m["task"], m["seed"]): m["state"] for m in miss}
    assert states == {("metapt", "sst5", 1): "missing", ("ft", "sst2", 0): "missing",
                      ("ft", "sst2", 1): "missing", ("metapt", "sst2", 0): "failed",
                      ("metapt", "sst2", 1): "missing"}
    md = tables.table1(res)
    assert "Missing cells (4" in md
    assert "metapt / sst5 / seed 1\n" in md and "ft / sst2 / seeds 0, 1\n" in md
    assert "metapt / sst2 / seed 1\n" in md  # seed 0 failed: listed under failed cells
    assert "python -m benchmark run --suite sentiment7" in md
    assert "| SST-5 (stand-in: synthetic test snippets) | MetaPT | 1 | 45.00 (n=1)" in md


def test_a_cell_two_suites_share_counts_for_both(tmp_path):
    # sentiment7's MetaPT SST-5 cell has the same config as Figure 3b's K = 10 point: the runner
    # writes it once (suite sentiment7) and the clusters suite finds it done by its key
    shared = cell("metapt", "sst5", 0, 0.45, key="k-shared")
    other = cell("metapt", "sst5", 0, 0.40, suite="clusters", point={"pretrain.k": 3}, key="k-3")
    manifest = {"cells": [
        {"suite": "sentiment7", "method": "metapt", "task": "sst5", "seed": 0, "point": {}, "key": "k-shared"},
        {"suite": "clusters", "method": "metapt", "task": "sst5", "seed": 0, "point": {"pretrain.k": 10},
         "key": "k-shared"},
        {"suite": "clusters", "method": "metapt", "task": "sst5", "seed": 0, "point": {"pretrain.k": 3},
         "key": "k-3"}]}
    res = load_quiet(write(tmp_path, [shared, other], manifest))
    ks = {g.point.get("pretrain.k"): g.mean for g in res.select(suite="clusters", method="metapt")}
    assert ks == {3: 0.40, 10: 0.45}
    assert res.missing("clusters") == [] and res.missing("sentiment7") == []
    assert [g.mean for g in res.select(suite="sentiment7")] == [0.45]   # not doubled in its own suite
    # without the manifest entry nothing is attributed to another suite
    res = load_quiet(write(tmp_path / "bare", [shared, other]))
    assert {g.point.get("pretrain.k") for g in res.select(suite="clusters")} == {3}


def test_no_manifest_shows_what_exists(tmp_path):
    write(tmp_path, [cell("ft", "sst5", 0, 0.4)])
    res = load_quiet(tmp_path)
    assert res.manifest is None and res.missing() == []
    md = tables.table1(res)
    assert "Missing cells" not in md and "| FT |" in md


def test_table2_and_recall(tmp_path):
    cells = [cell(m, "sst5", s, b + s / 200, suite="clustering")
             for m, b in [("metapt_kmeans", 0.46), ("metapt_lda", 0.44), ("metapt_random", 0.43),
                          ("metapt_label", 0.43), ("ppt", 0.43)] for s in range(3)]
    write(tmp_path, cells + _table1_cells())
    res = load_quiet(tmp_path)
    md2 = tables.table2(res)
    assert "46.24 ± 0.42" in md2 and "42.89 ± 1.08" in md2
    assert "MetaPT K-means vs MetaPT LDA" in md2 and "MetaPT LDA vs PPT" in md2
    assert "equals MetaPT(Y)" in md2
    rec = tables.recall_table(res)
    assert "(paper 0.22)" in rec and "(paper 0.61)" in rec
    assert "terrible" in rec and "great" in rec


def test_empty_results_tables_name_suite(tmp_path):
    write(tmp_path, [])
    res = load_quiet(tmp_path)
    assert "run --suite sentiment7" in tables.table1(res)
    assert "run --suite clustering" in tables.table2(res)


def test_suite_fallback_is_announced(tmp_path):
    write(tmp_path, [cell("ft", "sst5", 0, 0.4, suite="main7")])
    md = tables.table1(load_quiet(tmp_path))
    assert "No cells of suite 'sentiment7'" in md and "'main7'" in md and "| FT |" in md


# -- the algorithms suite ------------------------------------------------------------------------
ALGORITHM_TASKS = ["sst5", "sst2", "semeval16_laptop"]
ALGORITHMS = ["metapt", "metapt_fomaml", "metapt_reptile", "metapt_multitask", "ppt"]


def algorithm_cells(rng, gain, seeds=(0, 1, 2, 3, 4), rows=500, others=ALGORITHMS[1:]):
    """The algorithms suite on its three tasks: multi-task training right on 70 % of the rows;
    Prompt-MAML (metapt) copies it, then gains (or loses) ``gain`` of the rows give or take a
    point per seed; the other methods right on their own 68 % of the rows."""
    out = []
    for task in ALGORITHM_TASKS:
        for s in seeds:
            labels = rng.integers(0, 2, rows)
            base = rng.random(rows) < 0.70
            planted = gain + rng.normal(0, 0.01)
            a_ok = base.copy()
            pool = np.flatnonzero(~base if planted > 0 else base)
            a_ok[rng.choice(pool, int(round(abs(planted) * rows)), replace=False)] = planted > 0
            for m in others:
                ok = base if m == "metapt_multitask" else rng.random(rows) < 0.68
                out.append(with_rows(cell(m, task, s, 0.0, suite="algorithms"), labels, ok, n_classes=2))
            out.append(with_rows(cell("metapt", task, s, 0.0, suite="algorithms"), labels, a_ok, n_classes=2))
    return out


def test_algorithms_table_rows_are_its_methods_columns_its_tasks_and_their_mean(tmp_path):
    write(tmp_path, algorithm_cells(np.random.default_rng(1), 0.05) + _table1_cells())
    res = load_quiet(tmp_path)
    md = tables.algorithms_table(res)
    grid, per_task, across = md_tables(md)[:3]
    assert grid[0] == ["Method", "SST-5", "SST-2", "SemEval-l", "Mean over tasks"]
    assert [r[0] for r in grid[1:]] == ["MetaPT", "MetaPT FOMAML", "MetaPT Reptile", "MetaPT multi-task", "PPT",
                                        "*Majority class (test rows)*"]
    by = {(g.method, g.task): g for g in res.select(suite="algorithms")}
    reptile = grid[3]
    for t, text in zip(ALGORITHM_TASKS, reptile[1:-1]):
        g = by[("metapt_reptile", t)]
        assert text == f"{100 * g.mean:.2f} ± {100 * g.std:.2f}" and g.n == 5
    assert reptile[-1] == f"{statistics.mean(100 * by[('metapt_reptile', t)].mean for t in ALGORITHM_TASKS):.2f}"
    # every other row against multi-task, per task and across the three, with the claims' paired interval
    from reports import evidence
    pairs = {(r[0], r[1]): r for r in per_task[1:]}
    assert len(pairs) == 3 * 4 and all(b.endswith("vs MetaPT multi-task") for _, b in pairs)
    d, _ = evidence.compare(by[("metapt", "sst2")], by[("metapt_multitask", "sst2")])
    row = pairs[("SST-2", "MetaPT vs MetaPT multi-task")]
    assert row[4] == f"{100 * d['diff']:+.1f}" and row[5] == f"[{100 * d['lo']:+.1f}, {100 * d['hi']:+.1f}]"
    assert [r[0] for r in across[1:]] == [f"{m} vs MetaPT multi-task" for m in
                                          ("MetaPT", "MetaPT FOMAML", "MetaPT Reptile", "PPT")]
    assert "the suite's tasks fixed" in md and "the seven tasks" not in md
    assert "Wu et al. 2022" in md and "share MetaPT's meta tasks" in md
    assert "Pre-training protocol: shared" in md            # the cells record no draw: shared
    assert "sentiment7" not in md                          # Table 1's cells are not this table's


def test_algorithms_table_says_which_suite_to_run_and_borrows_no_other_suites_cells(tmp_path):
    # sentiment7 has MetaPT and PPT on these tasks: without multi-task, FOMAML or Reptile it is not this suite
    write(tmp_path, _table1_cells())
    md = tables.algorithms_table(load_quiet(tmp_path))
    assert "run --suite algorithms" in md and "| Method |" not in md


def test_algorithms_table_says_per_seed_protocol(tmp_path):
    cells = algorithm_cells(np.random.default_rng(1), 0.0, seeds=(0, 1))
    for c in cells:
        c["config"] = {"pretrain": {"seed": 0, "draw": "per-seed"}}
    write(tmp_path, cells)
    assert "Pre-training protocol: per-seed: seed s tunes" in tables.algorithms_table(load_quiet(tmp_path))


# -- figures -------------------------------------------------------------------------------------
def _figure_cells(rng, partial=False):
    out = []
    shots = [10, 40, 160] if partial else [10, 20, 40, 80, 160, 320, 640, 1280, 2560]
    methods = [("ft", 0.30), ("metapt", 0.38)] if partial else [("ft", 0.30), ("ppt", 0.33), ("metapt", 0.38)]
    for m, base in methods:
        for i, n in enumerate(shots):
            for s in range(1 if partial else 3):
                out.append(cell(m, "sst5", s, base + 0.02 * i + float(rng.normal(0, 0.01)),
                                suite="shots", point={"n_train": n}))
    for i, rows in enumerate([1000, 10000, 100000] if partial else [1000, 3000, 10000, 100000, 1000000]):
        for s in range(2):
            out.append(cell("metapt", "sst5", s, 0.35 + 0.02 * min(i, 2) + float(rng.normal(0, 0.01)),
                            suite="pretrain-size", point={"pretrain.rows": rows},
                            reductions={"pretrain.rows": {"paper": 1000000, "here": 2000}}))
    for i, k in enumerate([3, 10] if partial else [3, 6, 10, 20, 30]):
        for s in range(2):
            out.append(cell("metapt", "sst5", s, 0.36 + 0.02 * min(i, 2) + float(rng.normal(0, 0.01)),
                            suite="clusters", point={"pretrain.k": k}))
    for i, c in enumerate([1, 4] if partial else [1, 4, 16]):
        for m, base in ([("metapt", 0.36)] if partial else [("metapt", 0.36), ("ppt", 0.38)]):
            for s in range(2):
                out.append(cell(m, "sst5", s, base + 0.01 * i + float(rng.normal(0, 0.01)), suite="meta-compute",
                                point={"pretrain.compute": c}, init={"steps": 24 * c - s}))
    for k in ([3, 10] if partial else [3, 6, 10]):
        centres = rng.normal(0, 10, (k, 2))
        lab = rng.integers(0, k, 300)
        pts = centres[lab] + rng.normal(0, 1.5, (300, 2))
        out.append(cell("tsne", "openwebtext", 0, None, suite="tsne", point={"pretrain.k": k},
                        tsne={"k": k, "points": pts.round(3).tolist(), "assignments": lab.tolist()}))
    for d in range(3):      # the variance figure: a crossed draw x seed grid (draw in the config, as run)
        for s in range(3):
            out.append(cell("ppt", "sst2", s, float(0.6 + 0.04 * (d - 1) + rng.normal(0, 0.01)), suite="variance",
                            point={"pretrain.draw": d}, config={"pretrain": {"seed": 0, "draw": d}}))
    return out


@pytest.mark.parametrize("partial", [False, True])
def test_each_figure_renders(tmp_path, partial):
    write(tmp_path / "res", _figure_cells(np.random.default_rng(1), partial))
    res = load_quiet(tmp_path / "res")
    for name, fn in FIGURES.items():
        paths = fn(res, tmp_path / "out")
        assert {p.suffix for p in paths} == {".png", ".svg"}, name
        for p in paths:
            assert p.exists() and p.stat().st_size > 5000, (name, p)
    if partial:
        svg = (tmp_path / "out" / "fig2.svg").read_text()
        assert "PPT" in svg  # "no results for PPT" in the caption
    else:   # the compute figure's caption: the steps each method took at each point (the median over seeds)
        from reports.figures.meta_compute import steps_note

        assert steps_note(res.select(suite="meta-compute")).endswith(
            "MetaPT meta steps 1x 23.5, 4x 95.5, 16x 383.5; PPT steps 1x 23.5, 4x 95.5, 16x 383.5")


def test_a_figure_redrawn_from_the_same_cells_is_the_same_file(tmp_path):
    """Regenerating the report rewrites every figure; one whose cells did not move must not show
    in a diff (matplotlib stamps an SVG with the time and random element ids unless told not to)."""
    write(tmp_path / "res", _figure_cells(np.random.default_rng(1), False))
    res = load_quiet(tmp_path / "res")
    for name in ("fig2", "fig3b"):
        first = [p.read_bytes() for p in FIGURES[name](res, tmp_path / "a")]
        again = [p.read_bytes() for p in FIGURES[name](res, tmp_path / "b")]
        assert first == again, name


def test_figures_without_data_name_the_suite(tmp_path):
    write(tmp_path, [cell("ft", "sst5", 0, 0.4)])
    res = load_quiet(tmp_path)
    for name, suite in [("fig2", "shots"), ("fig3a", "pretrain-size"), ("fig3b", "clusters"),
                        ("fig4", "tsne"), ("meta_compute", "meta-compute")]:
        with pytest.raises(NoData, match=f"{name}: no results of suite '{suite}'.*"
                                         f"run python -m benchmark run --suite {suite}"):
            FIGURES[name](res, tmp_path / "out")


# -- the plot command ----------------------------------------------------------------------------
def test_plot_command_writes_everything(tmp_path, capsys):
    rng = np.random.default_rng(2)
    write(tmp_path / "res", _table1_cells() + _figure_cells(rng, partial=True))
    (tmp_path / "res" / "cells" / "zz.json").write_text("{not json")
    assert cli.main(["plot", "--results", str(tmp_path / "res")]) == 0
    out = capsys.readouterr().out
    report = tmp_path / "res" / "report"
    for f in ("table1.md", "table2.md", "recall.md", "algorithms.md", "fig2.png", "fig3a.svg", "fig4.png"):
        assert (report / f).exists(), f
        assert f"wrote {report / f}" in out
    assert "warning:" in out and "zz.json" in out
    assert "missing fig" not in out
    assert "missing table2: no results yet" in out  # written anyway, naming the suite to run
    assert "run --suite clustering" in (report / "table2.md").read_text()
    assert "missing algorithms: no results yet" in out and "run --suite algorithms" in (
        report / "algorithms.md").read_text()


def test_plot_only_and_skips(tmp_path, capsys):
    write(tmp_path / "res", _table1_cells())
    assert cli.main(["plot", "--results", str(tmp_path / "res"), "--out", str(tmp_path / "o"),
                     "--only", "table1,fig2"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "o" / "table1.md").exists() and not (tmp_path / "o" / "table2.md").exists()
    assert "missing fig2: no results of suite 'shots'" in out


def test_plot_errors(tmp_path, capsys):
    assert cli.main(["plot", "--results", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    write(tmp_path / "res", [])
    assert cli.main(["plot", "--results", str(tmp_path / "res"), "--only", "fig9"]) == 2
    assert "unknown report 'fig9'" in capsys.readouterr().err
    from benchmark.commands import plot

    class A:
        results, out, only, profile, backbone = str(tmp_path / "nope"), None, None, None, None
    with pytest.raises(UserError):
        plot.run(A())


def test_flat_provenance_and_config_reductions(tmp_path):
    """The DESIGN.md layout: one flat provenance record, reductions inside the config."""
    c = cell("ppt", "sst5", 0, 0.4, flat=True)
    c["config"] = {"reductions": {"maml.steps": "20000 -> 50"}}
    del c["reductions"]
    write(tmp_path, [c])
    res = load_quiet(tmp_path)
    (g,) = res.select()
    assert g.standin and g.provenance["source"] == "standin"
    md = tables.table1(res)
    assert "SST-5 (stand-in: synthetic test snippets)" in md and "maml.steps: 20000 -> 50" in md


def test_pretraining_standin_named_in_note(tmp_path):
    c = cell("metapt_y", "sst2", 0, 0.8, standin=False)
    c["provenance"]["yelp5"] = {"task": "yelp5", "source": "standin", "standin_for": "Yelp-5",
                                "title": "Yelp-5 stand-in: synthetic restaurant lines"}
    write(tmp_path, [c])
    md = tables.table1(load_quiet(tmp_path))
    assert "| SST-2 | MetaPT(Y) |" in md  # the downstream data are the paper's
    assert "Yelp-5 ← synthetic restaurant lines" in md


def test_table_notes_say_how_each_shared_prompt_was_trained(tmp_path):
    """One line per pre-trained / meta-learned prompt, and it says so when the initial prompt was kept
    (a version-1 artefact could be: then 'MetaPT' is tuning from a random prompt)."""
    meta = {"artifact": "metapt-prompt/aaaa", "steps": 8, "best_step": 4, "best_val_accuracy": 0.45,
            "initial_val_accuracy": 0.25, "validations": [[0, 0.25], [4, 0.45], [8, 0.3]]}
    old_ppt = {"artifact": "ppt-prompt/bbbb", "steps": 76, "best_step": 0, "best_val_accuracy": 0.39,
               "initial_val_accuracy": 0.39, "validations": [[0, 0.39], [40, 0.27]]}
    cells = [cell("metapt", t, s, 0.5, init=meta) for t in ("sst5", "sst2") for s in (0, 1)]
    cells += [cell("ppt", "sst5", s, 0.4, init=old_ppt) for s in (0, 1)] + [cell("ft", "sst5", 0, 0.3)]
    write(tmp_path, cells)
    md = tables.table1(load_quiet(tmp_path))
    assert md.count("`metapt-prompt/aaaa`") == 1 and md.count("`ppt-prompt/bbbb`") == 1
    assert "metapt: `metapt-prompt/aaaa`, 8 steps, kept step 4; validation 0.250 → 0.450" in md
    assert "ppt: `ppt-prompt/bbbb`, 76 steps, kept **the initial prompt**; validation 0.390 → 0.390" in md


def test_table_notes_name_the_draw_of_each_per_seed_prompt(tmp_path):
    """Under per-seed pre-training each seed tunes from its own prompt: the note names whose it is
    (draw = seed), where one artefact line per prompt would otherwise be five anonymous lines."""
    def init(seed):
        return {"artifact": f"ppt-prompt/d{seed}", "steps": 10, "best_step": 10, "best_val_accuracy": 0.6,
                "initial_val_accuracy": 0.3, "validations": [[0, 0.3], [10, 0.6]]}
    per_seed = {"pretrain": {"seed": 0, "draw": "per-seed"}}
    cells = [cell("ppt", "sst5", s, 0.4, init=init(s), config=per_seed) for s in (0, 1, 2)]
    cells += [cell("ft", "sst5", s, 0.3) for s in (0, 1, 2)]
    write(tmp_path, cells)
    md = tables.table1(load_quiet(tmp_path))
    for s in (0, 1, 2):
        assert f"ppt, draw {s}: `ppt-prompt/d{s}`, 10 steps" in md


def test_line_figures_draw_the_majority_class_of_each_points_test_rows(tmp_path):
    """Labels 0,0,0,1,2 at n_train 10 (majority 60 %) and 0,1,1,1,1 at 40 (80 %): the reference line
    has one value per point; with no saved labels there is no line (and no made-up one)."""
    from reports.figures._common import majority_line

    cells = []
    for n, labels in ((10, [0, 0, 0, 1, 2]), (40, [0, 1, 1, 1, 1])):
        for m in ("ft", "metapt"):
            for s in (0, 1):
                cells.append(with_rows(cell(m, "sst5", s, 0.0, suite="shots", point={"n_train": n}),
                                       labels, [s == 0] * 5))
    write(tmp_path / "res", cells)
    groups = load_quiet(tmp_path / "res").select(suite="shots")
    xs, ms = majority_line(groups, ("n_train", "shots"))
    assert xs == [10, 40] and ms == pytest.approx([60.0, 80.0])
    FIGURES["fig2"](load_quiet(tmp_path / "res"), tmp_path / "out")
    assert "majority class" in (tmp_path / "out" / "fig2.svg").read_text()
    write(tmp_path / "bare", [cell("ft", "sst5", 0, 0.4, suite="shots", point={"n_train": 10})])
    assert majority_line(load_quiet(tmp_path / "bare").select(suite="shots"), "n_train") is None


def _shared_init(rows_asked, rows_used):
    return {"artifact": f"metapt-prompt/{rows_asked}", "pretrain_rows": rows_used}


def test_fig3a_places_each_point_at_the_rows_used_and_names_the_request_in_the_caption(tmp_path):
    from reports.figures._common import series
    from reports.figures.fig3a import AXIS, requested_to_used, x_used

    used = {1000: 933, 3000: 2206, 10000: 2401}
    cells = [with_rows(cell("metapt", "sst5", s, 0.0, suite="pretrain-size", point={"pretrain.rows": r},
                            init=_shared_init(r, u)), [0, 1, 2, 0, 1], [True, s == 0, True, False, True])
             for r, u in used.items() for s in (0, 1)]
    write(tmp_path / "res", cells)
    res = load_quiet(tmp_path / "res")
    groups = res.select(suite="pretrain-size")
    xs = series(groups, AXIS, x_used)["metapt"][0]
    assert xs == [933, 2206, 2401]
    assert requested_to_used(groups) == "1,000 → 933, 3,000 → 2,206, 10,000 → 2,401"
    FIGURES["fig3a"](res, tmp_path / "out")
    svg = (tmp_path / "out" / "fig3a.svg").read_text()
    assert "pre-training rows used" in svg and "2,401" in svg and "10,000 → 2,401" in svg
    assert "<!-- 10,000 -->" not in svg          # no tick at a requested count


def test_fig3a_falls_back_to_the_rows_requested_and_says_so_when_a_cell_lacks_its_rows_used(tmp_path):
    cells = [cell("metapt", "sst5", 0, 0.3 + r / 1e5, suite="pretrain-size", point={"pretrain.rows": r},
                  init=_shared_init(r, min(r, 335)) if r != 3000 else {})
             for r in (100, 1000, 3000)]
    write(tmp_path / "res", cells)
    FIGURES["fig3a"](load_quiet(tmp_path / "res"), tmp_path / "out")
    svg = (tmp_path / "out" / "fig3a.svg").read_text()
    assert "pre-training rows requested" in svg and "not every cell records the rows it used" in svg


def test_fig2_caption_names_its_one_task_the_step_budget_and_where_the_axis_stops(tmp_path):
    """A sentiment7 cell reused as the 40-example point records every task of its run: the caption
    still names SST-5 alone, says the budget binds from 40 examples on, and that 320 is the cap."""
    from reports.figures._common import footer, range_note
    from reports.figures.fig2 import AXIS, budget_note

    cells = []
    for n, budget, epochs in ((10, 30, 10.0), (40, 100, 10.0), (160, 100, 2.5), (320, 100, 1.25)):
        for m in ("ft", "metapt"):
            c = cell(m, "sst5", 0, 0.4, suite="shots", point={"n_train": n},
                     config={"axis_limits": {"n_train": 320}},
                     train={"budget": budget, "epochs": epochs if m == "ft" else epochs / 2},
                     reductions={"n_train": {"paper": 40, "here": n}, "tune.max_steps": {"paper": None, "here": 100}})
            if n == 40:
                c["provenance"]["sst2"] = dict(c["provenance"]["sst5"], task="sst2", standin_for="SST-2")
            cells.append(c)
    write(tmp_path / "res", cells)
    groups = load_quiet(tmp_path / "res").select(suite="shots")
    assert budget_note(groups) == ("every cell trains at most 100 steps: from 40 examples on this fixed budget "
                                   "binds (1.25 epochs at 320), so more examples bring no more training steps, "
                                   "which flattens the curves")
    assert range_note(groups, AXIS, "fig2", "training examples stop") == (
        "training examples stop at 320 (the profile's cap); paper: 10 to 2,560")
    text = footer(groups, "x", axes=AXIS).replace("\n", " ")
    assert "not the paper's: SST-5 ·" in text and "SST-2" not in text
    assert "1 other setting differs" in text     # tune.max_steps; n_train is the axis, not four settings
    FIGURES["fig2"](load_quiet(tmp_path / "res"), tmp_path / "out")
    svg = (tmp_path / "out" / "fig2.svg").read_text()
    assert "One task, SST-5" in svg and "at most 100 steps" in svg


def test_fig3b_says_k_stops_at_the_profiles_cap(tmp_path):
    from reports.figures._common import range_note
    from reports.figures.fig3b import AXIS

    write(tmp_path, [cell("metapt", "sst5", 0, 0.4, suite="clusters", point={"pretrain.k": k},
                          config={"axis_limits": {"pretrain.k": 20}}) for k in (3, 10, 20)])
    groups = load_quiet(tmp_path).select(suite="clusters")
    assert range_note(groups, AXIS, "fig3b", "K stops") == "K stops at 20 (the profile's cap); paper: 3 to 30"
    short = [g for g in groups if g.point["pretrain.k"] < 20]
    assert range_note(short, AXIS, "fig3b", "K stops") == (
        "K stops at 10 (the suite's last point; the profile allows 20); paper: 3 to 30")


def test_cells_scored_on_other_test_rows_are_never_paired(tmp_path):
    """A per-seed-test-rows cell (results format 1) beside a fixed-test-rows one: same task and
    seed, other rows. They are refused with a note, not paired on the rows they happen to share."""
    labels = [0, 1] * 10
    a = with_rows(cell("metapt", "sst5", 0, 0.0), labels, [1] * 20)
    b = with_rows(cell("ppt", "sst5", 0, 0.0), labels, [0] * 20)
    b["split"] = {"test": [f"r{i}" for i in range(5, 25)]}       # 15 rows shared, 5 not
    write(tmp_path, [a, b])
    md = tables.table1(load_quiet(tmp_path))
    assert "MetaPT vs PPT: not computed, the two methods' cells were scored on different test rows (seed 0)" in md


def test_spread_between_seeds_is_pooled_over_tasks_by_hand(tmp_path):
    """PT at seeds 0-2 on SST-5 (40, 45, 47 %) and seeds 0-1 on SST-2 (80, 84 %), 100 test rows each:
    pooled SD sqrt((SS_sst5 + SS_sst2) / (2 + 1)); test-row part sqrt(mean a (1 - a) / 100)."""
    accs = {"sst5": [0.40, 0.45, 0.47], "sst2": [0.80, 0.84]}
    cells = []
    for task, values in accs.items():
        for s, a in enumerate(values):
            right = int(round(100 * a))
            cells.append(with_rows(cell("pt", task, s, a), [0] * 100, [1] * right + [0] * (100 - right)))
    write(tmp_path, cells)
    md = tables.table1(load_quiet(tmp_path))
    ss = sum(float(((np.array(v) - np.mean(v)) ** 2).sum()) for v in accs.values())
    binom = [a * (1 - a) / 100 for v in accs.values() for a in v]
    row = (f"| PT | 2 | 3 | {100 * math.sqrt(ss / 3):.1f} | {100 * math.sqrt(sum(binom) / len(binom)):.1f} | — |")
    assert "## Spread between seeds" in md and row in md


DRAW_NOTES = {"balanced": "are class-balanced", "random": "drawn at random (`few_shot: random`)",
              "mixed": "mix class-balanced and random few-shot draws"}


@pytest.mark.parametrize("draws, which", [((None, None), "balanced"), (("random", "random"), "random"),
                                          ((None, "random"), "mixed")])
def test_imbalance_note_names_the_few_shot_draw_the_cells_used(tmp_path, draws, which):
    """The macro-F1 note explains accuracy's bias by the draw the cells really used (a cell without
    the setting is a balanced one), not by the cpu profile's default."""
    labels = [0] * 8 + [1, 2]                                   # majority 80 % > 1.5 / 3
    cells = []
    for seed, draw in enumerate(draws):
        c = with_rows(cell("ft", "sst5", seed, 0.0), labels, [1] * 6 + [0] * 4, n_classes=3)
        c["config"] = {} if draw is None else {"few_shot": draw}
        cells.append(c)
    md = tables.table1(load_quiet(write(tmp_path, cells)))
    note = next(line for line in md.splitlines() if line.startswith("**Imbalanced test rows"))
    assert [k for k, text in DRAW_NOTES.items() if text in note] == [which]
