"""Suites expand to cells; each finished cell is one JSON file named by the hash of its config.

A results directory holds::

    format.json            results format version (an incompatible directory is refused)
    manifest.json          the suite's expected cells (for `status` and partly-done tables)
    cells/<hash>.json      one per finished (or failed) cell, written atomically
    logs/<hash>.log        one log per cell
    runs/<start>-<pid>.json  what each `run` did (benchmark.run_summary); never read as a result

A rerun skips cells whose JSON says ``done``, so a run killed at any moment resumes with only
the missing work; failed cells are retried.

Results formats: 1 had the experiment-only settings (``test_rows: per-seed``, ``tune.ema``,
``tune.window_pick``) in its configs; 2 has none of them. A format-1 folder is taken over as
format 2: its cells keep their keys (``KEY_FORMAT``), and a cell made with a retired setting has a
key no config makes any more, so it is never reused (``plot`` still reads it).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import pathlib
import platform
import subprocess
import sys
import time
import traceback

from benchmark import RESULTS_FORMAT, __version__, config as config_mod
from benchmark.errors import UserError
from benchmark.io import CorruptCacheEntry, config_hash, read_json, write_json

log = logging.getLogger("benchmark")

# the ``format`` field of every cell key: fixed, so that a results format that changes only what a
# record holds leaves the keys (the cache) as they are; bumped only to make every cell rerun
KEY_FORMAT = 1
# the key of a cell keeps the retired settings at the one value that survives, so the cells made
# while they existed keep their keys
RETIRED_KEY_SETTINGS = {"test_rows": "fixed"}
# results folders this version reads and writes (an older one is upgraded when written to)
READS_FORMATS = (1, RESULTS_FORMAT)


@dataclasses.dataclass
class Cell:
    suite: str
    method: str
    task: str
    seed: int
    point: dict
    config: dict  # the profile with the point applied
    method_version: int | None = None  # the method's ``version`` (bumped when its behaviour changes)
    run: dict | None = None  # the run-scope settings the run used (config.RUN_SCOPE); not in the key
    # the cells tuned together with it, as sorted [method, version] pairs (``assign_groups``); None:
    # tuned alone. In the key: a prompt's arithmetic depends on the prompts that share its batch
    group: tuple | None = None

    def __post_init__(self):
        if self.method_version is None:  # every way of making a Cell gets the registry's version
            from baselines import get_method

            self.method_version = get_method(self.method).version

    @property
    def key(self) -> str:
        key = {"method": self.method, "task": self.task, "seed": self.seed, "config": self._key_config(),
               "format": KEY_FORMAT}
        if self.method_version != 1:  # version 1 leaves the key as it was before versions existed
            key["method_version"] = self.method_version
        if self.group:
            key["group"] = [list(member) for member in self.group]
        return config_hash(key)

    @property
    def group_key(self) -> str | None:
        """What names its group (its checkpoint file): the same for every cell of the group."""
        if not self.group:
            return None
        return config_hash({"group": [list(m) for m in self.group], "task": self.task, "seed": self.seed,
                            "config": self._key_config(of_method=False), "format": KEY_FORMAT})

    def _key_config(self, of_method: bool = True) -> dict:
        """The config as keyed; ``of_method=False``: without what depends on the cell's method (a group's
        key is its members' one configuration)."""
        config = {**RETIRED_KEY_SETTINGS, **self.config}
        if config.get("dtype") == "float32":  # the default leaves the key as it was before dtype existed
            config = {k: v for k, v in config.items() if k != "dtype"}
        config.pop("tune_group", None)        # what it changes is the cell's group, keyed beside
        if config.get("few_shot") == "balanced":   # the draw of cells made before the setting: their keys
            config.pop("few_shot")
        pre = config.get("pretrain")
        if isinstance(pre, dict):
            from baselines import clusters_by_draw, reads_a_draw
            from baselines.base import compute_key
            from benchmark.settings import draw_seed

            # null is the default (absent); a method without an artefact (FT, PT) reads no draw, so its cells
            # keep their keys under either protocol and are reused across them
            unread = ("draw", "draw_block") if of_method and not reads_a_draw(self.method) else ()
            # a cell that clusters with its draw is another computation only where that draw is not
            # pretrain.seed's: there, and only there, its key names the draw
            if unread and pre.get("draw") is not None and clusters_by_draw(self.method) \
                    and draw_seed(config, self.seed) != pre.get("seed"):
                unread = ("draw_block",)
            # compute enters as an artefact's key has it (compute_key): a compute axis's 1x cell is the plain run's
            drop = [k for k in pre if k in unread or (k == "draw" and pre[k] is None) or k == "compute"]
            if drop:
                config["pretrain"] = {**{k: v for k, v in pre.items() if k not in drop}, **compute_key(config)}
        return config

    def describe(self) -> str:
        point = ",".join(f"{k}={v}" for k, v in self.point.items())
        return f"{self.method}/{self.task}/seed{self.seed}" + (f"/{point}" if point else "")

    def manifest_entry(self) -> dict:
        return {"key": self.key, "suite": self.suite, "method": self.method, "task": self.task,
                "seed": self.seed, "point": self.point}


