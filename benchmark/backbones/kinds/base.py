"""The interface every backbone kind implements: how its model reads the template, and its slot.

``Backbone`` (``adapter.py``) holds what all kinds share (precision, attention switching, token
caches, padding, the soft prompt, the LM head's rows); a ``Kind`` holds what differs between model
families. Kinds are stateless: each method gets the ``Backbone`` and reads its tokenizer, model and
the special-token ids that ``setup`` put on it.

The defaults below are those of a model that is one stack with an LM head on top (decoder and masked
kinds): the slot's hidden state is the stack's output at ``slot_index`` (after the soft prompt).
"""
from __future__ import annotations

import torch
from torch import nn


def first_not_none(*values):
    for v in values:
        if v is not None:
            return v
    return None


def infill_tail(bb, close: int | None) -> list[int]:
    """``It was <slot> .`` followed by the closing special token, when the tokenizer has one."""
    return bb.middle_ids + [bb.slot_token_id] + bb.end_ids + ([close] if close is not None else [])


class Kind:
    name: str = ""
    auto_class: str = ""        # the transformers Auto class that loads a checkpoint of this kind
    stack_kwargs: dict = {}     # extra arguments of the stack's forward (e.g. use_cache=False)
    # whether a soft prompt shared by the batch may be run once, as a key/value prefix (a causal stack,
    # where no prompt position attends to the text): ``prefix_slot_hidden``
    prefix_cache: bool = False

    def detects(self, config) -> bool:
        """Whether an HF config is of this kind (``detect_kind`` asks the kinds in registry order)."""
        return False

    def setup(self, bb, add_bos: bool | None) -> None:
        """Put this kind's special-token ids on ``bb`` (``add_bos``, ``slot_token_id``, ...); a
        tokenizer that lacks one is a UserError naming the backbone."""
        raise NotImplementedError

    def template(self, bb) -> tuple[list[int], list[int], int]:
        """``(head, tail, slot)``: the ids before the text, the ids after it, and the slot's index
        within ``tail`` (-1: the last real token of the row)."""
        raise NotImplementedError

    def decoder_input_ids(self, bb, rows: int) -> torch.Tensor | None:
        """What a decoder is fed (``Batch.decoder_input_ids``), for kinds that have a decoder."""
        return None

    def lm_head(self, model, base) -> nn.Module | None:
        """The module that turns the slot's hidden state into logits, or None when there is no fast
        path (then the whole model runs and its logits are read at the slot)."""
        return None

    def slot_hidden(self, bb, batch, emb, mask, n: int) -> torch.Tensor:
        """[B, H] hidden state at the slot, from input embeddings ``emb`` (``n`` soft-prompt rows first)."""
        hs = bb.base_model(inputs_embeds=emb, attention_mask=mask, **self.stack_kwargs)[0]
        rows = torch.arange(hs.shape[0], device=hs.device)
        return hs[rows, batch.slot_index + n]

    def prefix_slot_hidden(self, bb, batch, prompt: torch.Tensor) -> torch.Tensor:
        """[B, H] hidden state at the slot for a prompt ``[n, d]`` shared by the batch, with the prompt
        run once (kinds with ``prefix_cache``)."""
        raise NotImplementedError

    def full_logits(self, bb, batch, emb, mask, n: int) -> torch.Tensor:
        """The slow reference: the whole HF model, its logits taken at the slot."""
        out = bb.model(inputs_embeds=emb, attention_mask=mask)
        rows = torch.arange(emb.shape[0], device=emb.device)
        return out.logits[rows, batch.slot_index + n]

    def head_logits(self, head: nn.Module, h: torch.Tensor) -> torch.Tensor:
        """A head that is not one linear layer, applied to ``h`` [B, H] -> [B, vocab]."""
        return head(h)
