"""`export --peft`: a learned prompt becomes a PEFT prompt-tuning adapter whose logits at the slot are the
suite's scorer's (1e-5), on tiny backbones of the decoder and encoder-decoder kinds; bad input is one
message, exit 2, nothing written."""
from __future__ import annotations

import json

import pytest
import torch

peft = pytest.importorskip("peft")

from benchmark import backbones  # noqa: E402
from benchmark.cli import main  # noqa: E402
from benchmark.prompt import save_prompt  # noqa: E402

TEXTS = ["the film was a delight .", "the plot was dull and the acting bad", "not good , not bad , maybe okay"]
WORDS = ["bad", "maybe", "good"]


def _prompt_file(tmp_path, name, n=5, seed=1, dim=None, **meta):
    bb = backbones.load(name)
    gen = torch.Generator().manual_seed(seed)
    weight = torch.randn(n, dim or bb.embed_dim, generator=gen) * 0.5
    path = tmp_path / f"{name}-prompt.safetensors"
    save_prompt(path, weight, {"method": "metapt", "backbone": name, "length": n, "label_words": WORDS, **meta})
    return path, weight


@pytest.mark.parametrize("name", ["tiny-decoder", "tiny-t5"])
def test_peft_adapter_gives_the_suites_logits_at_the_slot(tmp_path, name):
    path, weight = _prompt_file(tmp_path, name)
    out = tmp_path / "adapter"
    assert main(["export", str(path), "--peft", str(out)]) == 0
    assert {p.name for p in out.iterdir()} >= {"adapter_config.json", "adapter_model.safetensors", "README.md"}
    cfg = json.loads((out / "adapter_config.json").read_text())
    assert cfg["peft_type"] == "PROMPT_TUNING" and cfg["num_virtual_tokens"] == 5
    readme = (out / "README.md").read_text()
    assert "It was" in readme and "`bad`, `maybe`, `good`" in readme

    suite_bb = backbones.load(name)                 # the suite's scorer on the same (seeded) backbone
    batch = suite_bb.encode(TEXTS, max_length=32)
    ids = suite_bb.label_token_ids(WORDS)
    with torch.no_grad():
        ours = suite_bb.slot_logits(batch, weight)              # [B, vocab]
    base = backbones.load(name).model                          # a fresh base model, as a user would have
    model = peft.PeftModel.from_pretrained(base, str(out)).eval()
    n = weight.shape[0]
    with torch.no_grad():
        if suite_bb.kind == "decoder":
            logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
            theirs = logits[torch.arange(len(TEXTS)), batch.slot_index + n]
        else:
            logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                           decoder_input_ids=batch.decoder_input_ids).logits
            theirs = logits[:, 1]
    assert torch.allclose(theirs.float(), ours, atol=1e-5), (theirs - ours).abs().max()
    # and the verbalizer's scores (what the suite classifies with) agree too
    assert torch.equal(theirs[:, ids].argmax(-1), ours[:, ids].argmax(-1))
    # the prompt matters: without it the logits differ (the test could fail)
    with torch.no_grad():
        bare = suite_bb.slot_logits(batch, None)
    assert not torch.allclose(bare, ours, atol=1e-3)


def test_prompt_for_another_backbone_is_refused(tmp_path, capsys):
    path, _ = _prompt_file(tmp_path, "tiny-decoder")
    out = tmp_path / "adapter"
    assert main(["export", str(path), "--peft", str(out), "--backbone", "tiny-t5"]) == 2
    assert "trained on backbone 'tiny-decoder', not 'tiny-t5'" in capsys.readouterr().err
    assert not out.exists()


def test_prompt_of_another_width_is_refused(tmp_path, capsys):
    path, _ = _prompt_file(tmp_path, "tiny-decoder", dim=48)
    out = tmp_path / "adapter"
    assert main(["export", str(path), "--peft", str(out)]) == 2
    assert "48-dimensional vectors but backbone 'tiny-decoder' embeds in 32" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".adapter.*"))


def test_prompt_of_another_length_is_refused(tmp_path, capsys):
    path, _ = _prompt_file(tmp_path, "tiny-decoder", n=5)
    out = tmp_path / "adapter"
    assert main(["export", str(path), "--peft", str(out), "--length", "100"]) == 2
    assert "has 5 virtual tokens, not the 100" in capsys.readouterr().err
    assert not out.exists()


def test_non_empty_output_and_missing_prompt_are_refused(tmp_path, capsys):
    path, _ = _prompt_file(tmp_path, "tiny-decoder")
    out = tmp_path / "adapter"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["export", str(path), "--peft", str(out)]) == 2
    assert "not an empty folder" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert main(["export", str(tmp_path / "nope"), "--peft", str(tmp_path / "x")]) == 2
    assert "neither a prompt file nor an artefact folder" in capsys.readouterr().err
