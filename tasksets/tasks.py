"""learn2learn TaskDatasets over row indices, seeded.

A task dataset's items are ``(row_index, true_label)``; learn2learn's MetaDataset is told the
*meta task* of each item through ``labels_to_indices={meta_task_id: [positions]}``, so the task
transforms ``[NWays(n=1), KShots(k=2m), LoadData]`` give one task = one meta task, 2m distinct rows
that keep their true labels. A sampled task is ``[row_indices LongTensor[2m], labels LongTensor[2m]]``
in random order; ``split_task`` cuts it into m support + m query rows. Texts stay outside: the
caller maps row indices to texts.

Seeding: learn2learn samples with Python's global ``random`` module. ``SeededTaskDataset`` keeps
its own ``random.Random(seed)`` and swaps it in only while it samples, so its task stream depends
on its seed alone (not on other users of ``random``) and does not disturb them.
``reseed(seed)`` restarts the stream.
"""
from __future__ import annotations

import random
import warnings

import numpy as np
import torch

from benchmark.l2l import KShots, LoadData, MetaDataset, NWays, TaskDataset


class RowDataset(torch.utils.data.Dataset):
    """Item i is ``(rows[i], labels[i])``: a global row index and its true label."""

    def __init__(self, rows, labels):
        self.rows = np.asarray(rows, dtype=np.int64)
        self.labels = np.asarray(labels, dtype=np.int64)

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return int(self.rows[i]), int(self.labels[i])


class SeededTaskDataset(TaskDataset):
    """A learn2learn TaskDataset whose sampling uses its own seeded ``random.Random``."""

    def __init__(self, dataset, task_transforms=None, num_tasks=-1, task_collate=None, *, seed=0):
        with warnings.catch_warnings():  # l2l 0.2.0: "TaskDataset is deprecated, use Taskset"
            warnings.filterwarnings("ignore", "TaskDataset is deprecated", DeprecationWarning)
            super().__init__(dataset, task_transforms=task_transforms, num_tasks=num_tasks,
                             task_collate=task_collate)
        self.reseed(seed)

    def reseed(self, seed) -> None:
        self.seed = seed
        self._rng = random.Random(seed)
        self.sampled_descriptions = {}

    def _with_rng(self, fn):
        outer = random.getstate()
        random.setstate(self._rng.getstate())
        try:
            return fn()
        finally:
            self._rng.setstate(random.getstate())
            random.setstate(outer)

    def sample_task_description(self):
        return self._with_rng(super().sample_task_description)

    def sample(self):
        i = self._with_rng(lambda: random.randint(0, len(self) - 1))
        return self[i]


def make_taskdataset(rows_by_task: dict, labels: np.ndarray, m: int, *, seed=0,
                     num_tasks: int = -1) -> SeededTaskDataset:
    """One task = one meta task of ``rows_by_task``; each sampled task is 2m rows of one meta task."""
    rows, labels_to_indices = [], {}
    for task in sorted(rows_by_task):
        r = np.asarray(rows_by_task[task], dtype=np.int64)
        labels_to_indices[int(task)] = list(range(len(rows), len(rows) + len(r)))
        rows.extend(r.tolist())
    ds = MetaDataset(RowDataset(rows, np.asarray(labels)[rows]), labels_to_indices=labels_to_indices)
    transforms = [NWays(ds, n=1), KShots(ds, k=2 * m), LoadData(ds)]
    return SeededTaskDataset(ds, transforms, num_tasks=num_tasks, seed=seed)


def split_task(task, m: int | None = None):
    """``task = [rows[2m], labels[2m]]`` -> ``((support_rows, support_labels), (query_rows, query_labels))``.

    The first m sampled rows are the support set, the last m the query set (the sample order is
    random, so this is a random split)."""
    rows, labels = task[0], task[1]
    if m is None:
        m = len(rows) // 2
    return (rows[:m], labels[:m]), (rows[m:2 * m], labels[m:2 * m])
