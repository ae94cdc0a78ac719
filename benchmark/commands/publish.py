"""``python -m benchmark publish``: a results folder's finished cells, compact, into a folder to commit.

Published results are what MTEB does with its runs: one JSON per cell, kept in the repository, so
that ``python -m benchmark plot --results docs/results`` regenerates every published table and
figure from a clone, without rerunning anything. A published cell is the cell as the run wrote
it (config, reductions, provenance, versions, machine, per-row predictions) minus what only a
rerun needs: failed cells and tracebacks are left out, and the JSON is written without
indentation. Every file keeps its checksum, so ``plot`` and ``status`` read it like any cell.

The target's ``cells/`` is replaced as a whole (built beside it, then swapped in), so a publish
that is interrupted leaves the previous publication intact.
"""
from __future__ import annotations

import hashlib
import json
import pathlib
import shutil
import sys
import tempfile

from benchmark.errors import UserError

HELP = "copy a results folder's finished cells, compact, into a folder to commit (default docs/results)"

DROP = ("traceback",)   # what a published cell leaves out


def add_arguments(parser) -> None:
    parser.add_argument("--results", type=pathlib.Path, default=None, metavar="DIR",
                        help="results folder to publish (default: the cache's results folder)")
    parser.add_argument("--to", type=pathlib.Path, default=pathlib.Path("docs/results"),
                        help="where to write the published cells (default: docs/results)")
    parser.add_argument("--suites", default=None, help="comma-separated suites to publish (default: all)")
    parser.add_argument("--profile", default=None, help="publish only cells of this profile")
    parser.add_argument("--add", action="store_true",
                        help="add to the cells already published in --to instead of replacing them: each place "
                             "(suite, method, task, seed, point) published here replaces the entry at that place, "
                             "as a rerun does in a cache, and a published cell no entry names any longer goes")


def compact_cell(record: dict) -> str:
    """The checksummed JSON of a published cell: the same checksum format as ``benchmark.io``."""
    record = {k: v for k, v in record.items() if k not in DROP}
    body = json.dumps(record, sort_keys=True, default=str)
    payload = json.loads(body)
    return json.dumps({"sha256": hashlib.sha256(body.encode()).hexdigest(), "payload": payload},
                      sort_keys=True, separators=(",", ":")) + "\n"


def run(args) -> int:
    """Copy the finished cells of ``--results`` into ``--to``, compact, and swap them in whole.
    Long because every refusal comes before the first file is written, and the swap must follow in the same function."""
    from benchmark import RESULTS_FORMAT, paths, runner
    from benchmark.io import CorruptCacheEntry, read_json

    src = (args.results or paths.sub("results")).expanduser()
    if not (src / "cells").is_dir():
        raise UserError(f"results folder {src} has no cells/",
                        hint="pass --results DIR, or run `python -m benchmark run --suite NAME` first")
    dst = args.to.expanduser()
    if dst.resolve() == src.resolve():
        raise UserError(f"--to {dst} is the results folder itself; choose another folder")
    suites = {s.strip() for s in args.suites.split(",") if s.strip()} if args.suites else None
    kept, skipped = [], {"failed": 0, "corrupt": 0, "other suite or profile": 0,
                         "of older settings (not in the manifest)": 0}
    listed = runner.listed_keys(src)
    for path in sorted((src / "cells").glob("*.json")):
        if listed is not None and path.stem not in listed:
            skipped["of older settings (not in the manifest)"] += 1
            continue
        try:
            record = read_json(path, checksum=True)
        except (CorruptCacheEntry, OSError) as exc:
            print(f"warning: {path.name}: not published ({exc})", file=sys.stderr)
            skipped["corrupt"] += 1
            continue
        if record.get("status") != "done":
            skipped["failed"] += 1
            continue
        if (suites and record.get("suite") not in suites) or (args.profile and record.get("profile") != args.profile):
            skipped["other suite or profile"] += 1
            continue
        kept.append((path.name, record))
    if not kept:
        raise UserError(f"no finished cells to publish in {src}" + (f" for suites {sorted(suites)}" if suites else ""))

    dst.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=".cells-", dir=dst))
    try:
        for name, record in kept:
            (staging / name).write_text(compact_cell(record))
        keys = {record["key"] for _, record in kept}
        manifest = {"cells": []}
        if (src / "manifest.json").exists():
            try:
                manifest = read_json(src / "manifest.json")
            except CorruptCacheEntry:
                pass
        manifest = {"suite": manifest.get("suite"), "profile": manifest.get("profile"),
                    "cells": [e for e in manifest.get("cells", []) if e.get("key") in keys]}
        if args.add:
            manifest, kept_old, left_out = _add_to(dst, manifest, keys, staging)
        old = dst / "cells"
        if old.exists():
            shutil.rmtree(old)
        staging.rename(old)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    (dst / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    (dst / "format.json").write_text(json.dumps({"results_format": RESULTS_FORMAT}, sort_keys=True) + "\n")
    size = sum(p.stat().st_size for p in (dst / "cells").glob("*.json"))
    by_suite: dict = {}
    for _, record in kept:
        by_suite[record.get("suite")] = by_suite.get(record.get("suite"), 0) + 1
    print(f"published {len(kept)} cells ({', '.join(f'{s}: {n}' for s, n in sorted(by_suite.items()))}; "
          f"{size / 1e6:.1f} MB) to {dst}")
    if args.add:
        print(f"kept {kept_old} cells published before; left out {left_out} that no manifest entry names any longer")
    left = {k: v for k, v in skipped.items() if v}
    if left:
        print("not published: " + ", ".join(f"{v} {k}" for k, v in left.items()))
    print(f"regenerate the report from them: python -m benchmark plot --results {dst} --out docs/report")
    return 0


def _add_to(dst: pathlib.Path, manifest: dict, keys: set, staging: pathlib.Path) -> tuple[dict, int, int]:
    """Merge ``manifest`` (the new cells' entries) into ``dst``'s published one, place by place, and copy
    into ``staging`` the published cells the merged manifest still names. Returns the merged manifest,
    the cells kept and the cells left out."""
    from benchmark import runner
    from benchmark.io import CorruptCacheEntry, read_json

    try:
        before = read_json(dst / "manifest.json") if (dst / "manifest.json").exists() else {}
    except CorruptCacheEntry as exc:
        raise UserError(f"{dst}/manifest.json is not readable ({exc}); --add needs the published manifest") from exc
    entries = {runner.manifest_slot(e): e for e in before.get("cells", [])}
    entries.update({runner.manifest_slot(e): e for e in manifest["cells"]})
    named = {e.get("key") for e in entries.values()}
    kept = left = 0
    for path in sorted((dst / "cells").glob("*.json")) if (dst / "cells").is_dir() else []:
        if path.stem in keys:
            continue            # published again: the new copy is in staging
        if path.stem in named:
            shutil.copy2(path, staging / path.name)
            kept += 1
        else:
            left += 1
    one = {k: (before.get(k) if before.get(k) == manifest.get(k) else None) for k in ("suite", "profile")}
    return dict(one, cells=list(entries.values())), kept, left
