"""FOMAML, Reptile and multi-task prompt training on MetaPT's meta tasks: each method's update against
a hand computation on a tiny float64 backbone, and the hand computations tell the algorithms apart
(so a method wired to another algorithm fails its test)."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from baselines import get_method
from benchmark import backbones
from benchmark.maml import MAMLConfig, meta_train
from benchmark.meta_algorithms import meta_step_of
from benchmark.prompt import SoftPrompt
from benchmark.scoring import Scorer

TEXTS = ["the film was great", "a terrible movie", "it was good fun", "bad acting and a bad plot",
         "maybe worth a look", "great cast , good story", "terrible and bad", "good good good",
         "it was bad", "a great film", "maybe good", "the plot was terrible"]
LABELS = [1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 1, 0]
TASKS = [([0, 1], [2, 3]), ([4, 5], [6, 7]), ([8, 9], [10, 11])]
ALPHA = 5.0          # a large inner step, so first- and second-order terms differ visibly
METHODS = ["metapt", "metapt_fomaml", "metapt_reptile", "metapt_multitask"]


@pytest.fixture(scope="module")
def scorer():
    torch.manual_seed(0)
    return Scorer(backbones.load("tiny-decoder", dtype=torch.float64), ["bad", "good"], max_length=16)


def _prompt(scorer):
    return SoftPrompt(3, scorer.backbone.embed_dim, seed=0, dtype=torch.float64)


def _loss(scorer, idx, weight):
    return scorer.loss([TEXTS[i] for i in idx], [LABELS[i] for i in idx], weight)


def _grad(scorer, idx, weight):
    weight = weight.detach().requires_grad_(True)
    return torch.autograd.grad(_loss(scorer, idx, weight), weight)[0]


def _cfg(method: str, **kwargs) -> MAMLConfig:
    """The maml settings the registered method trains with (its ``maml_settings`` over a base config)."""
    base = MAMLConfig(inner_lr=ALPHA, m=2, chunk_tasks=2, weight_decay=0.01, outer_lr=0.05, **kwargs)
    return dataclasses.replace(base, **get_method(method).maml_settings)


# -- hand computations: the update each algorithm's paper states ----------------------------------

def hand_maml(scorer, P):
    """Equations 5-6, second order: grad_P sum_i L_Qi(P - alpha grad L_Si(P))."""
    P = P.detach().requires_grad_(True)
    total = 0
    for support, query in TASKS:
        (g,) = torch.autograd.grad(_loss(scorer, support, P), P, create_graph=True)
        total = total + _loss(scorer, query, P - ALPHA * g)
    return torch.autograd.grad(total, P)[0]


def hand_fomaml(scorer, P):
    """sum_i grad L_Qi evaluated at P'_i = P - alpha grad L_Si(P); no term through the inner step."""
    return sum(_grad(scorer, q, P - ALPHA * _grad(scorer, s, P)) for s, q in TASKS)


def hand_reptile(scorer, P):
    """Per task one SGD step on the support, then one on the query; P - mean_i P'_i."""
    ends = []
    for support, query in TASKS:
        adapted = P - ALPHA * _grad(scorer, support, P)
        ends.append(adapted - ALPHA * _grad(scorer, query, adapted))
    return P - torch.stack(ends).mean(0)


def hand_multitask(scorer, P):
    """grad_P sum_i L_{S_i + Q_i}(P): the summed loss of the meta tasks, no inner step."""
    return sum(_grad(scorer, s + q, P) for s, q in TASKS)


HAND = {"metapt": hand_maml, "metapt_fomaml": hand_fomaml, "metapt_reptile": hand_reptile,
        "metapt_multitask": hand_multitask}


def step_grad(scorer, method):
    """What the method's meta step leaves in the prompt's .grad for the outer AdamW."""
    prompt = _prompt(scorer)
    cfg = _cfg(method)
    meta_step_of(cfg)(prompt, scorer, TEXTS, LABELS, TASKS, cfg)
    return prompt.weight.grad.detach().clone()


@pytest.mark.parametrize("method", METHODS)
def test_meta_step_equals_hand_computation(scorer, method):
    hand = HAND[method](scorer, _prompt(scorer).weight.detach())
    torch.testing.assert_close(step_grad(scorer, method), hand, atol=1e-10, rtol=1e-9)


def test_hand_computations_tell_the_algorithms_apart(scorer):
    """Each hand update is far from every other algorithm's, so a method swapped for another fails above."""
    P = _prompt(scorer).weight.detach()
    hands = {m: HAND[m](scorer, P) for m in METHODS}
    for a in METHODS:
        for b in METHODS:
            if a < b:
                rel = (hands[a] - hands[b]).norm() / hands[a].norm()
                assert rel > 1e-3, (a, b, float(rel))


class FixedSampler:
    def train_tasks(self, step):
        return TASKS

    def validation_tasks(self):
        return TASKS[:1]


