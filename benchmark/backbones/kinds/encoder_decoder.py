"""Encoder-decoder LMs (T5): the encoder reads ``x It was <extra_id_0>.</s>``; the decoder is fed
``[decoder_start, <extra_id_0>]`` and its second position predicts the label word."""
from __future__ import annotations

import torch

from benchmark.backbones.kinds.base import Kind, infill_tail
from benchmark.errors import UserError


class EncoderDecoder(Kind):
    name = "encoder-decoder"
    auto_class = "AutoModelForSeq2SeqLM"

    def detects(self, config):
        return bool(getattr(config, "is_encoder_decoder", False))

    def setup(self, bb, add_bos):
        tok = bb.tokenizer
        bb.add_bos = False
        sid = tok.convert_tokens_to_ids("<extra_id_0>")
        if sid is None or sid == tok.unk_token_id:
            raise UserError(f"backbone {bb.name!r}: the tokenizer has no T5 sentinel <extra_id_0>",
                            hint="encoder-decoder backbones must be T5-style span-corruption models")
        bb.slot_token_id = int(sid)
        bb.eos_id = tok.eos_token_id
        start = getattr(bb.model.config, "decoder_start_token_id", None)
        bb.decoder_start_id = int(start if start is not None else bb.pad_id)

    def template(self, bb):
        # the slot index is the sentinel's place in the encoder input: informative only, the decoder
        # position 1 is scored
        return [], infill_tail(bb, bb.eos_id), len(bb.middle_ids)

    def decoder_input_ids(self, bb, rows):
        return torch.tensor([[bb.decoder_start_id, bb.slot_token_id]] * rows, dtype=torch.long)

    def lm_head(self, model, base):
        fast = model.config.model_type in ("t5", "mt5") and hasattr(model, "encoder") and hasattr(model, "lm_head")
        return model.lm_head if fast else None

    def slot_hidden(self, bb, batch, emb, mask, n):
        model = bb.model
        enc = model.encoder(inputs_embeds=emb, attention_mask=mask).last_hidden_state
        dec = model.decoder(input_ids=batch.decoder_input_ids, encoder_hidden_states=enc,
                            encoder_attention_mask=mask, use_cache=False).last_hidden_state
        h = dec[:, 1]
        cfg = model.config
        if getattr(cfg, "scale_decoder_outputs", getattr(cfg, "tie_word_embeddings", True)):
            h = h * (cfg.d_model ** -0.5)
        return h

    def full_logits(self, bb, batch, emb, mask, n):
        out = bb.model(inputs_embeds=emb, attention_mask=mask, decoder_input_ids=batch.decoder_input_ids,
                       use_cache=False)
        return out.logits[:, 1]
