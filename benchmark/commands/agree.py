"""``python -m benchmark agree``: rerun a sample of finished cells here and say whether each agrees.

Run it on another machine than the one that made the cells (a clone's docs/results on your
processor), or on the same machine under other arithmetic (``ONEDNN_MAX_CPU_ISA=AVX512_CORE``: the
bf16 kernels of a processor without native bf16). Each sampled cell is rerun from the config it
recorded, on the same split and test rows, and compared row by row (reports/agreement.py): it
*agrees* when the rerun's accuracy is inside the first run's 95 % test-row interval. Reruns are
cells in ``--out`` (default ``<cache>/agree``), so a killed check resumes with only the missing ones.
Reruns made by another process or session go in with ``--also DIR``: read, not rerun, and only when
they record the same processor, thread count and arithmetic settings as this process.
"""
from __future__ import annotations

import pathlib
import sys

import numpy as np

from benchmark.errors import UserError

HELP = ("rerun a sample of finished cells on this machine and report whether each agrees with the first "
        "run within its 95 % test-row interval")


def add_arguments(parser) -> None:
    parser.add_argument("--results", metavar="DIR", default=None,
                        help="the first runs: a results folder with cells/*.json (default: the cache's results folder)")
    parser.add_argument("--suite", default="sentiment7", help="suite of the cells to sample (default sentiment7)")
    parser.add_argument("--cells", help="comma-separated METHOD/TASK/SEED to rerun (default: a sample, see --sample)")
    parser.add_argument("--sample", type=int, default=10,
                        help="cells to sample when --cells is not given: as evenly over methods as they allow, "
                             "the same draw every time (default 10)")
    parser.add_argument("--methods", help="comma-separated methods to sample from (default: all the suite's)")
    parser.add_argument("--out", type=pathlib.Path, default=None,
                        help="folder of the reruns, resumed when rerun (default <cache>/agree); not --results")
    parser.add_argument("--also", type=pathlib.Path, action="append", default=[], metavar="DIR",
                        help="another folder of reruns of the same first runs (a second process's --out, or "
                             "another session's): a cell already rerun there is read, not rerun; it must have "
                             "run on this processor, thread count and arithmetic settings (repeatable)")
    parser.add_argument("--report", type=pathlib.Path, default=None,
                        help="write the report as PATH.md and PATH.json (default <out>/agreement)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--curves", type=pathlib.Path, metavar="DIR",
                        help="instead of cells: compare this calibration folder's stability curves with "
                             "--against's (the same `calibrate --stability-only` run twice, the second under "
                             "other arithmetic), on validation rows only")
    parser.add_argument("--against", type=pathlib.Path, metavar="DIR",
                        help="the twin calibration folder (with --curves)")
    parser.add_argument("--profile", default=None,
                        help="with --curves: the profile whose selection rule is replayed "
                             "(default: the default profile)")


def _finished(root: pathlib.Path, suite: str) -> dict:
    """(method, task, seed) -> the finished cell; where the folder has a manifest, only the cells
    it lists (a cache folder also holds cells of older settings, under other keys)."""
    from benchmark import runner

    cells = {}
    for rec in runner.listed_cells(root):
        if rec.get("status") == "done" and rec.get("suite") == suite and not rec.get("point"):
            cells[(rec["method"], rec["task"], int(rec["seed"]))] = rec
    return cells


def _parse_cells(text: str, have: dict) -> list:
    chosen = []
    for item in [t.strip() for t in text.split(",") if t.strip()]:
        parts = item.split("/")
        if len(parts) != 3 or not parts[2].removeprefix("seed").isdigit():
            raise UserError(f"--cells item {item!r}: expected METHOD/TASK/SEED, e.g. pt/sst2/0")
        key = (parts[0], parts[1], int(parts[2].removeprefix("seed")))
        if key not in have:
            raise UserError(f"--cells item {item!r}: no finished cell of it in the results folder "
                            f"(finished: {len(have)} cells; `python -m benchmark status` lists them)")
        chosen.append(key)
    return chosen


def sample(have: dict, n: int, methods: list | None = None) -> list:
    """``n`` cells, taken in turn from each method (each method's cells in a seeded shuffle)."""
    rng = np.random.default_rng(0)
    by: dict = {}
    for key in sorted(have):
        if methods is None or key[0] in methods:
            by.setdefault(key[0], []).append(key)
    queues = {m: [v[i] for i in rng.permutation(len(v))] for m, v in sorted(by.items())}
    chosen = []
    while len(chosen) < n and any(queues.values()):
        for m in sorted(queues):
            if queues[m] and len(chosen) < n:
                chosen.append(queues[m].pop(0))
    return chosen


