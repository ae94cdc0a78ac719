"""Read a results folder (``<dir>/cells/*.json``, one per cell) and aggregate over seeds.

A cell that cannot be read or lacks the fields a report needs is skipped with a warning, never an
exception: a report of a half-finished or partly damaged run is still a report.

>>> res = load("results")                       # doctest: +SKIP
>>> for g in res.select(suite="sentiment7", task="sst5"):
...     print(g.method, g.n, g.mean, g.std)      # accuracy as a fraction; std over seeds (ddof=1)
"""
from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import warnings

import numpy as np


class ResultWarning(UserWarning):
    """A result file was skipped or looks inconsistent."""


# The pre-training protocols a cell can be made under (``pretrain.draw``), and what each means for
# the intervals. Cells of the two are never paired: a report reads one protocol's cells.
SHARED, PER_SEED = "shared", "per-seed"
PROTOCOLS = {
    SHARED: "shared: one pre-trained (PPT) and one meta-learned prompt per configuration serve every seed, "
            "so the intervals do not sample their training randomness",
    PER_SEED: "per-seed: seed s tunes from the prompts pre-trained and meta-learned with seed s, so the "
              "intervals sample their training randomness with the seed",
}


def protocol(cell: dict) -> str:
    """The pre-training protocol ``cell`` was made under: ``per-seed`` where its config says
    ``pretrain.draw: per-seed``; else ``shared`` (no ``pretrain.draw``, as every cell made before the
    setting, or one integer draw shared by every seed)."""
    draw = ((cell.get("config") or {}).get("pretrain") or {}).get("draw")
    return PER_SEED if draw == PER_SEED else SHARED


def point_key(point: dict | None) -> str:
    """A hashable, order-free name for an ablation point ({} -> "{}")."""
    return json.dumps(point or {}, sort_keys=True, default=str)


def point_label(point: dict | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((point or {}).items()))


def _stats(values: list[float]) -> tuple[float, float]:
    """Mean and sample std (ddof=1; NaN with one value)."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return math.nan, math.nan
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else math.nan


@dataclasses.dataclass
class Group:
    """The done cells of one (suite, method, task, point), one per seed."""

    suite: str
    method: str
    task: str
    point: dict
    cells: list[dict]

    @property
    def seeds(self) -> list:
        return [c.get("seed") for c in self.cells]

    @property
    def n(self) -> int:
        return len(self.cells)

    def values(self, metric: str = "accuracy") -> list[float]:
        return [float(c["metrics"][metric]) for c in self.cells
                if isinstance(c.get("metrics", {}).get(metric), (int, float))]

    @property
    def accuracies(self) -> list[float]:
        return self.values("accuracy")

    @property
    def mean(self) -> float:
        return _stats(self.accuracies)[0]

    @property
    def std(self) -> float:
        return _stats(self.accuracies)[1]

    def stat(self, metric: str = "accuracy") -> tuple[float, float, int]:
        vals = self.values(metric)
        return (*_stats(vals), len(vals))

    def recall(self) -> dict[str, tuple[float, float, int]]:
        """Per label word: (mean, std, n) of recall over seeds."""
        per_word: dict[str, list[float]] = {}
        for c in self.cells:
            for word, v in (c.get("metrics", {}).get("recall") or {}).items():
                if isinstance(v, (int, float)):
                    per_word.setdefault(word, []).append(float(v))
        return {w: (*_stats(v), len(v)) for w, v in per_word.items()}

    @property
    def provenance(self) -> dict:
        """The provenance of this group's downstream task data (first seed)."""
        return provenances(self.cells[0]).get(self.task, {})

    @property
    def standin(self) -> bool:
        return any(provenances(c).get(self.task, {}).get("source") == "standin" for c in self.cells)

    @property
    def key(self) -> tuple:
        return (self.suite, self.method, self.task, point_key(self.point))


def provenances(cell: dict) -> dict[str, dict]:
    """Data name -> provenance record of one cell.

    The runner writes ``{"sst5": {...}, "yelp5": {...}}`` (every dataset the cell read); a single
    flat record (``{"source": ..., ...}``, as in docs/DESIGN.md) is taken as the cell's task's.
    """
    prov = cell.get("provenance") or {}
    if not isinstance(prov, dict):
        return {}
    if "source" in prov:
        return {prov.get("task") or cell.get("task"): prov}
    return {name: rec for name, rec in prov.items() if isinstance(rec, dict)}


