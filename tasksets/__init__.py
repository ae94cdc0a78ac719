"""Pre-training data -> meta tasks (paper sections 4.1-4.2, ablations of 6.2).

    from tasksets import get_tasksets, list_groupings
    ts = get_tasksets("kmeans", texts, labels, k=10, m=4, seed=0, encoder="all-MiniLM-L6-v2")
    task = ts.train.sample()                    # [row_indices[2m], labels[2m]], one meta task
    (s_rows, s_y), (q_rows, q_y) = ts.split_task(task)
    fixed = ts.validation_tasks(n_per_task=2, seed=0)   # deterministic meta-validation

Meta-train / meta-validation split: every meta task keeps a seeded share of its rows for
meta-validation, ``n_val = max(2m, round(val_fraction * size))`` (at least one full task), the rest
is meta-train. ``val_fraction=0`` disables meta-validation (``validation`` is None).

Minimum size policy (``min_policy``): a meta task must leave at least 2m rows for meta-train and
(with validation) 2m for meta-validation. Meta tasks that do not are
  - ``"merge"`` (default): merged, smallest first, into another meta task: for kmeans the nearest
    by centroid in embedding space; for the label grouping another meta task of the same label if
    there is one (nearest by centroid when embeddings are known), else the next meta task; for
    random and LDA the next surviving meta task id (cyclically). Meta tasks that came out empty are
    dropped. Both are listed in ``summary()["merged"]`` / ``["empty_clusters"]``; task ids keep the
    ids the grouping gave. If a single meta task is still too small, it is a UserError.
  - ``"refuse"``: a UserError naming the first such meta task and its sizes.
"""
from __future__ import annotations

import dataclasses
import logging

import numpy as np

from benchmark.errors import UserError

from . import cache as _cache
from .groupings import GROUPINGS, NEEDS_EMBEDDINGS, get_grouping, list_groupings
from .groupings._common import check_embeddings, check_k
from .tasks import SeededTaskDataset, make_taskdataset, split_task

__all__ = ["get_tasksets", "list_groupings", "GROUPINGS", "MetaTasksets", "FixedTask",
           "split_task", "SeededTaskDataset"]

log = logging.getLogger(__name__)

MIN_POLICIES = ("merge", "refuse")


@dataclasses.dataclass(frozen=True)
class FixedTask:
    """A fixed meta-validation task: global row indices and their true labels."""
    task: int
    support: list
    support_labels: list
    query: list
    query_labels: list


@dataclasses.dataclass
class MetaTasksets:
    grouping: str
    k: int
    m: int
    seed: int
    val_fraction: float
    min_policy: str
    encoder: str | None
    labels: np.ndarray
    raw_assignments: np.ndarray          # grouping output, before the min-size policy
    assignments: np.ndarray              # final task id per row
    embeddings: np.ndarray | None
    train_rows: dict                     # task id -> sorted row indices (meta-train)
    val_rows: dict                       # task id -> sorted row indices (meta-validation)
    merges: list
    empty_clusters: list
    cache: str
    train: SeededTaskDataset
    validation: SeededTaskDataset | None

    split_task = staticmethod(split_task)

    @property
    def task_ids(self) -> list[int]:
        return sorted(self.train_rows)

    def task_dataset(self, task: int, split: str = "train") -> SeededTaskDataset:
        """A TaskDataset of one meta task only (e.g. to visit every meta task in each meta-step,
        as Algorithm 1 does); seeded by (seed, task, split)."""
        rows = {"train": self.train_rows, "validation": self.val_rows}.get(split)
        if rows is None:
            raise UserError(f"unknown split {split!r}; valid: train, validation")
        if task not in rows:
            raise UserError(f"no meta task {task!r} in {split}; tasks: {self.task_ids}")
        return make_taskdataset({task: rows[task]}, self.labels, self.m,
                                seed=f"{self.seed}-{int(task)}-{split}")

    def validation_tasks(self, n_per_task: int = 1, seed: int = 0) -> list[FixedTask]:
        """``n_per_task`` fixed tasks per meta task from the held-out rows, each m support + m query
        distinct rows; the same (n_per_task, seed) always gives the same list, so meta-validation
        accuracy is comparable across steps."""
        if not self.val_rows:
            raise UserError("no meta-validation rows: get_tasksets was called with val_fraction=0")
        if n_per_task < 1:
            raise UserError(f"n_per_task must be >= 1; got {n_per_task}")
        out = []
        for task in self.task_ids:
            rows = self.val_rows[task]
            rng = np.random.default_rng([int(seed), int(task)])
            for _ in range(n_per_task):
                pick = rng.choice(rows, size=2 * self.m, replace=False)
                s, q = pick[:self.m], pick[self.m:]
                out.append(FixedTask(int(task), s.tolist(), self.labels[s].tolist(),
                                     q.tolist(), self.labels[q].tolist()))
        return out

    def summary(self) -> dict:
        tasks = []
        for t in self.task_ids:
            rows = np.flatnonzero(self.assignments == t)
            lab, cnt = np.unique(self.labels[rows], return_counts=True)
            tasks.append({"task": int(t), "size": int(rows.size),
                          "train": int(self.train_rows[t].size),
                          "val": int(self.val_rows[t].size) if self.val_rows else 0,
                          "labels": {str(int(a)): int(b) for a, b in zip(lab, cnt)}})
        return {"grouping": self.grouping, "k": self.k, "k_effective": len(tasks), "m": self.m,
                "seed": self.seed, "encoder": self.encoder, "n_rows": int(self.labels.size),
                "val_fraction": self.val_fraction, "min_policy": self.min_policy,
                "cache": self.cache, "empty_clusters": list(self.empty_clusters),
                "merged": list(self.merges), "tasks": tasks}


