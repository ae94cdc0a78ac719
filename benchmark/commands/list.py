"""`python -m benchmark list`: suites, methods, tasks, profiles and settings."""
from __future__ import annotations

from benchmark import config as config_mod

HELP = "list suites, methods, tasks, profiles and settings"


def add_arguments(parser) -> None:
    parser.add_argument("what", nargs="?", default="all",
                        choices=["all", "suites", "methods", "tasks", "profiles", "settings"],
                        help="what to list (settings: every key with its paper value, what it allows and what it does)")
    parser.add_argument("--profile", default="cpu",
                        help="the profile whose axis caps the suites' points are shown under "
                             "(default: cpu, the offline default)")


def _points(suite: dict, profile: dict) -> str:
    """The suite's axis points under ``profile`` and where its ``axis_limits`` cut them."""
    from benchmark.runner import axis_values

    key, values = axis_values(suite, profile)
    cut = [v for v in suite["axis"]["values"] if v not in values]
    limit = (profile.get("axis_limits") or {}).get(key)
    note = f" (capped at {limit:,}: {', '.join(f'{v:,}' for v in cut)} left out)" if cut else ""
    return f"{key} = {', '.join(f'{v:,}' for v in values)}{note}"


def run(args) -> int:
    from baselines import METHODS
    from benchmark import data

    if args.what in ("all", "suites"):
        profile = config_mod.load_profile(args.profile)
        print(f"suites (points as the {args.profile} profile runs them):")
        for name in config_mod.list_suites():
            suite = config_mod.load_suite(name)
            print(f"  {name:15s} {suite.get('description', '')}")
            if suite.get("axis"):
                print(f"  {'':15s}   {_points(suite, profile)}")
    if args.what in ("all", "methods"):
        print("methods:")
        for name, method in METHODS.items():
            print(f"  {name:15s} {method.title}")
    if args.what in ("all", "tasks"):
        print("tasks:")
        for spec in data.list_tasks():
            print(f"  {spec.name:22s} {spec.role:20s} {len(spec.classes)} classes  {spec.title}")
    if args.what in ("all", "profiles"):
        print("profiles:")
        for name in config_mod.list_profiles():
            print(f"  {name:15s} {config_mod.load_profile(name).get('description', '')}")
    if args.what == "settings":    # long: only when asked for
        from benchmark import settings

        for key, paper, allowed, help_text in settings.rows():
            if key in ("description", "profile"):
                continue          # a profile's own text, not a setting of a run
            print(f"{key:28s} {help_text}\n{'':28s}   paper: {paper!r}; allowed: {allowed}")
    return 0