def axis_values(suite: dict, cfg: dict) -> tuple[str | None, list]:
    """The suite's axis key and the points a run has under ``cfg`` (its ``axis_limits`` cap them)."""
    axis = suite.get("axis")
    if not axis:
        return None, [None]
    key, values = axis["key"], list(axis["values"])
    limit = (cfg.get("axis_limits") or {}).get(key)
    if limit is not None:
        kept = [v for v in values if v <= limit]
        values = kept or [min(values)]
    return key, values


def check_selection(suite_name: str, tasks=None, methods=None) -> list:
    """Refuse an unknown suite, method or task (``--tasks`` of a downstream suite: downstream tasks
    only) before anything is measured or loaded; return the suite's own task specs."""
    from baselines import get_method
    from benchmark import data

    suite = config_mod.load_suite(suite_name)
    if "include" in suite:
        return [spec for name in suite["include"] for spec in check_selection(name, tasks, methods)]
    for name in [*suite["methods"], *(methods or [])]:
        get_method(name)
    specs = [data.get_task(name) for name in suite["tasks"]]
    downstream = all(s.role == "downstream" for s in specs)
    for name in tasks or []:
        data.get_task(name, role="downstream" if downstream else None)
    return specs


def expand(suite_name: str, cfg: dict, *, tasks=None, methods=None, plan: dict | None = None) -> list[Cell]:
    """The cells of a suite under a resolved profile (``tasks``/``methods`` filter them), in groups
    where ``tune_group`` asks for them (``assign_groups``).

    ``plan`` (default ``cfg``): the settings whose seeds and axis limits choose the cells, when they
    differ from those in ``cfg``, which every cell is made with and keyed by (``config.RUN_SCOPE``)."""
    return assign_groups(_expand(suite_name, cfg, tasks=tasks, methods=methods, plan=plan))


def assign_groups(cells: list[Cell]) -> list[Cell]:
    """Put the cells that ``tune_group: task-seed`` tunes together in one group: the prompt methods
    (``Method.groups``) of one configuration, task and seed, among the cells selected.

    Why these: they share their training and validation rows and, with one seed, the order those
    rows are drawn in, so each step of the bank is R copies of the same rows under R prompts (the
    same lengths and padding as one prompt alone); they differ only in their starting prompts.
    The seeds of one method and task share nothing but the backbone, and grouping them would make
    a cell's group depend on ``--seeds``, the selection a user widens most often (``--seeds 0``
    first, then five): with task-seed groups a wider ``--seeds`` or ``--tasks`` reuses every cell
    made before; only another ``--methods`` makes other groups. The group is in each cell's key
    (``Cell.group``), since a prompt's float rounding depends on the prompts that share its batch;
    a group of one is a cell tuned alone, keyed as one.
    """
    from baselines import get_method

    buckets: dict = {}
    for cell in cells:
        if cell.config.get("tune_group", "none") == "task-seed" and get_method(cell.method).groups:
            buckets.setdefault((config_hash(cell.config), cell.task, cell.seed), []).append(cell)
    for members in buckets.values():
        group = tuple(sorted({(c.method, c.method_version) for c in members}))
        for cell in members:
            cell.group = group if len(group) > 1 else None
    return cells


