"""Groupings: ways to split pre-training rows into meta tasks (paper section 4.2 and 6.2).

Every grouping is one function ``(texts, labels, k, seed, embeddings=None) -> np.ndarray[int]``
giving each row a meta task id in ``0..k-1`` (a meta task may come out empty, e.g. an LDA topic no
row prefers; ``tasksets.get_tasksets`` reports that and applies its ``min_policy``).

To add one: write ``tasksets/groupings/<name>.py`` with that function and add one line below.
"""
from __future__ import annotations

from benchmark.errors import unknown

from .kmeans import kmeans_groups
from .label import label_groups
from .lda import lda_groups
from .random import random_groups

GROUPINGS = {
    "kmeans": kmeans_groups,   # K-means on sentence embeddings (paper 4.2.1)
    "lda": lda_groups,         # most probable LDA topic (paper 4.2.2)
    "random": random_groups,   # seeded random split into near-equal groups (ablation, Table 2)
    "label": label_groups,     # rows of one label together (ablation, Table 2)
}

# Groupings that need sentence embeddings (get_tasksets resolves them from an encoder name).
NEEDS_EMBEDDINGS = {"kmeans"}
# Groupings that need the true labels.
NEEDS_LABELS = {"label"}


def list_groupings() -> list[str]:
    return sorted(GROUPINGS)


def get_grouping(name: str):
    try:
        return GROUPINGS[name]
    except KeyError:
        raise unknown("grouping", name, GROUPINGS) from None
