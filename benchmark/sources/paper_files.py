"""The paper's aspect-level files, given by path: SemEval-2016 Task 5 XML and Sentihood JSON, and the
project's rule that turns a sentence's aspect polarities into one sentence label.

* SemEval-2016 Task 5 (subtask 1, sentence level) XML: ``Reviews/Review/sentences/sentence`` with
  ``text`` and ``Opinions/Opinion@polarity``. Sentences marked ``OutOfScope="TRUE"`` and sentences
  without opinions are dropped.
* Sentihood JSON: a list of ``{"id", "text", "opinions": [{"sentiment", "aspect",
  "target_entity"}]}``.
* The rule (``sentence_label``, both formats): a sentence's label is its opinions' polarity when they
  agree; with mixed polarities ``mixed`` decides: ``majority`` (default: the most frequent polarity;
  a tie is a conflict and the sentence is dropped) or ``drop`` (every mixed sentence is dropped).

A file is given in the task YAML (``path``, ``test_path``) or through the environment variable it
names (``path_env``, ``test_path_env``).
"""
from __future__ import annotations

import collections
import json
import os
import pathlib
import xml.etree.ElementTree as ET

from benchmark.errors import UserError
from benchmark.io import sha256_file
from benchmark.sources.base import Loaded

FORMATS = ("semeval2016_xml", "sentihood_json")
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


def resolve_path(params: dict, key: str) -> pathlib.Path | None:
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


def _load(params: dict, parser) -> Loaded:
    classes = {k.lower(): int(v) for k, v in params["polarities"].items()}
    mixed = params.get("mixed", "majority")
    path = resolve_path(params, "path")
    if path is None:
        env = params.get("path_env")
        raise UserError(f"the paper's data for this task is a local file ({params['format']}); none is configured",
                        hint=f"set ${env} (and optionally ${params.get('test_path_env')}) to the file, "
                             f"or use `--source standin`")
    train = parser(path, classes, mixed)
    test_path = resolve_path(params, "test_path")
    if test_path is not None:
        test = parser(test_path, classes, mixed)
        test.keys = [f"test:{k}" for k in test.keys]
        train.test = test
        train.sha256.update(test.sha256)
    return train


def load_semeval2016_xml(params: dict) -> Loaded:
    return _load(params, parse_semeval2016_xml)


def load_sentihood_json(params: dict) -> Loaded:
    return _load(params, parse_sentihood_json)


def configured(params: dict) -> bool:
    """Whether ``auto`` should try the paper's file: a path given, or its environment variable set."""
    return bool(params.get("path") or (params.get("path_env") and os.environ.get(params["path_env"])))