def standin_label(provenance: dict) -> str:
    """What stands in for the paper's data, in words ("VADER movie-review snippets")."""
    title = str(provenance.get("title") or "")
    if " stand-in: " in title:  # data.py's "<task> stand-in: <what>"
        return title.split(" stand-in: ", 1)[1]
    for field in ("standin_title", "title", "origin", "standin_for", "task"):
        if provenance.get(field):
            return str(provenance[field])
    return "unnamed stand-in"


def reductions_of(cell: dict) -> dict:
    """What a cell scaled down from the paper: the record's ``reductions`` (runner:
    ``{dotted.key: {"paper": a, "here": b}}``), else ``config["reductions"]``."""
    red = cell.get("reductions")
    if not isinstance(red, dict) or not red:
        red = (cell.get("config") or {}).get("reductions")
    return red if isinstance(red, dict) else {}


def format_reduction(key: str, value) -> str:
    if isinstance(value, dict) and set(value) >= {"paper", "here"}:
        return f"{key}: {value['here']} (paper: {value['paper']})"
    return f"{key}: {value}"


class Results:
    """Every readable cell of a results folder, with its warnings and optional manifest."""

    def __init__(self, root: pathlib.Path, cells: list[dict], warnings_: list[str],
                 manifest: list[dict] | None, protocols: dict[str, str] | None = None,
                 mixed: dict[str, str] | None = None, other_protocol: set[tuple] | None = None):
        self.root = root
        self.cells = cells
        self.warnings = warnings_
        self.manifest = manifest  # expected cells ({"suite","method","task","seed","point","key"}) or None
        self.protocols = protocols or {}   # suite -> the pre-training protocol of its cells read
        self.mixed_lines = mixed or {}     # suite -> the line saying which protocol's cells were left out
        self._groups: dict[tuple, Group] | None = None
        self.other_protocol = other_protocol or set()   # places whose cell was left out for its protocol

    # -- pre-training protocol ----------------------------------------------------------------
    def protocol_of(self, suite: str | None) -> str | None:
        """The pre-training protocol of ``suite``'s cells read (None: no cell of it)."""
        return self.protocols.get(suite)

    def mixed_of(self, suite: str | None) -> str | None:
        """The line saying which of ``suite``'s cells were left out for their protocol, or None."""
        return self.mixed_lines.get(suite)

    @property
    def protocol(self) -> str | None:
        """The one protocol of every suite read, or None (no cell, or suites of different protocols)."""
        chosen = set(self.protocols.values())
        return chosen.pop() if len(chosen) == 1 else None

    @property
    def mixed(self) -> str | None:
        """Every suite's mixed-protocol line, joined, or None."""
        return "; ".join(self.mixed_lines[s] for s in sorted(self.mixed_lines)) or None

    # -- cells -------------------------------------------------------------------------------
    def done(self) -> list[dict]:
        return [c for c in self.cells if c.get("status") == "done"]

    def failed(self) -> list[dict]:
        return [c for c in self.cells if c.get("status") != "done"]

    def suites(self) -> list[str]:
        return sorted({c["suite"] for c in self.cells})

    # -- aggregation -------------------------------------------------------------------------
    def groups(self) -> dict[tuple, Group]:
        """(suite, method, task, point_key) -> Group of done cells that carry an accuracy."""
        if self._groups is None:
            self._groups = _group(self.done(), self.warnings)
        return self._groups

    def select(self, suite: str | None = None, method=None, task=None, axis=None,
               point: dict | None = None) -> list[Group]:
        """Groups matching every given filter; ``method``/``task`` may be a name or a collection;
        ``axis`` (a name or a collection of alternative names) keeps groups whose point has one of
        those axes; ``point`` an exact point."""
        axes = None if axis is None else ({axis} if isinstance(axis, str) else set(axis))
        def ok(value, want):
            return want is None or (value == want if isinstance(want, str) else value in want)

        out = [g for g in self.groups().values()
               if ok(g.suite, suite) and ok(g.method, method) and ok(g.task, task)
               and (axes is None or axes & set(g.point))
               and (point is None or point_key(g.point) == point_key(point))]
        return sorted(out, key=lambda g: (g.suite, g.task, g.method, point_key(g.point)))

    # -- what is not there -------------------------------------------------------------------
    def missing(self, suite: str | None = None) -> list[dict]:
        """Manifest cells with no done result: each expected cell plus ``state`` ("missing" or
        "failed") and, for failed ones, ``error``. Empty without a manifest. A cell left out for its
        pre-training protocol is not missing: it is there, and the mixed-protocol line says so."""
        if not self.manifest:
            return []
        done = {_cell_id(c) for c in self.done()}
        failed = {_cell_id(c): c for c in self.failed()}
        out = []
        for exp in self.manifest:
            if suite is not None and exp.get("suite") != suite:
                continue
            cid = _cell_id(exp)
            if cid in done or cid in self.other_protocol:   # the mixed-protocol line accounts for the latter
                continue
            row = dict(exp, state="failed" if cid in failed else "missing")
            if cid in failed:
                row["error"] = failed[cid].get("error")
            out.append(row)
        return out


