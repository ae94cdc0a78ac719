"""`python -m benchmark list`: suites, methods, tasks and profiles."""
from __future__ import annotations

from benchmark import config as config_mod

HELP = "list suites, methods, tasks and profiles"


def add_arguments(parser) -> None:
    parser.add_argument("what", nargs="?", default="all", choices=["all", "suites", "methods", "tasks", "profiles"])


def run(args) -> int:
    from baselines import METHODS
    from benchmark import data

    if args.what in ("all", "suites"):
        print("suites:")
        for name in config_mod.list_suites():
            print(f"  {name:15s} {config_mod.load_suite(name).get('description', '')}")
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
    return 0
