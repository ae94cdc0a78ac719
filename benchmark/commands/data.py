"""``python -m benchmark data list|fetch|show``: the datasets, their sources and a look inside."""
from __future__ import annotations

import argparse
import pathlib
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
    p.add_argument("--profile", default=None,
                   help="profile whose backbone and max_length the truncation line uses (default: the default profile)")
    p = subs.add_parser("check", help="say what a profile's data and models will meet before any training "
                                      "(--online: from HF hub metadata, no data downloaded)")
    p.add_argument("--online", action="store_true", help="resolve hub ids, revisions, configs, splits, columns "
                                                         "and label ranges on the HuggingFace hub")
    p.add_argument("--profile", default="paper", help="profile whose assets to check (default paper)")
    p.add_argument("--tasks", help="comma-separated tasks (default: every built-in task with a paper source)")
    p.add_argument("--sample", type=int, default=0, metavar="N",
                   help="also stream the first N rows of each hub train split (columns, label range)")


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


def _quietly(load, *args):
    """``load(*args)`` without transformers' "Loading weights" bar: `data show` prints rows, and only
    the tokenizer matters to its truncation line."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return load(*args)
    finally:
        if was:
            hf_logging.enable_progress_bar()


def _truncation_line(spec, rows, profile) -> str:
    """What the profile's max_length cuts in this task's rows, or why that cannot be said here."""
    from benchmark import backbones, config as config_mod
    from benchmark.truncation import describe, task_truncation

    name = profile or config_mod.choose_default_profile()[0]
    cfg = config_mod.load_profile(name)
    try:
        backbone = _quietly(backbones.load, cfg["backbone"])
    except UserError as exc:
        return f"unavailable ({cfg['backbone']}: {exc.message})"
    record = task_truncation(backbone, rows, cfg["max_length"])
    return f"[{name} profile, {cfg['backbone']}] " + describe(spec.name, record, cfg["max_length"])


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
        pairs = enumerate(zip(spec.classes, spec.label_words))
        print("labels: " + ", ".join(f"{i}={c} -> {w!r}" for i, (c, w) in pairs))
    print("truncation: " + _truncation_line(spec, rows, args.profile))
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


def _model_refs(cfg: dict) -> list[tuple[str, str, str, str]]:
    """(what, hub id, declared revision, override name) of each hub model the profile loads."""
    from benchmark import backbones, encoders
    from tasksets.labellers import LABELLERS

    out = []
    entry = backbones.REGISTRY.get(cfg["backbone"])
    if entry is not None and entry.source == "hub":
        out.append(("backbone", entry.ref, entry.revision, entry.name))
    elif entry is None and "/" in cfg["backbone"] and not pathlib.Path(cfg["backbone"]).exists():
        out.append(("backbone", cfg["backbone"], "main", cfg["backbone"]))
    enc = encoders.REGISTRY.get(cfg["encoder"])
    if enc is not None and enc.source == "hub":
        out.append(("encoder", enc.ref, "main", enc.name))
    elif enc is None and not pathlib.Path(cfg["encoder"]).exists() and "/" in cfg["encoder"]:
        out.append(("encoder", cfg["encoder"], "main", cfg["encoder"]))
    lab = LABELLERS.get(cfg["pretrain"]["labeller"], cfg["pretrain"]["labeller"])
    if isinstance(lab, str):
        out.append(("labeller", lab, "main", cfg["pretrain"]["labeller"]))
    return out


def _check(args) -> int:
    """Every asset of a profile, checked before a GPU-day is spent; exit 1 when something will fail.
    Long because it walks every asset kind of a profile (tasks, backbone, encoder) and prints one line per check."""
    from benchmark import config as config_mod, hub, sources

    if args.sample < 0:
        raise UserError(f"--sample must be >= 0 (got {args.sample})")
    cfg = config_mod.load_profile(args.profile)
    names = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else \
        [s.name for s in data.list_tasks() if not s.user and s.paper_source]
    specs = [data.get_task(n) for n in names]      # an unknown task: exit 2 before anything is asked
    hub.revision_overrides()                   # a malformed override: exit 2 likewise
    results: list[tuple[str, list[tuple[str, str]]]] = []
    if cfg["data_source"] == "standin":
        results.append(("data", [("ok", f"profile {cfg['profile']!r} reads the registry stand-ins; nothing of "
                                         f"the paper's data is needed (`data fetch` checks the archives)")]))
        specs = []
    for spec in specs:
        params = data.paper_params(spec)
        fmt = params.get("format")
        if spec.user or not spec.paper_source:
            lines = [("ok", "user task: its own file " + str(spec.data))]
        elif fmt == "hf_hub":
            if args.online:
                lines = hub.hub_report(params, n_classes=spec.n_classes, sample=args.sample)
            else:
                try:
                    hub.check_hub_id(params.get("hub_id"), spec.name)
                    rev, origin = hub.requested_revision(params, spec.name, params["hub_id"])
                    lines = [("ok", f"{params['hub_id']} at {rev!r} ({origin}); add --online to resolve it")]
                except UserError as exc:
                    lines = [("FAIL", exc.message)]
        else:
            try:
                ok = sources.paper_configured(params)
                lines = [("ok", f"{fmt}: {sources.resolve_path(params, 'path')}")] if ok else \
                    [("FAIL", f"{fmt}: no file configured; set ${params.get('path_env')} (and "
                              f"${params.get('test_path_env')}) to the original release files")]
            except UserError as exc:
                lines = [("FAIL", exc.message)]
        results.append((spec.name, lines))
    for what, ref, declared, name in _model_refs(cfg):
        rev, origin = hub.requested_revision({"revision": declared}, name, ref)
        if args.online:
            results.append((what, hub.model_report(ref, rev, origin, what=what)))
        else:
            try:
                hub.check_hub_id(ref, what)
                results.append((what, [("ok", f"{ref} at {rev!r} ({origin}); add --online to resolve it")]))
            except UserError as exc:
                results.append((what, [("FAIL", exc.message)]))
    failed = [name for name, lines in results if any(status == "FAIL" for status, _ in lines)]
    print(f"profile {cfg['profile']}: " + ("online check against the HuggingFace hub (metadata only)"
                                           if args.online else "offline check (ids and declared revisions only)"))
    for name, lines in results:
        for status, line in lines:
            print(f"{status:4s}  {name:20s} {line}")
    if failed:
        print(f"\n{len(failed)} asset(s) will fail: {', '.join(failed)}")
        return 1
    print("\nevery asset resolves" + ("" if args.online else " (offline: revisions not resolved)"))
    return 0


def run(args) -> int:
    action = getattr(args, "data_command", None)
    if action == "check":
        return _check(args)
    if action == "list":
        return _list(args)
    if action == "fetch":
        return _fetch(args)
    if action == "show":
        return _show(args)
    raise UserError("missing action: use `data list`, `data fetch [NAME…]`, `data show NAME` "
                    "or `data check [--online]`")
