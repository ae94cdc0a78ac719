"""2-D t-SNE of sentence embeddings coloured by meta task (paper Figure 4)."""
from __future__ import annotations

import numpy as np

from benchmark.errors import UserError


def tsne_points(embeddings, assignments, max_points: int = 2000, seed: int = 0, *,
                perplexity: float = 30.0, max_iter: int = 1000,
                return_indices: bool = False):
    """-> (points [n, 2], assignments of those points) [, row indices].

    At most ``max_points`` rows, a seeded random subset (in row order). sklearn TSNE with
    ``random_state=seed`` and PCA initialisation, so the same input gives the same points;
    perplexity is lowered to fit small inputs."""
    from sklearn.manifold import TSNE

    emb = np.asarray(embeddings, dtype=np.float64)
    a = np.asarray(assignments)
    if emb.ndim != 2 or a.shape != (emb.shape[0],):
        raise UserError(f"embeddings [N, dim] and assignments [N] must match; got "
                        f"{list(emb.shape)} and {list(a.shape)}")
    n = emb.shape[0]
    if n < 3:
        raise UserError(f"t-SNE needs at least 3 points; got {n}")
    idx = np.arange(n)
    if n > max_points:
        idx = np.sort(np.random.default_rng(int(seed)).choice(n, size=max_points, replace=False))
    perp = float(min(perplexity, (idx.size - 1) / 3.0))
    pts = TSNE(n_components=2, perplexity=perp, init="pca", random_state=int(seed),
               learning_rate="auto", max_iter=int(max_iter)).fit_transform(emb[idx])
    out = (pts, a[idx])
    return out + (idx,) if return_indices else out
