"""Stand-in: VADER's human-rated sentences (``vadersentiment`` archive), binned into classes.

Ground truth (``hutto_ICWSM_2014/*_GroundTruth.txt`` inside the nested tarball of the source
archive): TSV ``id <TAB> mean_rating <TAB> text``, CRLF line ends, no CSV quoting, so each line is
split with ``split('\\t', 2)``. The mean rating (>= 20 raters, -4..+4) is binned by ``binning``:

- ``five``:  m <= -2.4 -> 0, <= -0.8 -> 1, <= 0.8 -> 2, <= 2.4 -> 3, else 4
- ``two``:   the five bins with the middle one dropped; {0,1} -> 0, {3,4} -> 1
- ``sign``:  m < 0 -> 0, m > 0 -> 1, m == 0 dropped
- ``quantile5``: five equal-count bins at the 20/40/60/80 % quantiles of the file's ratings
  (m <= q20 -> 0, ...); equal-width bins are lopsided on NYT editorials (14/1291/3158/721/6).
"""
from __future__ import annotations

import tarfile

from benchmark.errors import UserError, unknown
from benchmark.sources import base
from benchmark.sources.base import Loaded

VADER_FILES = {
    "movie": "movieReviewSnippets_GroundTruth.txt",
    "amazon": "amazonReviewSnippets_GroundTruth.txt",
    "tweets": "tweets_GroundTruth.txt",
    "nyt": "nytEditorialSnippets_GroundTruth.txt",
}
VADER_TARBALL = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
FIVE_BIN_EDGES = (-2.4, -0.8, 0.8, 2.4)


def parse_vader_tsv(data: bytes | str, where: str = "<vader>") -> list[tuple[str, float, str]]:
    """``(id, mean_rating, text)`` per line of a VADER ground-truth file (CRLF, split('\\t', 2))."""
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    out = []
    for lineno, line in enumerate(data.split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        parts = line.split("\t", 2)
        if len(parts) != 3:
            raise UserError(f"{where}, line {lineno}: expected 'id<TAB>mean_rating<TAB>text', got {line[:60]!r}")
        try:
            rating = float(parts[1])
        except ValueError:
            raise UserError(f"{where}, line {lineno}: mean rating {parts[1]!r} is not a number") from None
        out.append((parts[0], rating, parts[2].strip()))
    return out


def bin_five(m: float) -> int:
    for label, edge in enumerate(FIVE_BIN_EDGES):
        if m <= edge:
            return label
    return 4


def bin_ratings(ratings: list[float], binning: str) -> tuple[list[int | None], dict]:
    """Class index per rating (None = dropped) and the thresholds used."""
    if binning == "five":
        return [bin_five(m) for m in ratings], {"edges": list(FIVE_BIN_EDGES)}
    if binning == "two":
        five = [bin_five(m) for m in ratings]
        return [None if b == 2 else (0 if b < 2 else 1) for b in five], {"edges": list(FIVE_BIN_EDGES),
                                                                          "dropped_bin": 2}
    if binning == "sign":
        return [None if m == 0 else (0 if m < 0 else 1) for m in ratings], {"rule": "sign, zeros dropped"}
    if binning == "quantile5":
        import numpy as np
        q = np.quantile(np.asarray(ratings, dtype=float), [0.2, 0.4, 0.6, 0.8])
        labels = np.searchsorted(q, np.asarray(ratings, dtype=float), side="left")
        return [int(x) for x in labels], {"quantile_edges": [round(float(x), 6) for x in q]}
    raise UserError(f"unknown VADER binning {binning!r}; valid: five, two, sign, quantile5")


def read_vader_file(which: str) -> tuple[bytes, str]:
    if which not in VADER_FILES:
        raise unknown("VADER file", which, VADER_FILES)
    tarball = base.asset_root("vadersentiment") / VADER_TARBALL
    member = f"hutto_ICWSM_2014/{VADER_FILES[which]}"
    with tarfile.open(tarball) as tf:
        return tf.extractfile(member).read(), member


def load(params: dict) -> Loaded:
    which = params["file"]
    raw, member = read_vader_file(which)
    rows = parse_vader_tsv(raw, where=member)
    labels, notes = bin_ratings([r[1] for r in rows], params["binning"])
    keep = [i for i, lab in enumerate(labels) if lab is not None]
    notes = {**notes, "dropped": len(rows) - len(keep), "binning": params["binning"]}
    return Loaded(texts=[rows[i][2] for i in keep], labels=[labels[i] for i in keep],
                  keys=[str(i) for i in keep],
                  origin=f"{base.asset_label('vadersentiment')}: {member} ({params['binning']} bins)",
                  sha256={"vadersentiment": base.asset_sha256("vadersentiment")}, notes=notes)


def assets(params: dict) -> list[str]:
    return ["vadersentiment"]
