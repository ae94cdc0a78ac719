"""Stand-in: several stand-in loaders in a row (the yelp5 pool), each part's labels optionally remapped."""
from __future__ import annotations

from benchmark.sources.base import Loaded


def load(params: dict) -> Loaded:
    """Several stand-in loaders in a row; keys get the part's name as prefix."""
    from benchmark.sources import get_loader  # the registry imports this module

    texts, labels, keys, origins, sha, notes = [], [], [], [], {}, {}
    for part in params["parts"]:
        part = dict(part)
        name = part.pop("name")
        loader = part.pop("loader")
        remap = part.pop("remap", None)
        got = get_loader(loader)(part)
        got_labels = got.labels or []
        if remap is not None:
            got_labels = [int(remap[lab]) for lab in got_labels]
        texts += got.texts
        labels += got_labels
        keys += [f"{name}:{k}" for k in got.keys]
        origins.append(got.origin)
        sha.update(got.sha256)
        notes[name] = {**got.notes, "rows": len(got), **({"remap": remap} if remap is not None else {})}
    return Loaded(texts, labels, keys, origin=" + ".join(origins), sha256=sha, notes=notes)


def assets(params: dict) -> list[str]:
    from benchmark.sources import LOADER_ASSETS

    return sorted({a for part in params["parts"] for a in LOADER_ASSETS[part["loader"]](part)})
