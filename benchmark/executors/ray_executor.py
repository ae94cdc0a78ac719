"""The Ray executor: the local executor's cells as Ray tasks, shared artefacts first.

``python -m benchmark run --suite NAME --executor ray [--address auto|HOST:PORT]``

Every missing or failed cell runs as one Ray task calling ``runner.run_cell`` (so it writes the
very same ``cells/<hash>.json`` and ``logs/<hash>.log`` as the local executor). The shared work a
cell needs runs before it as its own tasks, each built once however many cells need it, in the
order the artefacts depend on each other::

    data (every task's rows, stand-ins unpacked)
      -> pseudo-labels -> embeddings -> clusterings -> artefacts (pre-trained / meta-learned prompts)
        -> the downstream cells that need them

What a cell needs is what its method declares (``Method.needs``: pre-training data, meta-task
grouping, artefact kind). A cell that needs none of it (FT, PT) starts as soon as the data is
there. Each task asks for one CPU and, when the profile runs on a GPU (``device: cuda``, or
``auto`` on a cluster that has GPUs), one GPU. A task whose worker dies (killed, node lost) is retried by Ray
(``max_retries``); an artefact build resumes from its checkpoint. A stage that fails does not
stop the suite: the cells that need it run, fail on the same error and are recorded as failed
with the reason, like the local executor does.

Without ``--address`` a Ray cluster is started inside this process on the loopback interface
(usage statistics off, no dashboard); ``auto`` connects to the cluster already running on this
machine (``ray start --head``), ``HOST:PORT`` to that cluster's GCS. The cluster's Python must
be able to import this package (installed, or a shared checkout: its root is put on the
workers' ``PYTHONPATH``) and see the same cache (``METAPT_CACHE`` is forwarded).
"""
from __future__ import annotations

import os
import pathlib
import sys
import time

from benchmark.errors import UserError
from benchmark.io import config_hash

ROOT = pathlib.Path(__file__).resolve().parents[2]
FORWARD_ENV = ("METAPT_CACHE", "METAPT_OFFLINE", "METAPT_TASKS_PATH", "METAPT_METHODS", "METAPT_FAULT",
               "HF_HUB_OFFLINE", "HF_HOME", "TRANSFORMERS_OFFLINE", "TRANSFORMERS_VERBOSITY", "TOKENIZERS_PARALLELISM")
MAX_RETRIES = 3


def _ray():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")   # never report usage anywhere
    import ray

    return ray


def runtime_env() -> dict:
    env = {name: os.environ[name] for name in FORWARD_ENV if name in os.environ}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                                                       if p])
    return {"env_vars": env}


def connect(address: str | None = None, *, num_cpus: int | None = None) -> None:
    """Join the cluster at ``address`` (``auto`` / ``HOST:PORT``), or start one here (``None``).

    Reuses a connection this process already has. Raises UserError when the cluster cannot be
    reached, naming the address.
    """
    ray = _ray()
    if ray.is_initialized():
        return
    if address not in (None, "auto"):
        _reachable(address)
    try:
        if address is None:
            ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False, log_to_driver=False,
                     runtime_env=runtime_env(), _node_ip_address="127.0.0.1", configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False, runtime_env=runtime_env(), configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        raise UserError(f"cannot reach a Ray cluster at --address {address} ({str(exc).splitlines()[0]})",
                        hint="start one with `ray start --head --node-ip-address 127.0.0.1` and pass "
                             "--address auto, or leave --address out to start a local cluster; a cluster "
                             "with token authentication also needs its token (RAY_AUTH_TOKEN or "
                             "RAY_AUTH_TOKEN_PATH) in this environment") from exc


def _reachable(address: str, timeout: float = 3.0) -> None:
    """Fail fast (Ray itself retries an unreachable GCS for minutes): the port must accept a connection."""
    import socket

    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise UserError(f"cannot reach a Ray cluster at --address {address} ({exc.strerror or exc})",
                        hint="start one with `ray start --head --node-ip-address 127.0.0.1` and pass its "
                             "address (or auto), or leave --address out to start a local cluster") from exc


def _gpus(cfg: dict) -> float:
    ray = _ray()
    if cfg.get("device") == "cuda":
        return 1
    if cfg.get("device") == "auto" and ray.cluster_resources().get("GPU", 0) > 0:
        return 1
    return 0


