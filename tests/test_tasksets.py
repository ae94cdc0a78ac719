"""tasksets: groupings, meta tasks as learn2learn TaskDatasets, min-size policy, cache."""
from __future__ import annotations

import random

import numpy as np
import pytest

import tasksets
from benchmark.errors import UserError
from tasksets import get_tasksets, list_groupings
from tasksets.groupings import GROUPINGS
from tasksets.groupings.label import allocate

WORDS = {0: "pizza pasta restaurant waiter dinner menu chef dessert",
         1: "movie actor film scene director plot cinema screen",
         2: "phone battery screen charger camera laptop keyboard",
         3: "hotel room beach flight travel luggage airport"}


def corpus(n=400, n_labels=5, seed=0, dim=8):
    rng = np.random.default_rng(seed)
    topics = rng.integers(0, len(WORDS), n)
    texts = [" ".join(rng.choice(WORDS[t].split(), 6)) + f" the good {i}" for i, t in
             enumerate(topics)]
    labels = rng.integers(0, n_labels, n)
    emb = rng.normal(size=(n, dim)) + 3.0 * np.eye(dim)[topics % dim]
    return texts, labels, emb


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("METAPT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_registry():
    assert list_groupings() == ["kmeans", "label", "lda", "random"]
    with pytest.raises(UserError, match="valid groupings"):
        get_tasksets("kmeens", ["a"] * 10, [0] * 10, k=1, m=1)


@pytest.mark.parametrize("name", ["kmeans", "lda", "random", "label"])
def test_grouping_deterministic_and_covers_rows(name):
    texts, labels, emb = corpus()
    a = GROUPINGS[name](texts, labels, 10, 0, embeddings=emb)
    b = GROUPINGS[name](texts, labels, 10, 0, embeddings=emb)
    assert a.shape == (len(texts),) and a.dtype.kind == "i"
    assert np.array_equal(a, b)
    assert a.min() >= 0 and a.max() < 10
    if name != "lda":  # an LDA topic may legitimately end up with no rows
        assert len(np.unique(a)) == 10


@pytest.mark.parametrize("name", ["kmeans", "lda", "random", "label"])
def test_grouping_changes_with_seed(name):
    rng = np.random.default_rng(3)
    texts, labels, _ = corpus()
    emb = rng.normal(size=(len(texts), 8))  # no structure: k-means optima depend on the seed
    a = GROUPINGS[name](texts, labels, 10, 0, embeddings=emb)
    b = GROUPINGS[name](texts, labels, 10, 1, embeddings=emb)
    assert not np.array_equal(a, b)


def test_random_groups_near_equal():
    a = GROUPINGS["random"](["x"] * 103, None, 10, 0)
    sizes = np.bincount(a)
    assert sizes.max() - sizes.min() <= 1 and sizes.sum() == 103


def test_label_groups_pure_and_split_proportionally():
    texts, _, _ = corpus(n=300)
    labels = np.array([0] * 150 + [1] * 100 + [2] * 50)
    a = GROUPINGS["label"](texts, labels, 3, 0)
    for g in np.unique(a):
        assert len(np.unique(labels[a == g])) == 1
    assert len(np.unique(a)) == 3
    a = GROUPINGS["label"](texts, labels, 12, 0)
    groups_per_label = [len(np.unique(a[labels == c])) for c in range(3)]
    assert groups_per_label == [6, 4, 2]   # proportional to 150:100:50
    for g in np.unique(a):
        assert len(np.unique(labels[a == g])) == 1
    sizes = np.bincount(a)
    assert sizes.min() == sizes.max() == 25


def test_label_allocate_small_labels_get_a_group():
    counts = allocate(np.array([1000, 3, 2]), 10)
    assert counts.sum() == 10 and counts.min() >= 1 and counts[0] == 8
    assert (allocate(np.array([2, 1]), 3) == [2, 1]).all()


def test_label_k_below_labels_is_an_error():
    texts, labels, _ = corpus(n_labels=5)
    with pytest.raises(UserError, match="k >= the number of labels"):
        GROUPINGS["label"](texts, labels, 3, 0)


def test_lda_rows_without_tokens():
    texts = ["pizza pasta chef dinner menu"] * 30 + ["film actor scene plot cinema"] * 30 + \
            ["!!", "", "the and of"] * 4
    a = GROUPINGS["lda"](texts, None, 2, 0)
    assert a.shape == (72,)
    assert len(np.unique(a[:30])) == 1 and len(np.unique(a[30:60])) == 1
    assert a[0] != a[30]
    assert sorted(np.bincount(a[60:], minlength=2)) == [6, 6]  # dealt out, not piled on topic 0


@pytest.mark.parametrize("name", ["kmeans", "lda", "random", "label"])
def test_tasksets_partition_rows(name):
    texts, labels, emb = corpus()
    ts = get_tasksets(name, texts, labels, k=5, m=4, seed=0, embeddings=emb)
    tr = np.concatenate([ts.train_rows[t] for t in ts.task_ids])
    va = np.concatenate([ts.val_rows[t] for t in ts.task_ids])
    assert len(set(tr.tolist()) & set(va.tolist())) == 0
    assert sorted(tr.tolist() + va.tolist()) == list(range(len(texts)))
    for t in ts.task_ids:
        assert (ts.assignments[ts.train_rows[t]] == t).all()
        assert (ts.assignments[ts.val_rows[t]] == t).all()
        assert ts.val_rows[t].size >= 8 and ts.train_rows[t].size >= 8
    s = ts.summary()
    assert s["grouping"] == name and s["k_effective"] == len(ts.task_ids)
    assert sum(t["size"] for t in s["tasks"]) == len(texts)
    import json
    json.dumps(s)


def test_sampled_task_is_one_cluster_with_true_labels():
    texts, labels, emb = corpus()
    m = 3
    ts = get_tasksets("kmeans", texts, labels, k=6, m=m, seed=0, embeddings=emb)
    train = set(np.concatenate(list(ts.train_rows.values())).tolist())
    for _ in range(30):
        task = ts.train.sample()
        rows, y = task[0].numpy(), task[1].numpy()
        assert rows.shape == (2 * m,) and len(set(rows.tolist())) == 2 * m
        assert len(np.unique(ts.assignments[rows])) == 1
        assert (y == labels[rows]).all()
        assert set(rows.tolist()) <= train
        (s_rows, s_y), (q_rows, q_y) = ts.split_task(task)
        assert len(s_rows) == len(q_rows) == m
        assert not set(s_rows.tolist()) & set(q_rows.tolist())
    val = set(np.concatenate(list(ts.val_rows.values())).tolist())
    for _ in range(10):
        rows = ts.validation.sample()[0].numpy()
        assert set(rows.tolist()) <= val and len(np.unique(ts.assignments[rows])) == 1


def test_sampling_is_seeded_and_isolated_from_global_random():
    texts, labels, emb = corpus()

    def draw(seed, disturb):
        ts = get_tasksets("random", texts, labels, k=5, m=2, seed=seed, cache=False)
        out = []
        for i in range(5):
            random.seed(disturb + i)
            out.append(ts.train.sample()[0].tolist())
        return out, ts

    a, ts = draw(0, 0)
    b, _ = draw(0, 100)
    c, _ = draw(1, 0)
    assert a == b and a != c
    state = random.getstate()
    ts.train.sample()
    assert random.getstate() == state  # global stream untouched
    ts.train.reseed(0)
    assert [ts.train.sample()[0].tolist() for _ in range(5)] == a


def test_task_dataset_per_cluster():
    texts, labels, emb = corpus()
    ts = get_tasksets("random", texts, labels, k=4, m=2, seed=0)
    for t in ts.task_ids:
        rows = ts.task_dataset(t).sample()[0].numpy()
        assert (ts.assignments[rows] == t).all()
        rows = ts.task_dataset(t, "validation").sample()[0].numpy()
        assert set(rows.tolist()) <= set(ts.val_rows[t].tolist())
    with pytest.raises(UserError):
        ts.task_dataset(99)


def test_validation_tasks_fixed_and_held_out():
    texts, labels, emb = corpus()
    ts = get_tasksets("kmeans", texts, labels, k=5, m=4, seed=0, embeddings=emb)
    a = ts.validation_tasks(n_per_task=3, seed=0)
    assert a == ts.validation_tasks(n_per_task=3, seed=0)
    assert a != ts.validation_tasks(n_per_task=3, seed=1)
    assert len(a) == 3 * len(ts.task_ids)
    for ft in a:
        rows = ft.support + ft.query
        assert len(set(rows)) == 8
        assert set(rows) <= set(ts.val_rows[ft.task].tolist())
        assert ft.support_labels == labels[ft.support].tolist()
        assert ft.query_labels == labels[ft.query].tolist()


def test_no_validation():
    texts, labels, emb = corpus()
    ts = get_tasksets("random", texts, labels, k=5, m=4, val_fraction=0)
    assert ts.validation is None and ts.val_rows == {}
    with pytest.raises(UserError, match="val_fraction=0"):
        ts.validation_tasks()


@pytest.mark.parametrize("kwargs, match", [
    (dict(texts=[], labels=[]), "empty"),
    (dict(k=0), "k must be an integer >= 1"),
    (dict(k=401), "more than the 400"),
    (dict(m=0), "m .* >= 1"),
    (dict(val_fraction=1.0), "val_fraction"),
    (dict(min_policy="drop"), "min_policy"),
    (dict(labels=None), "true labels"),
    (dict(labels=[0, 1]), "labels"),
])
def test_degenerate_inputs(kwargs, match):
    texts, labels, emb = corpus()
    args = dict(texts=texts, labels=labels, k=5, m=4)
    args.update(kwargs)
    with pytest.raises(UserError, match=match):
        get_tasksets("random", **args)


def test_kmeans_needs_embeddings():
    texts, labels, _ = corpus()
    with pytest.raises(UserError, match="needs sentence embeddings"):
        get_tasksets("kmeans", texts, labels, k=5, m=2)


def small_cluster_setup():
    texts, labels, emb = corpus(n=200)
    emb = emb.copy()
    emb[:5] = 50.0 + np.arange(5)[:, None] * 0.01   # 5 far-away rows: their own k-means cluster
    return texts, labels, emb


def test_refuse_names_the_cluster():
    texts, labels, emb = small_cluster_setup()
    raw = GROUPINGS["kmeans"](texts, labels, 4, 0, embeddings=emb)
    c = raw[0]
    with pytest.raises(UserError, match=rf"meta task {c} is too small: 5 rows"):
        get_tasksets("kmeans", texts, labels, k=4, m=2, embeddings=emb, min_policy="refuse")


def test_merge_into_nearest_centroid_and_report():
    texts, labels, emb = small_cluster_setup()
    ts = get_tasksets("kmeans", texts, labels, k=4, m=2, embeddings=emb, min_policy="merge")
    raw = ts.raw_assignments
    small = int(raw[0])
    s = ts.summary()
    assert s["k_effective"] == 3 and small not in ts.task_ids
    (merge,) = s["merged"]
    assert merge["cluster"] == small and merge["size"] == 5
    centre = emb[:5].mean(0)
    others = [c for c in range(4) if c != small]
    nearest = min(others, key=lambda c: np.linalg.norm(emb[raw == c].mean(0) - centre))
    assert merge["into"] == nearest
    assert (ts.assignments[:5] == nearest).all()


def test_merge_random_into_next_and_too_little_data():
    texts, labels, _ = corpus(n=40)
    ts = get_tasksets("random", texts, labels, k=4, m=3, val_fraction=0.1)  # 10 rows each < 4m
    merged = ts.summary()["merged"]
    assert [(x["cluster"], x["into"]) for x in merged] == [(0, 1), (2, 3)]
    assert ts.task_ids == [1, 3]
    with pytest.raises(UserError, match="too little pre-training data"):
        get_tasksets("random", texts[:10], labels[:10], k=2, m=3)


def test_label_merge_keeps_purity():
    texts, _, _ = corpus(n=230)
    labels = np.array([0] * 200 + [1] * 30)
    ts = get_tasksets("label", texts, labels, k=8, m=4)     # label 1 gets one group of 30: ok
    for t in ts.task_ids:
        assert len(np.unique(labels[ts.assignments == t])) == 1


def test_encoder_resolved_lazily(monkeypatch):
    texts, labels, emb = corpus()
    calls = []

    def fake(encoder, t):
        calls.append(encoder)
        return emb

    monkeypatch.setattr(tasksets, "_resolve_embeddings", fake)
    ts = get_tasksets("kmeans", texts, labels, k=5, m=2, encoder="enc-x")
    assert calls == ["enc-x"] and ts.embeddings is not None
    assert ts.summary()["encoder"] == "enc-x" and ts.cache == "miss"
    assert get_tasksets("kmeans", texts, labels, k=5, m=2, encoder="enc-x").cache == "hit"
    assert get_tasksets("kmeans", texts, labels, k=5, m=2, encoder="enc-y").cache == "miss"
    emb += 1.0  # the same encoder name giving other embeddings (a new version): no stale reuse
    assert get_tasksets("kmeans", texts, labels, k=5, m=2, encoder="enc-x").cache == "miss"
    assert get_tasksets("random", texts, labels, k=5, m=2).embeddings is None


def test_cache_reuse_and_corruption(cache_dir, monkeypatch, caplog):
    texts, labels, emb = corpus()
    ts = get_tasksets("kmeans", texts, labels, k=5, m=2, embeddings=emb)
    assert ts.cache == "miss"
    files = sorted((cache_dir / "artifacts" / "clusterings").iterdir())
    assert [f.suffix for f in files] == [".json", ".npz"]

    def boom(*a, **k):
        raise AssertionError("grouping recomputed")

    monkeypatch.setitem(tasksets.GROUPINGS, "kmeans", boom)
    ts2 = get_tasksets("kmeans", texts, labels, k=5, m=2, embeddings=emb)
    assert ts2.cache == "hit" and np.array_equal(ts.raw_assignments, ts2.raw_assignments)
    monkeypatch.undo()
    monkeypatch.setenv("METAPT_CACHE", str(cache_dir))

    npz = files[1]
    data = bytearray(npz.read_bytes())
    data[-10] ^= 0xFF
    npz.write_bytes(bytes(data))
    ts3 = get_tasksets("kmeans", texts, labels, k=5, m=2, embeddings=emb)
    assert ts3.cache.startswith("rebuilt") and "checksum" in ts3.cache
    assert ts3.summary()["cache"] == ts3.cache
    assert any("corrupt" in r.message for r in caplog.records)
    assert np.array_equal(ts.raw_assignments, ts3.raw_assignments)
    assert get_tasksets("kmeans", texts, labels, k=5, m=2, embeddings=emb).cache == "hit"

    files[0].write_text("{not json")
    assert get_tasksets("kmeans", texts, labels, k=5, m=2, embeddings=emb).cache.startswith(
        "rebuilt")


def test_cache_key_depends_on_inputs():
    texts, labels, emb = corpus()
    assert get_tasksets("random", texts, labels, k=5, m=2).cache == "miss"
    assert get_tasksets("random", texts, labels, k=5, m=2, seed=1).cache == "miss"
    assert get_tasksets("random", texts, labels, k=4, m=2).cache == "miss"
    assert get_tasksets("random", texts[::-1], labels, k=5, m=2).cache == "miss"
    assert get_tasksets("random", texts, labels, k=5, m=3).cache == "hit"  # m: not in the key
    assert get_tasksets("kmeans", texts, labels, k=5, m=2, embeddings=emb).cache == "miss"
    assert get_tasksets("kmeans", texts, labels, k=5, m=2, embeddings=emb + 1).cache == "miss"
    assert get_tasksets("random", texts, labels, k=5, m=2, cache=False).cache == "off"


def test_with_registered_fake_encoder():
    encoders = pytest.importorskip("benchmark.encoders")
    if not hasattr(encoders, "register_fake"):
        pytest.skip("benchmark.encoders has no register_fake")
    texts, labels, _ = corpus(n=120)
    encoders.register_fake("tasksets-fake-8", dim=8)
    try:
        ts = get_tasksets("kmeans", texts, labels, k=3, m=2, encoder="tasksets-fake-8")
        assert ts.embeddings.shape == (120, 8)
        assert get_tasksets("kmeans", texts, labels, k=3, m=2,
                            encoder="tasksets-fake-8").cache == "hit"
    finally:
        encoders.unregister_fake("tasksets-fake-8")
