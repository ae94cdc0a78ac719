"""tasksets.labellers: the registry behind ``pretrain.labeller`` and the HF classifier labeller."""
from __future__ import annotations

import pytest

from benchmark.errors import UserError
from tasksets.labellers import LABELLERS, get_labeller, hf_classifier_labeller
from tasksets.pseudo_label import logreg_labeller, pseudo_label


def test_registry_logreg():
    labeller, needs = get_labeller("logreg-embeddings")
    assert labeller is logreg_labeller and LABELLERS["logreg-embeddings"] is logreg_labeller
    assert needs is True


def test_roberta_is_a_text_labeller():
    labeller, needs = get_labeller("roberta-base")   # nothing is loaded until it is called
    assert needs is False and "FacebookAI/roberta-base" in labeller.__name__


def test_unknown_labeller_lists_valid_names():
    with pytest.raises(UserError) as exc:
        get_labeller("logreg-embedings")
    msg = str(exc.value)
    assert "logreg-embeddings" in msg and "roberta-base" in msg and "did you mean" in msg


def test_unreachable_hub_is_a_user_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    labeller, _ = get_labeller("metapt-no-such-org/no-such-model")
    with pytest.raises(UserError) as exc:
        labeller(["a", "b"], [0, 1], None, 0)
    assert "internet" in str(exc.value) and "pretrain.labeller=logreg-embeddings" in str(exc.value)


@pytest.fixture(scope="module")
def tiny_classifier_dir(tmp_path_factory):
    import torch
    from transformers import BertConfig, BertModel

    from benchmark.backbones import tiny_tokenizer

    tok = tiny_tokenizer("masked")
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64, pad_token_id=tok.pad_token_id,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    folder = tmp_path_factory.mktemp("tiny-bert")
    BertModel(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


@pytest.fixture
def one_thread():
    """A tiny model trains much faster on one thread than on a busy shared CPU's threads."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_hf_labeller_learns_a_separable_toy_set(tiny_classifier_dir, one_thread):
    fillers = ["the film was", "the food was", "it was", "the plot was", "the story was"]
    pool, y = [], []
    for i in range(20):
        f = fillers[i % len(fillers)]
        pool += [f"{f} good", f"{f} bad"]
        y += [1, 0]
    corpus = [f"the {n} was {w}" for n in ("cast", "music", "ending", "book", "service")
              for w in ("good", "bad")]
    labeller, needs = get_labeller(tiny_classifier_dir)
    assert needs is False
    labeller = hf_classifier_labeller(tiny_classifier_dir, epochs=15, lr=5e-3, batch_size=8, device="cpu")
    out = pseudo_label(pool, y, corpus, labeller=labeller, threshold=0.5, balance=None, seed=0)
    assert out.report["heldout_accuracy"] >= 0.9
    assert out.report["labeller"].startswith("hf-classifier:")
    assert len(out.texts) == len(corpus)
    agree = sum(int("good" in t) == lab for t, lab in zip(out.texts, out.labels))
    assert agree >= 0.8 * len(corpus)
