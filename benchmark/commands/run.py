"""`python -m benchmark run --suite NAME`: run a suite's cells, skipping those already done."""
from __future__ import annotations

import logging
import sys
import time

from benchmark import config as config_mod
from benchmark.commands._common import add_profile_options, print_reductions, resolve_profile, results_dir
from benchmark.errors import UserError

HELP = "run a suite (cells already done in the results directory are skipped)"
EXECUTORS = ("local", "ray")


def add_arguments(parser) -> None:
    parser.add_argument("--suite", required=True, help=f"one of: {', '.join(config_mod.list_suites())}")
    add_profile_options(parser)
    parser.add_argument("--tasks", help="comma-separated subset of the suite's tasks")
    parser.add_argument("--methods", help="comma-separated subset of the suite's methods")
    parser.add_argument("--executor", default="local", help=f"one of: {', '.join(EXECUTORS)} (default local)")
    parser.add_argument("--address", help="Ray cluster address for --executor ray: auto or HOST:PORT")
    parser.add_argument("--dry-run", action="store_true", help="list the cells and exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens to the terminal too")


def _split(text):
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def run(args) -> int:
    from benchmark import runner

    if args.executor not in EXECUTORS:
        raise UserError(f"unknown executor {args.executor!r}; valid executors: {', '.join(EXECUTORS)}")
    if args.address and args.executor != "ray":
        raise UserError("--address is only meaningful with --executor ray")
    logging.basicConfig(format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger().handlers[0].setLevel(logging.INFO if args.verbose else logging.WARNING)
    for name in ("benchmark", "baselines", "tasksets"):   # INFO goes to each cell's log file
        logging.getLogger(name).setLevel(logging.INFO)
    cfg = resolve_profile(args)
    cells = runner.expand(args.suite, cfg, tasks=_split(args.tasks), methods=_split(args.methods))
    if not cells:
        raise UserError(f"suite {args.suite!r} has no cells for tasks={args.tasks} methods={args.methods}")
    out = results_dir(args, args.suite)
    print(f"suite: {args.suite}: {len(cells)} cells "
          f"({len({c.method for c in cells})} methods x {len({c.task for c in cells})} tasks x "
          f"{len({c.seed for c in cells})} seeds x {len({str(c.point) for c in cells})} points)", file=sys.stderr)
    print(f"backbone: {cfg['backbone']}  data: {cfg['data_source']}  device: {cfg['device']}  bf16: {cfg['bf16']}",
          file=sys.stderr)
    if cfg["data_source"] != "paper":
        print("data: registry STAND-INS for the paper's datasets (results are not comparable to the paper's "
              "numbers as such; every result file and table says so)", file=sys.stderr)
    print_reductions(cfg)
    if args.dry_run:
        for cell in cells:
            print(f"{runner.cell_status(out, cell):8s} {cell.key} {cell.describe()}")
        return 0
    runner.prepare_results_dir(out)
    runner.write_manifest(out, args.suite, cells, cfg)
    print(f"results: {out}", file=sys.stderr)
    start = time.time()
    if args.executor == "ray":
        from benchmark.executors import ray_executor

        counts = ray_executor.run_cells(cells, out, address=args.address or "auto")
    else:
        counts = runner.run_cells(cells, out, progress=not args.no_progress)
    print(f"finished in {time.time() - start:.0f} s: {counts['done']} run, {counts['skipped']} already done, "
          f"{counts['failed']} failed", file=sys.stderr)
    if counts["failed"]:
        print("failed cells are listed by `python -m benchmark status`; rerun the same command to retry them",
              file=sys.stderr)
    return 1 if counts["failed"] else 0