def _expand(suite_name: str, cfg: dict, *, tasks=None, methods=None, plan: dict | None = None) -> list[Cell]:
    plan = cfg if plan is None else plan
    run = {key: plan.get(key) for key in config_mod.RUN_SCOPE if plan.get(key) != cfg.get(key)} or None
    from benchmark import data

    suite = config_mod.load_suite(suite_name)
    if "include" in suite:
        cells = []
        for name in suite["include"]:
            cells += _expand(name, cfg, tasks=tasks, methods=methods, plan=plan)
        return cells
    suite_specs = check_selection(suite_name, tasks, methods)
    suite_tasks = list(suite["tasks"])
    if tasks and all(s.role == "downstream" for s in suite_specs):
        # `--tasks` names any registered downstream task (built-in or the user's): the suite's methods run
        # on it; a suite over pre-training data (t-SNE) keeps its own tasks
        suite_tasks += [t for t in tasks if t not in suite_tasks and data.get_task(t).role == "downstream"]
    suite_methods = list(suite["methods"])
    if methods and all(s.role == "downstream" for s in suite_specs):
        # likewise `--methods` names any registered method (built-in or the user's): it runs on the
        # suite's tasks beside, or instead of, the suite's own methods
        suite_methods += [m for m in methods if m not in suite_methods]
    key, values = axis_values(suite, plan)
    seeds = suite.get("seeds") or plan["seeds"]
    cells = []
    for value in values:
        point_cfg = dict(cfg) if key is None else json.loads(json.dumps(cfg))
        point = {}
        if key is not None:
            config_mod.set_path(point_cfg, key.split("."), value, where=f"suite {suite_name} axis")
            point = {key: value}
        for method in suite_methods:
            if methods and method not in methods:
                continue
            for task in suite_tasks:
                if tasks and task not in tasks:
                    continue
                for seed in seeds:
                    cells.append(Cell(suite["name"], method, task, int(seed), point, point_cfg, run=run))
    return cells


def describe_cells(cells: list[Cell]) -> str:
    """How many cells and what they are, per suite: ``methods x tasks x seeds x points`` where the
    cells are that full product, else the distinct counts (``--suite all`` joins suites of other
    shapes, so one product over all of them would not be their count)."""
    by_suite: dict = {}
    for cell in cells:
        by_suite.setdefault(cell.suite, []).append(cell)
    parts = []
    for suite, group in by_suite.items():
        axes = [(len({c.method for c in group}), "method"), (len({c.task for c in group}), "task"),
                (len({c.seed for c in group}), "seed"),
                (len({json.dumps(c.point, sort_keys=True) for c in group}), "point")]
        axes = [(n, name) for n, name in axes if name != "point" or n > 1]
        words = [f"{n} {name}{'s' if n != 1 else ''}" for n, name in axes]
        product = 1
        for n, _ in axes:
            product *= n
        shape = " x ".join(words) if product == len(group) else ", ".join(words)
        parts.append((suite, len(group), shape))
    total = f"{len(cells)} cell{'s' if len(cells) != 1 else ''}"
    if len(parts) == 1:
        return f"{total} ({parts[0][2]})"
    return f"{total} = " + " + ".join(f"{suite} {n} ({shape})" for suite, n, shape in parts)


# -- results directory -------------------------------------------------------------------------

MIN_FREE_BYTES = 1 << 20   # an output directory with less free space than this is "full"


def _existing_parent(path: pathlib.Path) -> pathlib.Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _probe_write(folder: pathlib.Path) -> None:
    """A real write, removed at once: permission bits do not stop root, a read-only mount or a full disk do."""
    import tempfile

    with tempfile.TemporaryFile(dir=folder, prefix=".metapt-probe-") as probe:
        probe.write(b"x" * 4096)
        probe.flush()
        os.fsync(probe.fileno())


