"""Pseudo-labelled pre-training data (paper 4.1, method 2, after Gu et al. 2022, PPT).

A labeller is trained on a labelled pool, annotates an unlabelled open-domain corpus, and only
confident predictions are kept, then balanced across classes:

    out = pseudo_label(pool_texts, pool_labels, corpus_texts, encoder="all-MiniLM-L6-v2",
                       threshold=0.9, balance="min", seed=0)
    out.texts, out.labels, out.indices (into the corpus), out.confidence, out.report

The labeller: Gu et al. fine-tune a RoBERTa classifier. Offline, the default here is logistic
regression on sentence embeddings (the best real model available without the network). It is a
pluggable callable ``labeller(texts, labels, embeddings, seed) -> predict_proba`` where
``predict_proba(texts, embeddings) -> np.ndarray [n, n_classes]`` (columns = class ids
0..C-1); ``embeddings`` are None when neither an encoder nor precomputed embeddings are given,
so a text classifier (e.g. RoBERTa, online) can ignore them.

A seeded, stratified ``heldout_fraction`` of the pool is kept out of the labeller's training; its
accuracy there is reported, and the corpus is annotated by that same labeller (so the reported
accuracy is the annotating model's).

Balance: ``"min"`` down-samples every class to the smallest class that has confident rows
(classes with none are listed in ``report["missing_classes"]``); ``"cap"`` keeps at most
``balance_ratio`` x the smallest class per class, so a rare class no longer throws away most
confident rows of the others (on the cpu stand-ins ``"min"`` kept 335 of 1,976 confident rows);
an int caps each class at that many rows; ``None`` keeps all confident rows. Down-sampling is
seeded; rows keep corpus order. ``report["balance_policy"]`` says in words what was kept.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from benchmark.errors import UserError


@dataclasses.dataclass
class PseudoLabelled:
    texts: list
    labels: list
    indices: list           # row indices into the unlabelled corpus
    confidence: list        # the labeller's max probability per kept row
    report: dict


def logreg_labeller(texts, labels, embeddings, seed, *, C: float = 1.0, max_iter: int = 2000,
                    class_weight=None):
    """Default labeller: sklearn LogisticRegression on sentence embeddings.

    ``class_weight="balanced"`` weighs each class by the inverse of its frequency in the pool, so
    a rare class is predicted (and confidently) more often: another way to a balanced corpus than
    throwing confident rows away."""
    from sklearn.linear_model import LogisticRegression

    if embeddings is None:
        raise UserError("the default pseudo-labeller needs sentence embeddings",
                        hint="pass encoder='all-MiniLM-L6-v2' or pool/corpus embeddings")
    clf = LogisticRegression(C=C, max_iter=max_iter, random_state=int(seed), class_weight=class_weight)
    clf.fit(np.asarray(embeddings), np.asarray(labels))
    n_classes = int(np.max(labels)) + 1

    def predict_proba(_texts, emb):
        p = clf.predict_proba(np.asarray(emb))
        full = np.zeros((p.shape[0], n_classes))
        full[:, clf.classes_] = p           # columns are class ids even if a class is absent
        return full

    return predict_proba


def logreg_balanced_labeller(texts, labels, embeddings, seed):
    """``logreg_labeller`` with class weights inversely proportional to the pool's class frequencies."""
    return logreg_labeller(texts, labels, embeddings, seed, class_weight="balanced")


BALANCES = ("min", "cap", "none")


def label_purity(summary: dict) -> dict:
    """How label-pure meta tasks are (a ``TaskSets.summary()``): per task the share of its commonest
    label, and over all rows the share that carry their task's commonest label (1.0 = every meta
    task is a single class, 1/C = labels spread evenly). A nearly one-label task teaches a prompt
    to answer one word."""
    per_task, top, total = [], 0, 0
    for t in summary.get("tasks", []):
        counts = list((t.get("labels") or {}).values())
        if not counts:
            continue
        per_task.append(round(max(counts) / sum(counts), 4))
        top, total = top + max(counts), total + sum(counts)
    return {"overall": round(top / total, 4) if total else None, "per_task": per_task,
            "max": max(per_task) if per_task else None, "min": min(per_task) if per_task else None}


def _embed(encoder, texts):
    from benchmark.encoders import embed

    return np.asarray(embed(encoder, list(texts)))


def _check_inputs(pool_texts, pool_labels, corpus_texts, threshold, heldout_fraction, balance, balance_ratio):
    """Refuse inputs ``pseudo_label`` cannot work with; return the pool labels as int64 and the balance
    (``"none"`` read as None)."""
    if not pool_texts:
        raise UserError("the labelled pool is empty: nothing to train the pseudo-labeller on")
    if not corpus_texts:
        raise UserError("the unlabelled corpus is empty: nothing to pseudo-label")
    if pool_labels is None or len(pool_labels) != len(pool_texts):
        raise UserError(f"the labelled pool needs one label per text ({len(pool_texts)})")
    y = np.asarray(pool_labels).astype(np.int64)
    if not 0.0 <= threshold <= 1.0:
        raise UserError(f"threshold must be a probability in [0, 1]; got {threshold!r}")
    if not 0.0 < heldout_fraction < 1.0:
        raise UserError(f"heldout_fraction must be in (0, 1); got {heldout_fraction!r}")
    if balance == "none":
        balance = None
    if not (balance is None or balance in ("min", "cap") or
            (isinstance(balance, int) and not isinstance(balance, bool) and balance >= 1)):
        raise UserError(f"balance must be 'min', 'cap', 'none', a per-class cap >= 1, or None; got {balance!r}")
    if balance == "cap" and (isinstance(balance_ratio, bool) or not isinstance(balance_ratio, (int, float))
                             or not balance_ratio >= 1):
        raise UserError(f"balance_ratio must be a number >= 1 (at most that many times the smallest class "
                        f"per class); got {balance_ratio!r}")
    if len(np.unique(y)) < 2:
        raise UserError("the labelled pool has a single class: a labeller needs two or more")
    return y, balance