def _cell_id(c: dict) -> tuple:
    return (c.get("suite"), c.get("method"), c.get("task"), c.get("seed"), point_key(c.get("point")))


def _group(cells: list[dict], warns: list[str]) -> dict[tuple, Group]:
    by_key: dict[tuple, dict] = {}
    for c in cells:
        acc = (c.get("metrics") or {}).get("accuracy")
        if not isinstance(acc, (int, float)) or isinstance(acc, bool):
            continue  # e.g. a t-SNE cell: used by figures, not by tables
        key = (c["suite"], c["method"], c["task"], point_key(c.get("point")))
        seeds = by_key.setdefault(key, {})
        prev = seeds.get(c.get("seed"))
        if prev is not None:
            keep = max(prev, c, key=lambda x: (x.get("_mtime", 0), x.get("_path", "")))
            drop = c if keep is prev else prev
            _warn(warns, f"{drop.get('_path')}: duplicate of seed {c.get('seed')} in "
                         f"{key[:3]} {key[3]}; using the newer {keep.get('_path')}")
            c = keep
        seeds[c.get("seed")] = c
    groups = {}
    for key, seeds in by_key.items():
        g_cells = [seeds[s] for s in sorted(seeds, key=lambda s: (str(type(s)), s))]
        for field in ("profile", "backbone"):
            vals = {str(c.get(field)) for c in g_cells}
            if len(vals) > 1:
                _warn(warns, f"{key[:3]} {key[3]} mixes {field}s {sorted(vals)} across seeds; "
                             f"filter with --{field}")
        groups[key] = Group(key[0], key[1], key[2], json.loads(key[3]), g_cells)
    return groups


def _warn(warns: list[str], message: str) -> None:
    warns.append(message)
    warnings.warn(message, ResultWarning, stacklevel=3)


def _check(obj, path: pathlib.Path) -> str | None:
    """Why a parsed cell cannot be used, or None."""
    if not isinstance(obj, dict):
        return "not a JSON object"
    for field in ("suite", "method", "task"):
        if not isinstance(obj.get(field), str) or not obj.get(field):
            return f"no {field!r}"
    if "status" not in obj:
        return "no 'status'"
    if obj.get("point") is not None and not isinstance(obj.get("point"), dict):
        return "'point' is not an object"
    if obj.get("metrics") is not None and not isinstance(obj.get("metrics"), dict):
        return "'metrics' is not an object"
    return None