def check_results_dir(out: pathlib.Path) -> None:
    """Refuse, writing nothing, a results directory that cannot be used: written by an incompatible
    version, not a directory, read-only, or on a full disk. Called before any training."""
    out = pathlib.Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"results directory {out} is a file, not a directory", hint="choose another folder")
    fmt = out / "format.json"
    if fmt.exists():
        try:
            info = read_json(fmt)
            found = info.get("results_format") if isinstance(info, dict) else None
        except (CorruptCacheEntry, OSError):
            found = "unreadable"
        if found not in READS_FORMATS:
            raise UserError(f"results directory {out} was written by an incompatible version "
                            f"(results format {found!r}; this version reads formats "
                            f"{', '.join(map(str, READS_FORMATS))} and writes format {RESULTS_FORMAT})",
                            hint="use a new folder")
    elif (out / "cells").is_dir():
        raise UserError(f"results directory {out} has cells/ but no format.json: written by an incompatible "
                        f"version (this version writes results format {RESULTS_FORMAT})",
                        hint="use a new folder")
    parent = _existing_parent(out)
    if not parent.is_dir():
        raise UserError(f"results directory {out} cannot be created: {parent} is not a directory",
                        hint="choose another folder")
    try:
        _probe_write(parent)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UserError(f"results directory {out} is not writable ({reason} in {parent})",
                        hint="choose another folder" + (", or free disk space" if exc.errno == 28 else "")) from exc
    import shutil

    free = shutil.disk_usage(parent).free
    if free < MIN_FREE_BYTES:
        raise UserError(f"results directory {out} is on a full disk ({free} bytes free in {parent}; "
                        f"at least {MIN_FREE_BYTES} needed)", hint="free disk space or choose another folder")


def prepare_results_dir(out: pathlib.Path) -> None:
    """Create ``out`` (or check it): refuse a directory of an incompatible format or not writable."""
    out = pathlib.Path(out)
    check_results_dir(out)
    try:
        (out / "cells").mkdir(parents=True, exist_ok=True)
        (out / "logs").mkdir(exist_ok=True)
    except OSError as exc:
        raise UserError(f"results directory {out} cannot be created ({exc.strerror})",
                        hint="choose another folder") from exc
    fmt = out / "format.json"
    if not fmt.exists() or read_json(fmt).get("results_format") != RESULTS_FORMAT:   # new, or format 1
        try:
            write_json(fmt, {"results_format": RESULTS_FORMAT, "version": __version__})
        except OSError as exc:
            raise UserError(f"results directory {out} is not writable ({exc.strerror})",
                            hint="choose another folder, or free disk space") from exc


def cell_path(out: pathlib.Path, cell: Cell) -> pathlib.Path:
    return pathlib.Path(out) / "cells" / f"{cell.key}.json"


def read_cell(path: pathlib.Path) -> dict | None:
    """A finished cell's result, or None when missing or unreadable (then it is redone)."""
    try:
        return read_json(path, checksum=True)
    except FileNotFoundError:
        return None
    except CorruptCacheEntry as exc:
        log.warning("result %s is corrupt (%s): the cell will be rerun", path, exc)
        return None


def cell_status(out: pathlib.Path, cell: Cell) -> str:
    result = read_cell(cell_path(out, cell))
    return "missing" if result is None else result.get("status", "missing")


def manifest_slot(entry: dict) -> str:
    """A cell's place in a suite; a newer config for the same place replaces the older entry."""
    return json.dumps([entry["suite"], entry["method"], entry["task"], entry["seed"], entry.get("point") or {}],
                      sort_keys=True)


def listed_keys(out: pathlib.Path) -> set | None:
    """The cell keys a results folder's manifest lists, or None where it has no readable manifest.

    A cache folder keeps the cells of older settings under their own keys (a newer config for the
    same place replaces only the manifest entry); only the listed ones are the folder's results."""
    try:
        return {entry["key"] for entry in read_json(pathlib.Path(out) / "manifest.json")["cells"]}
    except (FileNotFoundError, CorruptCacheEntry, KeyError, TypeError):
        return None


