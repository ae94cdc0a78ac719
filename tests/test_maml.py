"""Prompt-MAML is the algorithm: meta-gradients against a hand computation, engines against each
other, the frozen backbone untouched, and a meta-learned prompt that really adapts faster."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from benchmark import backbones
from benchmark.errors import UserError
from benchmark.l2l import MAML
from benchmark.maml import MAMLConfig, meta_step_batched, meta_step_l2l, meta_train
from benchmark.prompt import SoftPrompt
from benchmark.scoring import Scorer

TEXTS = ["the film was great", "a terrible movie", "it was good fun", "bad acting and a bad plot",
         "maybe worth a look", "great cast , good story", "terrible and bad", "good good good",
         "it was bad", "a great film", "maybe good", "the plot was terrible", "good acting", "bad",
         "great", "maybe"]
LABELS = [1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0]
TASKS = [([0, 1], [2, 3]), ([4, 5], [6, 7]), ([8, 9], [10, 11])]


@pytest.fixture(scope="module", params=["decoder", "encoder-decoder", "masked"])
def scorer(request):
    torch.manual_seed(0)
    bb = backbones.load(f"tiny-{'t5' if request.param == 'encoder-decoder' else request.param}")
    return Scorer(bb, ["bad", "good"], max_length=16)


def _prompt(scorer, seed=0):
    return SoftPrompt(3, scorer.backbone.embed_dim, seed=seed)


def _hand_meta_grad(scorer, prompt, tasks, alpha, first_order):
    """Equation 5 and 6 written out with torch.autograd.grad."""
    P = prompt.weight
    total = 0.0
    for support, query in tasks:
        s_loss = scorer.loss([TEXTS[i] for i in support], [LABELS[i] for i in support], P)
        (g,) = torch.autograd.grad(s_loss, P, create_graph=not first_order)
        if first_order:
            g = g.detach()
        adapted = P - alpha * g
        total = total + scorer.loss([TEXTS[i] for i in query], [LABELS[i] for i in query], adapted)
    (meta_grad,) = torch.autograd.grad(total, P)
    return meta_grad


def _engine_grad(engine, scorer, first_order, alpha=0.08):
    prompt = _prompt(scorer)
    cfg = MAMLConfig(inner_lr=alpha, first_order=first_order, m=2)
    arg = MAML(prompt, lr=alpha, first_order=first_order) if engine == "l2l" else prompt
    {"l2l": meta_step_l2l, "batched": meta_step_batched}[engine](arg, scorer, TEXTS, LABELS, TASKS, cfg)
    return prompt.weight.grad.detach().clone()


def test_l2l_meta_gradient_equals_hand_second_order(scorer):
    hand = _hand_meta_grad(scorer, _prompt(scorer), TASKS, 0.08, first_order=False)
    l2l = _engine_grad("l2l", scorer, first_order=False)
    torch.testing.assert_close(l2l, hand, atol=1e-6, rtol=1e-6)
    hand_first = _hand_meta_grad(scorer, _prompt(scorer), TASKS, 0.08, first_order=True)
    torch.testing.assert_close(_engine_grad("l2l", scorer, first_order=True), hand_first, atol=1e-6, rtol=1e-6)
    # with a large inner step the Hessian term is visible: second order must differ from first order
    second = _engine_grad("l2l", scorer, first_order=False, alpha=50.0)
    first = _engine_grad("l2l", scorer, first_order=True, alpha=50.0)
    assert (second - first).norm() / second.norm() > 1e-3


@pytest.mark.parametrize("first_order", [False, True])
def test_batched_engine_equals_l2l(scorer, first_order):
    ref = _engine_grad("l2l", scorer, first_order)
    fast = _engine_grad("batched", scorer, first_order)
    rel = (fast - ref).norm() / ref.norm()
    assert rel < 1e-5, f"batched vs l2l relative error {rel:.2e}"


def test_backbone_gets_no_grad_and_is_not_cloned(scorer):
    prompt = _prompt(scorer)
    maml = MAML(prompt, lr=0.08)
    learner = maml.clone()
    assert [p.shape for p in learner.parameters()] == [prompt.weight.shape]
    meta_step_l2l(maml, scorer, TEXTS, LABELS, TASKS, MAMLConfig(m=2))
    assert prompt.weight.grad is not None and prompt.weight.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in scorer.backbone.model.parameters())


# -- a toy problem where meta-learning must help --------------------------------------------------

class ToyScorer:
    """logits = features(x) @ prompt.T: the 'prompt' rows are class vectors. Every meta task shares
    one hidden rule W*, so a good initialisation (near W*) adapts in one step, a random one cannot."""

    def __init__(self, features):
        self.features = torch.as_tensor(features, dtype=torch.float32)

    def _logits(self, idx, prompt):
        x = self.features[torch.as_tensor(idx)]
        if prompt.dim() == 2:
            return x @ prompt.T
        return torch.einsum("bd,bcd->bc", x, prompt)

    def losses(self, idx, labels, prompt=None):
        return F.cross_entropy(self._logits(idx, prompt), torch.as_tensor(labels), reduction="none")

    def loss(self, idx, labels, prompt=None):
        return self.losses(idx, labels, prompt).mean()

    def predict(self, idx, prompt=None, batch_size=32):
        with torch.no_grad():
            return self._logits(idx, prompt).argmax(-1).numpy()


class ToySampler:
    def __init__(self, clusters, m, seed):
        self.clusters, self.m, self.seed = clusters, m, seed

    def train_tasks(self, step):
        rng = np.random.default_rng([self.seed, step])
        out = []
        for rows in self.clusters:
            pick = rng.choice(rows, 2 * self.m, replace=False)
            out.append((pick[:self.m].tolist(), pick[self.m:].tolist()))
        return out

    def validation_tasks(self):
        return self.train_tasks(10_000)


def test_meta_learned_prompt_adapts_faster_than_random():
    rng = np.random.default_rng(0)
    d, n_classes = 8, 2
    w_star = rng.normal(size=(n_classes, d)) * 3
    feats = rng.normal(size=(600, d))
    labels = (feats @ w_star.T).argmax(1)
    ids = list(range(600))
    clusters = [list(range(i, 500, 5)) for i in range(5)]          # five meta tasks, one hidden rule
    scorer = ToyScorer(feats)
    cfg = MAMLConfig(inner_lr=0.5, outer_lr=0.1, m=4, max_steps=60, eval_every=10, patience=100,
                     engine="batched", weight_decay=0.0)
    meta = SoftPrompt(n_classes, d, seed=1)
    meta_train(meta, scorer, ids, labels, ToySampler(clusters, 4, 0), cfg, progress=False)
    random_init = SoftPrompt(n_classes, d, seed=1)

    held_out = list(range(500, 600))   # a new task with the same rule
    support = held_out[:8]

    def after_one_step(prompt):
        w = prompt.weight.detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(scorer.loss(support, labels[support], w), w)
        adapted = w - cfg.inner_lr * g
        return float((scorer.predict(held_out[8:], adapted) == labels[held_out[8:]]).mean())

    acc_meta, acc_random = after_one_step(meta), after_one_step(random_init)
    assert acc_meta >= acc_random + 0.15, (acc_meta, acc_random)
    assert acc_meta >= 0.85


def test_checkpoint_resume_gives_the_same_prompt(tmp_path):
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(200, 6))
    labels = (feats[:, 0] > 0).astype(int)
    clusters = [list(range(i, 200, 4)) for i in range(4)]
    scorer = ToyScorer(feats)
    cfg = MAMLConfig(inner_lr=0.3, outer_lr=0.05, m=3, max_steps=12, eval_every=4, patience=100,
                     checkpoint_every=3)
    full = SoftPrompt(2, 6, seed=0)
    meta_train(full, scorer, list(range(200)), labels, ToySampler(clusters, 3, 0), cfg, progress=False)

    class Killed(Exception):
        pass

    class DyingSampler(ToySampler):   # the process dies during step 8 (last checkpoint: step 6)
        def train_tasks(self, step):
            if step == 7:
                raise Killed
            return super().train_tasks(step)

    ckpt = tmp_path / "ck.pt"
    with pytest.raises(Killed):
        meta_train(SoftPrompt(2, 6, seed=0), scorer, list(range(200)), labels, DyingSampler(clusters, 3, 0),
                   cfg, checkpoint=ckpt, progress=False)
    resumed = SoftPrompt(2, 6, seed=5)   # a fresh process: the prompt comes from the checkpoint
    res = meta_train(resumed, scorer, list(range(200)), labels, ToySampler(clusters, 3, 0), cfg,
                     checkpoint=ckpt, progress=False)
    assert res.resumed_from == 6
    torch.testing.assert_close(resumed.weight, full.weight, atol=0, rtol=0)


@pytest.mark.parametrize("select_initial", [True, False])
def test_meta_train_keeps_a_meta_trained_prompt_when_told_not_to_keep_the_initial(monkeypatch, select_initial):
    """MetaPT passes select_initial=False: an initial prompt that validates best is recorded in the
    history but not returned; the best meta-trained prompt is."""
    import benchmark.maml as maml_mod

    rng = np.random.default_rng(2)
    feats = rng.normal(size=(120, 6))
    labels = (feats[:, 0] > 0).astype(int)
    clusters = [list(range(i, 120, 4)) for i in range(4)]
    scores = iter([0.9, 0.2, 0.5, 0.3])          # steps 0, 4, 8, 12
    seen = {}

    def scripted(weight, *args, **kwargs):
        score = next(scores)
        seen[score] = weight.detach().clone()
        return score

    monkeypatch.setattr(maml_mod, "meta_validate", scripted)
    cfg = MAMLConfig(inner_lr=0.3, outer_lr=0.05, m=3, max_steps=12, eval_every=4, patience=100)
    prompt = SoftPrompt(2, 6, seed=0)
    initial = prompt.weight.detach().clone()
    res = meta_train(prompt, ToyScorer(feats), list(range(120)), labels, ToySampler(clusters, 3, 0), cfg,
                     progress=False, select_initial=select_initial)
    assert res.history[0] == {"step": 0, "val_accuracy": 0.9}
    if select_initial:
        assert res.best_step == 0
        torch.testing.assert_close(prompt.weight, initial, atol=0, rtol=0)
    else:
        assert res.best_step == 8 and res.best_score == 0.5
        torch.testing.assert_close(prompt.weight, seen[0.5], atol=0, rtol=0)
        assert not torch.equal(prompt.weight, initial)


# -- memory-bounded meta-step: chunks of tasks accumulate the same meta-gradient ---------------------

TASKS5 = TASKS + [([12, 13], [14, 15]), ([1, 4], [9, 2])]


@pytest.mark.parametrize("first_order", [False, True])
def test_chunked_meta_gradient_equals_unchunked(scorer, first_order):
    grads = {}
    for chunk in (5, 2, 1):        # 2: uneven chunks (2, 2, 1)
        prompt = _prompt(scorer)
        cfg = MAMLConfig(inner_lr=0.08, first_order=first_order, m=2, chunk_tasks=chunk)
        loss = meta_step_batched(prompt, scorer, TEXTS, LABELS, TASKS5, cfg)
        grads[chunk] = (prompt.weight.grad.detach().clone(), loss)
    whole, loss = grads[5]
    assert whole.norm() > 0
    for chunk in (2, 1):
        rel = (grads[chunk][0] - whole).norm() / whole.norm()
        assert rel < 1e-6, f"chunk {chunk}: relative error {rel:.2e}"
        assert grads[chunk][1] == pytest.approx(loss, rel=1e-6)


def test_meta_validate_chunked_equals_unchunked(scorer):
    from benchmark.maml import meta_validate

    weight = _prompt(scorer).weight
    accs = {c: meta_validate(weight, scorer, TEXTS, LABELS, TASKS5, MAMLConfig(m=2, chunk_tasks=c)) for c in (5, 2)}
    assert accs[5] == accs[2]


def test_auto_chunk_is_the_most_tasks_the_budget_holds(scorer):
    from benchmark.maml import choose_chunk

    prompt = _prompt(scorer)
    one = choose_chunk(prompt, scorer, TEXTS, LABELS, TASKS5, MAMLConfig(m=2, memory_budget_mb=10**6))
    assert one["how"] == "auto" and one["chunk_tasks"] == 5 and one["task_mb"] > 0
    assert prompt.weight.grad is None      # measuring leaves no gradient behind
    task_mb = one["task_mb"]
    two = choose_chunk(prompt, scorer, TEXTS, LABELS, TASKS5, MAMLConfig(m=2, memory_budget_mb=2.5 * task_mb))
    assert two["chunk_tasks"] == 2
    again = choose_chunk(prompt, scorer, TEXTS, LABELS, TASKS5, MAMLConfig(m=2, memory_budget_mb=2.5 * task_mb))
    assert again == two                     # deterministic for a config and its data
    with pytest.raises(UserError, match=r"maml.memory_budget_mb .* cannot hold one meta task.*allowed"):
        choose_chunk(prompt, scorer, TEXTS, LABELS, TASKS5, MAMLConfig(m=2, memory_budget_mb=0.5 * task_mb))
    fixed = choose_chunk(prompt, scorer, TEXTS, LABELS, TASKS5, MAMLConfig(m=2, chunk_tasks=3))
    assert fixed["chunk_tasks"] == 3 and fixed["how"] == "set"


@pytest.mark.parametrize("value", [0, -1, 11, "half", True])
def test_bad_chunk_is_refused_naming_the_setting(value):
    from benchmark import config

    cfg = config.load_profile("smoke")
    k = cfg["pretrain"]["k"]
    cfg["maml"]["chunk_tasks"] = value if value != 11 else k + 1
    with pytest.raises(UserError, match=rf"maml.chunk_tasks = .* allowed: auto or 1..{k}"):
        config.validate(cfg)


def test_bad_chunk_on_the_command_line_exits_2_before_anything_runs(tmp_path, capsys):
    from benchmark import cli

    code = cli.main(["run", "--suite", "sentiment7", "--profile", "smoke", "--out", str(tmp_path / "r"),
                     "--set", "maml.chunk_tasks=0"])
    assert code == 2
    assert "maml.chunk_tasks = 0" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
