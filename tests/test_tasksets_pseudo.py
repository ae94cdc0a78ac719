"""tasksets.pseudo_label (paper 4.1) and tasksets.tsne (Figure 4), on synthetic embeddings."""
from __future__ import annotations

import numpy as np
import pytest

from benchmark.errors import UserError
from tasksets.pseudo_label import logreg_labeller, pseudo_label
from tasksets.tsne import tsne_points


def separable(n_pool=300, n_corpus=1200, dim=10, seed=0, mix=(0.6, 0.3, 0.1), noise=1.5):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, dim)) * 4
    y = rng.integers(0, 3, n_pool)
    pool = centres[y] + rng.normal(size=(n_pool, dim))
    yc = rng.choice(3, n_corpus, p=list(mix))
    corpus = centres[yc] + rng.normal(size=(n_corpus, dim)) * noise
    return ([f"p{i}" for i in range(n_pool)], y, pool,
            [f"c{i}" for i in range(n_corpus)], yc, corpus)


def run(**kw):
    pt, y, pe, ct, yc, ce = separable()
    return pseudo_label(pt, y, ct, pool_embeddings=pe, corpus_embeddings=ce, **kw), yc


def test_threshold_and_balance_min():
    out, yc = run(threshold=0.9, balance="min", seed=0)
    r = out.report
    assert r["heldout_accuracy"] > 0.95 and r["heldout_size"] == 60
    assert r["labeller_train_size"] == 240
    assert all(c >= 0.9 for c in out.confidence)
    kept = r["per_class_kept"]
    assert len(set(kept.values())) == 1 and kept["0"] == min(r["per_class_confident"].values())
    assert r["kept_size"] == len(out.texts) == len(out.labels) == 3 * kept["0"]
    assert r["confident_size"] == sum(r["per_class_confident"].values()) <= r["corpus_size"]
    assert out.texts == [f"c{i}" for i in out.indices] and out.indices == sorted(out.indices)
    assert (np.array(out.labels) == yc[out.indices]).mean() > 0.95
    assert r["threshold"] == 0.9 and r["seed"] == 0 and r["missing_classes"] == []


def test_higher_threshold_keeps_fewer():
    lo, _ = run(threshold=0.5, balance=None)
    hi, _ = run(threshold=0.999, balance=None)
    assert hi.report["confident_size"] < lo.report["confident_size"]
    assert all(c >= 0.999 for c in hi.confidence)
    assert lo.report["kept_size"] == lo.report["confident_size"]


def test_balance_cap_and_determinism():
    a, _ = run(threshold=0.5, balance=50, seed=3)
    b, _ = run(threshold=0.5, balance=50, seed=3)
    c, _ = run(threshold=0.5, balance=50, seed=4)
    assert a.indices == b.indices and a.report == b.report and a.indices != c.indices
    assert all(v <= 50 for v in a.report["per_class_kept"].values())


def test_heldout_accuracy_is_reported_correctly():
    """A labeller that predicts class 0 for every text: accuracy = share of class 0 held out."""
    pt, y, pe, ct, yc, ce = separable()
    seen = {}

    def always_zero(texts, labels, emb, seed):
        seen["train"] = list(texts)

        def predict(texts, emb):
            p = np.zeros((len(texts), 3))
            p[:, 0] = 1.0
            return p
        return predict

    out = pseudo_label(pt, y, ct, labeller=always_zero, threshold=0.9, balance="min")
    held = sorted(set(pt) - set(seen["train"]))
    expect = float(np.mean([y[pt.index(t)] == 0 for t in held]))
    assert out.report["heldout_accuracy"] == pytest.approx(expect)
    assert out.report["labeller"] == "always_zero"
    assert out.report["missing_classes"] == [1, 2] and set(out.labels) == {0}
    assert len(out.texts) == len(ct)  # embeddings not needed by a text labeller


def test_default_labeller_columns_are_class_ids():
    emb = np.array([[0.0], [0.1], [5.0], [5.1]])
    predict = logreg_labeller(["a"] * 4, np.array([0, 0, 2, 2]), emb, 0)
    p = predict(["a"], np.array([[5.0]]))
    assert p.shape == (1, 3) and p[0, 1] == 0 and p[0, 2] > 0.5


@pytest.mark.parametrize("kw, match", [
    (dict(threshold=1.5), "threshold"),
    (dict(balance="max"), "balance"),
    (dict(heldout_fraction=0), "heldout_fraction"),
    (dict(threshold=1.0), "no corpus row"),
])
def test_pseudo_label_errors(kw, match):
    with pytest.raises(UserError, match=match):
        run(**kw)


def test_pseudo_label_needs_embeddings_or_labeller():
    pt, y, pe, ct, yc, ce = separable()
    with pytest.raises(UserError, match="needs sentence embeddings"):
        pseudo_label(pt, y, ct)
    with pytest.raises(UserError, match="empty"):
        pseudo_label([], [], ct)
    with pytest.raises(UserError, match="single class"):
        pseudo_label(pt, [1] * len(pt), ct, pool_embeddings=pe, corpus_embeddings=ce)