def listed_cells(out: pathlib.Path):
    """The readable cell records a results folder lists (its manifest, where it has one; else every
    cell in ``cells/``), in file order."""
    out = pathlib.Path(out)
    listed = listed_keys(out)
    for path in sorted((out / "cells").glob("*.json")):
        if listed is None or path.stem in listed:
            rec = read_cell(path)
            if rec:
                yield rec


def write_manifest(out: pathlib.Path, suite: str, cells: list[Cell], cfg: dict) -> None:
    """Record the cells a run expects. Entries of other suites and tasks are kept; an entry for the
    same (suite, method, task, seed, point) made under older settings is replaced, so `status`
    and the tables list as missing only what the latest invocation asked for."""
    path = pathlib.Path(out) / "manifest.json"
    entries = {}
    if path.exists():
        try:
            for entry in read_json(path).get("cells", []):
                entries[manifest_slot(entry)] = entry
        except (CorruptCacheEntry, KeyError, AttributeError):
            pass
    for cell in cells:
        entry = cell.manifest_entry()
        entries[manifest_slot(entry)] = entry
    write_json(path, {"suite": suite, "profile": cfg.get("profile"), "cells": list(entries.values())})


# -- provenance --------------------------------------------------------------------------------

def versions() -> dict:
    from importlib import metadata

    out = {"python": platform.python_version(), "benchmark": __version__}
    for pkg in ("torch", "transformers", "learn2learn", "sentence-transformers", "scikit-learn", "gensim",
                "numpy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def git_commit() -> str:
    root = pathlib.Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def machine() -> dict:
    import torch

    from benchmark import precision

    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_model": precision.cpu_model(), "cpu_flags": precision.cpu_flags(),
            "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "bf16_auto": precision.recorded(),   # the probe's figures: here, never in a key
            "arithmetic_env": {k: os.environ[k] for k in ARITHMETIC_ENV if k in os.environ}}


# environment settings that change the arithmetic of a run on one machine (another processor's
# kernels, thread counts); recorded with agreement reports and calibrations
ARITHMETIC_ENV = ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_CBWR", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def arithmetic() -> dict:
    """The processor, torch's threads and the arithmetic settings in the environment."""
    import torch

    from benchmark import precision

    return {"cpu_model": precision.cpu_model(), "torch_threads": torch.get_num_threads(),
            "env": {k: os.environ[k] for k in ARITHMETIC_ENV if k in os.environ}}


# -- execution ---------------------------------------------------------------------------------

class _CellLog:
    """Route the 'benchmark' loggers into the cell's own log file (each of a group's) while it runs."""

    def __init__(self, *paths: pathlib.Path):
        self.handlers = [logging.FileHandler(path, mode="a") for path in paths]
        for handler in self.handlers:
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def __enter__(self):
        for name in ("benchmark", "baselines", "tasksets"):
            for handler in self.handlers:
                logging.getLogger(name).addHandler(handler)
        return self

    def __exit__(self, *exc):
        for name in ("benchmark", "baselines", "tasksets"):
            for handler in self.handlers:
                logging.getLogger(name).removeHandler(handler)
        for handler in self.handlers:
            handler.close()


def cell_record(cell: Cell, *, status: str = "done", error: str | None = None) -> dict:
    """The head of a cell's result JSON, whichever executor writes it: what the cell is (its config,
    reductions and key), what ran it (versions, git commit, machine) and its status."""
    return {"status": status, "suite": cell.suite, "method": cell.method, "task": cell.task, "seed": cell.seed,
            "method_version": cell.method_version, "point": cell.point, "profile": cell.config.get("profile"),
            "backbone": cell.config["backbone"], "config": cell.config,
            "reductions": config_mod.reductions(cell.config), "key": cell.key,
            **({"run": cell.run} if cell.run else {}),
            **({"group": [list(m) for m in cell.group]} if cell.group else {}),
            "versions": versions(), "git": git_commit(), "machine": machine(), "error": error}


