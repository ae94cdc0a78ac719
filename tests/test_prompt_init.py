"""Prompt inits in the backbone's own scale: their statistics, determinism, errors."""
from __future__ import annotations

import pytest
import torch

from benchmark import config as config_mod
from benchmark.errors import UserError
from benchmark.prompt import PROFILE_INITS, SoftPrompt, embedding_std, make_prompt, row_norms

STD = 0.136   # smollm2-135m's measured input-embedding std


@pytest.fixture(scope="module")
def emb():
    return torch.randn(6000, 64, generator=torch.Generator().manual_seed(7)) * STD + 0.01


@pytest.mark.parametrize("init", ["uniform", "normal"])
def test_scaled_inits_match_the_embedding_std(emb, init):
    p = SoftPrompt(200, 64, init=init, embeddings=emb, seed=0).weight.detach()
    assert embedding_std(emb) == pytest.approx(STD, rel=0.01)
    assert p.std().item() == pytest.approx(embedding_std(emb), rel=0.05)
    assert abs(p.mean().item()) < 0.01
    if init == "uniform":
        assert p.abs().max().item() <= 3 ** 0.5 * embedding_std(emb) + 1e-6
        assert p.abs().max().item() > 0.95 * 3 ** 0.5 * embedding_std(emb)   # fills the interval
    else:
        assert p.abs().max().item() > 3 ** 0.5 * embedding_std(emb)          # tails beyond the uniform bound


def test_random_init_is_the_papers_and_ignores_the_scale(emb):
    p = SoftPrompt(200, 64, init="random", embeddings=emb, seed=0).weight.detach()
    assert p.min().item() >= -0.5 and p.max().item() <= 0.5
    assert p.std().item() == pytest.approx(1 / 12 ** 0.5, rel=0.05)      # U[-0.5, 0.5], not the backbone's


def test_row_norms_show_the_scale_difference(emb):
    scaled = row_norms(SoftPrompt(50, 64, init="normal", embeddings=emb, seed=0).weight)
    paper = row_norms(SoftPrompt(50, 64, init="random", seed=0).weight)
    assert scaled["median"] == pytest.approx(STD * 8, rel=0.15)          # sqrt(64) x std
    assert paper["median"] > 2 * scaled["median"]


@pytest.mark.parametrize("init", ["random", "uniform", "normal", "vocab"])
def test_inits_are_seeded(emb, init):
    a = SoftPrompt(10, 64, init=init, embeddings=emb, seed=3).weight
    b = SoftPrompt(10, 64, init=init, embeddings=emb, seed=3).weight
    c = SoftPrompt(10, 64, init=init, embeddings=emb, seed=4).weight
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, c)


def test_label_init_tiles_the_label_word_embeddings(tiny_decoder):
    cfg = {"prompt_init": "label", "prompt_tokens": 5}
    words = ["bad", "maybe", "good"]
    ids = tiny_decoder.label_token_ids(words)
    p = make_prompt(tiny_decoder, cfg, seed=0, label_words=words).weight.detach()
    table = tiny_decoder.input_embeddings().weight.detach().float()
    assert p.shape == (5, tiny_decoder.embed_dim)
    for row, tok in zip(p, [ids[0], ids[1], ids[2], ids[0], ids[1]]):
        torch.testing.assert_close(row, table[tok])
    # the same words give the same prompt whatever the seed; other words give another
    torch.testing.assert_close(make_prompt(tiny_decoder, cfg, seed=9, label_words=words).weight.detach(), p)
    other = make_prompt(tiny_decoder, cfg, seed=0, label_words=["terrible", "great"]).weight.detach()
    assert not torch.equal(other, p)


def test_make_prompt_uses_the_profile_init_and_length(tiny_decoder):
    table = tiny_decoder.input_embeddings().weight
    for init in PROFILE_INITS:
        p = make_prompt(tiny_decoder, {"prompt_init": init, "prompt_tokens": 3}, seed=1, label_words=["bad", "good"])
        assert p.weight.shape == (3, tiny_decoder.embed_dim) and p.weight.requires_grad
    vocab = make_prompt(tiny_decoder, {"prompt_init": "vocab", "prompt_tokens": 3}, seed=1, label_words=["bad"])
    assert all(any(torch.equal(row, e) for e in table.detach().float()) for row in vocab.weight.detach())


def test_unknown_init_is_refused_with_the_valid_names():
    with pytest.raises(UserError, match="unknown prompt init 'zeros'; valid: random, uniform, normal, vocab, label"):
        SoftPrompt(2, 8, init="zeros")
    cfg = config_mod.load_profile("smoke")
    with pytest.raises(UserError,
                       match="prompt_init = 'zeros' is invalid; allowed: random, uniform, normal, vocab, label"):
        config_mod.apply_overrides(cfg, ["prompt_init=zeros"])
    for init in PROFILE_INITS:
        assert config_mod.apply_overrides(cfg, [f"prompt_init={init}"])["prompt_init"] == init


def test_scaled_inits_need_the_embeddings():
    with pytest.raises(ValueError, match="embedding matrix"):
        SoftPrompt(2, 8, init="normal")
    with pytest.raises(ValueError, match="label words"):
        SoftPrompt(2, 8, init="label", embeddings=torch.zeros(10, 8))


def test_ppt_and_metapt_start_from_the_profile_init_and_report_their_compute(standin_cache, tmp_path):
    """One init for all prompt methods: with prompt_init=label both pre-trainings start from the pool's
    label-word embeddings; each artefact report states the rows it put through the backbone."""
    from baselines import get_method
    from benchmark.context import Context

    cfg = config_mod.apply_overrides(config_mod.load_profile("smoke"), ["prompt_init=label"])
    ctx = Context(cfg, progress=False, artifacts_dir=tmp_path / "artifacts")
    start = row_norms(make_prompt(ctx.backbone(), cfg, 0, ctx.pretrain_label_words()).weight)
    ppt = ctx.prepared(get_method("ppt"))["report"]
    assert ppt["row_norm"]["initial"] == pytest.approx(start)
    assert ppt["compute"]["rows_forward_backward"] == ppt["steps"] * cfg["ppt"]["batch_size"] > 0
    assert ppt["compute"]["rows_forward_validation"] == len(ppt["evaluations"]) * ppt["val_rows"]
    meta = ctx.prepared(get_method("metapt_y"))["report"]
    assert meta["row_norm"]["initial"] == pytest.approx(start)
    k, m = meta["tasks"]["k_effective"], cfg["pretrain"]["m"]
    assert meta["compute"]["rows_forward_backward"] == meta["steps"] * k * 2 * m > 0
    assert meta["compute"]["second_order"] is True
    assert 1 / 5 <= meta["label_purity"]["overall"] <= 1
