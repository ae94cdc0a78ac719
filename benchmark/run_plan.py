"""What a ``run`` will do and what it will cost, before it spends anything (the counterpart of
``benchmark.run_summary``, which says what a run did).

A plan counts the cells done and to do, and the shared artefacts the cells to do need, cached or
to build (each method declares them: ``Method.artifacts``); it estimates the wall time of the work
left from per-stage costs: a cell of each method, a build of each artefact kind. A cost is
*measured* where the results folder holds it for this processor, profile and backbone (the median
``wall_s`` of its finished cells, less what a cell spent building artefacts where its run summary
says; the build times in its ``runs/*.json``, each without the artefacts built inside it), else the
*default* of ``stage_costs.yaml`` for the profile, which says where its figures come from. The run's
progress bar weighs each cell and artefact by the same
costs, so its ETA covers the artefacts as well as the cells.
"""
from __future__ import annotations

import dataclasses
import pathlib
import statistics

import yaml

DEFAULTS = pathlib.Path(__file__).with_name("stage_costs.yaml")


@dataclasses.dataclass
class Stage:
    """One kind of work left: the cells of a method, or the builds of an artefact kind."""

    what: str                 # "cell" or "artefact"
    name: str                 # the method, or the artefact kind
    count: int
    each_s: float | None      # None: no measured or default cost
    source: str               # "measured", "default" or "none"
    # builds in units of one at the profile's budget: pretrain.compute = 4 makes a pre-trained prompt 4 units
    units: float | None = None
    blocks: str | None = None  # the blocks of pre-training draws built together (pretrain.draw_block), named

    @property
    def total_s(self) -> float | None:
        return None if self.each_s is None else self.each_s * (self.count if self.units is None else self.units)


@dataclasses.dataclass
class RunPlan:
    cells: int
    done: int
    todo: list                # the cells to run (not done), in order
    status: dict              # cell key -> done / failed / missing
    cached: list              # (kind, hash) of the artefacts the cells to do read from the cache
    to_build: list            # (kind, hash) of those to build, in build order
    stages: list              # Stage, the work left
    measured_from: str | None = None
    default_from: str | None = None
    no_cost: str = ""          # why a stage has no cost

    def cost(self, what: str, name: str) -> float | None:
        """The estimated seconds of one cell of method ``name`` or one build of artefact kind ``name``."""
        for stage in self.stages:
            if stage.what == what and stage.name == name:
                return stage.each_s
        return None

    @property
    def total_s(self) -> float:
        return sum(s.total_s for s in self.stages if s.total_s is not None)

    def render(self) -> str:
        built = _counted(kind for kind, _ in self.to_build)
        lines = [f"plan: cells {self.done} done, {len(self.todo)} to do (of {self.cells}); artefacts "
                 f"{len(self.cached)} cached, {len(self.to_build)} to build" + (f" ({built})" if built else "")]
        if not self.stages:
            lines.append("  nothing to do: every cell is done")
            return "\n".join(lines)
        unknown = [s for s in self.stages if s.each_s is None]
        if len(unknown) == len(self.stages):
            lines.append(f"  estimated wall time: not known: {self.no_cost}; a first run measures it")
            return "\n".join(lines)
        cells = sum(s.total_s or 0 for s in self.stages if s.what == "cell")
        arts = sum(s.total_s or 0 for s in self.stages if s.what == "artefact")
        lines.append(f"  estimated wall time: {'at least ' if unknown else ''}"
                     f"{_duration(self.total_s)} (cells {_duration(cells)}, artefacts {_duration(arts)})")
        lines.append(f"    {'stage':28s} {'to do':>5s} {'each':>8s} {'total':>12s}  cost")
        for s in self.stages:
            each = "?" if s.each_s is None else f"{s.each_s:,.0f} s"
            total = "?" if s.total_s is None else _duration(s.total_s)
            scaled = "" if s.units is None else f" (x pretrain.compute: {s.units:g} builds' worth)"
            scaled += f"; {s.blocks}" if s.blocks else ""
            lines.append(f"    {s.what + ' ' + s.name:28s} {s.count:5d} {each:>8s} {total:>12s}  {s.source}{scaled}")
        if any(s.source == "measured" for s in self.stages):
            lines.append(f"  measured: {self.measured_from}")
        if any(s.source == "default" for s in self.stages):
            lines.append(f"  default: {self.default_from}")
        if unknown:
            lines.append(f"  none: {self.no_cost}; a first run measures them")
        return "\n".join(lines)