def _context_for(cell: Cell, context, progress: bool):
    """``context`` where it holds ``cell``'s settings (prepared artefacts reused), else a new one."""
    from benchmark.context import Context

    return context if context is not None and context.cfg == cell.config else Context(cell.config, progress=progress)


def _write_record(cell: Cell, out: pathlib.Path, record: dict, ctx, started: float, how: str = "") -> None:
    """Close a cell's record (provenance, the bf16 decision, wall time since ``started``) and write it."""
    from benchmark import precision

    record["provenance"] = {name: ctx.provenance[name] for name in sorted(ctx.provenance)}
    # the bf16 decision is made when the first cell of a process loads its backbone (after the
    # record began): a cell run alone would otherwise say nothing of the arithmetic it ran in
    record["machine"]["bf16_auto"] = precision.recorded()
    record["wall_s"] = round(time.time() - started, 2)
    write_json(cell_path(out, cell), record, checksum=True)
    log.info("cell %s %s in %.1f s%s", cell.describe(), record["status"], record["wall_s"], how)


def run_cell(cell: Cell, out: pathlib.Path, *, progress: bool = True, context=None) -> dict:
    """Run one cell and write its result JSON (status done, or failed with the reason)."""
    from baselines import get_method

    if cell.group:     # its key promises the group's arithmetic: the group is tuned, this cell written
        members = [Cell(cell.suite, m, cell.task, cell.seed, cell.point, cell.config, v, cell.run, cell.group)
                   for m, v in cell.group]
        return run_group(members, out, progress=progress, context=context, write=[cell])[0]
    ctx = _context_for(cell, context, progress).for_seed(cell.seed)   # the pre-training draw it tunes from
    method = get_method(cell.method)
    started = time.time()
    record = cell_record(cell)
    with _CellLog(pathlib.Path(out) / "logs" / f"{cell.key}.log"):
        log.info("cell %s starts", cell.describe())
        try:
            if method.artifact_kind:   # the artefact the method declares first, as the Ray executor's stage does
                ctx.prepared(method)
            record.update(method.run(ctx, cell.task, cell.seed))
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # a failed cell (NaN loss, OOM, a data error) is recorded; the suite goes on
            record.update(status="failed", error=f"{type(exc).__name__}: {exc}",
                          traceback=traceback.format_exc(limit=8))
            log.error("cell %s failed: %s", cell.describe(), record["error"])
        _write_record(cell, out, record, ctx, started)
    return record


def group_checkpoint(out: pathlib.Path, cell: Cell) -> pathlib.Path:
    """Where a group's bank is checkpointed while it trains (removed once all its cells are written)."""
    return pathlib.Path(out) / "groups" / f"{cell.group_key}.pt"


