"""Decoder-only LMs (Llama-style, e.g. SmolLM2): ``[bos] x It was``; the next token is the slot."""
from __future__ import annotations

from torch import nn

from benchmark.backbones.kinds.base import Kind


class Decoder(Kind):
    name = "decoder"
    auto_class = "AutoModelForCausalLM"
    stack_kwargs = {"use_cache": False}

    def setup(self, bb, add_bos):
        if add_bos is None:  # follow what the tokenizer itself would do, but decide it once, here
            bos = bb.tokenizer.bos_token_id
            probe = bb.tokenizer("a", add_special_tokens=True)["input_ids"]
            add_bos = bos is not None and len(probe) > 0 and probe[0] == bos
        bb.add_bos = bool(add_bos)
        bb.slot_token_id = None

    def template(self, bb):
        head = [bb.tokenizer.bos_token_id] if bb.add_bos else []
        return head, list(bb._middle_ids), -1          # the slot is predicted at the last real token

    def lm_head(self, model, base):
        if base is None or base is model:
            return None
        head = model.get_output_embeddings()
        return head if isinstance(head, nn.Linear) else None
