"""Fault injection, for tests only: make chosen cells fail the way real runs fail.

Set ``METAPT_FAULT`` to a comma-separated list of ``KIND:METHOD/TASK/SEED`` (``*`` matches any
method, task or seed)::

    METAPT_FAULT=nan:pt/sst2/0,oom:ft/*/1,data:ppt/sst2/*,kill:metapt/sst2/0

Kinds:

* ``nan``  — the training loss of the cell becomes NaN at its first step (``train.fit`` then
  raises ``FloatingPointError`` as it would for a real divergence);
* ``inf``  — the same with +inf;
* ``oom``  — ``torch.OutOfMemoryError`` is raised when the cell starts;
* ``data`` — a ``UserError`` (a data error) is raised when the cell starts;
* ``kill`` — the process running the cell sends itself SIGKILL at its first training step, once per
  cell and results directory (a marker under ``<out>/faults/`` keeps the retry alive): it stands
  for a worker that dies mid-cell.

A failed cell is recorded as ``failed`` with its reason; the suite goes on, ``status`` lists it
and a rerun without the variable retries it. Unset, this module does nothing.
"""
from __future__ import annotations

import fnmatch
import os
import pathlib
import signal

ENV = "METAPT_FAULT"
KINDS = ("nan", "inf", "oom", "data", "kill")

_current: dict = {"cell": None, "out": None}


def _parse(text: str) -> list[tuple[str, str]]:
    out = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        kind, _, pattern = item.partition(":")
        if kind not in KINDS or pattern.count("/") != 2:
            raise ValueError(f"{ENV}: {item!r} must look like KIND:METHOD/TASK/SEED with KIND one of "
                             f"{', '.join(KINDS)}")
        out.append((kind, pattern))
    return out


def armed(cell) -> list[str]:
    """The fault kinds ``METAPT_FAULT`` arms for ``cell`` (empty when unset)."""
    text = os.environ.get(ENV)
    if not text:
        return []
    name = f"{cell.method}/{cell.task}/{cell.seed}"
    return [kind for kind, pattern in _parse(text) if fnmatch.fnmatchcase(name, pattern)]


def cell_starts(cell, out) -> None:
    """Called by ``runner.run_cell`` inside its error handling, before the method runs."""
    _current.update(cell=cell, out=out)
    kinds = armed(cell)
    if "oom" in kinds:
        import torch

        raise torch.OutOfMemoryError("CUDA out of memory (injected by METAPT_FAULT)")
    if "data" in kinds:
        from benchmark.errors import UserError

        raise UserError(f"{cell.task}: malformed row (data error injected by METAPT_FAULT)")


def cell_ends() -> None:
    _current.update(cell=None, out=None)


def poison_loss(loss):
    """``loss``, or NaN/inf in its place when the running cell is armed with ``nan``/``inf``
    (``kill``: the process dies here, mid-cell). ``train.fit`` passes every training loss through."""
    cell = _current["cell"]
    if cell is None or not os.environ.get(ENV):
        return loss
    kinds = armed(cell)
    if "kill" in kinds:
        marker = pathlib.Path(_current["out"]) / "faults" / f"{cell.key}.kill"
        if not marker.exists():
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text("killed once by METAPT_FAULT\n")
            os.kill(os.getpid(), signal.SIGKILL)
    if "nan" in kinds:
        return loss * float("nan")
    if "inf" in kinds:
        return loss + float("inf")
    return loss
