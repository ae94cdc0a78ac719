"""Options and helpers shared by sub-commands."""
from __future__ import annotations

import pathlib
import sys

from benchmark import config as config_mod
from benchmark import paths


def add_profile_options(parser) -> None:
    parser.add_argument("--profile", help=f"settings profile: {', '.join(config_mod.list_profiles())} "
                                          "(default: paper with a CUDA GPU and the paper's data, else cpu)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one setting, e.g. --set maml.max_steps=100 (repeatable)")
    parser.add_argument("--seeds", help="comma-separated seeds (overrides the profile's)")
    parser.add_argument("--out", type=pathlib.Path, help="results directory (default: <cache>/results; "
                                                         "every suite's cells can share one directory)")


def resolve_profile(args, stream=sys.stderr) -> dict:
    name, why = args.profile, "chosen with --profile"
    if not name:
        name, why = config_mod.choose_default_profile()
    base = config_mod.load_profile(name)
    overrides = list(args.overrides)
    if args.seeds:
        overrides.append(f"seeds=[{args.seeds}]")
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


def results_dir(args, suite: str) -> pathlib.Path:
    return args.out if args.out else paths.sub("results")


def print_reductions(cfg: dict, stream=sys.stderr) -> None:
    red = config_mod.reductions(cfg)
    if not red:
        print("settings: the paper's (no reductions)", file=stream)
        return
    print(f"settings that differ from the paper's ({len(red)}):", file=stream)
    for key, diff in red.items():
        print(f"  {key:28s} paper: {diff['paper']!s:<22} here: {diff['here']}", file=stream)
