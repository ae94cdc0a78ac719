"""The scoring adapter: a frozen HF language model that scores the hybrid template at its slot.

``Backbone`` wraps a model of one registered kind (``kinds/``: encoder-decoder, decoder, masked) and
scores the paper's template ``x It was <X>.`` at the slot ``<X>``. What differs between kinds (the
special tokens, where the slot is, which module is the LM head) is the kind's; what is shared is here:
freezing, bf16 autocast and bf16-stored weights, attention switching, tokenising with a cache, padding,
the soft prompt, and computing only the label words' rows of the LM head.

A soft prompt (``[n, d]`` or ``[B, n, d]``) is prepended to the input embeddings (the encoder input
for T5). Only the slot's hidden state goes through the LM head, never every position.

Special tokens are always placed by this module and the kinds (``add_special_tokens=False``
everywhere), so the ids do not depend on a tokenizer's or a transformers version's defaults.
"""
from __future__ import annotations

import contextlib
import dataclasses

import torch
from torch import nn

from benchmark.backbones.kinds import KINDS, detect_kind
from benchmark.backbones.kinds.base import first_not_none
from benchmark.errors import UserError

TEMPLATE_MIDDLE = " It was"          # the words between x and the slot
TEMPLATE_END = "."                   # after the slot (encoder-decoder and masked kinds only)

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
        self.trainable = False
        self.source: dict | None = None     # hub models: ref, revision and the commit SHA loaded
        cfg = model.config
        self.embed_dim = int(model.get_input_embeddings().weight.shape[1])
        self.vocab_size = int(model.get_input_embeddings().weight.shape[0])
        self.pad_id = first_not_none(tokenizer.pad_token_id, tokenizer.eos_token_id,
                                     getattr(cfg, "pad_token_id", None), 0)
        object.__setattr__(self, "kind_strategy", KINDS[kind])   # the kind's strategy (stateless)
        self.kind_strategy.setup(self, add_bos)
        self.middle_ids = self._ids(TEMPLATE_MIDDLE)
        self.end_ids = self._ids(TEMPLATE_END)
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
        head, tail, _ = self.kind_strategy.template(self)
        return len(head) + len(tail)

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
        head, tail, slot_offset = self.kind_strategy.template(self)      # slot_offset -1: the last real token
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
        dec = self.kind_strategy.decoder_input_ids(self, len(rows))
        return Batch(input_ids, mask, torch.tensor(slots, dtype=torch.long), dec).to(self.device)

    # ---- scoring ---------------------------------------------------------------------
    def _setup_fast_path(self) -> None:
        """Find the base model and the LM head so that only the slot goes through the head."""
        base = getattr(self.model, "base_model", None)
        head = self.kind_strategy.lm_head(self.model, base)
        fast = head is not None
        # plain attributes, not sub-modules: the parameters and state_dict stay those of ``model``
        object.__setattr__(self, "base_model", base)
        object.__setattr__(self, "_head", head)
        object.__setattr__(self, "_fast", fast)

    def _autocast(self):
        if not self.autocast_bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

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
        """[B, H] hidden state that the LM head turns into the slot's logits (fast path only).

        Scoring without gradients: a soft prompt shared by the batch (``[n, d]``) runs once, as a
        key/value prefix, on kinds whose stack is causal (``Kind.prefix_cache``); a per-row prompt
        (``[B, n, d]``) is prepended to every row (the reference). Training keeps the prompt on every
        row: with gradients the second pass re-reads every weight, and a batch of 4 rows measured no
        faster (docs/PERF.md)."""
        if prompt is not None and prompt.dim() == 2 and self.kind_strategy.prefix_cache and not torch.is_grad_enabled():
            if prompt.shape[-1] != self.embed_dim:
                raise ValueError(f"prompt dimension {prompt.shape[-1]} != backbone embedding dim {self.embed_dim}")
            return self.kind_strategy.prefix_slot_hidden(self, batch, prompt)
        emb, mask, n = self._inputs(batch, prompt)
        return self.kind_strategy.slot_hidden(self, batch, emb, mask, n)

    def _full_logits(self, batch: Batch, prompt=None) -> torch.Tensor:
        """The slow reference: run the whole HF model and take the logits at the slot."""
        emb, mask, n = self._inputs(batch, prompt)
        return self.kind_strategy.full_logits(self, batch, emb, mask, n)

    def slot_logits(self, batch: Batch, prompt=None, label_ids=None) -> torch.Tensor:
        """Logits at the slot, float32 (float64 on a float64 backbone): ``[B, vocab]``, or ``[B, C]`` for
        ``label_ids`` (C ids).

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
                logits = self.kind_strategy.head_logits(head, h)
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


def from_model(model, tokenizer, kind: str | None = None, name: str = "custom", *,
               autocast_bf16: bool = False, add_bos: bool | None = None, bf16_weights: bool = True) -> Backbone:
    """Wrap an already built HF model (tests build tiny ones from configs). ``kind`` is detected
    from the config when omitted."""
    return Backbone(model, tokenizer, kind or detect_kind(model.config), name,
                    autocast_bf16=autocast_bf16, add_bos=add_bos, bf16_weights=bf16_weights)


def _as_output(logits: torch.Tensor) -> torch.Tensor:
    """Slot logits as the caller sees them: float32 (bf16 autocast's come back float32 too), float64
    from a float64 backbone."""
    return logits if logits.dtype == torch.float64 else logits.float()