def load(root, *, profile: str | None = None, backbone: str | None = None, protocol: str | None = None) -> Results:
    """Read ``root/cells/*.json`` (and ``root/manifest.json`` if present).

    Unreadable or malformed files are skipped with a :class:`ResultWarning` (also kept in
    ``Results.warnings``). ``profile``/``backbone`` keep only cells of that profile/backbone.
    ``protocol`` (``shared`` or ``per-seed``) keeps only cells of that pre-training protocol; without
    it, each suite holding both keeps its per-seed cells and says so in one line (``Results.mixed_of``).
    """
    root = pathlib.Path(root)
    warns: list[str] = []
    cells = []
    for path in sorted((root / "cells").glob("*.json")):
        try:
            obj = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            _warn(warns, f"{path}: skipped, not readable JSON ({exc})")
            continue
        # results written with benchmark.io.write_json(checksum=True) wrap the cell
        if isinstance(obj, dict) and set(obj) == {"sha256", "payload"}:
            obj = obj["payload"]
        why = _check(obj, path)
        if why:
            _warn(warns, f"{path}: skipped, {why}")
            continue
        if profile is not None and obj.get("profile") != profile:
            continue
        if backbone is not None and obj.get("backbone") != backbone:
            continue
        obj["point"] = obj.get("point") or {}
        obj["_path"] = str(path)
        try:
            obj["_mtime"] = path.stat().st_mtime
        except OSError:
            obj["_mtime"] = 0
        cells.append(obj)
    manifest = _manifest(root, warns)
    own = current(cells, manifest)
    # the copies a cell makes for the other suites that expect it are judged by their own suite's protocol
    read = own + _shared(own, manifest, pool=cells)
    cells, chosen, mixed = one_protocol(read, protocol, root)
    for suite in sorted(mixed):
        _warn(warns, mixed[suite])
    left_out = {_cell_id(c) for c in read} - {_cell_id(c) for c in cells}
    return Results(root, cells, warns, manifest, chosen, mixed, left_out)


def one_protocol(cells: list[dict], want: str | None = None, root=None) -> tuple[list[dict], dict, dict]:
    """The cells of one pre-training protocol per suite: ``want`` in every suite, else per-seed in a
    suite that holds any per-seed cell, shared in the others. A suite is one run's design, so a folder
    may hold a per-seed suite beside a suite left at one shared draw (a figure's points), yet within a
    suite the two are never paired. Returns the cells kept, ``{suite: protocol}`` and
    ``{suite: the line saying what was left out}`` for each suite holding both."""
    from baselines import reads_a_draw

    counts: dict[str, dict[str, int]] = {}
    for c in cells:
        if reads_a_draw(c.get("method")):
            counts.setdefault(c.get("suite"), dict.fromkeys(PROTOCOLS, 0))[protocol(c)] += 1
    anywhere = PER_SEED if any(n[PER_SEED] for n in counts.values()) else SHARED
    # a suite of methods without a draw (FT, PT) is the same computation, and has the same keys, under
    # either protocol: it belongs to both and is named by the folder's
    chosen = {c.get("suite"): want or anywhere for c in cells}
    chosen.update({s: want or (PER_SEED if n[PER_SEED] else SHARED) for s, n in counts.items()})
    kept = [c for c in cells if not reads_a_draw(c.get("method")) or protocol(c) == chosen[c.get("suite")]]
    where = f"{root} holds" if root is not None else "these cells hold"
    mixed = {}
    for suite, n in counts.items():
        if n[SHARED] and n[PER_SEED]:
            use = chosen[suite]
            other = SHARED if use == PER_SEED else PER_SEED
            mixed[suite] = (f"{where} {suite} cells of both pre-training protocols ({n[SHARED]} shared, "
                            f"{n[PER_SEED]} per-seed): this report reads the {n[use]} {use} cells only and never "
                            f"pairs the two (the {other} ones: --protocol {other})")
    return kept, chosen, mixed


def current(cells: list[dict], manifest: list[dict] | None) -> list[dict]:
    """The cells that are their own place's result: all of them without a manifest; with one, a cell
    whose place (suite, method, task, seed, point) the manifest lists under another key is left out.
    The runner replaces a place's entry when it is run again under other settings (another protocol,
    a changed setting), so the cell it superseded is not that place's result, as in
    ``runner.listed_keys``; it still counts where another suite's entry names its key."""
    if not manifest:
        return list(cells)
    listed = {_cell_id(e): e["key"] for e in manifest if isinstance(e.get("key"), str)}
    return [c for c in cells if listed.get(_cell_id(c), c.get("key")) == c.get("key")]


