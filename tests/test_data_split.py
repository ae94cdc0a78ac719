"""few_shot_split: seeded, machine-independent, class-balanced, disjoint; errors for impossible requests."""
from __future__ import annotations

import collections

import pytest
from hypothesis import given, settings, strategies as st

from benchmark import data
from benchmark.errors import UserError


def make_rows(labels, name="t", texts=None, test=None):
    n = len(labels)
    texts = texts or [f"text number {i}" for i in range(n)]
    return data.Rows(texts=list(texts), labels=list(labels), ids=[f"{name}:{i}" for i in range(n)],
                     official_test=test, provenance={"task": name})


def permuted(rows: data.Rows, seed: int) -> data.Rows:
    import random
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    return rows.subset(order)


def test_same_rows_across_runs_and_row_orders():
    rows = make_rows([i % 5 for i in range(200)])
    a = data.few_shot_split(rows, seed=3)
    b = data.few_shot_split(rows, seed=3)
    c = data.few_shot_split(permuted(rows, 1), seed=3)
    assert a.row_ids() == b.row_ids()
    for part in ("train", "val", "test"):
        assert sorted(a.row_ids()[part]) == sorted(c.row_ids()[part])


def test_depends_on_seed():
    rows = make_rows([i % 2 for i in range(200)])
    assert data.few_shot_split(rows, seed=0).train.ids != data.few_shot_split(rows, seed=1).train.ids


def test_class_balanced_disjoint_and_complete():
    rows = make_rows([i % 5 for i in range(500)])
    split = data.few_shot_split(rows, n_train=40, n_val=40, seed=0)
    assert collections.Counter(split.train.labels) == {c: 8 for c in range(5)}
    assert collections.Counter(split.val.labels) == {c: 8 for c in range(5)}
    ids = split.row_ids()
    assert not set(ids["train"]) & set(ids["val"]) and not set(ids["train"]) & set(ids["test"])
    assert not set(ids["val"]) & set(ids["test"])
    # half the pool is test when max_test is None
    assert len(ids["test"]) == 250 and set(ids["train"]) | set(ids["val"]) | set(ids["test"]) <= set(rows.ids)
    # texts and labels follow their ids
    lookup = dict(zip(rows.ids, zip(rows.texts, rows.labels)))
    for part in (split.train, split.val, split.test):
        assert all(lookup[i] == (t, y) for i, t, y in zip(part.ids, part.texts, part.labels))
    assert split.train.provenance is rows.provenance


def test_small_class_gives_its_share_to_the_others():
    labels = [0] * 3 + [1] * 100 + [2] * 100
    test = data.Rows(["a test", "b test"], [1, 2], ["t:test:0", "t:test:1"])    # the whole pool may be shots
    split = data.few_shot_split(make_rows(labels, test=test), n_train=30, n_val=30, seed=0)
    assert collections.Counter(split.train.labels) == {0: 3, 1: 14, 2: 13} or \
        collections.Counter(split.train.labels) == {0: 3, 1: 13, 2: 14}
    assert 0 not in split.val.labels and len(split.val) == 30


def test_uneven_remainder_spreads_one_each():
    split = data.few_shot_split(make_rows([i % 3 for i in range(300)]), n_train=40, n_val=40, seed=0)
    assert sorted(collections.Counter(split.train.labels).values()) == [13, 13, 14]


def test_too_many_shots_is_an_error():
    rows = make_rows([0, 1] * 20)
    with pytest.raises(UserError, match="pool has only 40 rows"):
        data.few_shot_split(rows, n_train=40, n_val=40)
    with pytest.raises(UserError, match="leave a test set"):
        data.few_shot_split(rows, n_train=20, n_val=20)
    with pytest.raises(UserError, match=">= 0"):
        data.few_shot_split(rows, n_train=-1, n_val=2)


def test_official_test_split_is_used():
    test = data.Rows(["a test", "b test"], [0, 1], ["t:test:0", "t:test:1"])
    rows = make_rows([0, 1] * 5, test=test)
    split = data.few_shot_split(rows, n_train=5, n_val=5, seed=0)     # the whole pool may be shots
    assert split.test.ids == ["t:test:0", "t:test:1"] and split.info["test_from"] == "official"