def run_group(members: list[Cell], out: pathlib.Path, *, progress: bool = True, context=None,
              on_record=None, write: list[Cell] | None = None) -> list[dict]:
    """Tune the cells of one group (``assign_groups``) in one ``bank.PromptBank`` and write the result
    JSON of each member not done yet (or of those in ``write``); returns those records
    (``on_record(cell, record)`` is called as each is written, so a Ctrl-C between two writes leaves
    the caller's count right).

    Every member is in the bank, done or not: its key promises the arithmetic of the whole group.
    The bank is checkpointed under ``groups/`` and resumed from there after a kill, so a finished
    cell is never recomputed and a group killed between two cell writes only scores the rest; the
    checkpoint goes once every member is written. A prompt whose loss is not finite fails its cell
    alone, with ``fit``'s reason, and the others go on; a failure the bank cannot pin on one prompt
    (preparing a member, an error in the shared pass) fails every member written here. A failed
    member is retried by running its group again from the start, the done members not rewritten.

    Long because the failure paths (one member's NaN, a failure of the shared pass, a Ctrl-C between
    two writes) each decide what every member's record says, and they read best side by side.
    """
    import torch

    from baselines import get_method
    from benchmark.bank import PromptBank, prompts_per_pass

    first = members[0]
    ctx = _context_for(first, context, progress).for_seed(first.seed)   # one seed: one pre-training draw
    todo = [c for c in members if cell_status(out, c) != "done"] if write is None else write
    started = time.time()
    records = {c.key: cell_record(c) for c in todo}
    checkpoint = group_checkpoint(out, first)
    written = []
    with _CellLog(*(pathlib.Path(out) / "logs" / f"{c.key}.log" for c in todo)):
        log.info("group %s starts: %s", first.group_key[:12], ", ".join(c.describe() for c in members))
        try:
            tunings = []
            for cell in members:
                method = get_method(cell.method)
                if method.artifact_kind:
                    ctx.prepared(method)
                tunings.append(method.tuning(ctx, cell.task, cell.seed))
            checkpoint.parent.mkdir(exist_ok=True)
            torch.manual_seed(first.seed)
            runs = [t.bank_run() for t in tunings]
            fits = prompts_per_pass(tunings[0].scorer, runs, ctx.cfg["maml"].get("memory_budget_mb"))
            if fits["per_pass"] < len(runs):
                log.warning("group %s: %d prompts, %d per pass (%.0f MB each, budget %.0f MB)", first.group_key[:12],
                            len(runs), fits["per_pass"], fits["prompt_mb"], fits["budget_mb"])
            bank = PromptBank(tunings[0].scorer, runs, checkpoint=checkpoint, desc=f"group {first.task}/s{first.seed}",
                              progress=progress, per_pass=fits["per_pass"])
            results = dict(zip((c.key for c in members), zip(tunings, bank.train())))
            failure = None
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # recorded in every member written here; the suite goes on
            failure = (f"{type(exc).__name__}: {exc}", traceback.format_exc(limit=8))
            log.error("group %s failed: %s", first.group_key[:12], failure[0])
        for cell in todo:
            record = records[cell.key]
            if failure is not None:
                record.update(status="failed", error=failure[0], traceback=failure[1])
            else:
                tuning, result = results[cell.key]
                if result.failed is None:
                    record.update(tuning.finish(result))
                else:
                    record.update(status="failed", error=f"FloatingPointError: {tuning.desc}: {result.failed}")
                    log.error("cell %s failed: %s", cell.describe(), record["error"])
            _write_record(cell, out, record, ctx, started, " (group)")   # wall_s: the group's so far, shared
            written.append(record)
            if on_record is not None:
                on_record(cell, record)
    checkpoint.unlink(missing_ok=True)
    return written


def run_cells(cells: list[Cell], out: pathlib.Path, *, progress: bool = True, stream=None, summary=None,
              plan=None) -> dict:
    """The local executor: every missing or failed cell, in order, one progress display for all.

    Returns the counts; ``summary`` (a ``run_summary.RunSummary``) is filled in as cells finish, so
    it holds what was done even when a KeyboardInterrupt ends the loop. With ``plan`` (a
    ``run_plan.RunPlan``) the progress counts the artefacts to build as well as the cells, each
    weighed by its estimated cost, so the ETA is the whole run's.

    Long because the group and the single-cell paths share the progress, summary and Ctrl-C
    handling that make a killed run's counts right."""
    from benchmark import context
    from benchmark.run_summary import RunSummary

    stream = stream or sys.stderr   # looked up now: sys.stderr may have been replaced since import
    summary = RunSummary() if summary is None else summary
    todo = [c for c in cells if cell_status(out, c) != "done"]
    summary.plan(len(cells), len(cells) - len(todo))
    counts = summary.counts
    if counts["skipped"]:
        print(f"{counts['skipped']} of {len(cells)} cells already done in {out}; running the other {len(todo)}",
              file=stream)
    bar = RunProgress(todo, plan, progress=progress, stream=stream)
    contexts = {}
    log_from = len(context.ARTIFACT_LOG)
    groups = {}    # group key -> every member among ``cells`` (done or not): the bank holds them all
    for cell in cells:
        if cell.group:
            groups.setdefault(cell.group_key, {}).setdefault(cell.key, cell)
    started = set()

    def ran(cell, record):
        nonlocal log_from
        running = summary.running
        summary.cell_ran(cell, record["status"], record.get("wall_s"))
        if cell.group:             # the group's other cells are still being written
            summary.running = running
        bar.built([e for e in context.ARTIFACT_LOG[log_from:] if e["built"]])
        log_from = len(context.ARTIFACT_LOG)
        bar.finished(cell)
        if record["status"] == "failed":
            bar.write(f"cell {cell.describe()} FAILED: {record['error']}")
        else:
            acc = record.get("metrics", {}).get("accuracy")
            bar.write(f"cell {cell.describe()} done in {record['wall_s']:.0f} s"
                      + (f": accuracy {acc:.4f}" if acc is not None else ""))

    try:
        for cell in todo:
            if cell.group_key in started:
                continue
            bar.starts(cell)
            ctx_key = config_hash(cell.config)
            if ctx_key not in contexts:
                # keep one: prepared prompts reused
                contexts = {ctx_key: context.Context(cell.config, progress=progress)}
            if cell.group:
                started.add(cell.group_key)
                members = list(groups[cell.group_key].values())
                summary.running = f"the group of {', '.join(c.describe() for c in members)}"
                run_group(members, out, progress=progress, context=contexts[ctx_key], on_record=ran)
                summary.running = None
            else:
                summary.running = cell.describe()
                ran(cell, run_cell(cell, out, progress=progress, context=contexts[ctx_key]))
    finally:
        bar.close()   # on Ctrl-C too: the run's summary is printed below the bar, not into it
    return dict(counts)