def _balance(pred, confident, before, n_classes, balance, balance_ratio, seed):
    """The confident rows kept per predicted class under ``balance``; returns the kept rows (sorted), the
    kept count per class, the classes no row predicted, and the policy in words."""
    rng = np.random.default_rng(int(seed))
    present = [c for c in range(n_classes) if before[c] > 0]
    missing = [c for c in range(n_classes) if before[c] == 0]
    smallest = int(min(before[c] for c in present))
    if balance == "min":
        cap = smallest
    elif balance == "cap":
        cap = int(np.floor(balance_ratio * smallest))
    elif balance is None:
        cap = None
    else:
        cap = int(balance)
    keep = []
    for c in present:
        rows = confident[pred[confident] == c]
        if cap is not None and rows.size > cap:
            rows = rng.choice(rows, size=cap, replace=False)
        keep.append(rows)
    keep = np.sort(np.concatenate(keep))
    after = np.bincount(pred[keep], minlength=n_classes)
    policy = {"min": f"every class down-sampled to the smallest ({smallest})",
              "cap": f"at most {balance_ratio:g} x the smallest class ({smallest}) = {cap} rows per class",
              None: "all confident rows kept (no balancing)"}.get(balance, f"at most {cap} rows per class")
    policy += f"; kept {int(keep.size)} of {int(confident.size)} confident rows"
    return keep, after, missing, policy


def pseudo_label(pool_texts, pool_labels, corpus_texts, *, threshold: float = 0.9,
                 balance="min", balance_ratio: float = 3.0, seed: int = 0,
                 heldout_fraction: float = 0.2, labeller=None,
                 encoder: str | None = None, pool_embeddings=None, corpus_embeddings=None
                 ) -> PseudoLabelled:
    pool_texts, corpus_texts = list(pool_texts), list(corpus_texts)
    y, balance = _check_inputs(pool_texts, pool_labels, corpus_texts, threshold, heldout_fraction, balance,
                               balance_ratio)

    if pool_embeddings is None and encoder is not None:
        pool_embeddings = _embed(encoder, pool_texts)
    if corpus_embeddings is None and encoder is not None:
        corpus_embeddings = _embed(encoder, corpus_texts)
    if (pool_embeddings is None) != (corpus_embeddings is None):
        raise UserError("give embeddings for both the pool and the corpus, or for neither")
    labeller = labeller or logreg_labeller

    from sklearn.model_selection import train_test_split

    idx = np.arange(len(pool_texts))
    counts = np.bincount(y)
    stratify = y if counts[counts > 0].min() >= 2 else None
    n_held = max(1, int(round(heldout_fraction * len(idx))))
    if stratify is not None and n_held < len(np.unique(y)):
        stratify = None
    tr, ho = train_test_split(idx, test_size=n_held, random_state=int(seed), stratify=stratify)
    tr, ho = np.sort(tr), np.sort(ho)

    def sub(a, rows):
        return None if a is None else np.asarray(a)[rows]

    predict = labeller([pool_texts[i] for i in tr], y[tr], sub(pool_embeddings, tr), int(seed))
    p_ho = np.asarray(predict([pool_texts[i] for i in ho], sub(pool_embeddings, ho)))
    heldout_acc = float((p_ho.argmax(axis=1) == y[ho]).mean())

    probs = np.asarray(predict(corpus_texts, corpus_embeddings))
    if probs.shape[0] != len(corpus_texts):
        raise RuntimeError("the labeller returned the wrong number of rows")
    n_classes = max(probs.shape[1], int(y.max()) + 1)
    pred, conf = probs.argmax(axis=1), probs.max(axis=1)
    confident = np.flatnonzero(conf >= threshold)
    before = np.bincount(pred[confident], minlength=n_classes)
    if confident.size == 0:
        raise UserError(f"no corpus row reaches the confidence threshold {threshold}",
                        hint=f"lower threshold (highest confidence was {conf.max():.3f})")

    keep, after, missing, policy = _balance(pred, confident, before, n_classes, balance, balance_ratio, seed)

    report = {"labeller": getattr(labeller, "__name__", type(labeller).__name__),
              "threshold": float(threshold), "balance": balance, "seed": int(seed),
              "balance_ratio": float(balance_ratio) if balance == "cap" else None, "balance_policy": policy,
              "pool_size": len(pool_texts), "labeller_train_size": int(tr.size),
              "heldout_size": int(ho.size), "heldout_accuracy": heldout_acc,
              "corpus_size": len(corpus_texts), "confident_size": int(confident.size),
              "kept_size": int(keep.size),
              "per_class_confident": {str(c): int(before[c]) for c in range(n_classes)},
              "per_class_kept": {str(c): int(after[c]) for c in range(n_classes)},
              "missing_classes": missing}
    return PseudoLabelled(texts=[corpus_texts[i] for i in keep], labels=pred[keep].tolist(),
                          indices=keep.tolist(), confidence=conf[keep].tolist(), report=report)