def test_unlabelled_rows_split_randomly():
    rows = data.Rows([f"s{i}" for i in range(50)], None, [f"u:{i}" for i in range(50)], provenance={"task": "u"})
    split = data.few_shot_split(rows, n_train=5, n_val=5, seed=1)
    assert len(split.train) == 5 and split.train.labels is None and len(split.test) == 25   # half the pool


@settings(max_examples=60, deadline=None)
@given(labels=st.lists(st.integers(0, 4), min_size=24, max_size=120), n_train=st.integers(0, 5),
       n_val=st.integers(0, 5), seed=st.integers(0, 2**32 - 1))
def test_split_properties(labels, n_train, n_val, seed):
    rows = make_rows(labels)
    split = data.few_shot_split(rows, n_train=n_train, n_val=n_val, seed=seed)
    ids = split.row_ids()
    assert len(ids["train"]) == n_train and len(ids["val"]) == n_val
    assert len(set(ids["train"]) | set(ids["val"]) | set(ids["test"])) == n_train + n_val + len(ids["test"])
    # balanced where possible: classes of the pool (the rows not in test) not exhausted differ by at most one
    test = set(ids["test"])
    counts = collections.Counter(y for i, y in zip(rows.ids, labels) if i not in test)
    got = collections.Counter(split.train.labels)
    open_classes = [c for c in counts if got[c] < counts[c]]
    if open_classes:
        assert max(got[c] for c in counts) - min(got[c] for c in open_classes) <= 1
    assert data.few_shot_split(rows, n_train=n_train, n_val=n_val, seed=seed).row_ids() == ids


# -- fixed test rows (LM-BFF's protocol) ------------------------------------------------------

def test_fixed_test_rows_do_not_depend_on_seed_shots_or_row_order():
    rows = make_rows([i % 3 for i in range(600)], name="f")
    ref = data.few_shot_split(rows, n_train=8, n_val=8, seed=0, max_test=100)
    assert len(ref.test) == 100 and ref.info["test_rows"] == "fixed"
    for seed, shots in [(1, 8), (4, 8), (0, 40), (3, 160)]:
        other = data.few_shot_split(permuted(rows, seed), n_train=shots, n_val=shots, seed=seed, max_test=100)
        assert sorted(other.test.ids) == sorted(ref.test.ids), (seed, shots)
        assert set(other.train.ids + other.val.ids).isdisjoint(other.test.ids)
    # the seed still draws the few-shot rows
    assert data.few_shot_split(rows, n_train=8, n_val=8, seed=1, max_test=100).train.ids != ref.train.ids


GOLDEN_FIXED = {"train": ["g:8", "g:16", "g:21", "g:23"], "val": ["g:5", "g:13", "g:27"],
                "test": ["g:17", "g:22", "g:24", "g:28", "g:29"]}


def test_fixed_golden_split_is_the_same_on_every_machine():
    rows = make_rows([i % 3 for i in range(30)], name="g")
    split = data.few_shot_split(rows, n_train=4, n_val=3, seed=0, max_test=5)
    other = data.few_shot_split(rows, n_train=2, n_val=2, seed=9, max_test=5)
    assert split.row_ids()["test"] == other.row_ids()["test"]
    assert split.row_ids() == GOLDEN_FIXED


def test_a_training_row_never_repeats_a_test_text():
    texts = ["same words"] * 30 + [f"other {i}" for i in range(170)]
    rows = make_rows([i % 2 for i in range(200)], texts=texts)
    for seed in range(5):
        split = data.few_shot_split(rows, n_train=10, n_val=10, seed=seed, max_test=100)
        if "same words" in split.test.texts:
            assert "same words" not in split.train.texts + split.val.texts
        assert split.info["pool_dropped_duplicates"] >= 0


def test_official_test_subset_is_fixed_too():
    test = data.Rows([f"t{i}" for i in range(80)], [i % 2 for i in range(80)], [f"t:test:{i}" for i in range(80)])
    rows = make_rows([0, 1] * 30, test=test)
    a = data.few_shot_split(rows, n_train=4, n_val=4, seed=0, max_test=20)
    b = data.few_shot_split(rows, n_train=10, n_val=10, seed=3, max_test=20)
    assert a.test.ids == b.test.ids and len(a.test) == 20 and set(a.test.ids) <= set(test.ids)


