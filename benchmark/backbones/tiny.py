"""Tiny randomly initialised models of every kind, with tokenizers trained here (tests, smoke runs).

Built from configs in well under a second, with no network: ``build_tiny(kind)`` returns a model and
a tokenizer in the style of the kind's real ones, in which every word of ``TINY_CORPUS`` is one token.
"""
from __future__ import annotations

import torch

from benchmark.backbones.kinds import KINDS
from benchmark.errors import UserError

TINY_CORPUS = [
    "It was terrible .", "It was bad .", "It was maybe fine .", "It was good .", "It was great .",
    "the film was a delight . It was great .", "the plot was dull and the acting bad . It was terrible .",
    "a good movie with a great cast .", "the food was bad but the service good .",
    "maybe the best film of the year .", "not good , not bad , maybe okay .",
    "the story was slow and the ending terrible .", "great acting , good music , a delight .",
    "I liked the film . It was good fun .", "the book was long and the plot was thin .",
]


def tiny_tokenizer(kind: str):
    """A small BPE tokenizer trained on ``TINY_CORPUS`` in the style of ``kind``'s real tokenizers:
    byte-level BPE (decoder: " good" -> "Ġgood"), metaspace with <extra_id_0> (T5: "▁good"),
    BERT pre-tokenisation with [CLS]/[SEP]/[MASK] (masked: "good"). Every corpus word is one token;
    unseen words split into several."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    if kind == "decoder":
        specials = ["<pad>", "<|endoftext|>"]
        tk = Tokenizer(models.BPE())
        tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tk.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
        names = dict(pad_token="<pad>", eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    elif kind == "encoder-decoder":
        specials = ["<pad>", "</s>", "<unk>"] + [f"<extra_id_{i}>" for i in range(3)]
        tk = Tokenizer(models.BPE(unk_token="<unk>"))
        tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
        tk.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
        alphabet = []
        names = dict(pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                     additional_special_tokens=specials[3:])
    elif kind == "masked":
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        tk = Tokenizer(models.BPE(unk_token="[UNK]"))
        tk.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        alphabet = []
        names = dict(pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
                     mask_token="[MASK]")
    else:
        raise UserError(f"unknown backbone kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    trainer = trainers.BpeTrainer(vocab_size=2000, min_frequency=1, special_tokens=specials,
                                  initial_alphabet=alphabet, show_progress=False)
    tk.train_from_iterator(TINY_CORPUS * 3, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tk, **names)


def build_tiny(kind: str, *, seed: int = 0, tokenizer=None, **config_overrides):
    """A tiny randomly initialised model of ``kind`` with a locally trained tokenizer (tests, smoke runs)."""
    tok = tokenizer if tokenizer is not None else tiny_tokenizer(kind)
    return _tiny_model(kind, tok, seed=seed, **config_overrides), tok


def _tiny_model(kind: str, tok, *, seed: int = 0, **overrides):
    from transformers import (
        BertConfig,
        BertForMaskedLM,
        LlamaConfig,
        LlamaForCausalLM,
        T5Config,
        T5ForConditionalGeneration,
    )
    torch.manual_seed(seed)
    vocab = len(tok)
    # eager attention is put in the config before the model is built, so that sub-configs copied at
    # construction (T5's encoder and decoder stacks) inherit it in every transformers 5.x version
    overrides.setdefault("attn_implementation", "eager")
    if kind == "encoder-decoder":
        cfg = dict(vocab_size=vocab, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2,
                   num_heads=4, dropout_rate=0.1, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                   decoder_start_token_id=tok.pad_token_id)
        cfg.update(overrides)
        model = T5ForConditionalGeneration(T5Config(**cfg))
    elif kind == "decoder":
        cfg = dict(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                   pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                   tie_word_embeddings=True)
        cfg.update(overrides)
        model = LlamaForCausalLM(LlamaConfig(**cfg))
    elif kind == "masked":
        cfg = dict(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                   num_attention_heads=4, max_position_embeddings=512, pad_token_id=tok.pad_token_id)
        cfg.update(overrides)
        model = BertForMaskedLM(BertConfig(**cfg))
    else:
        raise UserError(f"unknown backbone kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    return model.eval()
