"""Random tasks (ablation, paper 6.2): a seeded random split into k near-equal groups."""
from __future__ import annotations

import numpy as np

from ._common import check_k


def random_groups(texts, labels, k, seed, embeddings=None) -> np.ndarray:
    """Shuffle the rows with ``np.random.default_rng(seed)`` and deal them out round-robin,
    so group sizes differ by at most one."""
    n = len(texts)
    k = check_k(n, k)
    perm = np.random.default_rng(int(seed)).permutation(n)
    out = np.empty(n, dtype=np.int64)
    out[perm] = np.arange(n) % k
    return out
