"""`python -m benchmark status`: what is done, failed and missing in a results directory."""
from __future__ import annotations

import collections
import pathlib
import sys

from benchmark import paths
from benchmark.commands._common import add_results_option
from benchmark.errors import UserError
from benchmark.io import CorruptCacheEntry, read_json

HELP = "show what is done, failed and missing in a results directory"


def add_arguments(parser) -> None:
    add_results_option(parser)


def _user_mark(task: str) -> str:
    """' (user)' for a task the user declared (METAPT_TASKS_PATH or a YAML path): no paper number exists."""
    from benchmark import data

    try:
        return " (user)" if data.get_task(task).user else ""
    except UserError:
        return " (not registered now)"


def _report(out: pathlib.Path) -> dict:
    """Print done / failed / missing per suite, and how the done cells' training went; return the counts."""
    from baselines import reads_a_draw
    from baselines.base import EARLY_FRACTION, train_diagnostics
    from benchmark.runner import read_cell
    from reports.results import protocol

    try:
        manifest = read_json(out / "manifest.json")
    except (FileNotFoundError, CorruptCacheEntry):
        raise UserError(f"{out} has no manifest.json: not a results directory written by `benchmark run`")
    suites: dict = {}
    for entry in manifest["cells"]:
        counts = suites.setdefault(entry.get("suite", "?"), {"done": 0, "failed": 0, "missing": 0, "lines": [],
                                                             "tasks": {}})
        counts["tasks"].setdefault(entry["task"], [0, 0])[1] += 1
        result = read_cell(out / "cells" / f"{entry['key']}.json")
        point = ",".join(f"{k}={v}" for k, v in (entry.get("point") or {}).items())
        name = f"{entry['method']}/{entry['task']}/seed{entry['seed']}" + (f"/{point}" if point else "")
        if result is None:
            counts["missing"] += 1
            counts["lines"].append(f"  missing  {name}")
        elif result.get("status") == "failed":
            counts["failed"] += 1
            counts["lines"].append(f"  FAILED   {name}: {result.get('error')}")
        else:
            counts["done"] += 1
            counts["tasks"][entry["task"]][0] += 1
            if reads_a_draw(entry["method"]):
                drawn = counts.setdefault("protocols", collections.Counter())
                drawn[protocol(result)] += 1
            if (result.get("train") or {}).get("best_step") is not None:
                diag = train_diagnostics(result["train"], result.get("config"), entry["method"])
                d = counts.setdefault("training", {}).setdefault(entry["method"], [0, 0, 0])
                d[0] += 1
                d[1] += bool(diag["kept_initial"])
                d[2] += bool(diag["best_early"])
    print(f"results: {out}")
    for suite, c in suites.items():
        total = c["done"] + c["failed"] + c["missing"]
        print(f"suite {suite}: {c['done']} done, {c['failed']} failed, {c['missing']} missing of {total}")
        print("  tasks: " + ", ".join(f"{t}{_user_mark(t)} {d}/{n}" for t, (d, n) in c["tasks"].items()))
        if c.get("protocols"):
            both = len(c["protocols"]) > 1
            print("  pre-training of the done cells with a pre-trained prompt: "
                  + ", ".join(f"{n} {p}" for p, n in sorted(c["protocols"].items(), reverse=True))
                  + (" (plot and compare read the per-seed ones)" if both else ""))
        if c.get("training"):
            print(f"  training of the done cells (kept its initial prompt or weights; best within the first "
                  f"{int(100 * EARLY_FRACTION)} % of its budget):")
            for m, (n, k, e) in c["training"].items():
                print(f"    {m:14s} kept its start {k:3d} of {n:3d}   best early {e:3d} of {n:3d}")
        for line in c["lines"]:
            print(line)
    return suites


def run(args) -> int:
    out = (args.results or paths.sub("results")).expanduser()
    if not out.exists():
        raise UserError(f"results directory {out} does not exist")
    if not (out / "manifest.json").exists() and not args.results:
        print("no results yet; run `python -m benchmark run --suite sentiment7`", file=sys.stderr)
        return 0
    _report(out)
    return 0