def test_reptile_first_step_through_meta_train_is_adamw_on_the_pseudo_gradient(scorer):
    """The whole loop: the hand inner SGD, then P - mean P'_i as the gradient of AdamW's first step
    (bias-corrected moments make it P (1 - lr wd) - lr g / (|g| + eps))."""
    cfg = dataclasses.replace(_cfg("metapt_reptile"), max_steps=1, eval_every=1)
    prompt = _prompt(scorer)
    P = prompt.weight.detach().clone()
    meta_train(prompt, scorer, TEXTS, LABELS, FixedSampler(), cfg, progress=False, select_initial=False)
    g = hand_reptile(scorer, P)
    want = P * (1 - cfg.outer_lr * cfg.weight_decay) - cfg.outer_lr * g / (g.abs() + 1e-8)
    torch.testing.assert_close(prompt.weight.detach(), want, atol=1e-10, rtol=1e-9)


# -- the artefact: same meta tasks, a key that names the algorithm ----------------------------------

def test_the_methods_share_metapt_s_meta_tasks_and_differ_only_in_the_maml_key():
    from benchmark import config
    from benchmark.context import Context
    from benchmark.io import config_hash

    ctx = Context(config.load_profile("smoke"), progress=False)
    keys = {m: get_method(m).artifact_key(ctx) for m in METHODS}
    assert len({config_hash(k) for k in keys.values()}) == len(METHODS)
    for m in METHODS[1:]:
        assert get_method(m).needs(ctx) == get_method("metapt").needs(ctx)
        differ = {f for f in keys[m] if keys[m][f] != keys["metapt"][f]}
        assert differ == {"maml"}, (m, differ)
    assert keys["metapt_reptile"]["maml"]["algorithm"] == "reptile"
    assert keys["metapt_fomaml"]["maml"]["first_order"] is True


# -- the compute axis ------------------------------------------------------------------------------

def test_pretrain_compute_scales_ppt_and_maml_budgets_and_nothing_else():
    from benchmark import config
    from benchmark.context import Context

    cfg = config.load_profile("cpu")
    one = Context(cfg)
    cfg4 = config.apply_overrides(cfg, ["pretrain.compute=4"])
    four = Context(cfg4)
    for section in ("ppt",):
        a, b = one.train_config(section), four.train_config(section)
        for name in ("max_steps", "max_epochs", "warmup_steps", "eval_every"):
            assert getattr(b, name) == 4 * getattr(a, name), name
        assert (a.lr, a.patience, a.batch_size) == (b.lr, b.patience, b.batch_size)
    assert four.train_config("tune") == one.train_config("tune")
    assert four.train_config("ft") == one.train_config("ft")
    m1, m4 = one.maml_config(), four.maml_config()
    assert (m4.max_steps, m4.eval_every, m4.checkpoint_every) == (4 * m1.max_steps, 4 * m1.eval_every,
                                                                  4 * m1.checkpoint_every)
    assert (m4.patience, m4.outer_lr, m4.m) == (m1.patience, m1.outer_lr, m1.m)


def test_pretrain_compute_enters_ppt_and_metapt_keys_and_1_leaves_them_unchanged():
    from benchmark import config
    from benchmark.context import Context
    from benchmark.io import config_hash

    cfg = config.load_profile("smoke")

    def hashes(overrides):
        ctx = Context(config.apply_overrides(cfg, overrides), progress=False)
        return {m: config_hash(get_method(m).artifact_key(ctx)) for m in ["ppt", *METHODS]}

    plain, one, four = hashes([]), hashes(["pretrain.compute=1"]), hashes(["pretrain.compute=4"])
    assert one == plain
    assert all(four[m] != plain[m] for m in plain)


@pytest.mark.parametrize("value", [0, -2, "lots"])
def test_bad_pretrain_compute_is_refused_naming_the_setting(value):
    from benchmark import config
    from benchmark.errors import UserError

    cfg = config.load_profile("smoke")
    cfg["pretrain"]["compute"] = value
    with pytest.raises(UserError, match=r"pretrain.compute = .* allowed: "):
        config.validate(cfg)


def test_the_plan_of_the_compute_axis_weighs_each_prompt_by_its_compute(tmp_path):
    """meta-compute at 1x and 4x, three seeds each drawing its own pre-training: a pre-trained prompt's
    build is estimated at its compute times the profile's cost (3 x 5 of them per method), the
    pseudo-labels once."""
    from benchmark import config, run_plan, runner

    cfg = config.apply_overrides(config.load_profile("cpu"), ["bf16=false"])
    cells = runner.expand("meta-compute", cfg)
    plan = run_plan.make(cells, tmp_path / "results", cfg, artifacts_dir=tmp_path / "artifacts")
    defaults = run_plan._defaults(cfg)["artifacts"]
    arts = {s.name: s for s in plan.stages if s.what == "artefact"}
    assert {k: (s.count, s.units) for k, s in arts.items()} == {
        "pseudo-labels": (1, None), "metapt-prompt": (6, 15), "ppt-prompt": (6, 15)}
    assert arts["ppt-prompt"].total_s == 15 * defaults["ppt-prompt"]
    assert "x pretrain.compute" in plan.render()
