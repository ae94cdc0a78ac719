"""Decoder-only LMs (Llama-style, e.g. SmolLM2): ``[bos] x It was``; the next token is the slot."""
from __future__ import annotations

import functools
import inspect

import torch
from torch import nn

from benchmark.backbones.kinds.base import Kind


class Decoder(Kind):
    name = "decoder"
    auto_class = "AutoModelForCausalLM"
    stack_kwargs = {"use_cache": False}
    prefix_cache = True

    def setup(self, bb, add_bos):
        if add_bos is None:  # follow what the tokenizer itself would do, but decide it once, here
            bos = bb.tokenizer.bos_token_id
            probe = bb.tokenizer("a", add_special_tokens=True)["input_ids"]
            add_bos = bos is not None and len(probe) > 0 and probe[0] == bos
        bb.add_bos = bool(add_bos)
        bb.slot_token_id = None

    def template(self, bb):
        head = [bb.tokenizer.bos_token_id] if bb.add_bos else []
        return head, list(bb.middle_ids), -1          # the slot is predicted at the last real token

    def lm_head(self, model, base):
        if base is None or base is model:
            return None
        head = model.get_output_embeddings()
        return head if isinstance(head, nn.Linear) else None

    def prefix_slot_hidden(self, bb, batch, prompt):
        """The soft prompt comes first and attention is causal, so its keys and values do not depend on
        the text: they are computed once (one row of ``n`` tokens) and shared by the batch's ``B`` rows,
        which then run only their own tokens (positions ``n`` onwards, attending to the prompt's cache).
        The same function as the full sequence, with ``(B - 1) * n`` fewer token positions; the backbone
        uses it for scoring without gradients only (``Backbone.slot_hidden``)."""
        from transformers import DynamicCache

        rows = batch.input_ids.shape[0]
        emb = bb.model.get_input_embeddings()(batch.input_ids)
        p = prompt.to(device=emb.device, dtype=emb.dtype).unsqueeze(0)
        cache = DynamicCache()
        name = _cache_argument(type(bb.base_model))
        bb.base_model(inputs_embeds=p, use_cache=True, **{name: cache})
        for layer in cache.layers:            # one prompt row, seen by every row of the batch
            layer.keys = layer.keys.expand(rows, -1, -1, -1)
            layer.values = layer.values.expand(rows, -1, -1, -1)
        n = p.shape[1]
        mask = torch.cat([batch.attention_mask.new_ones(rows, n), batch.attention_mask], dim=1)
        hs = bb.base_model(inputs_embeds=emb, attention_mask=mask, use_cache=True, **{name: cache})[0]
        return hs[torch.arange(rows, device=hs.device), batch.slot_index]


@functools.lru_cache(maxsize=None)
def _cache_argument(stack: type) -> str:
    """The stack's name for the cache: ``cache`` in transformers 5.x, ``past_key_values`` before."""
    return "cache" if "cache" in inspect.signature(stack.forward).parameters else "past_key_values"