def _same_arithmetic(rec: dict, here: dict) -> str | None:
    """Why a rerun made elsewhere was not made under this process's arithmetic, or None if it was."""
    machine = rec.get("machine") or {}
    if "arithmetic_env" not in machine:
        return "it does not record its arithmetic settings (a cell from before they were recorded)"
    from benchmark import precision

    here = dict(here, cpu_flags=precision.cpu_flags())     # machines of one name differ in bf16 / AMX
    theirs = {"cpu_model": machine.get("cpu_model"), "cpu_flags": machine.get("cpu_flags"),
              "torch_threads": machine.get("torch_threads"), "env": machine["arithmetic_env"]}
    diff = [f"{k} {theirs[k]!r} here {here[k]!r}" for k in theirs if theirs[k] != here[k]]
    return ("it ran with " + "; ".join(diff)) if diff else None


def _rerun_found(cell, out: pathlib.Path, also: list, here: dict):
    """(record, folder) of a finished rerun of ``cell`` in ``out`` or one of ``also``, else (None, None).
    A rerun in ``also`` made under other arithmetic is refused: it would be mixed in silently."""
    from benchmark import runner

    again = runner.read_cell(runner.cell_path(out, cell))
    if again is not None and again.get("status") == "done":
        return again, out
    for folder in also:
        again = runner.read_cell(runner.cell_path(folder, cell))
        if again is not None and again.get("status") == "done":
            why = _same_arithmetic(again, here)
            if why:
                raise UserError(f"--also {folder}: its rerun of {cell.describe()} was not made under this "
                                f"process's arithmetic: {why}. Rerun here, or run `agree` under the same settings")
            return again, folder
    return None, None


def _render(rows: list, summary: dict, here: dict, firsts: set) -> str:
    env = ", ".join(f"{k}={v}" for k, v in here["env"].items()) or "none"
    lines = [f"# Agreement of reruns with the first runs ({summary['cells']} cells)", "",
             f"- first runs made on: {', '.join(sorted(firsts))}",
             f"- reruns made on: {here['cpu_model']}, {here['torch_threads']} threads; arithmetic settings: {env}",
             f"- **{summary['agree']} of {summary['cells']} agree** within the first run's 95 % test-row interval "
             f"({100 * summary['share']:.0f} %; target >= {100 * summary['target']:.0f} %: "
             f"{'met' if summary['met'] else 'missed'}); {summary['regressed']} differ significantly "
             f"(exact McNemar p < 0.01 and > 1 row per 100)"]
    elsewhere = sorted({r["rerun_in"] for r in rows if r.get("rerun_in")})
    if elsewhere:
        lines.append(f"- {sum(1 for r in rows if r.get('rerun_in'))} of the reruns were read from "
                     f"{', '.join(elsewhere)} (`--also`), made on the same processor, threads and settings")
    lines += ["",
             "| cell | first run % [95 % interval] | rerun % | agrees | right only in first / rerun | McNemar p "
             "| same predictions |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']}/{r['task']}/seed{r['seed']} | {100 * r['acc_first']:.1f} "
                     f"[{100 * r['lo']:.1f}, {100 * r['hi']:.1f}] | {100 * r['acc_second']:.1f} | "
                     f"{'yes' if r['agrees'] else '**no**'} | {r['only_first']} / {r['only_second']} | "
                     f"{r['p_mcnemar']:.2g} | {100 * r['same_predictions']:.0f} % |")
    lines += ["", "Per method: " + ", ".join(f"{m} {v['agree']}/{v['cells']}" for m, v in summary["by_method"].items()),
              "", "Shared artefacts (PPT and Prompt-MAML prompts, clusterings) come from this machine's cache, "
              "so a rerun of a PPT or MetaPT cell repeats its tuning, not its pre-training.", ""]
    return "\n".join(lines)


def run_curves(args) -> int:
    """``--curves A --against B``: twin stability curves compared (benchmark/calibrate/twins.py)."""
    from benchmark import config, runner
    from benchmark.calibrate import twins
    from benchmark.io import atomic_path, write_json

    if args.against is None:
        raise UserError("--curves needs --against DIR: the twin calibration folder to compare with")
    name = args.profile or config.choose_default_profile()[0]
    rule = twins.rule_of(config.load_profile(name)["tune"])
    result = twins.compare_folders(args.curves, args.against, rule)
    twin_env = read_env(args.against) or {}
    text = twins.render(result, str(args.curves), str(args.against), twin_env)
    report = args.report or args.against / "twins"
    write_json(report.with_suffix(".json"), dict(result, first=str(args.curves), second=str(args.against),
                                                 profile=name, second_env=twin_env, compared_on=runner.arithmetic()))
    with atomic_path(report.with_suffix(".md")) as tmp:
        tmp.write_text(text)
    print(text)
    return 0


