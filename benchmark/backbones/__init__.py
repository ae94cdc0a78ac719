"""Frozen language-model backbones behind one interface, and their registry.

A ``Backbone`` wraps a HuggingFace model of one of the registered kinds and scores the hybrid prompt
template of the paper, ``x It was <X>.``, at the slot ``<X>``:

* ``"encoder-decoder"`` (T5): the encoder reads ``x It was <extra_id_0>.</s>``; the decoder is fed
  ``[decoder_start, <extra_id_0>]`` and its second position predicts the label word.
* ``"decoder"`` (Llama-style, e.g. SmolLM2): the sequence ends right after ``It was``, so the next
  token is the slot.
* ``"masked"`` (BERT/RoBERTa-style): ``[CLS] x It was [MASK] . [SEP]``; the slot is the mask.

The rooms:

* ``adapter.py``: ``Backbone`` (what every kind shares: freezing, bf16, attention switching, tokens,
  padding, the soft prompt, the label words' rows of the LM head), ``Batch``, ``from_model``.
* ``kinds/``: one file per kind (``base.Kind`` is the interface) and the ``KINDS`` registry.
* ``registry.py``: the named backbones (``REGISTRY``, ``list_backbones``).
* ``loading.py``: ``load`` by name, folder or hub id; ``fetch``; ``is_cached``.
* ``gguf.py``: the registry's 4-bit GGUF dequantised once into an HF folder (``prepare_gguf``).
* ``tiny.py``: tiny random models and tokenizers of every kind (tests, smoke runs).

Hub ids and revisions are ``benchmark.hub``'s.
"""
from __future__ import annotations

from benchmark.backbones.adapter import TEMPLATE_END, TEMPLATE_MIDDLE, Backbone, Batch, from_model
from benchmark.backbones.gguf import gguf_cache_dir, prepare_gguf
from benchmark.backbones.kinds import KINDS, Kind, detect_kind
from benchmark.backbones.loading import fetch, is_cached, load
from benchmark.backbones.registry import DEFAULT, REGISTRY, BackboneEntry, list_backbones
from benchmark.backbones.tiny import TINY_CORPUS, build_tiny, tiny_tokenizer

__all__ = ["Backbone", "Batch", "from_model", "TEMPLATE_MIDDLE", "TEMPLATE_END", "KINDS", "Kind", "detect_kind",
           "BackboneEntry", "REGISTRY", "DEFAULT", "list_backbones", "load", "fetch", "is_cached",
           "gguf_cache_dir", "prepare_gguf", "TINY_CORPUS", "build_tiny", "tiny_tokenizer"]
