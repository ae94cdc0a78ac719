"""Executors run a suite's cells. ``local`` (``benchmark.runner.run_cells``, the default) runs them
one after another in this process; ``ray`` (``benchmark.executors.ray_executor``, the optional
``[ray]`` extra) runs them as Ray tasks on a local or remote cluster.

Both write the same results directory (``runner.run_cell`` writes every cell's JSON), so
``status``, resuming and ``plot`` do not care which executor ran a cell.
"""
from __future__ import annotations

import re

from benchmark.errors import UserError

EXECUTORS = ("local", "ray")

_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)$")


def check_address(address: str | None) -> str | None:
    """``None`` (start a local cluster), ``auto`` or ``HOST:PORT``; anything else is a UserError."""
    if address is None:
        return None
    text = address.strip()
    if text == "auto":
        return text
    host, sep, port = text.rpartition(":")
    if sep and _HOST.match(host) and port.isdigit() and 1 <= int(port) <= 65535:
        return text
    raise UserError(f"--address {address!r} is invalid; allowed: auto (the running Ray cluster on this machine) "
                    "or HOST:PORT with a port 1..65535 (e.g. 127.0.0.1:6379), or leave it out to start a "
                    "local cluster")


def check_executor(executor: str, address: str | None) -> None:
    """Refuse an unknown executor, an address without Ray, or Ray missing, before anything runs."""
    if executor not in EXECUTORS:
        raise UserError(f"unknown executor {executor!r}; valid executors: {', '.join(EXECUTORS)}")
    if address is not None and executor != "ray":
        raise UserError(f"--address is only meaningful with --executor ray (got --executor {executor})")
    if executor == "ray":
        check_address(address)
        try:
            import ray  # noqa: F401
        except ImportError as exc:
            raise UserError("--executor ray needs Ray, which is not installed",
                            hint="pip install 'metapt-bench[ray]' (or pip install 'ray>=2.40')") from exc