# -- the stage functions (run in Ray workers) --------------------------------------------------

def _worker_report(log_from: int) -> dict:
    """What this task read and built, and its worker's peak RSS, for the driver's run summary."""
    from benchmark import context, run_summary

    return {"artifacts": context.ARTIFACT_LOG[log_from:], "peak_rss_mib": run_summary.peak_rss_mib()}


def _stage(name, fn):
    """Run a stage; an error is returned, not raised: the cells that need it record it as theirs."""
    from benchmark import context

    started, log_from = time.time(), len(context.ARTIFACT_LOG)
    try:
        fn()
        return {"stage": name, "ok": True, "wall_s": round(time.time() - started, 2), **_worker_report(log_from)}
    except Exception as exc:  # noqa: BLE001 - reported by the cells that need this stage
        return {"stage": name, "ok": False, "error": f"{type(exc).__name__}: {exc}", **_worker_report(log_from)}


def _worker_logging() -> None:
    """As `run` sets it up in the driver: INFO from the suite's loggers goes to each cell's log file."""
    import logging

    for name in ("benchmark", "baselines", "tasksets"):
        logging.getLogger(name).setLevel(logging.INFO)


def _context(cfg):
    from benchmark.context import Context

    _worker_logging()

    return Context(cfg, progress=False)


def stage_data(cfg: dict, tasks: list[str]) -> dict:
    def go():
        ctx = _context(cfg)
        for task in tasks:
            ctx.rows(task)
    return _stage("data", go)


def _pool(ctx, data: str) -> dict:
    return ctx.pseudo_labelled() if data == "pseudo" else ctx.labelled_pool()


def stage_pseudo_labels(cfg: dict, *_deps) -> dict:
    return _stage("pseudo-labels", lambda: _context(cfg).pseudo_labelled())


def stage_embeddings(cfg: dict, data: str, *_deps) -> dict:
    def go():
        from benchmark import encoders

        ctx = _context(cfg)
        encoders.embed(cfg["encoder"], _pool(ctx, data)["texts"])
    return _stage("embeddings", go)


def stage_clustering(cfg: dict, data: str, grouping: str, draw: int, *_deps) -> dict:
    def go():
        import numpy as np

        ctx = _context(cfg)
        pool = _pool(ctx, data)
        pre = cfg["pretrain"]
        ctx.tasksets(grouping, pool["texts"], np.asarray(pool["labels"]), k=pre["k"], m=pre["m"], seed=draw)
    return _stage("clusterings", go)


def stage_artifact(cfg: dict, method_name: str, draw: int, *_deps) -> dict:
    """One artefact, of one pre-training draw, one task each (under ``pretrain.draw_block`` > 1 the task
    of a block's first draw needed builds the whole block, as ``Method.prepare`` does everywhere)."""
    def go():
        from baselines import get_method

        _context(cfg).drawn(draw).prepared(get_method(method_name))
    return _stage(f"artefact {method_name}", go)


def cell_task(cell_fields: dict, out: str, precision_record=None, *_deps) -> dict:
    from benchmark import context, precision, runner

    _worker_logging()
    precision.adopt(precision_record)   # the driver's bf16 decision, for the cell's machine record
    cell = runner.Cell(**cell_fields)
    log_from = len(context.ARTIFACT_LOG)
    record = runner.run_cell(cell, pathlib.Path(out), progress=False)
    return {"status": record["status"], "error": record.get("error"), "wall_s": record.get("wall_s"),
            "accuracy": (record.get("metrics") or {}).get("accuracy"), **_worker_report(log_from)}


def group_task(members: list, out: str, precision_record=None, *_deps) -> dict:
    """The cells of one group (``runner.assign_groups``) tuned in one bank on one worker, as the local
    executor tunes them (``runner.run_group``: every member in the bank, the missing ones written)."""
    from benchmark import context, precision, runner

    _worker_logging()
    precision.adopt(precision_record)
    cells = [runner.Cell(**fields) for fields in members]
    log_from = len(context.ARTIFACT_LOG)
    records = runner.run_group(cells, pathlib.Path(out), progress=False)
    return {"members": {r["key"]: {"status": r["status"], "error": r.get("error"), "wall_s": r.get("wall_s"),
                                   "accuracy": (r.get("metrics") or {}).get("accuracy")} for r in records},
            **_worker_report(log_from)}


