"""``python -m benchmark data list|fetch|show``: the datasets, their sources and a look inside."""
from __future__ import annotations

import argparse
import textwrap

from benchmark import assets, data
from benchmark.errors import UserError

HELP = "list the tasks and their data sources, fetch the offline stand-ins, show examples"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    subs = parser.add_subparsers(dest="data_command", metavar="ACTION")
    p = subs.add_parser("list", help="table of tasks: role, classes, source, rows per split")
    p.add_argument("--source", choices=data.SOURCES, default="auto", help="which data to count (default auto)")
    p.add_argument("--shots", type=int, default=40, help="train and validation rows per task (default 40)")
    p.add_argument("--no-rows", action="store_true", help="do not load the data to count rows")
    p = subs.add_parser("fetch", help="fetch the registry archives the tasks' stand-ins need")
    p.add_argument("names", nargs="*", metavar="NAME", help="tasks (default: all)")
    p.add_argument("--paper", action="store_true",
                   help="also load the paper's data (HF hub / configured files) so it is cached")
    p = subs.add_parser("show", help="a few examples of a task with label and label word")
    p.add_argument("name", metavar="NAME")
    p.add_argument("-n", type=int, default=5, help="how many examples (default 5)")
    p.add_argument("--source", choices=data.SOURCES, default="auto")
    p.add_argument("--split", choices=["pool", "train", "val", "test"], default="pool",
                   help="show rows of the seeded few-shot split instead of the pool's first rows")
    p.add_argument("--seed", type=int, default=0)


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *map(fmt, rows)])


def _list(args) -> int:
    out = []
    notes = []
    for spec in data.list_tasks():
        if spec.user:
            src, what = "user", f"{spec.data.rsplit('/', 1)[-1]}"
        elif args.source == "standin" or (args.source == "auto" and not data.paper_available(spec)):
            src, what = "stand-in", f"{spec.standin.get('title', '?')} (for {spec.title})"
        else:
            src, what = "paper", spec.paper_source.get("hub_id") or spec.paper_source.get("format", "?")
        counts = "-"
        if not args.no_rows:
            try:
                rows = data.load(spec.name, source=args.source)
                if rows.provenance.get("source") == "standin":
                    src = "stand-in"
                if spec.role == "downstream":
                    split = data.few_shot_split(rows, n_train=args.shots, n_val=args.shots, seed=0)
                    counts = f"{len(split.train)}/{len(split.val)}/{len(split.test)}"
                else:
                    counts = f"pool {len(rows)}"
            except UserError as exc:
                counts = "unavailable"
                notes.append(f"{spec.name}: {exc.message}")
        out.append([spec.name, spec.role, str(spec.n_classes or "-"), src, what, counts])
    print(_table(["TASK", "ROLE", "CLASSES", "SOURCE", "DATA", "TRAIN/VAL/TEST"], out))
    if any(r[3] == "stand-in" for r in out):
        print("\nstand-in = real human-labelled data from registry archives, not the paper's dataset; "
              "results made with it say so.")
    for line in notes:
        print("note: " + line)
    return 0


def _fetch(args) -> int:
    names = args.names or [s.name for s in data.list_tasks() if not s.user]
    specs = [data.get_task(n) for n in names]
    needed = sorted({a for s in specs for a in s.assets()})
    for name in needed:
        asset = assets.get(name)
        assets.extract(name)
        print(f"ok  {name:18s} {asset.spec}  sha256 {asset.sha256[:12]}…")
    if args.paper:
        for spec in specs:
            if spec.user or not spec.paper_source:
                continue
            rows = data.load(spec.name, source="paper")
            print(f"ok  {spec.name:18s} paper data: {rows.provenance['origin']} ({len(rows)} rows)")
    if not needed and not args.paper:
        print("nothing to fetch")
    return 0


def _show(args) -> int:
    if args.n < 1:
        raise UserError(f"-n must be >= 1 (got {args.n})")
    spec = data.get_task(args.name)
    rows = data.load(spec.name if not spec.user else spec.path, source=args.source)
    prov = rows.provenance
    print(f"{rows.title}  [{spec.name}; role {spec.role}; domain {spec.domain or '-'}]")
    print(f"source: {prov['source']}" + (f" (stand-in for {prov['standin_for']})" if prov.get("standin_for") else ""))
    print(f"origin: {prov['origin']}")
    if prov.get("fallback"):
        print(f"fallback: {prov['fallback']}")
    sizes = f"{len(rows)} rows" + (f" + official test {len(rows.official_test)}" if rows.official_test else "")
    if rows.labels is not None:
        counts = rows.label_counts(spec.n_classes)
        sizes += " (" + ", ".join(f"{w}: {c}" for w, c in zip(spec.label_words, counts)) + ")"
    print(f"rows: {sizes}")
    if spec.classes:
        print("labels: " + ", ".join(f"{i}={c} -> {w!r}" for i, (c, w) in enumerate(zip(spec.classes, spec.label_words))))
    if args.split == "pool":
        view = rows.subset(range(min(args.n, len(rows))))
    else:
        split = data.few_shot_split(rows, seed=args.seed)
        part = getattr(split, args.split)
        view = part.subset(range(min(args.n, len(part))))
    print()
    for i, (rid, text) in enumerate(zip(view.ids, view.texts)):
        if view.labels is not None:
            lab = view.labels[i]
            head = f"{rid}  label {lab} ({spec.classes[lab]}) -> {spec.label_words[lab]!r}"
        else:
            head = f"{rid}  (unlabelled)"
        print(head)
        print(textwrap.indent(textwrap.fill(text, 96), "    "))
    return 0


def run(args) -> int:
    action = getattr(args, "data_command", None)
    if action == "list":
        return _list(args)
    if action == "fetch":
        return _fetch(args)
    if action == "show":
        return _show(args)
    raise UserError("missing action: use `data list`, `data fetch [NAME…]` or `data show NAME`")