def _n_val(size: int, m: int, val_fraction: float) -> int:
    if val_fraction <= 0:
        return 0
    return max(2 * m, int(round(val_fraction * size)))


def _too_small(size: int, m: int, val_fraction: float) -> str | None:
    n_val = _n_val(size, m, val_fraction)
    if size - n_val >= 2 * m:
        return None
    if val_fraction > 0:
        return (f"{size} rows ({max(size - n_val, 0)} meta-train + {min(n_val, size)} "
                f"meta-validation); each part needs 2m={2 * m}")
    return f"{size} rows; a task needs 2m={2 * m}"


def _merge_target(c, alive, assignments, labels, embeddings, grouping):
    others = [a for a in alive if a != c]
    if grouping == "label":
        mine = np.bincount(labels[assignments == c]).argmax()
        same = [a for a in others if np.bincount(labels[assignments == a]).argmax() == mine]
        if same:
            others = same
            if embeddings is None:
                return min(same, key=lambda a: (int((assignments == a).sum()), a))
    if embeddings is not None and grouping in ("kmeans", "label"):
        centre = embeddings[assignments == c].mean(axis=0)
        dists = [float(np.linalg.norm(embeddings[assignments == a].mean(axis=0) - centre))
                 for a in others]
        return others[int(np.argmin(dists))]
    later = [a for a in others if a > c]
    return later[0] if later else others[0]


def _apply_min_policy(raw, k, labels, embeddings, grouping, m, val_fraction, policy):
    assignments = raw.copy()
    sizes = np.bincount(assignments, minlength=k)
    empty = [int(c) for c in np.flatnonzero(sizes == 0)]
    if policy == "refuse":
        for c in range(k):
            why = _too_small(int(sizes[c]), m, val_fraction)
            if why:
                raise UserError(f"{grouping} meta task {c} is too small: {why}",
                                hint="use min_policy='merge', a smaller k or m, or more data")
        return assignments, [], empty
    alive = [int(c) for c in np.flatnonzero(sizes > 0)]
    merges = []
    while True:
        sizes = np.bincount(assignments, minlength=k)
        bad = [c for c in alive if _too_small(int(sizes[c]), m, val_fraction)]
        if not bad:
            break
        c = min(bad, key=lambda a: (int(sizes[a]), a))
        if len(alive) == 1:
            raise UserError(f"too little pre-training data for even one meta task: "
                            f"{_too_small(int(sizes[c]), m, val_fraction)}",
                            hint="use a smaller m or val_fraction, or more data")
        target = _merge_target(c, alive, assignments, labels, embeddings, grouping)
        merges.append({"cluster": c, "size": int(sizes[c]), "into": int(target),
                       "reason": _too_small(int(sizes[c]), m, val_fraction)})
        log.info("meta task %d (%d rows) merged into %d", c, sizes[c], target)
        assignments[assignments == c] = target
        alive.remove(c)
    return assignments, merges, empty


def _resolve_embeddings(encoder, texts):
    from benchmark.encoders import embed  # lazy: only when an encoder name is given

    return np.asarray(embed(encoder, list(texts)))


