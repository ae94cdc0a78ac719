"""The backbone kinds: one file each, one registry line each.

A kind says how a family of models reads the hybrid template ``x It was <X>.`` and where its slot
is (``base.Kind``: ``setup``, ``template``, ``lm_head``, ``slot_hidden``, ...); everything else about
scoring is the ``Backbone``'s, shared by all kinds.
"""
from __future__ import annotations

from benchmark.backbones.kinds.base import Kind
from benchmark.backbones.kinds.decoder import Decoder
from benchmark.backbones.kinds.encoder_decoder import EncoderDecoder
from benchmark.backbones.kinds.masked import Masked

KINDS: dict[str, Kind] = {k.name: k for k in [
    EncoderDecoder(),
    Decoder(),
    Masked(),
]}

FALLBACK = "decoder"     # a config no kind claims is read as a decoder-only LM


def detect_kind(config) -> str:
    """The kind of an HF model config: the first kind that claims it, else ``FALLBACK``."""
    for kind in KINDS.values():
        if kind.detects(config):
            return kind.name
    return FALLBACK
