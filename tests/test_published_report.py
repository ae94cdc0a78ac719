"""The published report is exactly what `plot` makes from the published cells.

``docs/results`` holds the finished cells of the runs the README quotes (``python -m benchmark
publish``); ``docs/report`` holds the tables and claims made from them. A reader of a clone can
regenerate the report and get the same text, so no published number exists without its cells.
"""
from __future__ import annotations

import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results"
REPORT = ROOT / "docs" / "report"


def test_published_report_equals_what_plot_makes_from_the_published_cells(tmp_path):
    from benchmark import cli

    assert (RESULTS / "cells").is_dir() and any((RESULTS / "cells").glob("*.json")), \
        "docs/results/cells is empty: publish the cells the README quotes (python -m benchmark publish)"
    assert cli.main(["plot", "--results", str(RESULTS), "--out", str(tmp_path)]) == 0
    made = sorted(p.name for p in tmp_path.glob("*.md"))
    assert made, "plot wrote no Markdown"
    for name in made:
        committed = REPORT / name
        assert committed.exists(), f"docs/report/{name} is missing"
        assert committed.read_text() == (tmp_path / name).read_text(), (
            f"docs/report/{name} is not what plot makes from docs/results; regenerate it with "
            "python -m benchmark plot --results docs/results --out docs/report")


def test_published_cells_carry_no_path_of_the_machine_that_ran_them():
    for path in (RESULTS / "cells").glob("*.json"):
        text = path.read_text()
        for marker in ("/root/", "/home/", "/tmp/", "/work/", "\\\\Users\\\\"):
            assert marker not in text, f"{path.name} holds a machine path ({marker})"