def make(cells: list, out: pathlib.Path, cfg: dict, *, artifacts_dir: pathlib.Path | None = None) -> RunPlan:
    """The plan of running ``cells`` into results folder ``out`` under the resolved settings ``cfg``."""
    from benchmark import runner

    status = {cell.key: runner.cell_status(out, cell) for cell in cells}
    todo = [cell for cell in cells if status[cell.key] != "done"]
    cached, to_build, scale, blocks = _artifacts(todo, artifacts_dir)
    measured_cells, measured_arts, where = _measured(pathlib.Path(out), cfg)
    default = _defaults(cfg)
    stages = []
    for method, count in _counts(cell.method for cell in todo).items():
        stages.append(_stage("cell", method, count, measured_cells.get(method), default.get("cells", {}).get(method)))
    for kind, count in _counts(kind for kind, _ in to_build).items():
        stage = _stage("artefact", kind, count, measured_arts.get(kind), default.get("artifacts", {}).get(kind))
        units = sum(scale.get(item, 1) for item in to_build if item[0] == kind)
        stage = dataclasses.replace(stage, units=units) if units != count else stage
        stages.append(dataclasses.replace(stage, blocks=_blocks(blocks[kind])) if kind in blocks else stage)
    return RunPlan(cells=len(cells), done=len(cells) - len(todo), todo=todo, status=status, cached=cached,
                   to_build=to_build, stages=stages, measured_from=where,
                   default_from=" ".join(str(default.get("source", "")).split()) or None,
                   no_cost=f"no cost measured in {out} on this processor and no default in {DEFAULTS.name} for "
                           f"profile {cfg.get('profile')} with backbone {cfg.get('backbone')}")


def _stage(what, name, count, measured, default) -> Stage:
    if measured:
        return Stage(what, name, count, float(statistics.median(measured)), "measured")
    if default is not None:
        return Stage(what, name, count, float(default), "default")
    return Stage(what, name, count, None, "none")


def _counts(names) -> dict:
    out: dict = {}
    for name in names:
        out[name] = out.get(name, 0) + 1
    return out


def _counted(names) -> str:
    return ", ".join(name + (f" x{n}" if n > 1 else "") for name, n in _counts(names).items())


def _artifacts(todo: list, artifacts_dir) -> tuple[list, list, dict, dict]:
    """(cached, to build) artefacts of the cells to do, each (kind, hash) once: one chain per method and
    pre-training draw (``settings.draw_seed``: one per configuration, or one per seed under
    ``pretrain.draw: per-seed``); the ``pretrain.compute`` of each pre-trained prompt to build (a
    method's own artefact made from pre-training rows; its build time scales with it); and per artefact
    kind the blocks of draws built together. Under ``pretrain.draw_block`` > 1 a draw to build is built
    with its whole block (``Method.prepare``), so the block's other draws are built too, whether a cell
    of this run reads them or not. A chain is walked from its last artefact back: where one is cached,
    those it is made from are not needed."""
    from baselines import get_method
    from baselines.base import block_of, draw_block
    from benchmark.context import Context
    from benchmark.io import config_hash

    contexts: dict = {}
    cached: dict = {}
    to_build: dict = {}
    scale: dict = {}
    blocks: dict = {}
    seen = set()
    for cell in todo:
        ctx_key = config_hash(cell.config)
        if ctx_key not in contexts:
            contexts[ctx_key] = Context(cell.config, progress=False, artifacts_dir=artifacts_dir)
        ctx = contexts[ctx_key].for_seed(cell.seed)
        if (cell.method, ctx_key, ctx.draw_seed) in seen:
            continue
        seen.add((cell.method, ctx_key, ctx.draw_seed))
        method = get_method(cell.method)
        hit, chain = _chain(method, ctx)
        block = draw_block(cell.config) if cell.config["pretrain"].get("draw") is not None else 1
        if block > 1 and any(kind == method.artifact_kind for kind, _ in chain):
            draws = block_of(ctx.draw_seed, block)
            blocks.setdefault(method.artifact_kind, []).append(draws)
            for draw in draws:
                if (cell.method, ctx_key, draw) in seen:
                    continue
                more = _chain(method, ctx.drawn(draw))[1]
                if more:     # a draw of the block whose artefact is cached is read back, not saved again
                    seen.add((cell.method, ctx_key, draw))
                    chain += more
        if hit:
            cached[hit] = True
        for item in chain:
            to_build[item] = True
            if item[0] == method.artifact_kind and method.pretrain_data:
                scale[item] = cell.config["pretrain"].get("compute", 1)
    return list(cached), list(to_build), scale, blocks


