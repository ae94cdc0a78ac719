"""`python -m benchmark status`: what is done, failed and missing in a results directory."""
from __future__ import annotations

import pathlib
import sys

from benchmark import paths
from benchmark.errors import UserError
from benchmark.io import CorruptCacheEntry, read_json

HELP = "show what is done, failed and missing in a results directory"


def add_arguments(parser) -> None:
    parser.add_argument("--out", type=pathlib.Path, help="results directory (default: every suite under "
                                                         "<cache>/results)")
    parser.add_argument("--suite", help="results of this suite under <cache>/results")


def _report(out: pathlib.Path) -> tuple[int, int, int]:
    from benchmark.runner import read_cell

    try:
        manifest = read_json(out / "manifest.json")
    except (FileNotFoundError, CorruptCacheEntry):
        raise UserError(f"{out} has no manifest.json: not a results directory written by `benchmark run`")
    done = failed = missing = 0
    lines = []
    for entry in manifest["cells"]:
        result = read_cell(out / "cells" / f"{entry['key']}.json")
        point = ",".join(f"{k}={v}" for k, v in (entry.get("point") or {}).items())
        name = f"{entry['method']}/{entry['task']}/seed{entry['seed']}" + (f"/{point}" if point else "")
        if result is None:
            missing += 1
            lines.append(f"  missing  {name}")
        elif result.get("status") == "failed":
            failed += 1
            lines.append(f"  FAILED   {name}: {result.get('error')}")
        else:
            done += 1
    print(f"{out}: suite {manifest.get('suite')}, profile {manifest.get('profile')}: "
          f"{done} done, {failed} failed, {missing} missing of {len(manifest['cells'])}")
    for line in lines:
        print(line)
    return done, failed, missing


def run(args) -> int:
    if args.out:
        dirs = [args.out]
    else:
        root = paths.sub("results")
        dirs = [root / args.suite] if args.suite else sorted(p for p in root.iterdir() if (p / "manifest.json").exists())
    if not dirs:
        print("no results yet; run `python -m benchmark run --suite sentiment7`", file=sys.stderr)
        return 0
    for out in dirs:
        if not out.exists():
            raise UserError(f"results directory {out} does not exist")
        _report(out)
    return 0
