"""What a ``run`` did, printed at its end and saved beside its results as ``<results>/runs/<start>-<pid>.json``
(``<start>``: the UTC start time, to the microsecond).

The summary holds the wall time from start to end, the cells done / skipped (already done) / failed
and, for a run stopped with Ctrl-C, those it did not get to; each cell run with its wall time, the
part of it spent building shared artefacts (``benchmark.run_plan`` estimates a cell without it) and
the process's RSS after it (where a run's memory grows); the artefacts built in this run with their
build times and those read from the cache; the peak RSS; the processor, thread count, profile and
command line. ``status``, ``plot`` and ``publish`` read only ``cells/`` and ``manifest.json``, so
``runs/`` is never taken for a result.
"""
from __future__ import annotations

import os
import pathlib
import resource
import sys
import time

from benchmark import context
from benchmark.io import write_json


def peak_rss_mib() -> float:
    """This process's peak resident set size in MiB.

    Not ``RUSAGE_CHILDREN``: a child forked to run ``git`` counts the parent's whole RSS at the fork
    as its own peak, so it would only repeat this figure; Ray workers report their own instead."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss   # KiB on Linux, bytes on macOS
    return round(peak / (1 << 20 if sys.platform == "darwin" else 1 << 10), 1)


def rss_mib() -> float | None:
    """This process's resident set size now, in MiB (None where /proc is missing)."""
    try:
        with open("/proc/self/statm") as fh:
            return round(int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1 << 20), 1)
    except (OSError, ValueError, IndexError):
        return None


