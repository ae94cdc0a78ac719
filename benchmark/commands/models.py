"""``python -m benchmark models list|fetch``: the backbones and sentence encoders, and their caches."""
from __future__ import annotations

import sys

HELP = "list the backbones and sentence encoders, or fetch them into the cache"


def add_arguments(parser) -> None:
    subs = parser.add_subparsers(dest="models_command", metavar="ACTION")
    ls = subs.add_parser("list", help="name, kind, parameters, offline or online, cached or not")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    fetch = subs.add_parser("fetch", help="fetch and prepare models (default: every offline one)")
    fetch.add_argument("names", nargs="*", metavar="NAME", help="backbone or encoder names")


def _rows():
    from benchmark import backbones, encoders
    rows = []
    for e in backbones.list_backbones():
        rows.append({"name": e.name, "role": "backbone", "kind": e.kind, "params": e.params,
                     "source": "offline" if e.offline else "online (HF hub)",
                     "cached": backbones.is_cached(e.name), "what": e.what})
    for e in encoders.list_encoders():
        rows.append({"name": e.name, "role": "encoder", "kind": f"sentence {e.dim}-d", "params": e.params,
                     "source": "offline" if e.offline else "online (HF hub)",
                     "cached": encoders.is_cached(e.name), "what": e.what})
    return rows


def run(args) -> int:
    action = getattr(args, "models_command", None) or "list"
    if action == "list":
        rows = _rows()
        if getattr(args, "json", False):
            import json
            print(json.dumps(rows, indent=1))
            return 0
        cols = [("name", "name"), ("role", "role"), ("kind", "kind"), ("params", "params"),
                ("source", "source"), ("cached", "cached")]
        table = [[str(r[k]) if k != "cached" else ("yes" if r[k] else "no") for k, _ in cols] for r in rows]
        widths = [max(len(h), *(len(t[i]) for t in table)) for i, (_, h) in enumerate(cols)]
        print("  ".join(h.ljust(w) for (_, h), w in zip(cols, widths)))
        for t in table:
            print("  ".join(c.ljust(w) for c, w in zip(t, widths)))
        print("\nlocal HF model folders and hub ids 'org/name' are accepted too; "
              "`python -m benchmark models fetch` prepares the offline ones")
        return 0
    if action == "fetch":
        return _fetch(args.names)
    raise AssertionError(action)  # pragma: no cover


def _fetch(names) -> int:
    from benchmark import backbones, encoders
    from benchmark.errors import unknown
    if not names:
        names = [e.name for e in backbones.list_backbones() if e.source == "gguf-asset"] + \
                [encoders.DEFAULT]
    for name in names:
        if name not in backbones.REGISTRY and name not in encoders.REGISTRY:
            raise unknown("model", name, list(backbones.REGISTRY) + list(encoders.REGISTRY))
    for name in names:
        if name in backbones.REGISTRY:
            print(backbones.fetch(name))
        else:
            print(f"{name}: {encoders.fetch(name)}")
        sys.stdout.flush()
    return 0
