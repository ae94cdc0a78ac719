"""K-means tasks (paper 4.2.1): cluster sentence embeddings into k meta tasks."""
from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans

from ._common import check_embeddings, check_k

N_INIT = 10  # fixed, so results do not depend on the sklearn default


def kmeans_groups(texts, labels, k, seed, embeddings=None) -> np.ndarray:
    """sklearn KMeans(n_clusters=k, n_init=10, random_state=seed) on the embeddings."""
    k = check_k(len(texts), k)
    emb = check_embeddings(embeddings, len(texts), "kmeans")
    km = KMeans(n_clusters=k, n_init=N_INIT, random_state=int(seed))
    return km.fit_predict(emb).astype(np.int64)
