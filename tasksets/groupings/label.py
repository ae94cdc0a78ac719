"""Label tasks (ablation, paper 6.2): rows with the same label form one group.

When k is larger than the number of labels, each label's rows are split at random into more
groups, as the paper says. The k groups are shared out in proportion to the labels' sizes
(each label gets at least one; the rest go by largest remainder, ties to the smaller label id),
and a label's rows are shuffled (seeded) and split into near-equal parts.

When k is smaller than the number of labels there is no pure way to form k groups, so this is a
UserError (policy: refuse, never silently merge labels).
Group ids are ordered by label, then by part: label 0's groups first.
"""
from __future__ import annotations

import numpy as np

from benchmark.errors import UserError

from ._common import check_k


def allocate(sizes: np.ndarray, k: int) -> np.ndarray:
    """How many groups each label gets: >= 1 each, sum k, proportional to sizes, <= size."""
    n_labels = len(sizes)
    counts = np.ones(n_labels, dtype=np.int64)
    extra = k - n_labels
    if extra:
        share = sizes / sizes.sum() * k - 1.0          # ideal extra groups per label
        base = np.clip(np.floor(share), 0, None).astype(np.int64)
        base = np.minimum(base, sizes - 1)
        while base.sum() > extra:                      # floor can over-allocate after the clip
            base[int(np.argmax(base))] -= 1
        counts += base
        remainder = share - base
        while counts.sum() < k:
            room = counts < sizes
            cand = np.where(room, remainder, -np.inf)
            i = int(np.argmax(cand))                   # ties go to the smaller label id
            counts[i] += 1
            remainder[i] -= 1.0
    return counts


def label_groups(texts, labels, k, seed, embeddings=None) -> np.ndarray:
    n = len(texts)
    k = check_k(n, k)
    if labels is None:
        raise UserError("the label grouping needs labels for every pre-training row")
    y = np.asarray(labels)
    if y.shape != (n,):
        raise UserError(f"{n} texts but {y.size} labels")
    uniq, inverse = np.unique(y, return_inverse=True)
    if k < len(uniq):
        raise UserError(
            f"the label grouping needs k >= the number of labels ({len(uniq)}); got k={k}",
            hint=f"use k={len(uniq)} (one task per label) or more (labels split at random)")
    sizes = np.bincount(inverse, minlength=len(uniq))
    counts = allocate(sizes, k)
    rng = np.random.default_rng(int(seed))
    out = np.empty(n, dtype=np.int64)
    next_id = 0
    for li in range(len(uniq)):
        rows = np.flatnonzero(inverse == li)
        if counts[li] > 1:
            rows = rng.permutation(rows)
        for part in np.array_split(rows, counts[li]):
            out[part] = next_id
            next_id += 1
    return out
