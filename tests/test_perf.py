"""Every fast path gives the reference's answer: bf16 weight storage, the token cache, length
bucketing, label-only scoring, and bf16 meta-gradients close to float32 ones."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from benchmark import backbones
from benchmark.l2l import MAML
from benchmark.maml import MAMLConfig, meta_step_batched, meta_step_l2l
from benchmark.prompt import SoftPrompt
from benchmark.scoring import Scorer, length_buckets

KINDS = ["decoder", "encoder-decoder", "masked"]
TEXTS = ["the film was great", "a terrible movie", "it was good fun , a delight , the best film of the year",
         "bad acting and a bad plot", "maybe", "great cast , good story , good music , great acting",
         "terrible and bad", "good good good", "it was bad", "a great film", "maybe good",
         "the plot was terrible and the ending slow and the book was long", "good acting", "bad",
         "great", "the story was slow"]
LABELS = [1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0]
TASKS = [([0, 1], [2, 3]), ([4, 5], [6, 7]), ([8, 9], [10, 11]), ([12, 13], [14, 15])]


def _bb(kind, **kw):
    name = {"decoder": "tiny-decoder", "encoder-decoder": "tiny-t5", "masked": "tiny-masked"}[kind]
    return backbones.load(name, **kw)


@pytest.fixture(scope="module", params=KINDS)
def kind(request):
    return request.param


def test_bf16_weights_equal_autocast_over_fp32_weights(kind):
    bb = _bb(kind, autocast_bf16=True)
    assert bb.bf16_weights
    dtypes = {p.dtype for p in bb.model.parameters()}
    assert dtypes == {torch.float32, torch.bfloat16}                 # linears bf16; embeddings, norms fp32
    assert bb.input_embeddings().weight.dtype == torch.float32
    assert all(b.dtype != torch.bfloat16 for b in bb.model.buffers())
    batch = bb.encode(TEXTS, 32)
    prompt = torch.randn(3, bb.embed_dim, requires_grad=True)
    out = bb.slot_logits(batch, prompt)
    (g,) = torch.autograd.grad(out[:, :7].sum(), prompt)
    bb.bf16_weights = False                                          # autocast re-casting fp32 weights
    assert {p.dtype for p in bb.model.parameters()} == {torch.float32}
    ref = bb.slot_logits(batch, prompt)
    (g_ref,) = torch.autograd.grad(ref[:, :7].sum(), prompt)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(g, g_ref, atol=1e-5, rtol=1e-4)


def test_fp32_weights_come_back_exactly(kind):
    fp32 = _bb(kind)
    bb = _bb(kind, autocast_bf16=True)
    clone = copy.deepcopy(bb).unfreeze()                             # full-model tuning copy
    assert all(p.dtype == torch.float32 and p.requires_grad for p in clone.model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(clone.model.parameters(), fp32.model.parameters()))
    clone.freeze()
    assert clone.bf16_weights                                        # frozen again: stored bf16 again
    bb.autocast_bf16 = False                                         # the profile switch `bf16: false`
    assert not bb.bf16_weights
    assert all(torch.equal(a, b) for a, b in zip(bb.model.parameters(), fp32.model.parameters()))
    batch = bb.encode(TEXTS, 32)
    torch.testing.assert_close(bb.slot_logits(batch), fp32.slot_logits(batch), atol=0, rtol=0)


def test_token_cache_and_lengths(kind):
    bb = _bb(kind)
    first = bb.encode(TEXTS, 12)
    again = bb.encode(TEXTS, 12)                                     # from the cache
    for a, b in zip(first.keys(), again.keys()):
        assert torch.equal(first[a], again[b])
    assert bb.token_lengths(TEXTS, 12) == first.attention_mask.sum(1).tolist()
    fresh = _bb(kind)
    fresh.tokenizer = copy.deepcopy(fresh.tokenizer)
    direct = fresh.tokenizer([t.strip() for t in TEXTS], add_special_tokens=False)["input_ids"]
    assert bb.token_ids(TEXTS) == [list(x) for x in direct]


def test_length_buckets_cover_rows_and_are_optimal():
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 60, size=30)
    for cost in (0.0, 20.0, 128.0, 1e9):
        buckets = length_buckets(lengths, fixed=20, call_cost=cost)
        assert sorted(np.concatenate(buckets).tolist()) == list(range(30))
        total = sum(len(b) * (20 + lengths[b].max()) + cost for b in buckets)
        one = 30 * (20 + lengths.max()) + cost
        assert total <= one + 1e-9
    assert len(length_buckets(lengths, fixed=20, call_cost=float("inf"))) == 1
    assert len(length_buckets(lengths, fixed=20, call_cost=0.0)) == len(set(lengths.tolist()))
    assert all(len(b) <= 7 for b in length_buckets(lengths, call_cost=1e9, max_rows=7))
    # brute force over all splits of a small sorted list
    small = np.array([3, 5, 9, 20, 21])
    best = min(
        sum(len(part) * (4 + max(part)) + 10 for part in np.split(np.sort(small), cuts))
        for r in range(5) for cuts in __import__("itertools").combinations(range(1, 5), r))
    got = sum(len(b) * (4 + small[b].max()) + 10 for b in length_buckets(small, fixed=4, call_cost=10))
    assert got == best


def test_bucketed_losses_equal_one_batch(kind):
    bb = _bb(kind)
    prompt = torch.randn(len(TEXTS), 3, bb.embed_dim, requires_grad=True)
    one = Scorer(bb, ["bad", "good"], max_length=24, bucket_cost=float("inf"))
    many = Scorer(bb, ["bad", "good"], max_length=24, bucket_cost=0.0)
    assert len(many.buckets(TEXTS, prompt)) > 2
    a = one.losses(TEXTS, LABELS, prompt)
    b = many.losses(TEXTS, LABELS, prompt)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    (ga,) = torch.autograd.grad(a.sum(), prompt)
    (gb,) = torch.autograd.grad(b.sum(), prompt)
    torch.testing.assert_close(ga, gb, atol=1e-5, rtol=1e-4)


def test_predict_label_only_equals_full_vocab_argmax(kind):
    bb = _bb(kind)
    scorer = Scorer(bb, ["bad", "good", "great", "terrible"], max_length=24)
    prompt = torch.randn(3, bb.embed_dim)
    with torch.no_grad():
        full = scorer.vocab_logits(TEXTS, prompt)[:, scorer.label_ids].argmax(-1).numpy()
    for batch_size in (1, 3, 64):
        np.testing.assert_array_equal(scorer.predict(TEXTS, prompt, batch_size=batch_size), full)


def _meta_grad(engine, scorer, first_order):
    prompt = SoftPrompt(3, scorer.backbone.embed_dim, seed=0)
    cfg = MAMLConfig(inner_lr=0.08, first_order=first_order, m=2)
    arg = MAML(prompt, lr=0.08, first_order=first_order) if engine == "l2l" else prompt
    {"l2l": meta_step_l2l, "batched": meta_step_batched}[engine](arg, scorer, TEXTS, LABELS, TASKS, cfg)
    return prompt.weight.grad.detach().clone()


@pytest.mark.parametrize("first_order", [False, True])
def test_bucketed_batched_engine_equals_l2l(kind, first_order):
    bb = _bb(kind)
    ref = _meta_grad("l2l", Scorer(bb, ["bad", "good"], max_length=24, bucket_cost=float("inf")), first_order)
    fast = _meta_grad("batched", Scorer(bb, ["bad", "good"], max_length=24, bucket_cost=0.0), first_order)
    rel = (fast - ref).norm() / ref.norm()
    assert rel < 1e-5, f"bucketed batched vs l2l relative error {rel:.2e}"


@pytest.mark.parametrize("first_order", [False, True])
def test_bf16_meta_gradient_close_to_fp32(kind, first_order):
    """bf16 backbone (stored weights + autocast), fp32 prompt and loss: cosine >= 0.99 to fp32."""
    fp32 = Scorer(_bb(kind), ["bad", "good"], max_length=24)
    bf16 = Scorer(_bb(kind, autocast_bf16=True), ["bad", "good"], max_length=24)
    ref = _meta_grad("l2l", fp32, first_order)
    for engine in ("l2l", "batched"):
        got = _meta_grad(engine, bf16, first_order)
        cos = torch.nn.functional.cosine_similarity(got.flatten(), ref.flatten(), dim=0).item()
        assert cos >= 0.99, f"{engine} bf16 meta-gradient cosine {cos:.4f}"


def test_perf_command_writes_json_and_markdown(tmp_path, monkeypatch, capsys):
    """`python -m benchmark perf` end to end on a tiny model: every section, every variant, the targets."""
    import json

    from benchmark import cli
    monkeypatch.setenv("METAPT_CACHE", str(tmp_path / "cache"))
    argv = ["perf", "--backbone", "tiny-decoder", "--threads", "1", "--k", "3", "--m", "2", "--prompt-tokens", "4",
            "--max-length", "24", "--repeats", "1", "--tune-steps", "1", "--score-rows", "16", "--score-batch", "8",
            "--sweep-k", "2,3", "--sweep-prompt", "4,8", "--sweep-text", "8,16", "--sweep-base-text", "8",
            "--peak-n", "128", "--out", str(tmp_path / "perf"), "--name", "t"]
    assert cli.main(argv) == 0
    result = json.loads((tmp_path / "perf" / "t.json").read_text())
    md = (tmp_path / "perf" / "t.md").read_text()
    names = [v["variant"]["name"] for v in result["meta_step"]["variants"]]
    assert names[0] == "l2l fp32 (reference)" and result["meta_step"]["reference"] == names[0]
    assert "batched fp32 (default)" in names and result["meta_step"]["default"] == "batched fp32 (default)"
    for v in result["meta_step"]["variants"]:
        assert v["median_s"] > 0 and v["flops"] > 0 and v["peak_mb"] >= 0
        if not v["variant"]["bf16"]:
            assert v["grad_rel_err_vs_reference"] < 1e-5        # every fp32 engine equals the reference
        else:
            assert v["grad_cosine_vs_fp32"] >= 0.99
    assert {r["precision"] for r in result["tune"]["rows"]} >= {"fp32"}
    assert all(p["agreement_with_fp32"] == 1.0 for p in result["score"]["paths"] if "fp32" in p["path"])
    assert len(result["sweep"]["points"]) == 6 and result["sweep"]["model"]["chosen"]
    assert result["ceiling"]["fp32"]["gflops"] > 0
    for heading in ("## Ceiling", "## Prompt-MAML meta-step", "## Downstream prompt tuning", "## Test-set scoring",
                    "## How the meta-step cost grows"):
        assert heading in md
    assert "python -m benchmark perf" not in md or "--backbone tiny-decoder" in md


def test_perf_command_rejects_bad_engines(capsys):
    from benchmark import cli
    assert cli.main(["perf", "--engines", "fast"]) == 2
    assert "unknown engine" in capsys.readouterr().err


def test_cost_model_recovers_linear_and_attention_terms():
    from benchmark.perf import cost_model
    pts = [{"tokens": r * s, "attention": r * s * s, "time_s": 0.1 + 2e-4 * r * s + 1e-7 * r * s * s}
           for r, s in ((24, 40), (80, 40), (240, 40), (80, 70), (80, 120), (80, 56), (80, 88))]
    model = cost_model(pts)
    assert model["chosen"] == "attention"
    assert abs(model["a_s"] - 0.1) < 1e-3 and abs(model["b_ms_per_token"] - 0.2) < 1e-3


@pytest.mark.parametrize("maml_bf16", [False, True])
def test_perf_default_variant_is_what_prompt_maml_runs(maml_bf16):
    """The perf table's 'default' row (and its ≥3× target) is the engine meta-training really uses:
    batched float32 while MAMLConfig.bf16 is off, the bf16 one only when it is on."""
    from benchmark import perf

    variants = perf.meta_variants(perf.PerfConfig(), bf16_ok=True, have_l2l=True, maml_bf16=maml_bf16)
    if maml_bf16 is MAMLConfig().bf16:   # left out, it follows the meta-training default
        assert perf.meta_variants(perf.PerfConfig(), bf16_ok=True, have_l2l=True) == variants
    default = [v for v in variants if v.default]
    assert len(default) == 1 and default[0].engine == "batched" and default[0].bf16 is maml_bf16
    assert "(default)" in default[0].name
    assert sum("(default)" in v.name for v in variants) == 1
    assert [v for v in variants if v.reference][0].engine == "l2l"


def test_attention_switch_gives_the_same_losses_and_switches_back(kind):
    """SDPA where no double backward is needed: same numbers as eager, and the backbone goes back to eager
    (second-order MAML needs it) even when the block fails."""
    bb = _bb(kind)
    scorer = Scorer(bb, ["bad", "good"], max_length=24)
    prompt = torch.randn(3, bb.embed_dim)
    eager = scorer.losses(TEXTS, [0, 1] * (len(TEXTS) // 2), prompt)
    with bb.attention("sdpa"):
        assert bb.attn_implementations() == {"sdpa"}
        sdpa = scorer.losses(TEXTS, [0, 1] * (len(TEXTS) // 2), prompt)
    torch.testing.assert_close(sdpa, eager, atol=1e-5, rtol=1e-5)
    with pytest.raises(RuntimeError):
        with bb.attention("sdpa"):
            raise RuntimeError("boom")
    assert bb.attn_implementations() == {"eager"}


def test_profile_breakdown_shares_cover_the_wall_time():
    from benchmark.perf import profile_breakdown

    a, q = torch.randn(512, 512), torch.randn(8, 64, 64)

    def matmuls():
        for _ in range(10):
            a @ a

    def attention():
        for _ in range(10):
            torch.softmax(torch.bmm(q, q.transpose(1, 2)), -1)

    for fn, planted in ((matmuls, "matmul"), (attention, "attention")):
        p = profile_breakdown(fn)
        shares = [p[k] for k in ("matmul", "attention", "elementwise/other", "python/overhead")]
        assert all(s >= 0 for s in shares) and sum(shares) == pytest.approx(1.0, abs=0.02)
        assert p["bound_by"] == planted and p[planted] > 0.5, p


def test_perf_sections_memory_and_bf16_inits(tmp_path, monkeypatch):
    """The memory section's chunked steps give the unchunked meta-gradient; bf16-inits compares to float64."""
    import json

    from benchmark import cli
    monkeypatch.setenv("METAPT_CACHE", str(tmp_path / "cache"))
    argv = ["perf", "--backbone", "tiny-t5", "--threads", "1", "--k", "3", "--m", "2", "--prompt-tokens", "4",
            "--max-length", "24", "--repeats", "1", "--sections", "memory,bf16-inits,ft", "--tune-steps", "2",
            "--peak-n", "128", "--out", str(tmp_path / "perf"), "--name", "t"]
    assert cli.main(argv) == 0
    result = json.loads((tmp_path / "perf" / "t.json").read_text())
    assert "meta_step" not in result and "tune" not in result
    rows = result["memory"]["rows"]
    assert [r["chunk_tasks"] for r in rows] == sorted([3, result["memory"]["auto"]["chunk_tasks"], 2])
    assert rows[-1]["chunk"] == "3 (all tasks at once)"
    assert all(r["grad_rel_err_vs_unchunked"] < 1e-6 for r in rows)
    assert {(r["init"], r["order"]) for r in result["bf16_inits"]["rows"]} == \
        {("vocab", "first"), ("vocab", "second"), ("normal", "first"), ("normal", "second")}
    assert all(r["cosine_float32"] > 0.9999 for r in result["bf16_inits"]["rows"])
    assert {r["attention"] for r in result["ft"]["rows"]} == {"eager", "sdpa"}
    assert result["bf16_auto"]["bf16"] in (True, False) and "meta_step_memory" in result["targets"]
    md = (tmp_path / "perf" / "t.md").read_text()
    for heading in ("## Memory-bounded meta-step", "## bf16 meta-gradient at proper inits", "## Full fine-tuning",
                    "## The precision `bf16: auto` chose"):
        assert heading in md


