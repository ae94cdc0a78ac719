"""``python -m benchmark compare FIRST SECOND``: did a change move the results?

Run a change into its own results folder (``run --results SECOND``, with ``--set``, another commit or
another protocol), then compare it with the folder it changes: every cell of both at the same place
(suite, method, task, seed, point) on the same test rows is paired, and each method's mean over tasks
moves by ``second - first`` with a 95 % interval paired over seeds (reports/compare.py). Cells with
one key in both are one computation and are counted, not compared.
"""
from __future__ import annotations

import pathlib
import sys

from benchmark.errors import UserError

HELP = "pair the cells of two results folders and say, per method, how far the second moved from the first"


def add_arguments(parser) -> None:
    parser.add_argument("first", type=pathlib.Path, metavar="FIRST", help="the reference results folder")
    parser.add_argument("second", type=pathlib.Path, metavar="SECOND", help="the results folder of the change")
    parser.add_argument("--suite", help="compare only this suite's cells (default: every suite both hold)")
    parser.add_argument("--methods", help="comma-separated methods to compare (default: all)")
    parser.add_argument("--protocol", choices=["shared", "per-seed"], default=None,
                        help="read only cells of this pre-training protocol in both folders (default: per suite, "
                             "per-seed where a suite holds both, as plot reads it)")
    parser.add_argument("--report", type=pathlib.Path, metavar="PATH",
                        help="also write the comparison as PATH.md and PATH.json")


def finished(root: pathlib.Path, suite: str | None, methods: list | None, protocol: str | None = None) -> list[dict]:
    """The finished cells a results folder lists (its manifest, where it has one), or a UserError."""
    from benchmark import runner
    from reports import results

    if not (root / "cells").is_dir():
        raise UserError(f"{root} is not a results folder (no cells/ in it); pass the folder given to "
                        "`python -m benchmark run --results`")
    cells = [rec for rec in runner.listed_cells(root)
             if rec.get("status") == "done" and "test" in rec and (suite is None or rec.get("suite") == suite)
             and (methods is None or rec.get("method") in methods)]
    # one protocol per suite, as plot reads it: two cells at one place would otherwise pair by file order
    cells, _, mixed = results.one_protocol(cells, protocol, root)
    for line in mixed.values():
        print(f"note: {line}", file=sys.stderr)
    return cells


def run(args) -> int:
    import json

    from benchmark.io import write_json
    from reports import compare

    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    first, second = (finished(p.expanduser(), args.suite, methods, args.protocol) for p in (args.first, args.second))
    what = " of suite " + args.suite if args.suite else ""
    for name, cells in ((args.first, first), (args.second, second)):
        if not cells:
            raise UserError(f"{name} holds no finished cells{what}" + (f" of methods {args.methods}" if methods else "")
                            + "; `python -m benchmark status --results DIR` lists a folder's cells")
    result = compare.compare(first, second)
    if not result["rows"]:
        raise UserError(f"{args.first} and {args.second} share no place (suite, method, task, seed, point){what}: "
                        "nothing to pair")
    text = compare.markdown(result, str(args.first), str(args.second))
    sys.stdout.write(text)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.with_suffix(".md").write_text(f"# {args.second} against {args.first}\n\n" + text)
        write_json(args.report.with_suffix(".json"), json.loads(json.dumps(result, default=str)))
    return 0
