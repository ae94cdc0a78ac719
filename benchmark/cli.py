"""``python -m benchmark``: one sub-command per module in ``benchmark/commands``.

A sub-command is one file exposing ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``, plus one line in ``COMMANDS``.
"""
from __future__ import annotations

import argparse
import importlib
import re
import sys

from benchmark.errors import UserError

COMMANDS = {
    "run": "benchmark.commands.run",
    "list": "benchmark.commands.list",
    "status": "benchmark.commands.status",
    "plot": "benchmark.commands.plot",
    "power": "benchmark.commands.power",
    "agree": "benchmark.commands.agree",
    "compare": "benchmark.commands.compare",
    "data": "benchmark.commands.data",
    "models": "benchmark.commands.models",
    "perf": "benchmark.commands.perf",
    "publish": "benchmark.commands.publish",
    "export": "benchmark.commands.export",
    "calibrate": "benchmark.commands.calibrate",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own refusals: one line and exit 2 like every other (see main)
        raise UserError(f"{message} (`{self.prog} --help` lists the options)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m benchmark", description="MetaPT benchmark suite")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # a command not written yet
        # a sub-command's list entry is %-formatted by argparse, its description is not: HELP is plain text
        sub = subs.add_parser(name, help=module.HELP.replace("%", "%%"), description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


_NUMBER_LIST = re.compile(r"-\d[\d,]*")


def _attach_number_lists(argv: list[str]) -> list[str]:
    """``--seeds -1,2`` as ``--seeds=-1,2``: argparse takes a value that starts with '-' and is not one
    plain number for an option, and would say "expected one argument" instead of what is wrong with it."""
    out = []
    for item in argv:
        if out and out[-1].startswith("--") and "=" not in out[-1] and _NUMBER_LIST.fullmatch(item) and "," in item:
            out[-1] = f"{out[-1]}={item}"
        else:
            out.append(item)
    return out


def main(argv=None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(_attach_number_lists(argv))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.argv = argv   # the command line, for what a run records
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished cells are kept, rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