def test_shots_that_do_not_fit_beside_the_fixed_test_rows_are_refused():
    rows = make_rows([0, 1] * 50)
    with pytest.raises(UserError, match="fixed test rows"):
        data.few_shot_split(rows, n_train=30, n_val=30, max_test=50)


def test_fewer_fixed_test_rows_are_a_subset_of_more():
    rows = make_rows([i % 2 for i in range(400)])
    small = data.few_shot_split(rows, n_train=4, n_val=4, max_test=30)
    large = data.few_shot_split(rows, n_train=4, n_val=4, max_test=120)
    assert set(small.test.ids) < set(large.test.ids) < set(data.few_shot_split(rows, n_train=4, n_val=4).test.ids)


# -- the few-shot draw: balanced or the paper's random draw --------------------------------------

def planted(share: float = 0.8, n: int = 1000) -> data.Rows:
    """A pool whose class 0 holds ``share`` of the rows (interleaved, so any prefix has the same mix)."""
    every = round(1 / (1 - share))
    return make_rows([1 if i % every == every - 1 else 0 for i in range(n)], name="p")


def test_a_random_draw_is_reproducible_and_depends_on_the_seed():
    rows = planted()
    a = data.few_shot_split(rows, seed=5, max_test=200, balanced=False)
    other = data.few_shot_split(permuted(rows, 2), seed=5, max_test=200, balanced=False)
    assert sorted(a.train.ids) == sorted(other.train.ids) and sorted(a.val.ids) == sorted(other.val.ids)
    assert a.row_ids() == data.few_shot_split(rows, seed=5, max_test=200, balanced=False).row_ids()
    assert a.train.ids != data.few_shot_split(rows, seed=6, max_test=200, balanced=False).train.ids
    assert a.info["balanced"] is False


def test_a_random_draw_keeps_the_pools_class_mix_where_a_balanced_one_evens_it():
    """On a planted 80/20 pool the minority's share of 40 random rows averages 20 % over many seeds
    (hypergeometric: SD about 6 points a draw, so 0.9 points over 40 seeds); a balanced draw holds
    it at 50 %."""
    rows = planted()
    seeds = range(40)
    rand = [collections.Counter(data.few_shot_split(rows, seed=s, max_test=200, balanced=False).train.labels)[1] / 40
            for s in seeds]
    bal = [collections.Counter(data.few_shot_split(rows, seed=s, max_test=200).train.labels)[1] / 40 for s in seeds]
    assert abs(sum(rand) / len(rand) - 0.2) < 0.04
    assert len(set(rand)) > 3                         # it varies with the seed, as a random draw does
    assert set(bal) == {0.5}


def test_a_random_draw_never_takes_a_test_row_or_a_test_text():
    texts = ["same words"] * 40 + [f"other {i}" for i in range(360)]
    rows = make_rows([int(i % 5 == 0) for i in range(400)], texts=texts)
    for seed in range(10):
        split = data.few_shot_split(rows, n_train=40, n_val=40, seed=seed, max_test=150, balanced=False)
        ids = split.row_ids()
        assert not (set(ids["train"]) | set(ids["val"])) & set(ids["test"])
        assert not set(ids["train"]) & set(ids["val"])
        if "same words" in split.test.texts:
            assert "same words" not in split.train.texts + split.val.texts


def test_the_profile_setting_chooses_the_draw_and_absent_means_balanced():
    """``few_shot`` reaches the split through the context; a config without it (every cell made
    before the setting) draws balanced rows, as those cells did."""
    from benchmark import config, settings
    from benchmark.context import Context

    rows = planted()
    cfg = config.load_profile("smoke")
    assert settings.few_shot(cfg) == "balanced" and config.load_profile("paper")["few_shot"] == "random"
    got = {}
    for name, value in [("absent", None), ("balanced", "balanced"), ("random", "random")]:
        c = {k: v for k, v in cfg.items() if k != "few_shot"}
        if value:
            c["few_shot"] = value
        ctx = Context(dict(c, n_train=40, n_val=40, max_test=200), progress=False)
        ctx._rows["sst2"] = rows
        got[name] = ctx.split("sst2", 3)[1]
    assert got["absent"].row_ids() == got["balanced"].row_ids() != got["random"].row_ids()
    assert collections.Counter(got["balanced"].train.labels)[1] == 20
    assert got["random"].row_ids() == data.few_shot_split(rows, seed=3, max_test=200, balanced=False).row_ids()
