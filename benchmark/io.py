"""Atomic writes and checksummed cache entries: a killed run never leaves a half-written file."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
import tempfile


def sha256_file(path: os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def atomic_path(path: os.PathLike):
    """Yield a temporary path beside ``path``; it replaces ``path`` only if the block succeeds."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield pathlib.Path(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path: os.PathLike, obj, *, checksum: bool = False) -> None:
    """Write JSON atomically. With ``checksum`` the payload's sha256 is stored beside it in the file."""
    if checksum:
        body = json.dumps(obj, sort_keys=True, default=str)
        obj = {"sha256": hashlib.sha256(body.encode()).hexdigest(), "payload": json.loads(body)}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1, sort_keys=True, default=str))


class CorruptCacheEntry(Exception):
    pass


def read_json(path: os.PathLike, *, checksum: bool = False):
    """Read JSON; with ``checksum`` verify the stored sha256 and raise CorruptCacheEntry on mismatch."""
    try:
        obj = json.loads(pathlib.Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptCacheEntry(f"{path}: not valid JSON ({exc})") from exc
    if not checksum:
        return obj
    if not isinstance(obj, dict) or "sha256" not in obj or "payload" not in obj:
        raise CorruptCacheEntry(f"{path}: no checksum")
    body = json.dumps(obj["payload"], sort_keys=True, default=str)
    if hashlib.sha256(body.encode()).hexdigest() != obj["sha256"]:
        raise CorruptCacheEntry(f"{path}: checksum mismatch")
    return obj["payload"]


def config_hash(obj) -> str:
    """A stable short hash of a JSON-able config (the name of a result or artefact)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]
