"""The published report is exactly what `plot` makes from the published cells.

``docs/results`` holds the finished cells of the runs the README quotes (``python -m benchmark
publish``); ``docs/report`` holds the tables and claims made from them. A reader of a clone can
regenerate the report and get the same text, so no published number exists without its cells.
"""
from __future__ import annotations

import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results"
REPORT = ROOT / "docs" / "report"
ARCHIVE = ROOT / "docs" / "archive" / "per-seed-test-rows"     # the run quoted before fixed test rows
ARCHIVE2 = ROOT / "docs" / "archive" / "partial-windows"    # fixed test rows, 2 seeds, partial smoothing windows
PUBLISHED = [(RESULTS, REPORT), (ARCHIVE / "results", ARCHIVE / "report"),
             (ARCHIVE2 / "results", ARCHIVE2 / "report")]


@pytest.mark.parametrize("results,report", PUBLISHED, ids=["current", "archive-per-seed-test-rows", "archive-partial-windows"])
def test_published_report_equals_what_plot_makes_from_the_published_cells(results, report, tmp_path):
    from benchmark import cli

    cells_at, report_at = results.relative_to(ROOT), report.relative_to(ROOT)
    assert (results / "cells").is_dir() and any((results / "cells").glob("*.json")), \
        f"{cells_at}/cells is empty: publish the cells the README quotes (python -m benchmark publish)"
    assert cli.main(["plot", "--results", str(results), "--out", str(tmp_path)]) == 0
    made = sorted(p.name for p in tmp_path.glob("*.md"))
    assert made, "plot wrote no Markdown"
    for name in made:
        committed = report / name
        assert committed.exists(), f"{report_at}/{name} is missing"
        assert committed.read_text() == (tmp_path / name).read_text(), (
            f"{report_at}/{name} is not what plot makes from {cells_at}; regenerate it with "
            f"python -m benchmark plot --results {cells_at} --out {report_at}")


def test_published_cells_carry_no_path_of_the_machine_that_ran_them():
    for path in [*(RESULTS / "cells").glob("*.json"), *(ARCHIVE / "results" / "cells").glob("*.json")]:
        text = path.read_text()
        for marker in ("/root/", "/home/", "/tmp/", "/work/", "\\\\Users\\\\"):
            assert marker not in text, f"{path.name} holds a machine path ({marker})"
