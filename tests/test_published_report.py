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
ARCHIVE3 = ROOT / "docs" / "archive" / "shared-draw"    # one pre-training draw shared by every seed
PUBLISHED = [(RESULTS, REPORT), (ARCHIVE / "results", ARCHIVE / "report"),
             (ARCHIVE2 / "results", ARCHIVE2 / "report"), (ARCHIVE3 / "results", ARCHIVE3 / "report")]


@pytest.mark.parametrize("results,report", PUBLISHED,
                         ids=["current", "archive-per-seed-test-rows", "archive-partial-windows",
                              "archive-shared-draw"])
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


def test_published_table1_opens_with_the_papers_grid():
    """A reader meets Table 1 as the paper prints it: methods as rows, the seven tasks and their mean
    as columns, the majority class last; the long per-cell table comes after it."""
    from reports import paper

    text = (REPORT / "table1.md").read_text()
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("|"))
    header = [x.strip().rstrip(" †") for x in lines[first].strip("|").split("|")]
    tasks = [paper.task_title(t) for t in paper.numbers()["table1"]["tasks"]]
    assert header == ["Method"] + tasks + ["Mean over tasks"]
    rows = [line.split("|")[1].strip() for line in lines[first + 2:] if line.startswith("|")][:6]
    assert rows == ["FT", "PT", "PPT", "MetaPT", "MetaPT(Y)", "*Majority class (test rows)*"]
    assert text.index("## Per cell") > first and "| Task | Method |" in text


def test_published_figures_say_what_they_plot():
    """Fig. 3a is drawn at the rows used (requested in the caption); Fig. 2 names its one task and
    the step budget; Fig. 3b says where K stops."""
    fig3a = (REPORT / "fig3a.svg").read_text()
    assert "pre-training rows used" in fig3a and "1,000 → 933" in fig3a and "<!-- 1,000 -->" not in fig3a
    fig2 = (REPORT / "fig2.svg").read_text()
    assert "One task, SST-5" in fig2 and "at most 100 steps" in fig2 and "SemEval" not in fig2
    assert "K stops at 20 (the profile's cap)" in (REPORT / "fig3b.svg").read_text()
