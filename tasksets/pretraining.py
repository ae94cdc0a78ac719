"""The pre-training data of MetaPT, MetaPT(Y) and PPT (paper section 4.1), from a profile's ``pretrain``
section: the labelled pool subsampled, or the open-domain corpus pseudo-labelled by a labeller trained
on that pool. ``benchmark.context.Context`` caches what these build as artefacts keyed by
:func:`pseudo_labelled_key`.

``rows(name)`` is how a builder reads a dataset (``Context.rows``: loaded once, provenance recorded).
"""
from __future__ import annotations

import pathlib

import numpy as np

from benchmark.io import write_json


def labelled_pool_key(cfg: dict) -> dict:
    pre = cfg["pretrain"]
    return {"pool": pre["labelled_pool"], "rows": pre["rows"], "seed": pre["seed"], "source": cfg["data_source"]}


def labelled_pool(cfg: dict, rows) -> dict:
    """MetaPT(Y)'s pre-training data: the labelled pool, subsampled to ``pretrain.rows`` (seeded)."""
    pre = cfg["pretrain"]
    pool = rows(pre["labelled_pool"])
    n = min(pre["rows"], len(pool.texts))
    idx = np.sort(np.random.default_rng(pre["seed"]).permutation(len(pool.texts))[:n])
    return {"texts": [pool.texts[i] for i in idx], "labels": [int(pool.labels[i]) for i in idx],
            "report": {"pool": pre["labelled_pool"], "rows": int(n), "available": len(pool.texts),
                       "provenance": pool.provenance}}


def pseudo_labelled_key(cfg: dict) -> dict:
    pre = cfg["pretrain"]
    return {"pool": pre["labelled_pool"], "corpus": pre["unlabelled"], "rows": pre["rows"],
            "corpus_rows": pre["corpus_rows"],
            "threshold": pre["pseudo_threshold"], "labeller": pre["labeller"], "encoder": cfg["encoder"],
            "balance": pre["balance"], "balance_ratio": pre["balance_ratio"] if pre["balance"] == "cap" else None,
            "seed": pre["seed"], "source": cfg["data_source"]}


def build_pseudo_labelled(cfg: dict, rows, out_dir: pathlib.Path) -> dict:
    """MetaPT's and PPT's pre-training data: the open-domain corpus (``pretrain.corpus_rows`` of it,
    seeded) annotated by a labeller trained on the labelled pool, confident predictions only, classes
    balanced, at most ``pretrain.rows`` rows; written to ``out_dir/data.json``."""
    from tasksets.labellers import get_labeller
    from tasksets.pseudo_label import pseudo_label

    pre = cfg["pretrain"]
    labeller, needs_embeddings = get_labeller(pre["labeller"])
    pool = rows(pre["labelled_pool"])
    corpus = rows(pre["unlabelled"])
    corpus_texts = corpus.texts
    if pre["corpus_rows"] and pre["corpus_rows"] < len(corpus_texts):
        pick = np.sort(np.random.default_rng(pre["seed"]).permutation(len(corpus_texts))[:pre["corpus_rows"]])
        corpus_texts = [corpus_texts[i] for i in pick]
    out = pseudo_label(pool.texts, pool.labels, corpus_texts, threshold=pre["pseudo_threshold"],
                       balance=pre["balance"], balance_ratio=pre["balance_ratio"], seed=pre["seed"],
                       labeller=labeller, encoder=cfg["encoder"] if needs_embeddings else None)
    texts, labels = cap_balanced(out.texts, out.labels, pre["rows"], pre["seed"])
    report = dict(out.report, labeller=pre["labeller"], rows_after_cap=len(texts),
                  corpus_rows_annotated=len(corpus_texts), corpus_rows_available=len(corpus.texts))
    report["provenance"] = {"pool": pool.provenance, "corpus": corpus.provenance}
    write_json(out_dir / "data.json", {"texts": list(texts), "labels": [int(x) for x in labels], "report": report},
               checksum=True)
    return {"files": ["data.json"], "report": report}


def cap_balanced(texts, labels, rows: int, seed: int):
    """At most ``rows`` rows, the same number from every class (seeded)."""
    labels = np.asarray(labels)
    classes = np.unique(labels)
    per_class = max(rows // len(classes), 1)
    rng = np.random.default_rng(seed)
    keep = np.sort(np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in classes]))
    return [texts[i] for i in keep], labels[keep]