def read_env(folder: pathlib.Path) -> dict | None:
    """The arithmetic settings a calibration folder was made under (its summary's machine record)."""
    from benchmark.io import read_json

    path = pathlib.Path(folder) / "summary.json"
    if not path.exists():
        return None
    try:
        return (read_json(path).get("arithmetic") or {}).get("env")
    except Exception:   # noqa: BLE001 - a summary without it says nothing
        return None


def run(args) -> int:
    """Rerun the sampled cells (or read them from ``--also``), compare each with its first run, and write the table.
    Long because the sample, the reruns and the comparison share the cells' keys and the output folder; the
    statistics are in ``reports/agreement.py``."""
    from benchmark import config, paths, runner
    from benchmark.io import atomic_path, write_json
    from reports import agreement

    if args.curves is not None:
        return run_curves(args)

    root = pathlib.Path(args.results).expanduser() if args.results else paths.sub("results")
    if not (root / "cells").is_dir():
        raise UserError(f"results folder {str(root)!r} has no cells/ folder; pass --results DIR "
                        "(a folder written by `benchmark run` or `benchmark publish`)")
    out = (args.out or paths.sub("agree")).expanduser()
    if out.resolve() == root.resolve():
        raise UserError(f"--out {out} is the results folder itself: the reruns need a folder of their own "
                        "(the same keys would be skipped as done)")
    also = [a.expanduser() for a in args.also]
    for folder in also:
        if not (folder / "cells").is_dir():
            raise UserError(f"--also {str(folder)!r} has no cells/ folder: pass a folder of reruns written by `agree`")
        if folder.resolve() in (root.resolve(), out.resolve()):
            raise UserError(f"--also {folder} is the {'results' if folder.resolve() == root.resolve() else '--out'} "
                            "folder itself: pass another folder of reruns")
    have = _finished(root, args.suite)
    if not have:
        raise UserError(f"{root} holds no finished cell of suite {args.suite!r}")
    methods = [m.strip() for m in args.methods.split(",")] if args.methods else None
    chosen = _parse_cells(args.cells, have) if args.cells else sample(have, args.sample, methods)
    if not chosen:
        raise UserError(f"no finished cell of suite {args.suite!r} for methods {args.methods!r} in {root}")
    runner.prepare_results_dir(out)
    here = runner.arithmetic()
    print(f"agree: rerunning {len(chosen)} cells of {root} into {out}", file=sys.stderr)
    rows = []
    for i, key in enumerate(chosen, 1):
        first = have[key]
        # a format-1 cell holds the retired settings at the value that survives: the key adds them back
        retired = runner.RETIRED_KEY_SETTINGS
        cfg = {k: v for k, v in first["config"].items() if not (k in retired and retired[k] == v)}
        config.validate(cfg)
        cell = runner.Cell(args.suite, key[0], key[1], key[2], {}, cfg, method_version=first.get("method_version", 1))
        again, found_in = _rerun_found(cell, out, also, here)
        if again is None:
            print(f"[{i}/{len(chosen)}] {cell.describe()}: rerunning", file=sys.stderr)
            again = runner.run_cell(cell, out, progress=not args.no_progress)
            if again["status"] != "done":
                raise UserError(f"rerun of {cell.describe()} failed: {again.get('error')} "
                                f"(log: {out}/logs/{cell.key}.log)")
        row = {"method": key[0], "task": key[1], "seed": key[2], "key": cell.key,
               **agreement.compare(first, again), "wall_s": again.get("wall_s"),   # the rerun's own, resumed or not
               "rerun_in": str(found_in) if found_in is not None and found_in != out else None}
        print(f"[{i}/{len(chosen)}] {cell.describe()}: first {100 * row['acc_first']:.1f} % "
              f"[{100 * row['lo']:.1f}, {100 * row['hi']:.1f}], rerun {100 * row['acc_second']:.1f} %: "
              f"{'agrees' if row['agrees'] else 'DOES NOT AGREE'}", file=sys.stderr)
        rows.append(row)
    summary = agreement.summarise(rows)
    firsts = {(have[k].get("machine") or {}).get("cpu_model") or "?" for k in chosen}
    text = _render(rows, summary, here, firsts)
    report = args.report or out / "agreement"
    write_json(report.with_suffix(".json"), {"results": str(args.results or "<cache>/results"), "suite": args.suite,
                                             "also": [str(a) for a in also],
                                             "rerun_on": here, "first_on": sorted(firsts), "summary": summary,
                                             "cells": rows})
    with atomic_path(report.with_suffix(".md")) as tmp:
        tmp.write_text(text)
    print(text)
    return 0
