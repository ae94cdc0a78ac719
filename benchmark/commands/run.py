"""`python -m benchmark run --suite NAME`: run a suite's cells, skipping those already done."""
from __future__ import annotations

import logging
import shlex
import sys
import time

from benchmark import config as config_mod
from benchmark.commands._common import (
    add_profile_options,
    add_results_option,
    cell_settings,
    print_reductions,
    resolve_profile,
    results_dir,
)
from benchmark.errors import UserError
from benchmark.executors import EXECUTORS

HELP = "run a suite (cells already done in the results directory are skipped)"


def add_arguments(parser) -> None:
    parser.add_argument("--suite", required=True, help=f"one of: {', '.join(config_mod.list_suites())}")
    add_profile_options(parser)
    add_results_option(parser)
    parser.add_argument("--tasks", help="comma-separated subset of the suite's tasks")
    parser.add_argument("--methods", help="comma-separated subset of the suite's methods")
    parser.add_argument("--executor", default="local", help=f"one of: {', '.join(EXECUTORS)} (default local)")
    parser.add_argument("--address", help="Ray cluster for --executor ray: auto (the running cluster) or HOST:PORT; "
                                             "left out, a local cluster is started")
    parser.add_argument("--dry-run", action="store_true",
                        help="list the cells, then what is done and to do and an estimated wall time, and exit "
                             "(with -v: the settings that differ from the paper's too)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log what happens to the terminal too; with --dry-run, list the changed settings")


def _split(text):
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _console_logging(verbose: bool) -> None:
    """Warnings (INFO with -v) to the current stderr; INFO always goes to each cell's log file."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_metapt_console", False)]:
        root.removeHandler(handler)   # a second run in the same process (tests) writes to its own stderr
    handler = logging.StreamHandler(sys.stderr)
    handler._metapt_console = True
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO if verbose else logging.WARNING)
    root.addHandler(handler)
    for name in ("benchmark", "baselines", "tasksets"):
        logging.getLogger(name).setLevel(logging.INFO)


def _print_truncation(cells, cfg) -> None:
    """What max_length cuts in each downstream task of the run (its pool and test rows)."""
    from benchmark import data
    from benchmark.context import Context
    from benchmark.truncation import WARN_SHARE, describe, task_truncation

    ctx = Context(cells[0].config, progress=False)
    backbone = ctx.backbone()
    for task in sorted({c.task for c in cells}):
        if data.get_task(task).role != "downstream":
            continue
        record = task_truncation(backbone, ctx.rows(task), cfg["max_length"])
        mark = "WARNING " if record["share"] > WARN_SHARE else ""
        print(f"truncation: {mark}{describe(task, record, cfg['max_length'])}", file=sys.stderr)


def run(args) -> int:
    """Check everything first (exit 2 and nothing written on a bad input), then run the cells.
    Long because every check runs before anything is written, in the order the refusals are documented; each step it
    calls is one function."""
    import errno

    from benchmark import preflight, run_plan, runner
    from benchmark.executors import check_executor
    from benchmark.run_summary import RunSummary

    started = time.time()
    check_executor(args.executor, args.address)
    _console_logging(args.verbose)
    runner.check_selection(args.suite, _split(args.tasks), _split(args.methods))   # before the bf16 probe
    cfg = resolve_profile(args, stream=sys.stderr)
    cells = runner.expand(args.suite, cell_settings(args, cfg), tasks=_split(args.tasks), methods=_split(args.methods),
                          plan=cfg)
    if not cells:
        raise UserError(f"suite {args.suite!r} has no cells for tasks={args.tasks} methods={args.methods}")
    out = results_dir(args, args.suite)
    runner.check_results_dir(out)   # incompatible, read-only or full: refused before anything is written
    print(f"suite {args.suite}: {runner.describe_cells(cells)}", file=sys.stderr)
    print(f"backbone: {cfg['backbone']}  data: {cfg['data_source']}  device: {cfg['device']}  bf16: {cfg['bf16']}",
          file=sys.stderr)
    if cfg["data_source"] != "paper":
        print("data: registry STAND-INS for the paper's datasets (results are not comparable to the paper's "
              "numbers as such; every result file and table says so)", file=sys.stderr)
    if args.dry_run:
        preflight.check_cells(cells, load_backbone=False)
        plan = run_plan.make(cells, out, cfg)
        for cell in cells:   # stdout: one line a cell, for scripts
            print(f"{plan.status[cell.key]:8s} {cell.key} {cell.describe()}")
        # the summary ends the output, where it is read; the settings come with -v
        if args.verbose:
            print_reductions(cfg, stream=sys.stderr)
        else:
            print(f"settings: {len(config_mod.reductions(cfg))} differ from the paper's (`--dry-run -v` lists them)",
                  file=sys.stderr)
        print(plan.render(), file=sys.stderr)
        return 0
    print_reductions(cfg, stream=sys.stderr)   # a run's record starts with every setting it changes
    preflight.check_cells(cells)    # shots vs rows, K vs rows, single-token label words, ...
    _print_truncation(cells, cfg)
    plan = run_plan.make(cells, out, cfg)
    print(plan.render(), file=sys.stderr)
    if args.executor == "ray":
        from benchmark.executors import ray_executor

        ray_executor.connect(args.address)   # an unreachable cluster is refused before anything is written
    runner.prepare_results_dir(out)
    runner.write_manifest(out, args.suite, cells, cfg)
    print(f"results: {out}", file=sys.stderr)
    command = shlex.join(["python", "-m", "benchmark", *getattr(args, "argv", sys.argv[1:])])
    # wall time from the command's start: the checks, the bf16 probe and loading the backbone included
    summary = RunSummary(suite=args.suite, cfg=cfg, command=command, executor=args.executor, started=started)
    try:
        if args.executor == "ray":
            counts = ray_executor.run_cells(cells, out, address=args.address, progress=not args.no_progress,
                                            summary=summary)
        else:
            counts = runner.run_cells(cells, out, progress=not args.no_progress, summary=summary, plan=plan)
    except KeyboardInterrupt:   # Ctrl-C: what was done is reported; finished cells are already written
        summary.interrupted = True
        summary.report(out)
        print("interrupted; finished cells are kept, rerun the same command to resume", file=sys.stderr)
        return 130
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT):
            raise UserError(f"cannot write results to {out} ({exc.strerror}); finished cells are kept",
                            hint="free disk space or choose another --results, then rerun the same command") from exc
        raise
    summary.report(out)
    if counts["failed"]:
        print("failed cells are listed by `python -m benchmark status`; rerun the same command to retry them",
              file=sys.stderr)
    return 1 if counts["failed"] else 0
