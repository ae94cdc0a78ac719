"""Backbone wrapper on tiny random models of the three kinds: slot scoring, prompts, template, errors."""
from __future__ import annotations

import copy

import pytest
import torch

from benchmark import backbones
from benchmark.errors import UserError

KINDS = ["tiny_t5", "tiny_decoder", "tiny_masked"]
TEXTS = ["the film was a delight .", "bad", "the plot was dull and the acting bad , maybe the worst ."]
WORDS = ["terrible", "bad", "maybe", "good", "great"]


@pytest.fixture(params=KINDS)
def bb(request):
    return request.getfixturevalue(request.param)


def reference_logits(bb, batch, prompt=None):
    """The slow way: the whole HF model on inputs_embeds, logits taken at the slot."""
    model = bb.model
    emb = model.get_input_embeddings()(batch.input_ids)
    mask = batch.attention_mask
    n = 0
    if prompt is not None:
        if prompt.dim() == 2:
            prompt = prompt.unsqueeze(0).expand(emb.shape[0], -1, -1)
        n = prompt.shape[1]
        emb = torch.cat([prompt, emb], 1)
        mask = torch.cat([torch.ones(mask.shape[0], n, dtype=mask.dtype), mask], 1)
    if bb.kind == "encoder-decoder":
        dec = torch.tensor([[model.config.decoder_start_token_id, bb.slot_token_id]] * emb.shape[0])
        return model(inputs_embeds=emb, attention_mask=mask, decoder_input_ids=dec).logits[:, 1]
    logits = model(inputs_embeds=emb, attention_mask=mask).logits
    return logits[torch.arange(emb.shape[0]), batch.slot_index + n]


def test_kinds_and_fast_path(tiny_t5, tiny_decoder, tiny_masked):
    assert (tiny_t5.kind, tiny_decoder.kind, tiny_masked.kind) == ("encoder-decoder", "decoder", "masked")
    for bb in (tiny_t5, tiny_decoder, tiny_masked):
        assert bb._fast, bb.name
        assert not any(p.requires_grad for p in bb.model.parameters())
        assert not bb.model.training
        assert bb.attn_implementations() == {"eager"}, bb.name


@pytest.mark.parametrize("n_prompt", [0, 3])
def test_slot_logits_equal_full_model(bb, n_prompt):
    torch.manual_seed(0)
    batch = bb.encode(TEXTS, max_length=32)
    prompt = torch.randn(n_prompt, bb.embed_dim) if n_prompt else None
    with torch.no_grad():
        fast = bb.slot_logits(batch, prompt)
        slow = reference_logits(bb, batch, prompt)
    assert fast.shape == (len(TEXTS), bb.vocab_size) and fast.dtype == torch.float32
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)


def test_t5_without_output_scaling_equals_full_model(tiny_backbone_factory):
    bb = tiny_backbone_factory("encoder-decoder", tie_word_embeddings=False)
    assert not bb.model.config.scale_decoder_outputs
    batch = bb.encode(TEXTS, max_length=32)
    prompt = torch.randn(2, bb.embed_dim)
    with torch.no_grad():
        torch.testing.assert_close(bb.slot_logits(batch, prompt), reference_logits(bb, batch, prompt),
                                   atol=1e-5, rtol=1e-5)


def test_label_ids_subset_equals_full_slice(bb):
    ids = bb.label_token_ids(WORDS)
    batch = bb.encode(TEXTS, max_length=32)
    prompt = torch.randn(2, bb.embed_dim)
    with torch.no_grad():
        full = bb.slot_logits(batch, prompt)
        sub = bb.slot_logits(batch, prompt, label_ids=ids)
    torch.testing.assert_close(sub, full[:, ids], atol=1e-6, rtol=1e-6)


def test_prompt_changes_output_and_only_prompt_gets_grad(bb):
    batch = bb.encode(TEXTS, max_length=32)
    ids = bb.label_token_ids(WORDS)
    prompt = torch.nn.Parameter(torch.randn(4, bb.embed_dim))
    with torch.no_grad():
        plain = bb.slot_logits(batch)
    out = bb.slot_logits(batch, prompt)
    assert not torch.allclose(plain, out)
    loss = torch.nn.functional.cross_entropy(out[:, ids], torch.tensor([3, 1, 0]))
    loss.backward()
    assert prompt.grad is not None and prompt.grad.abs().sum() > 0
    assert all(p.grad is None for p in bb.model.parameters())