class RunSummary:
    """Filled in by an executor while it runs cells; ``finish`` makes the record printed and saved."""

    def __init__(self, *, suite: str | None = None, cfg: dict | None = None, command: str | None = None,
                 executor: str = "local", started: float | None = None):
        self.started = time.time() if started is None else started
        self.suite, self.cfg, self.command, self.executor = suite, cfg or {}, command, executor
        self.counts = {"total": 0, "skipped": 0, "done": 0, "failed": 0}   # what run_cells returns
        self.cells: list[dict] = []
        self.interrupted = False
        self.running: str | None = None             # the cell the local executor is in (where Ctrl-C stopped it)
        self._log_from = len(context.ARTIFACT_LOG)
        self._cell_log_from = self._log_from         # where the artefacts built by the next cell start
        self.worker_artifacts: list[dict] = []      # what Ray workers read and built
        self.worker_peak_rss_mib: float | None = None

    def plan(self, total: int, skipped: int) -> None:
        self.counts.update(total=total, skipped=skipped)

    def cell_ran(self, cell, status: str, wall_s: float | None, *, worker_peak_rss_mib: float | None = None) -> None:
        """Count a finished cell; with the RSS after it (this process's, or the Ray worker's peak that ran it)."""
        self.counts[status] += 1
        self.running = None
        rss = ({"worker_peak_rss_mib": worker_peak_rss_mib} if self.executor == "ray"
               else {"rss_mib": rss_mib(), "peak_rss_mib": peak_rss_mib()})
        # the artefacts this cell built (outermost builds): part of its wall time, not of a cell's own cost
        events = context.ARTIFACT_LOG[self._cell_log_from:]
        self._cell_log_from = len(context.ARTIFACT_LOG)
        built_s = sum(e.get("build_s") or 0 for e in events if e["built"] and not e.get("within"))
        self.cells.append({"cell": cell.describe(), "key": cell.key, "status": status, "wall_s": wall_s,
                           "artifacts_built_s": round(built_s, 2), **rss})

    def worker_report(self, report: dict) -> None:
        """A Ray task's artefact log and its worker's peak RSS (a worker runs many tasks: the max counts)."""
        self.worker_artifacts += report.get("artifacts") or []
        if report.get("peak_rss_mib") is not None:
            self.worker_peak_rss_mib = max(self.worker_peak_rss_mib or 0.0, report["peak_rss_mib"])

    def artifacts(self) -> tuple[list[dict], list[dict]]:
        """(built in this run, in order; read from the cache and not built in this run, one each)."""
        events = context.ARTIFACT_LOG[self._log_from:] + self.worker_artifacts
        built, seen = [], set()
        for e in events:
            if e["built"] and (e["kind"], e["hash"]) not in seen:
                seen.add((e["kind"], e["hash"]))
                built.append({k: e[k] for k in ("kind", "hash", "build_s", "within")})
        cached = {}
        for e in events:
            if not e["built"] and (e["kind"], e["hash"]) not in seen:
                cached.setdefault((e["kind"], e["hash"]), {"kind": e["kind"], "hash": e["hash"]})
        return built, list(cached.values())

    def finish(self) -> dict:
        import torch

        from benchmark import precision

        built, cached = self.artifacts()
        counts = dict(self.counts)
        counts["not_run"] = counts["total"] - counts["skipped"] - counts["done"] - counts["failed"]
        return {"suite": self.suite, "profile": self.cfg.get("profile"), "command": self.command,
                "executor": self.executor, "interrupted": self.interrupted,
                "stopped_in": self.running if self.interrupted else None,
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
                "wall_s": round(time.time() - self.started, 2), "cells": counts, "cell_runs": self.cells,
                "artifacts_built": built, "artifacts_cached": cached,
                "peak_rss_mib": {"process": peak_rss_mib(), "largest_ray_worker": self.worker_peak_rss_mib},
                "machine": {"cpu_model": precision.cpu_model(), "cpus": os.cpu_count(),
                            "torch_threads": torch.get_num_threads()},
                "bf16": self.cfg.get("bf16"), "device": self.cfg.get("device"), "backbone": self.cfg.get("backbone")}

    @staticmethod
    def render(summary: dict) -> str:
        c = summary["cells"]
        head = "run stopped by Ctrl-C" if summary["interrupted"] else "run finished"
        lines = [f"{head}: {summary['suite']} (profile {summary['profile']}) in {_duration(summary['wall_s'])}, "
                 f"start to end",
                 f"  cells: {c['done']} done, {c['skipped']} skipped (already done), {c['failed']} failed"
                 + (f", {c['not_run']} not run" if c["not_run"] else "") + f" of {c['total']}"
                 + (f" (stopped in {summary['stopped_in']})" if summary.get("stopped_in") else "")]
        built = summary["artifacts_built"]
        lines.append(f"  artefacts built: {len(built)}")
        for a in built:   # a build's time includes those of the artefacts built inside it
            inside = f" (inside {_short(a['within'])})" if a.get("within") else ""
            lines.append(f"    {_short(a['kind'] + '/' + a['hash'])}  {a['build_s']:.1f} s{inside}")
        cached = summary["artifacts_cached"]
        kinds = sorted({a["kind"] for a in cached})
        lines.append(f"  artefacts read from the cache: {len(cached)}" + (f" ({', '.join(kinds)})" if kinds else ""))
        rss = summary["peak_rss_mib"]
        lines.append(f"  peak RSS: {rss['process']:,.0f} MiB (this process)"
                     + (f", {rss['largest_ray_worker']:,.0f} MiB (largest Ray worker)"
                        if rss["largest_ray_worker"] else ""))
        m = summary["machine"]
        lines.append(f"  machine: {m['cpu_model']}, {m['cpus']} CPUs, {m['torch_threads']} torch threads")
        return "\n".join(lines)

    def report(self, out: pathlib.Path, stream=None) -> dict:
        """Print the summary and save it under ``out/runs/``; a summary that cannot be saved is only printed."""
        stream = stream or sys.stderr
        summary = self.finish()
        print(self.render(summary), file=stream)
        folder = pathlib.Path(out) / "runs"
        stamp = time.strftime('%Y%m%dT%H%M%S', time.gmtime(self.started)) + f".{int(self.started % 1 * 1e6):06d}Z"
        stem = f"{stamp}-{os.getpid()}"   # names sort in the order the runs started
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path, n = folder / f"{stem}.json", 1
            while path.exists():   # a second run in the same process and second (tests)
                n += 1
                path = folder / f"{stem}-{n}.json"
            write_json(path, summary)
            print(f"  summary: {path}", file=stream)
        except OSError as exc:
            print(f"  summary not saved ({exc.strerror or exc})", file=stream)
        return summary


def _short(name: str) -> str:
    kind, _, digest = name.partition("/")
    return f"{kind}/{digest[:12]}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return (f"{hours} h " if hours else "") + f"{minutes} min {secs} s ({seconds:,.0f} s)"