def _chain(method, ctx) -> tuple[tuple | None, list]:
    """The cached artefact ``method``'s chain for ``ctx``'s draw stops at (None: none is), and the
    artefacts after it to build, in build order."""
    chain = []
    for kind, key in reversed(method.artifacts(ctx)):
        folder = ctx.artifact_folder(kind, key)
        if (folder / "artifact.json").exists():
            return (kind, folder.name), chain[::-1]
        chain.append((kind, folder.name))
    return None, chain[::-1]


def _blocks(blocks: list) -> str:
    """The blocks of a stage, named: "2 blocks of 2 draws built together (draws 0-1, 2-3)"."""
    ranges = ", ".join(f"{b[0]}-{b[-1]}" for b in sorted({tuple(b) for b in blocks}))
    return (f"{len(blocks)} block{'s' if len(blocks) > 1 else ''} of {len(blocks[0])} draws built together "
            f"(draws {ranges}), each draw costed as a build alone")


def _measured(out: pathlib.Path, cfg: dict) -> tuple[dict, dict, str]:
    """Wall times recorded in ``out`` on this processor under ``cfg``'s profile and backbone:
    ({method: [cell seconds]}, {artefact kind: [build seconds]}, where they come from)."""
    from benchmark import precision
    from benchmark.io import CorruptCacheEntry, read_json
    from benchmark.runner import read_cell

    cpu = precision.cpu_model()
    ours = lambda rec: (rec.get("profile") == cfg.get("profile") and rec.get("backbone") == cfg.get("backbone")  # noqa: E731
                        and (rec.get("machine") or {}).get("cpu_model") == cpu)
    arts: dict = {}
    building: dict = {}       # cell key -> seconds of its wall time spent building artefacts
    for path in sorted((out / "runs").glob("*.json")) if (out / "runs").is_dir() else []:
        try:
            summary = read_json(path)
        except (CorruptCacheEntry, OSError, ValueError):
            continue
        if not isinstance(summary, dict) or not ours(summary):
            continue
        for run in summary.get("cell_runs") or []:
            if run.get("artifacts_built_s"):
                building[run.get("key")] = float(run["artifacts_built_s"])
        built = summary.get("artifacts_built") or []
        for a in built:   # its own time: a build's time includes those of the artefacts built inside it
            inside = sum(b.get("build_s") or 0 for b in built if b.get("within") == f"{a['kind']}/{a['hash']}")
            if a.get("build_s") is not None:
                arts.setdefault(a["kind"], []).append(max(float(a["build_s"]) - inside, 0.0))
    cells: dict = {}
    for path in sorted((out / "cells").glob("*.json")) if (out / "cells").is_dir() else []:
        rec = read_cell(path)
        if rec and rec.get("status") == "done" and rec.get("wall_s") and ours(rec):
            own = float(rec["wall_s"]) - building.get(rec.get("key"), 0.0)
            cells.setdefault(rec["method"], []).append(max(own, 0.0))
    where = (f"median wall time of {out}'s finished cells and run summaries on this processor ({cpu}), "
             f"profile {cfg.get('profile')}, backbone {cfg.get('backbone')}")
    return cells, arts, where


def _defaults(cfg: dict) -> dict:
    entry = (yaml.safe_load(DEFAULTS.read_text()) or {}).get(cfg.get("profile")) or {}
    return entry if entry.get("backbone") == cfg.get("backbone") else {}


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if seconds < 60:
        return f"{seconds:.0f} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