def _fields(cell) -> dict:
    return {"suite": cell.suite, "method": cell.method, "task": cell.task, "seed": cell.seed, "point": cell.point,
            "config": cell.config, "method_version": cell.method_version, "run": cell.run, "group": cell.group}


# -- the driver --------------------------------------------------------------------------------

def plan(cells, ctx_for) -> tuple[list[tuple], dict]:
    """The stage graph for ``cells``: a list of (key, function name, args, dependency keys) in an
    order where every dependency comes first, and {cell key: dependency keys}."""
    from baselines import get_method
    from tasksets.groupings import NEEDS_EMBEDDINGS

    stages: dict = {}
    order: list = []

    def add(key, fn, args, deps):
        if key not in stages:
            stages[key] = (key, fn, args, tuple(deps))
            order.append(key)
        return key

    cell_deps = {}
    by_cfg: dict = {}
    for cell in cells:
        by_cfg.setdefault(config_hash(cell.config), []).append(cell)
    for cfg_key, group in by_cfg.items():
        cfg = group[0].config
        ctx = ctx_for(cfg)
        # what each method declares it needs (baselines.base.Needs), never inferred from its type or name
        needs = {m: get_method(m).needs(ctx) for m in sorted({c.method for c in group})}
        tasks = sorted({c.task for c in group})
        pre = cfg["pretrain"]
        if any(n.pretrain_data for n in needs.values()):
            pseudo = any(n.pretrain_data == "pseudo" for n in needs.values())
            tasks = sorted(set(tasks) | {pre["labelled_pool"]} | ({pre["unlabelled"]} if pseudo else set()))
        data = add(("data", cfg_key), "stage_data", (cfg, tasks), [])
        for cell in group:
            n = needs[cell.method]
            draw = ctx.for_seed(cell.seed).draw_seed    # the pre-training draw the cell tunes from
            deps = [data]
            if n.pretrain_data == "pseudo":
                deps = [add(("pseudo-labels", config_hash(ctx.pseudo_labelled_key())), "stage_pseudo_labels",
                             (cfg,), deps)]
            if n.pretrain_data:
                data_key = config_hash(ctx.pseudo_labelled_key() if n.pretrain_data == "pseudo"
                                       else ctx.labelled_pool_key())
            if n.grouping:
                if n.grouping in NEEDS_EMBEDDINGS:
                    deps = [add(("embeddings", cfg["encoder"], data_key), "stage_embeddings",
                                (cfg, n.pretrain_data), deps)]
                deps = [add(("clusterings", n.grouping, data_key, pre["k"], pre["m"], draw,
                             pre["val_fraction"]), "stage_clustering", (cfg, n.pretrain_data, n.grouping, draw), deps)]
            if n.artifact_kind:
                key = config_hash(get_method(cell.method).stored_key(ctx.drawn(draw)))
                deps = [add(("artefact", n.artifact_kind, key), "stage_artifact", (cfg, cell.method, draw), deps)]
            cell_deps[cell.key] = tuple(deps)
    return [stages[k] for k in order], cell_deps


def _failed_record(cell, error: str) -> dict:
    """A cell whose Ray task never wrote its own record (its worker died past the retries)."""
    from benchmark import runner

    return dict(runner.cell_record(cell, status="failed", error=error), provenance={}, wall_s=None, executor="ray")


