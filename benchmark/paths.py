"""Where fetched weights, data, embeddings, artefacts and results live.

One environment variable, ``METAPT_CACHE``, moves all of it; the default is
``$XDG_CACHE_HOME/metapt-bench`` (``~/.cache/metapt-bench`` when unset).
"""
from __future__ import annotations

import os
import pathlib

ENV = "METAPT_CACHE"


def cache_dir() -> pathlib.Path:
    root = os.environ.get(ENV)
    if root:
        return pathlib.Path(root).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(xdg) / "metapt-bench"


def sub(name: str) -> pathlib.Path:
    """A sub-folder of the cache (created): downloads, assets, models, embeddings, artifacts, results."""
    path = cache_dir() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def offline() -> bool:
    """``METAPT_OFFLINE=1`` forbids every fetch, so a missing asset is an error naming the command."""
    return os.environ.get("METAPT_OFFLINE", "").lower() in ("1", "true", "yes")
