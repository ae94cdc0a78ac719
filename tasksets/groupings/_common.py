"""Argument checks shared by the groupings."""
from __future__ import annotations

import numpy as np

from benchmark.errors import UserError


def check_k(n_rows: int, k: int) -> int:
    if n_rows == 0:
        raise UserError("the pre-training corpus is empty: nothing to group into meta tasks")
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise UserError(f"the number of meta tasks k must be an integer >= 1; got {k!r}")
    k = int(k)
    if k > n_rows:
        raise UserError(f"k={k} meta tasks is more than the {n_rows} pre-training rows",
                        hint="use a smaller k or more pre-training data")
    return k


def check_embeddings(embeddings, n_rows: int, grouping: str) -> np.ndarray:
    if embeddings is None:
        raise UserError(f"the {grouping} grouping needs sentence embeddings",
                        hint="pass encoder='all-MiniLM-L6-v2' (or embeddings=...) to get_tasksets")
    emb = np.asarray(embeddings)
    if emb.dtype.kind != "f":
        emb = emb.astype(np.float32)
    if emb.ndim != 2 or emb.shape[0] != n_rows:
        raise UserError(f"embeddings must have shape [{n_rows}, dim]; got {list(emb.shape)}")
    if not np.isfinite(emb).all():
        raise UserError("embeddings contain NaN or infinite values")
    return emb
