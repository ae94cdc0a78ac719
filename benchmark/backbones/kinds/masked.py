"""Masked LMs (BERT/RoBERTa-style): ``[CLS] x It was [MASK] . [SEP]``; the slot is the mask."""
from __future__ import annotations

from benchmark.backbones.kinds.base import Kind, first_not_none, infill_tail
from benchmark.errors import UserError

MODEL_TYPES = {"bert", "roberta", "xlm-roberta", "distilbert", "albert", "electra", "deberta",
               "deberta-v2", "camembert", "mpnet", "modernbert"}


class Masked(Kind):
    name = "masked"
    auto_class = "AutoModelForMaskedLM"

    def detects(self, config):
        archs = getattr(config, "architectures", None) or []
        return any(a.endswith("ForMaskedLM") for a in archs) or getattr(config, "model_type", "") in MODEL_TYPES

    def setup(self, bb, add_bos):
        tok = bb.tokenizer
        bb.add_bos = False
        if tok.mask_token_id is None:
            raise UserError(f"backbone {bb.name!r}: masked LM without a mask token in its tokenizer")
        bb.slot_token_id = int(tok.mask_token_id)
        bb.cls_id = first_not_none(tok.cls_token_id, tok.bos_token_id)
        bb.sep_id = first_not_none(tok.sep_token_id, tok.eos_token_id)

    def template(self, bb):
        head = [bb.cls_id] if bb.cls_id is not None else []
        return head, infill_tail(bb, bb.sep_id), len(bb.middle_ids)

    def lm_head(self, model, base):
        if base is None or base is model:
            return None
        others = [c for n, c in model.named_children() if c is not base]
        return others[0] if len(others) == 1 else None

    def head_logits(self, head, h):
        return head(h.unsqueeze(1)).squeeze(1)       # MLM heads expect [B, L, H]
