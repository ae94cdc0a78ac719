"""Options and helpers shared by sub-commands."""
from __future__ import annotations

import argparse
import pathlib
import sys

from benchmark import config as config_mod, paths, settings


def seed_list(text: str) -> list[int]:
    """``--seeds``' type: comma-separated distinct non-negative integers; anything else is refused
    by argparse in one line (exit 2) before a setting is read."""
    items = [t.strip() for t in text.split(",")]
    problem = None
    if not any(items):
        problem = "no seeds"
    elif not all(items):
        problem = "an empty item between commas"
    else:
        try:
            seeds = [int(t) for t in items]
        except ValueError:
            bad = next(t for t in items if not _is_int(t))
            problem = f"{bad!r} is not an integer"
        else:
            problem = settings.seeds_problem(seeds)
    if problem:
        raise argparse.ArgumentTypeError(f"{text!r}: {problem}; allowed: {settings.SEEDS_ALLOWED}")
    return seeds


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def add_profile_options(parser) -> None:
    parser.add_argument("--profile", help=f"settings profile: {', '.join(config_mod.list_profiles())} "
                                          "(default: paper with a CUDA GPU and the paper's data, else cpu)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one setting, e.g. --set maml.max_steps=100 (repeatable)")
    parser.add_argument("--seeds", type=seed_list, metavar="SEEDS",
                        help="comma-separated distinct seeds >= 0, e.g. 0,1,2 (overrides the profile's)")


def add_results_option(parser, *, default_help: str = "<cache>/results") -> None:
    """The one name of a results folder across commands: ``--results``, ``--out`` kept as its alias."""
    parser.add_argument("--results", "--out", dest="results", type=pathlib.Path, metavar="DIR",
                        help=f"results folder (default: {default_help}; every suite's cells can share one folder; "
                             "--out is the same option)")


def resolve_profile(args, stream=sys.stderr) -> dict:
    name, why = args.profile, "chosen with --profile"
    if not name:
        name, why = config_mod.choose_default_profile()
    base = config_mod.load_profile(name)
    overrides = list(args.overrides)
    if args.seeds is not None:
        overrides.append(f"seeds=[{','.join(map(str, args.seeds))}]")
    cfg = config_mod.apply_overrides(base, overrides)
    # the profile's own seeds and axis limits, for the cells' configs (config.RUN_SCOPE)
    args.profile_run_scope = base
    print(f"profile: {name} ({why})", file=stream)
    from benchmark import precision

    return precision.resolve(cfg, stream=stream)   # bf16: auto -> true/false, so the keys say what ran


def cell_settings(args, cfg: dict) -> dict:
    """The settings a run's cells are made with and keyed by (see ``config.RUN_SCOPE``)."""
    base = getattr(args, "profile_run_scope", None)
    return cfg if base is None else config_mod.cell_settings(cfg, base)


def results_dir(args, suite: str | None = None) -> pathlib.Path:
    return args.results.expanduser() if args.results else paths.sub("results")


def print_reductions(cfg: dict, stream=sys.stderr) -> None:
    red = config_mod.reductions(cfg)
    if not red:
        print("settings: the paper's (no reductions)", file=stream)
        return
    print(f"settings that differ from the paper's ({len(red)}):", file=stream)
    for key, diff in red.items():
        print(f"  {key:28s} paper: {diff['paper']!s:<22} here: {diff['here']}", file=stream)