def _shared(cells: list[dict], manifest: list[dict] | None, pool: list[dict] | None = None) -> list[dict]:
    """A cell that several suites expect counts for each of them.

    Cells are keyed by their config, so one cell can be two suites' point: sentiment7's MetaPT SST-5
    cell is Figure 3b's K = 10 point and Figure 3a's default-rows point. The runner writes it once,
    under the suite that ran it first, and skips it in the others; the manifest names every suite
    that expects its key. Each such suite gets a copy with its own suite and axis point
    (``shared_from`` says where it was written). The copies are made from ``pool`` (default
    ``cells``), which may hold cells superseded at their own place."""
    if not manifest:
        return []
    by_key = {c["key"]: c for c in (cells if pool is None else pool) if isinstance(c.get("key"), str)}
    have = {_cell_id(c) for c in cells}
    out = []
    for entry in manifest:
        c = by_key.get(entry.get("key"))
        if c is None or c.get("method") != entry.get("method") or c.get("task") != entry.get("task") \
                or c.get("seed") != entry.get("seed"):
            continue
        alias = dict(c, suite=entry["suite"], point=entry.get("point") or {}, shared_from=c["suite"])
        if _cell_id(alias) not in have:
            have.add(_cell_id(alias))
            out.append(alias)
    return out


def _manifest(root: pathlib.Path, warns: list[str]) -> list[dict] | None:
    path = root / "manifest.json"
    if not path.exists():
        return None
    try:
        obj = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        _warn(warns, f"{path}: ignored, not readable JSON ({exc})")
        return None
    manifests = obj if isinstance(obj, list) else [obj]
    expected = []
    for m in manifests:
        if not isinstance(m, dict) or not isinstance(m.get("cells"), list):
            _warn(warns, f"{path}: ignored an entry without a 'cells' list")
            continue
        for c in m["cells"]:
            if isinstance(c, dict):
                expected.append({"suite": c.get("suite", m.get("suite")), "method": c.get("method"),
                                 "task": c.get("task"), "seed": c.get("seed"),
                                 "point": c.get("point") or {}, "key": c.get("key")})
    return expected


def describe(cells_or_groups, downstream=()) -> dict:
    """What a table or figure was made from: profiles, backbones, reductions, stand-ins.

    Returns ``{"profiles": [...], "backbones": [...], "reductions": [dict, ...] (distinct),
    "standins": {data name: what stands in}, "standin_for": {data name: the paper's data}}``.
    A data name in ``downstream`` (the downstream tasks) counts only when it is one of the items'
    own tasks: a cell shared with another suite records every task of the run that wrote it, and a
    one-task figure read from it shows one task.
    """
    cells = []
    for x in cells_or_groups:
        cells.extend(x.cells if isinstance(x, Group) else [x])
    shown = {c.get("task") for c in cells}
    reductions: list[dict] = []
    standins: dict[str, str] = {}
    standin_for: dict[str, str] = {}
    for c in cells:
        red = reductions_of(c)
        if red and red not in reductions:
            reductions.append(red)
        for name, prov in provenances(c).items():
            if name in downstream and name not in shown:
                continue
            if prov.get("source") == "standin" and name not in standins:
                standins[name] = standin_label(prov)
                standin_for[name] = str(prov.get("standin_for") or name)
    return {"profiles": sorted({str(c.get("profile")) for c in cells if c.get("profile")}),
            "backbones": sorted({str(c.get("backbone")) for c in cells if c.get("backbone")}),
            "reductions": reductions, "standins": standins, "standin_for": standin_for}


def pick(res: Results, suite: str, *, need=None, **filters) -> tuple[str, list[Group], str]:
    """Groups of ``suite`` matching ``filters`` (see :meth:`Results.select`).

    If the folder has no cell of that suite at all, the suite with most matching groups is used
    instead and the third value says so (e.g. a suite renamed in ``benchmark/suites``); with
    ``need`` (method names) only a suite holding one of those methods qualifies.
    Returns ``(suite used, groups, note)``.
    """
    groups = res.select(suite=suite, **filters)
    if groups or any(c.get("suite") == suite for c in res.cells):
        return suite, groups, ""
    counts: dict[str, int] = {}
    for g in res.select(**filters):
        counts[g.suite] = counts.get(g.suite, 0) + 1
    if need is not None:
        have = {g.suite for g in res.select(**filters) if g.method in need}
        counts = {s: n for s, n in counts.items() if s in have}
    if not counts:
        return suite, [], ""
    other = max(sorted(counts), key=counts.get)
    return other, res.select(suite=other, **filters), (
        f"(No cells of suite '{suite}'; showing matching cells of suite '{other}'.)")
