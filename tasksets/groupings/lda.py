"""LDA tasks (paper 4.2.2): a row's task is its most probable LDA topic (gensim LdaModel).

Tokenisation: lower case, runs of letters (apostrophes kept inside words), tokens of 3+ letters,
gensim's English stop words removed. Vocabulary: words in at least ``no_below`` rows and at most
``no_above`` of the rows (the filter is relaxed when it would empty a small corpus).
A row left with no tokens carries no topic evidence; instead of piling such rows into topic 0
(the argmax of the uniform prior) they are dealt out round-robin over the topics, in a seeded
random order. Deterministic for a seed: single-process LdaModel with ``random_state=seed``.
"""
from __future__ import annotations

import logging
import re

import numpy as np

from ._common import check_k

log = logging.getLogger(__name__)

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")


def tokenize(text: str) -> list[str]:
    from gensim.parsing.preprocessing import STOPWORDS

    return [w for w in _WORD.findall(text.lower()) if len(w) >= 3 and w not in STOPWORDS]


def lda_groups(texts, labels, k, seed, embeddings=None, *, passes: int = 5,
               iterations: int = 100, no_below: int = 2, no_above: float = 0.5) -> np.ndarray:
    from gensim.corpora import Dictionary
    from gensim.models import LdaModel

    n = len(texts)
    k = check_k(n, k)
    docs = [tokenize(t) for t in texts]
    vocab = Dictionary(docs)
    filtered = Dictionary(docs)
    filtered.filter_extremes(no_below=no_below, no_above=no_above, keep_n=None)
    if len(filtered) >= k:  # tiny corpora: keep the unfiltered vocabulary instead of nothing
        vocab = filtered
    bows = [vocab.doc2bow(d) for d in docs]
    has_tokens = np.array([len(b) > 0 for b in bows])
    out = np.empty(n, dtype=np.int64)
    if has_tokens.any() and len(vocab):
        lda = LdaModel(corpus=[b for b in bows if b], id2word=vocab, num_topics=k,
                       random_state=int(seed), passes=passes, iterations=iterations,
                       eval_every=None)
        gamma, _ = lda.inference([b for b in bows if b])
        out[has_tokens] = np.argmax(gamma, axis=1)
    empty = np.flatnonzero(~has_tokens)
    if empty.size:
        log.info("LDA: %d of %d rows have no tokens; dealt out at random over the topics",
                 empty.size, n)
        order = np.random.default_rng(int(seed)).permutation(empty)
        out[order] = np.arange(order.size) % k
    return out