class RunProgress:
    """The whole run's progress bar. Without a plan it counts cells; with one, each cell and each
    artefact to build advances it by its estimated seconds (``run_plan``), so the rate, and so the
    ETA, is measured against the whole run's estimate: artefacts built inside a cell count when the
    cell ends. A stage without an estimate weighs the median of those with one (1 where none has)."""

    def __init__(self, todo: list[Cell], plan=None, *, progress: bool = True, stream=None):
        from tqdm.auto import tqdm

        self._tqdm = tqdm
        self.stream = stream
        self.cells, self.n_cells = 0, len(todo)
        self.arts, self.n_arts = 0, len(plan.to_build) if plan else 0
        self.plan = plan
        costs = [s.each_s for s in plan.stages if s.each_s] if plan else []
        self.fallback = sorted(costs)[len(costs) // 2] if costs else 1.0
        total = sum(self._cost("cell", c.method) for c in todo) + \
            sum(self._cost("artefact", kind) for kind, _ in (plan.to_build if plan else []))
        fmt = "{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]" if plan else None
        self.bar = tqdm(total=total, desc="run" if plan else "cells", unit="cell", disable=not progress,
                        dynamic_ncols=True, file=stream, bar_format=fmt)

    def _cost(self, what: str, name: str) -> float:
        if self.plan is None:
            return 1.0
        return self.plan.cost(what, name) or self.fallback

    def _postfix(self, running: str) -> None:
        if self.plan is None:
            self.bar.set_postfix_str(running)
            return
        arts = f", artefacts {self.arts}/{self.n_arts}" if self.n_arts else ""
        self.bar.set_postfix_str(f"cells {self.cells}/{self.n_cells}{arts}" + (f": {running}" if running else ""))

    def starts(self, cell: Cell) -> None:
        self._postfix(cell.describe())

    def built(self, events: list) -> None:
        """Artefacts a cell built (``context.ARTIFACT_LOG`` entries); only planned ones move the bar."""
        planned = {f"{kind}/{digest}" for kind, digest in (self.plan.to_build if self.plan else [])}
        for e in events:
            if f"{e['kind']}/{e['hash']}" in planned:
                self.arts += 1
                self._postfix("")
                self.bar.update(self._cost("artefact", e["kind"]))

    def finished(self, cell: Cell) -> None:
        self.cells += 1
        self._postfix("")
        self.bar.update(self._cost("cell", cell.method))

    def write(self, text: str) -> None:
        self._tqdm.write(text, file=self.stream)

    def close(self) -> None:
        self.bar.close()