def run_cells(cells, out: pathlib.Path, *, address: str | None = None, progress: bool = True,
              stream=None, max_retries: int = MAX_RETRIES, summary=None) -> dict:
    """Run every missing or failed cell on Ray; the same counts (and ``summary``) as ``runner.run_cells``.
    Long because it owns the Ray session: connect, submit the artefact stages and the cells, collect, retry and shut
    down inside one ``try``."""
    stream = stream or sys.stderr
    from benchmark import precision, runner
    from benchmark.context import Context
    from benchmark.io import write_json
    from benchmark.run_summary import RunSummary

    ray = _ray()
    connect(address)
    out = pathlib.Path(out)
    summary = RunSummary(executor="ray") if summary is None else summary
    todo = [c for c in cells if runner.cell_status(out, c) != "done"]
    summary.plan(len(cells), len(cells) - len(todo))
    counts = summary.counts
    if counts["skipped"]:
        print(f"{counts['skipped']} of {len(cells)} cells already done in {out}; running the other {len(todo)}",
              file=stream)
    if not todo:
        return dict(counts)
    contexts: dict = {}

    def ctx_for(cfg):
        key = config_hash(cfg)
        if key not in contexts:
            contexts[key] = Context(cfg, progress=False)
        return contexts[key]

    # a group is one task: all its members (done ones too: the bank holds every member) on one worker
    groups: dict = {}
    for cell in todo:
        if cell.group:
            groups.setdefault(cell.group_key, []).append(cell)
    members = {key: [c for c in cells if c.group_key == key] for key in groups}
    stages, cell_deps = plan(list({c.key: c for c in [*todo, *(c for m in members.values() for c in m)]}.values()),
                             ctx_for)
    functions = {name: ray.remote(globals()[name]) for name in
                 {"stage_data", "stage_pseudo_labels", "stage_embeddings", "stage_clustering", "stage_artifact",
                  "cell_task", "group_task"}}
    refs: dict = {}
    for key, fn, args, deps in stages:
        opts = {"num_cpus": 1, "num_gpus": _gpus(args[0]), "max_retries": max_retries, "retry_exceptions": False}
        refs[key] = functions[fn].options(name=f"{key[0]}", **opts).remote(*args, *[refs[d] for d in deps])
    pending: dict = {}     # ref -> the cells to do that its task writes
    for cell in todo:
        if cell.group:
            continue
        opts = {"num_cpus": 1, "num_gpus": _gpus(cell.config), "max_retries": max_retries, "retry_exceptions": False}
        ref = functions["cell_task"].options(name=f"cell {cell.describe()}", **opts).remote(
            _fields(cell), str(out), precision.recorded(), *[refs[d] for d in cell_deps[cell.key]])
        pending[ref] = [cell]
    for key, group_todo in groups.items():
        opts = {"num_cpus": 1, "num_gpus": _gpus(group_todo[0].config), "max_retries": max_retries,
                "retry_exceptions": False}
        deps = list(dict.fromkeys(d for c in members[key] for d in cell_deps[c.key]))
        ref = functions["group_task"].options(name=f"group {group_todo[0].task}/s{group_todo[0].seed}", **opts).remote(
            [_fields(c) for c in members[key]], str(out), precision.recorded(), *[refs[d] for d in deps])
        pending[ref] = group_todo
    print(f"ray: {len(stages)} shared stages and {len(todo)} cells submitted"
          + (f" ({len(groups)} groups, one task each)" if groups else ""), file=stream)
    stage_refs = {ref: key for key, ref in refs.items()}
    while pending or stage_refs:   # the stages' reports too: what they built, for the run's summary
        ready, _ = ray.wait([*pending, *stage_refs], num_returns=1)
        if ready[0] in stage_refs:
            stage_refs.pop(ready[0])
            try:
                summary.worker_report(ray.get(ready[0]))
            except Exception:  # noqa: BLE001 - a stage whose worker died: its cells report the failure
                pass
            continue
        todo_cells = pending.pop(ready[0])
        try:
            result = ray.get(ready[0])
        except Exception as exc:  # noqa: BLE001 - the worker died more than max_retries times
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".strip()
            for cell in todo_cells:
                if runner.cell_status(out, cell) != "done":   # never overwrite a finished result
                    write_json(runner.cell_path(out, cell), _failed_record(cell, error), checksum=True)
            result = {"status": "failed", "error": error}
        summary.worker_report(result)
        for cell in todo_cells:
            got = result["members"].get(cell.key) if "members" in result else result
            got = got or {"status": "failed", "error": "its group wrote no record for it"}
            summary.cell_ran(cell, got["status"], got.get("wall_s"), worker_peak_rss_mib=result.get("peak_rss_mib"))
            if got["status"] == "failed":
                print(f"cell {cell.describe()} FAILED: {got['error']}", file=stream)
            else:
                acc = got.get("accuracy")
                print(f"cell {cell.describe()} done in {got['wall_s']:.0f} s" + (" (group)" if cell.group else "")
                      + (f": accuracy {acc:.4f}" if acc is not None else ""), file=stream)
    return dict(counts)


def shutdown() -> None:
    ray = _ray()
    if ray.is_initialized():
        ray.shutdown()