def get_tasksets(grouping, texts, labels, *, k=10, m=4, seed=0, encoder=None, embeddings=None,
                 val_fraction=0.1, min_policy="merge", cache=True) -> MetaTasksets:
    """Group the pre-training rows into meta tasks and wrap them as learn2learn TaskDatasets.

    grouping: one of ``list_groupings()``. labels: true integer labels, one per text (kept by the
    sampled rows). encoder / embeddings: sentence embeddings (needed by kmeans; used for t-SNE
    and centroid merges otherwise); ``embeddings`` wins when both are given. ``cache``: reuse the
    meta-task assignments stored under the cache's artifacts/clusterings.
    Long because every argument is checked before the grouping runs or the cache is read; the grouping and the
    min-size policy are their own functions."""
    fn = get_grouping(grouping)
    texts = list(texts)
    n = len(texts)
    k = check_k(n, k)
    if isinstance(m, bool) or int(m) != m or m < 1:
        raise UserError(f"m (support = query rows per task) must be an integer >= 1; got {m!r}")
    m = int(m)
    if not 0 <= float(val_fraction) < 1:
        raise UserError(f"val_fraction must be in [0, 1); got {val_fraction!r}")
    val_fraction = float(val_fraction)
    if min_policy not in MIN_POLICIES:
        raise UserError(f"unknown min_policy {min_policy!r}; valid: {', '.join(MIN_POLICIES)}")
    if labels is None:
        raise UserError("meta tasks keep true labels: pass one label per pre-training row",
                        hint="pseudo-label an unlabelled corpus with tasksets.pseudo_label")
    try:
        y = np.asarray(labels).astype(np.int64)
    except (TypeError, ValueError):
        raise UserError("labels must be integers (class ids)") from None
    if y.shape != (n,):
        raise UserError(f"{n} texts but {np.asarray(labels).size} labels")
    if y.min() < 0:
        raise UserError("labels must be non-negative class ids")

    given = embeddings is not None
    if not given and encoder is not None:
        embeddings = _resolve_embeddings(encoder, texts)
    if embeddings is not None:
        embeddings = check_embeddings(embeddings, n, grouping)
    elif grouping in NEEDS_EMBEDDINGS:
        check_embeddings(None, n, grouping)  # raises with a hint

    key = {"v": _cache.VERSION, "grouping": grouping, "k": k, "seed": int(seed),
           "texts": _cache.hash_texts(texts),
           "labels": _cache.hash_array(y) if grouping == "label" else None,
           "encoder": None}
    if grouping in NEEDS_EMBEDDINGS:
        # the embeddings themselves are hashed, so a changed encoder never reuses a stale entry
        key["encoder"] = None if given else encoder
        key["embeddings"] = _cache.hash_array(embeddings)
    raw, status = (_cache.load(key, n) if cache else (None, "off"))
    if raw is None:
        raw = np.asarray(fn(texts, y, k, int(seed), embeddings=embeddings), dtype=np.int64)
        if raw.shape != (n,) or raw.min() < 0 or raw.max() >= k:
            raise RuntimeError(f"grouping {grouping!r} returned bad assignments")
        if cache:
            _cache.save(key, raw)

    assignments, merges, empty = _apply_min_policy(raw, k, y, embeddings, grouping, m,
                                                   val_fraction, min_policy)
    train_rows, val_rows = {}, {}
    for t in np.unique(assignments):
        rows = np.flatnonzero(assignments == t)
        perm = np.random.default_rng([int(seed), int(t), 7]).permutation(rows)
        n_val = _n_val(rows.size, m, val_fraction)
        train_rows[int(t)] = np.sort(perm[n_val:])
        if n_val:
            val_rows[int(t)] = np.sort(perm[:n_val])
    train = make_taskdataset(train_rows, y, m, seed=int(seed))
    validation = make_taskdataset(val_rows, y, m, seed=int(seed) + 1) if val_rows else None
    return MetaTasksets(grouping=grouping, k=k, m=m, seed=int(seed), val_fraction=val_fraction,
                        min_policy=min_policy, encoder=encoder, labels=y, raw_assignments=raw,
                        assignments=assignments, embeddings=embeddings, train_rows=train_rows,
                        val_rows=val_rows, merges=merges, empty_clusters=empty, cache=status,
                        train=train, validation=validation)