def test_second_order_grad_through_prompt(bb):
    """MAML's inner step differentiates a gradient: needs eager attention on CPU."""
    batch = bb.encode(TEXTS[:2], max_length=16)
    ids = bb.label_token_ids(WORDS)
    prompt = torch.nn.Parameter(torch.randn(2, bb.embed_dim))
    target = torch.tensor([3, 1])
    loss = torch.nn.functional.cross_entropy(bb.slot_logits(batch, prompt)[:, ids], target)
    (g,) = torch.autograd.grad(loss, prompt, create_graph=True)
    adapted = prompt - 0.1 * g
    outer = torch.nn.functional.cross_entropy(bb.slot_logits(batch, adapted)[:, ids], target)
    outer.backward()
    assert prompt.grad is not None and torch.isfinite(prompt.grad).all()


def test_shared_prompt_broadcast_equals_explicit_batch(bb):
    batch = bb.encode(TEXTS, max_length=32)
    prompt = torch.randn(3, bb.embed_dim)
    with torch.no_grad():
        a = bb.slot_logits(batch, prompt)
        b = bb.slot_logits(batch, prompt.unsqueeze(0).expand(len(TEXTS), -1, -1).clone())
    torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)


def _positions_run(bb, fn):
    """Token positions the first attention layer's query projection sees while ``fn()`` runs."""
    proj = next(m for name, m in bb.model.named_modules() if name.endswith("q_proj") or name.endswith(".q")
                or name.endswith("attention.self.query"))
    seen = []
    hook = proj.register_forward_hook(lambda mod, args, out: seen.append(args[0].shape[:-1].numel()))
    try:
        fn()
    finally:
        hook.remove()
    return sum(seen[:2]) if bb.kind == "decoder" else seen[0]