def test_tsne_points_deterministic_and_subsampled():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(150, 6))
    a = rng.integers(0, 4, 150)
    p1, a1, idx = tsne_points(emb, a, max_points=60, seed=0, max_iter=250, return_indices=True)
    p2, a2 = tsne_points(emb, a, max_points=60, seed=0, max_iter=250)
    assert p1.shape == (60, 2) and np.allclose(p1, p2) and (a1 == a2).all()
    assert (a1 == a[idx]).all() and list(idx) == sorted(idx)
    p3, _ = tsne_points(emb[:10], a[:10], max_points=60, seed=0, max_iter=250)
    assert p3.shape == (10, 2)
    with pytest.raises(UserError):
        tsne_points(emb, a[:5])


def test_balance_cap_keeps_at_most_r_times_the_smallest_class():
    mn, _ = run(threshold=0.9, balance="min", seed=0)
    cap, yc = run(threshold=0.9, balance="cap", balance_ratio=2.0, seed=0)
    conf = cap.report["per_class_confident"]
    smallest = min(conf.values())
    assert cap.report["confident_size"] == mn.report["confident_size"]
    want = {c: min(n, 2 * smallest) for c, n in conf.items()}     # hand computation of the policy
    assert cap.report["per_class_kept"] == want
    assert cap.report["kept_size"] == sum(want.values()) > mn.report["kept_size"] == 3 * smallest
    assert set(mn.indices) <= set(range(len(yc))) and (np.array(cap.labels) == yc[cap.indices]).mean() > 0.95
    assert cap.report["balance_policy"] == (f"at most 2 x the smallest class ({smallest}) = {2 * smallest} rows "
                                            f"per class; kept {sum(want.values())} of {sum(conf.values())} "
                                            "confident rows")
    assert mn.report["balance_policy"].startswith(f"every class down-sampled to the smallest ({smallest})")
    one, _ = run(threshold=0.9, balance="cap", balance_ratio=1.0, seed=0)
    assert one.indices == mn.indices                                 # r = 1 is the min policy
    everything, _ = run(threshold=0.9, balance="none", seed=0)
    assert everything.report["kept_size"] == everything.report["confident_size"]


@pytest.mark.parametrize("ratio", [0.5, 0, "3", True])
def test_balance_ratio_must_be_at_least_one(ratio):
    with pytest.raises(UserError, match="balance_ratio must be a number >= 1"):
        run(threshold=0.9, balance="cap", balance_ratio=ratio)


def test_class_weighted_labeller_gives_the_rare_class_more_confident_rows():
    from tasksets.labellers import get_labeller

    # an imbalanced pool (70/25/5) with overlapping classes: an unweighted labeller rarely dares
    # to call the rare class, a class-weighted one does
    pt, y, pe, ct, yc, ce = separable(n_pool=600, noise=2.5)
    rng = np.random.default_rng(1)
    keep = np.sort(np.concatenate([np.flatnonzero(y == 0), np.flatnonzero(y == 1)[:150],
                                   rng.permutation(np.flatnonzero(y == 2))[:30]]))
    pt, y, pe = [pt[i] for i in keep], y[keep], pe[keep]
    plain = pseudo_label(pt, y, ct, pool_embeddings=pe, corpus_embeddings=ce, threshold=0.8, balance=None)
    weighted_fn, needs = get_labeller("logreg-embeddings-balanced")
    weighted = pseudo_label(pt, y, ct, pool_embeddings=pe, corpus_embeddings=ce, threshold=0.8, balance=None,
                            labeller=weighted_fn)
    assert needs and weighted.report["labeller"] == "logreg_balanced_labeller"
    assert weighted.report["per_class_confident"]["2"] > plain.report["per_class_confident"]["2"]


def test_label_purity_of_meta_tasks():
    from tasksets.pseudo_label import label_purity

    summary = {"tasks": [{"labels": {"0": 115, "1": 12}}, {"labels": {"0": 5, "1": 5, "2": 10}}]}
    p = label_purity(summary)
    assert p["per_task"] == [round(115 / 127, 4), 0.5]
    assert p["overall"] == round((115 + 10) / 147, 4) and p["max"] == round(115 / 127, 4) and p["min"] == 0.5
    assert label_purity({"tasks": []})["overall"] is None


def test_profile_balance_settings_are_checked():
    from benchmark import config as config_mod

    cfg = config_mod.load_profile("smoke")
    capped = config_mod.apply_overrides(cfg, ["pretrain.balance=cap", "pretrain.balance_ratio=2"])
    assert capped["pretrain"]["balance"] == "cap"
    with pytest.raises(UserError, match="pretrain.balance = 'max' is invalid; allowed: min, cap, none"):
        config_mod.apply_overrides(cfg, ["pretrain.balance=max"])
    with pytest.raises(UserError, match="pretrain.balance_ratio = 0.5 is invalid; allowed: a number >= 1"):
        config_mod.apply_overrides(cfg, ["pretrain.balance_ratio=0.5"])
