"""Fault injection, for tests only: make chosen cells fail the way real runs fail.

Set ``METAPT_FAULT`` to a comma-separated list of ``KIND:METHOD/TASK/SEED`` (``*`` matches any
method, task or seed)::

    METAPT_FAULT=nan:pt/sst2/0,oom:ft/*/1,data:ppt/sst2/*,kill:metapt/sst2/0

Kinds:

* ``nan``  — the training loss of the cell becomes NaN at its first step (``train.fit`` then
  raises ``FloatingPointError`` as it would for a real divergence);
* ``inf``  — the same with +inf;
* ``oom``  — ``torch.OutOfMemoryError`` is raised when the cell's method starts;
* ``data`` — a ``UserError`` (a data error) is raised when the cell's method starts;
* ``kill`` — the process running the cell sends itself SIGKILL at its first training step, once per
  cell and results directory (a marker under ``<out>/faults/`` keeps the retry alive): it stands
  for a worker that dies mid-cell.

Nothing in the package knows of this: :func:`install` wraps ``runner.run_cell`` (which cell runs,
and where), every registered method's ``run`` (``oom``, ``data``) and ``Scorer.loss`` (the training
loss of ``fit``'s loops). A group of cells (``runner.run_group``) tunes its prompts in one
``PromptBank``: there ``nan``, ``inf`` and ``kill`` act in ``PromptBank.step``, on the armed
member's prompt alone (its values turn NaN or inf, so its loss does and it fails as it would).
In-process tests call it through the ``faults`` fixture; a subprocess (the CLI, Ray workers)
installs it at start-up from ``faults_site/sitecustomize.py`` on ``PYTHONPATH`` (:func:`subprocess_env`).
"""
from __future__ import annotations

import fnmatch
import functools
import os
import pathlib
import signal

ENV = "METAPT_FAULT"
KINDS = ("nan", "inf", "oom", "data", "kill")
SITE = pathlib.Path(__file__).resolve().parent / "faults_site"

_current: dict = {"cell": None, "out": None, "group": None}
_installed: list = []     # (owner, attribute name, original)


def parse(text: str) -> list[tuple[str, str]]:
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
    """The fault kinds ``METAPT_FAULT`` arms for ``cell`` (empty when unset or no cell runs)."""
    text = os.environ.get(ENV)
    if not text or cell is None:
        return []
    name = f"{cell.method}/{cell.task}/{cell.seed}"
    return [kind for kind, pattern in parse(text) if fnmatch.fnmatchcase(name, pattern)]


def _method_starts() -> None:
    kinds = armed(_current["cell"])
    if "oom" in kinds:
        import torch

        raise torch.OutOfMemoryError("CUDA out of memory (injected by METAPT_FAULT)")
    if "data" in kinds:
        from benchmark.errors import UserError

        raise UserError(f"{_current['cell'].task}: malformed row (data error injected by METAPT_FAULT)")


def _kill_once(cell) -> None:
    marker = pathlib.Path(_current["out"]) / "faults" / f"{cell.key}.kill"
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("killed once by METAPT_FAULT\n")
        os.kill(os.getpid(), signal.SIGKILL)


def poison_loss(loss):
    """``loss``, or NaN/inf in its place when the running cell is armed with ``nan``/``inf``
    (``kill``: the process dies here, mid-cell)."""
    cell = _current["cell"]
    kinds = armed(cell)
    if "kill" in kinds:
        _kill_once(cell)
    if "nan" in kinds:
        return loss * float("nan")
    if "inf" in kinds:
        return loss + float("inf")
    return loss


def poison_bank(bank) -> None:
    """Before a bank's step: the armed members' prompts turn NaN/inf (``kill``: the process dies)."""
    import torch

    for cell, slot in zip(_current["group"] or (), bank.slots):
        kinds = armed(cell)
        if not slot.active or not kinds:
            continue
        if "kill" in kinds:
            _kill_once(cell)
        bad = float("nan") if "nan" in kinds else float("inf") if "inf" in kinds else None
        if bad is not None:
            with torch.no_grad():
                slot.run.weight.fill_(bad)


def _patch(owner, name, make):
    original = owner.__dict__[name]
    _installed.append((owner, name, original))
    setattr(owner, name, functools.wraps(original)(make(original)))


def install() -> None:
    """Wrap the package's seams (see the module docstring); ``uninstall`` undoes it."""
    if _installed:
        return
    parse(os.environ.get(ENV, ""))    # a malformed spec fails here, before any cell runs
    from baselines import METHODS
    from benchmark import runner
    from benchmark.bank import PromptBank
    from benchmark.scoring import Scorer

    def running(field, keep=lambda what: what):
        """Around ``runner.run_cell`` or ``run_group``: what runs (``_current[field]``), and where."""
        def make(original):
            def wrapped(what, out, *args, **kwargs):
                _current.update({field: keep(what), "out": out})
                try:
                    return original(what, out, *args, **kwargs)
                finally:
                    _current.update({field: None, "out": None})
            return wrapped
        return make

    def before(hook):
        """``hook(self)`` before each call of the wrapped method."""
        def make(original):
            def wrapped(self, *args, **kwargs):
                hook(self)
                return original(self, *args, **kwargs)
            return wrapped
        return make

    def loss(original):
        def wrapped(self, *args, **kwargs):
            return poison_loss(original(self, *args, **kwargs))
        return wrapped

    _patch(runner, "run_cell", running("cell"))
    _patch(runner, "run_group", running("group", list))
    _patch(PromptBank, "step", before(poison_bank))
    _patch(Scorer, "loss", loss)
    for cls in {klass for m in METHODS.values() for klass in type(m).__mro__ if "run" in vars(klass)}:
        _patch(cls, "run", before(lambda _method: _method_starts()))


def uninstall() -> None:
    while _installed:
        owner, name, original = _installed.pop()
        setattr(owner, name, original)


def subprocess_env(env: dict) -> dict:
    """``env`` for a subprocess that installs the faults at start-up (it and its Ray workers)."""
    paths = [str(SITE), *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]]
    return dict(env, PYTHONPATH=os.pathsep.join(paths))