def test_perf_rejects_unknown_sections(capsys):
    from benchmark import cli
    assert cli.main(["perf", "--sections", "meta,warp"]) == 2
    assert "allowed: all or a comma-separated list of meta, memory" in capsys.readouterr().err


def test_perf_tune_compiled_gives_the_eager_gradient():
    """`perf --compile`: the compiled tuning step's first gradient is the eager one's (same batch, same
    prompt), the backbone gets its eager base model back, and the ratio is of the alternated medians."""
    from benchmark import perf
    from benchmark.commands import perf as perf_cmd

    parser = __import__("argparse").ArgumentParser()
    perf_cmd.add_arguments(parser)
    assert perf_cmd.config_from_args(parser.parse_args(["--compile"])).compile is True
    assert perf_cmd.config_from_args(parser.parse_args([])).compile is False
    bb = _bb("decoder")
    eager_base = bb.base_model
    cfg = perf.PerfConfig(prompt_tokens=4, max_length=24, tune_steps=2, compile=True)
    texts = TEXTS * 2
    labels = np.asarray(LABELS * 2)
    scorer = Scorer(bb, ["bad", "good"], cfg.max_length)
    comp = perf.loops.run_tune_compiled(cfg, bb, torch.device("cpu"), scorer, texts, labels, False)
    assert bb.base_model is eager_base
    assert comp["grad_cosine_eager"] > 0.9999
    assert len(comp["eager_times_s"]) == len(comp["compiled_times_s"]) == 2 and comp["compile_s"] > 0
    assert comp["speedup"] == pytest.approx(comp["eager_median_s"] / comp["compiled_median_s"])
    from benchmark.perf.report import compiled_lines
    assert "torch.compile of the frozen base model" in "".join(compiled_lines(comp)) and compiled_lines(None) == []


def test_perf_ppt_draws_section(tmp_path, monkeypatch):
    """R PPT draws in one bank against R one after another: both sides train the same steps, and the
    report gets the section's table."""
    import json

    from benchmark import cli
    monkeypatch.setenv("METAPT_CACHE", str(tmp_path / "cache"))
    argv = ["perf", "--backbone", "tiny-t5", "--threads", "1", "--prompt-tokens", "4", "--max-length", "24",
            "--sections", "ppt-draws", "--ppt-draws", "1,2", "--ppt-steps", "4", "--peak-n", "128",
            "--out", str(tmp_path / "perf"), "--name", "t"]
    assert cli.main(argv) == 0
    result = json.loads((tmp_path / "perf" / "t.json").read_text())
    rows = result["ppt_draws"]["sizes"]
    assert [r["r"] for r in rows] == [1, 2] and [r["steps"] for r in rows] == [4, 8]
    assert all(r["bank"]["prompt_steps_per_s"] > 0 and r["separate"]["prompt_steps_per_s"] > 0 for r in rows)
    assert "## PPT draws in one bank" in (tmp_path / "perf" / "t.md").read_text()
