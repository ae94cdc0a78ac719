"""Regenerate the golden smoke accuracies: `python tests/golden/make_golden.py`.

Only with a stated reason in the commit (a change of the algorithm, the data draw or a pinned
version); the regression test exists to catch silent changes.

Like the test, it runs both suites in one fresh cache (only the fetched assets shared), so the
margins it records include the decisions made while building the shared artefacts.
"""
import json
import os
import pathlib
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
_CACHE = pathlib.Path(os.environ.get("METAPT_CACHE") or pathlib.Path.home() / ".cache" / "metapt-bench")
_FRESH = tempfile.mkdtemp(prefix="metapt-golden-")
for _sub in ("assets", "downloads", "models", "data"):
    if (_CACHE / _sub).exists():
        os.symlink(_CACHE / _sub, pathlib.Path(_FRESH) / _sub)
os.environ["METAPT_CACHE"] = _FRESH

from benchmark.runner import versions  # noqa: E402
from test_regression import SMOKE_RUNS, accuracies, run_smoke  # noqa: E402

if __name__ == "__main__":
    for golden, (suite, tasks) in SMOKE_RUNS.items():
        with tempfile.TemporaryDirectory() as tmp:
            margins = []
            cells, counts = run_smoke(suite, tasks, pathlib.Path(tmp), margins=margins)
            table = accuracies(cells, pathlib.Path(tmp))
        path = pathlib.Path(__file__).parent / golden
        path.write_text(json.dumps({"suite": suite, "profile": "smoke", "tasks": tasks,
                                    "made_with": {k: versions()[k] for k in ("torch", "transformers")},
                                    "dtype": "float64", "min_margin": round(min(margins), 9),
                                    "decisions": len(margins), "accuracy": table}, indent=1, sort_keys=True) + "\n")
        print(f"wrote {path} ({len(table)} cells; {len(margins)} decisions, smallest margin {min(margins):.3g})")