def test_decoder_scores_a_shared_prompt_once_as_a_prefix(tiny_decoder):
    """Scoring (no gradients): the decoder's shared prompt is run once (n positions) and the rows only
    their own tokens, with the logits of the prompt prepended to every row (a per-row ``[B, n, d]``
    prompt); with gradients (training) every row runs the prompt."""
    bb = tiny_decoder
    batch = bb.encode(TEXTS, max_length=32)
    rows, width = batch.input_ids.shape
    torch.manual_seed(1)
    prompt = torch.randn(4, bb.embed_dim, requires_grad=True)
    out = {}
    for prefix in (True, False):
        given = prompt if prefix else prompt.unsqueeze(0).expand(rows, -1, -1)
        with torch.no_grad():
            holder = {}
            seen = _positions_run(bb, lambda: holder.update(logits=bb.slot_logits(batch, given)))
        out[prefix] = (seen, holder["logits"])
    assert out[True][0] == 4 + rows * width          # the prompt once, then each row's own tokens
    assert out[False][0] == rows * (4 + width)
    torch.testing.assert_close(out[True][1], out[False][1], atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(out[True][1], reference_logits(bb, batch, prompt), atol=1e-5, rtol=1e-5)
    assert _positions_run(bb, lambda: bb.slot_logits(batch, prompt).sum().backward()) == rows * (4 + width)
    assert prompt.grad is not None and torch.isfinite(prompt.grad).all()


def test_bidirectional_kinds_never_use_the_prefix(tiny_t5, tiny_masked):
    """An encoder's prompt positions attend to the text, so they cannot be run once: every row runs them."""
    for bb in (tiny_t5, tiny_masked):
        batch = bb.encode(TEXTS, max_length=32)
        rows, width = batch.input_ids.shape
        with torch.no_grad():
            seen = _positions_run(bb, lambda: bb.slot_logits(batch, torch.randn(4, bb.embed_dim)))
        assert seen == rows * (4 + width), bb.name


def test_per_example_prompts_differ(bb):
    batch = bb.encode(TEXTS[:2], max_length=32)
    prompts = torch.randn(2, 3, bb.embed_dim)
    with torch.no_grad():
        both = bb.slot_logits(batch, prompts)
        first = bb.slot_logits(batch.select([0]), prompts[:1])
    torch.testing.assert_close(both[:1], first, atol=1e-5, rtol=1e-5)


def test_padding_does_not_change_scores(bb):
    """Right padding: a short text scores the same alone and beside a longer one."""
    prompt = torch.randn(2, bb.embed_dim)
    with torch.no_grad():
        alone = bb.slot_logits(bb.encode([TEXTS[1]], 32), prompt)
        padded = bb.slot_logits(bb.encode([TEXTS[1], TEXTS[2]], 32), prompt)[:1]
    torch.testing.assert_close(alone, padded, atol=1e-5, rtol=1e-5)


def test_bad_prompt_shapes_raise(bb):
    batch = bb.encode(TEXTS, 32)
    with pytest.raises(ValueError):
        bb.slot_logits(batch, torch.randn(2, 2, bb.embed_dim))          # B mismatch
    with pytest.raises(ValueError):
        bb.slot_logits(batch, torch.randn(2, bb.embed_dim + 1))         # d mismatch


def test_template_tokens(tiny_t5, tiny_decoder, tiny_masked):
    def toks(bb, text):
        b = bb.encode([text], 64)
        return bb.tokenizer.convert_ids_to_tokens(b.input_ids[0].tolist()), int(b.slot_index[0])

    t, slot = toks(tiny_t5, "It was good")
    assert t[-5:] == ["▁It", "▁was", "<extra_id_0>", "▁.", "</s>"] and t[slot] == "<extra_id_0>"
    assert tiny_t5.encode(["x"], 16).decoder_input_ids[0].tolist() == [
        tiny_t5.model.config.decoder_start_token_id, tiny_t5.slot_token_id]
    t, slot = toks(tiny_decoder, "the film was good")
    assert t[-2:] == ["ĠIt", "Ġwas"] and slot == len(t) - 1 and t[0] == "the"      # no implicit BOS
    t, slot = toks(tiny_masked, "the film was good")
    assert t[0] == "[CLS]" and t[-5:] == ["It", "was", "[MASK]", ".", "[SEP]"] and t[slot] == "[MASK]"


def test_truncation_keeps_template(bb):
    long = " ".join(["the film was good and the plot was great"] * 20)
    batch = bb.encode([long, "bad"], max_length=12)
    assert batch.input_ids.shape[1] == 12
    ids = batch.input_ids[0].tolist()
    assert batch.attention_mask[0].sum() == 12
    middle = bb._ids(backbones.TEMPLATE_MIDDLE)
    if bb.kind == "decoder":
        assert ids[-len(middle):] == middle and int(batch.slot_index[0]) == 11
    else:
        slot = int(batch.slot_index[0])
        assert ids[slot] == bb.slot_token_id and ids[slot - len(middle):slot] == middle
        assert ids[-1] == (bb.eos_id if bb.kind == "encoder-decoder" else bb.sep_id)
    with pytest.raises(UserError, match="too short"):
        bb.encode(["x"], max_length=1)


def test_label_token_ids_single_tokens(tiny_t5, tiny_decoder, tiny_masked):
    for bb, piece in ((tiny_t5, "▁good"), (tiny_decoder, "Ġgood"), (tiny_masked, "good")):
        ids = bb.label_token_ids(WORDS)
        assert len(set(ids)) == 5
        assert bb.tokenizer.convert_ids_to_tokens(ids[3]) == piece


@pytest.mark.parametrize("word", ["wonderful", "greatness"])
def test_multi_token_label_word_raises(bb, word):
    with pytest.raises(UserError) as err:
        bb.label_token_ids(["good", word])
    msg = str(err.value)
    assert repr(word) in msg and "not a single token" in msg and "tokens)" in msg


def test_label_word_with_space_raises(bb):
    with pytest.raises(UserError, match="label word"):
        bb.label_token_ids([" good"])


def test_unknown_token_label_raises(tiny_t5):
    with pytest.raises(UserError, match="unknown token|not a single token"):
        tiny_t5.label_token_ids(["ü"])


def test_unknown_backbone_lists_valid():
    with pytest.raises(UserError) as err:
        backbones.load("no-such-backbone")
    msg = str(err.value)
    assert "no-such-backbone" in msg and "smollm2-135m" in msg and "t5-base" in msg


def test_hub_backbone_offline_says_so(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(backbones, "is_cached", lambda name: False)
    with pytest.raises(UserError) as err:
        backbones.load("t5-small")
    assert "smollm2-135m" in str(err.value) and "offline" in str(err.value)


def test_registry_lists_paper_and_offline_backbones():
    names = [e.name for e in backbones.list_backbones()]
    for name in ("smollm2-135m", "t5-small", "t5-base", "t5-large"):
        assert name in names
    assert backbones.REGISTRY["smollm2-135m"].offline and not backbones.REGISTRY["t5-base"].offline


def test_detect_kind():
    from transformers import BertConfig, LlamaConfig, RobertaConfig, T5Config
    assert backbones.detect_kind(T5Config()) == "encoder-decoder"
    assert backbones.detect_kind(LlamaConfig()) == "decoder"
    assert backbones.detect_kind(BertConfig()) == "masked"
    assert backbones.detect_kind(RobertaConfig()) == "masked"
    cfg = LlamaConfig()
    cfg.architectures = ["FooForMaskedLM"]
    assert backbones.detect_kind(cfg) == "masked"


@pytest.mark.parametrize("kind", ["encoder-decoder", "decoder", "masked"])
def test_load_local_folder(kind, tmp_path, tiny_backbone_factory):
    bb = tiny_backbone_factory(kind, seed=1)
    bb.model.save_pretrained(tmp_path)
    bb.tokenizer.save_pretrained(tmp_path)
    loaded = backbones.load(str(tmp_path))
    assert loaded.kind == kind and loaded.name == str(tmp_path)
    assert loaded.attn_implementations() == {"eager"}
    assert not any(p.requires_grad for p in loaded.model.parameters())
    with torch.no_grad():
        a = bb.slot_logits(bb.encode(TEXTS, 32))
        b = loaded.slot_logits(loaded.encode(TEXTS, 32))
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_registered_tiny_entries_load():
    for name in ("tiny-t5", "tiny-decoder", "tiny-masked"):
        bb = backbones.load(name)
        assert bb.name == name and bb.label_token_ids(WORDS)


def test_unfreeze_for_full_model_tuning(tiny_backbone_factory):
    bb = tiny_backbone_factory("decoder")
    clone = copy.deepcopy(bb).unfreeze()
    assert all(p.requires_grad for p in clone.model.parameters()) and clone.model.training
    assert not any(p.requires_grad for p in bb.model.parameters()) and not bb.model.training
    batch = clone.encode(TEXTS, 32)
    clone.eval()
    clone.slot_logits(batch)[:, 0].sum().backward()
    assert clone.model.get_input_embeddings().weight.grad is not None
    clone.freeze()
    assert not any(p.requires_grad for p in clone.model.parameters())
    bb.train()                       # a frozen backbone never enters train mode (no dropout)
    assert not bb.model.training


def test_bf16_autocast_returns_float32(tiny_backbone_factory):
    bb = tiny_backbone_factory("encoder-decoder")
    batch = bb.encode(TEXTS, 32)
    with torch.no_grad():
        ref = bb.slot_logits(batch)
        bb.autocast_bf16 = True
        out = bb.slot_logits(batch, torch.zeros(2, bb.embed_dim))
        out0 = bb.slot_logits(batch)
    assert out.dtype == torch.float32 and out.shape == ref.shape
    torch.testing.assert_close(out0, ref, atol=0.1, rtol=0.05)


def test_state_dict_is_the_models(tiny_decoder):
    assert set(tiny_decoder.state_dict()) == {"model." + k for k in tiny_decoder.model.state_dict()}


def test_batch_helpers(tiny_t5):
    batch = tiny_t5.encode(TEXTS, 32)
    assert len(batch) == 3 and "decoder_input_ids" in batch.keys()
    assert batch["input_ids"] is batch.input_ids
    sub = batch.select([2])
    assert len(sub) == 1 and sub.decoder_input_ids.shape == (1, 2)


def test_models_cli_list(capsys, tmp_path, monkeypatch):
    from benchmark import cli
    monkeypatch.setenv("METAPT_CACHE", str(tmp_path))
    assert cli.main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "smollm2-135m" in out and "all-MiniLM-L6-v2" in out and "t5-base" in out
    assert cli.main(["models", "fetch", "nope"]) == 2
