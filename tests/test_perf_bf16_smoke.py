"""bf16 must not change what the smoke suite reports beyond a stated tolerance.

The smoke sentiment7 subset (tiny random decoder, registry stand-in data, 24 test rows per cell) is
run with ``bf16=true`` (frozen linear weights stored in bf16, autocast, prompt/loss/optimiser in
float32) and compared with the golden accuracies (float64, which float32 differs from only by
rounding): the mean accuracy over all cells may move by at most ``MEAN_TOL`` and a single cell by at
most ``CELL_TOL`` (3 of its 24 test rows).
"""
from __future__ import annotations

import json

import pytest

from test_regression import GOLDEN, accuracies

MEAN_TOL = 0.03
CELL_TOL = 0.125


def _run(suite, tasks, out, overrides):
    from benchmark import config, runner

    cfg = config.apply_overrides(config.load_profile("smoke"), overrides)
    cells = runner.expand(suite, cfg, tasks=tasks)
    runner.prepare_results_dir(out)
    runner.write_manifest(out, suite, cells, cfg)
    counts = runner.run_cells(cells, out, progress=False)
    return cells, counts


@pytest.mark.assets
def test_bf16_smoke_accuracy_within_tolerance_of_fp32(standin_cache, tmp_path):  # noqa: F811
    cells, counts = _run("sentiment7", ["sst2", "semeval16_laptop"], tmp_path, ["bf16=true", "dtype=float32"])
    assert counts["failed"] == 0
    got = accuracies(cells, tmp_path)
    want = json.loads((GOLDEN / "smoke_sentiment7.json").read_text())["accuracy"]
    assert set(got) == set(want)
    diffs = {k: got[k] - want[k] for k in want}
    mean = sum(diffs.values()) / len(diffs)
    worst = max(diffs, key=lambda k: abs(diffs[k]))
    print(f"bf16 vs fp32 smoke accuracy: mean difference {mean:+.4f}, worst {worst} {diffs[worst]:+.4f}")
    assert abs(mean) <= MEAN_TOL, diffs
    assert abs(diffs[worst]) <= CELL_TOL, diffs
