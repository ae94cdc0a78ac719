"""On-disk cache of meta-task assignments.

One entry per (grouping, k, seed, encoder, hash of the texts, hash of the labels):
``<cache>/artifacts/clusterings/<grouping>-k<k>-s<seed>-<hash>.npz`` (the assignments) and a
``.json`` sidecar (checksummed: the key, the sha256 of the .npz, the row count). Both are written
atomically. On reuse the sidecar's checksum, its key and the .npz's sha256 are verified; a
mismatch is logged as a warning, reported in ``MetaTasksets.summary()["cache"]`` and the entry is
rebuilt. Cached are the raw grouping output, before the min-size policy (which is cheap).
"""
from __future__ import annotations

import hashlib
import logging

import numpy as np

from benchmark import io, paths

log = logging.getLogger(__name__)

VERSION = 1


def hash_texts(texts) -> str:
    h = hashlib.sha256()
    for t in texts:
        b = str(t).encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def hash_array(a) -> str:
    a = np.ascontiguousarray(np.asarray(a))
    h = hashlib.sha256(str((a.dtype.str, a.shape)).encode())
    h.update(a.tobytes())
    return h.hexdigest()


def clustering_dir():
    d = paths.sub("artifacts") / "clusterings"
    d.mkdir(parents=True, exist_ok=True)
    return d


def entry_paths(key: dict):
    name = f"{key['grouping']}-k{key['k']}-s{key['seed']}-{io.config_hash(key)}"
    d = clustering_dir()
    return d / f"{name}.npz", d / f"{name}.json"


def load(key: dict, n_rows: int):
    """(assignments or None, status): status is "hit", "miss" or "rebuilt: <why>"."""
    npz, side = entry_paths(key)
    if not npz.exists() and not side.exists():
        return None, "miss"
    try:
        if not npz.exists() or not side.exists():
            raise io.CorruptCacheEntry(f"{npz.name}: half an entry (data or sidecar missing)")
        meta = io.read_json(side, checksum=True)
        if meta.get("key") != key:
            raise io.CorruptCacheEntry(f"{side.name}: sidecar key does not match")
        if io.sha256_file(npz) != meta.get("npz_sha256"):
            raise io.CorruptCacheEntry(f"{npz.name}: checksum mismatch")
        with np.load(npz, allow_pickle=False) as z:
            a = np.asarray(z["assignments"], dtype=np.int64)
        if a.shape != (n_rows,):
            raise io.CorruptCacheEntry(f"{npz.name}: {a.shape} rows, expected {n_rows}")
    except (io.CorruptCacheEntry, OSError, ValueError, KeyError) as exc:
        log.warning("corrupt clustering cache entry, rebuilding: %s", exc)
        return None, f"rebuilt: {exc}"
    return a, "hit"


def save(key: dict, assignments: np.ndarray) -> None:
    npz, side = entry_paths(key)
    with io.atomic_path(npz) as tmp:
        with open(tmp, "wb") as f:  # a file object: np.savez would append .npz to a path
            np.savez(f, assignments=np.asarray(assignments, dtype=np.int64))
    sizes = np.bincount(assignments, minlength=int(key["k"])).tolist()
    io.write_json(side, {"key": key, "npz_sha256": io.sha256_file(npz),
                         "n_rows": int(len(assignments)), "sizes": sizes}, checksum=True)
