"""Ways to train the prompt on MetaPT's meta tasks besides Prompt-MAML (``maml.algorithm``).

Each is a meta step with ``maml.meta_step_batched``'s signature: it gets the step's meta tasks from
the same sampler (K tasks of m support + m query rows) and leaves in the prompt's ``.grad`` what the
outer AdamW (``maml.outer_lr``) steps on, so ``maml.meta_train``'s loop (meta-validation, early
stopping, checkpoint) serves every one. For meta task i with support S_i and query Q_i, alpha =
``maml.inner_lr`` and s = ``maml.inner_steps``:

    maml       g = grad_P sum_i L_Qi(P'_i),  P'_i = P - alpha grad L_Si(P)   (equations 5-6)
    fomaml     g = sum_i grad L_Qi at P'_i                   (maml with first_order: no Hessian term)
    reptile    P'_i = P after s SGD steps on S_i and one on Q_i;  g = P - mean_i P'_i
    multitask  g = grad_P sum_i L_{S_i + Q_i}(P)             (no inner step)

Equal compute, in rows through the backbone per meta step: maml, fomaml and reptile pass K (s m + m)
rows forward and backward, the same rows in the same order (second-order maml also differentiates
the support backward again); multitask passes the K x 2m rows of the step's meta tasks in one
batch, every row maml sees at s = 1.
"""
from __future__ import annotations

import torch

from benchmark.maml import ENGINES, batched_adapt, select_rows, task_chunks


def meta_step_reptile(prompt_module, scorer, texts, labels, tasks, cfg) -> float:
    """Batched Reptile (Nichol, Achiam & Schulman 2018, "On First-Order Meta-Learning Algorithms",
    Algorithm 2) with the outer step taken by Adam on the pseudo-gradient P - mean_i P'_i, as that paper
    suggests: the outer optimiser is then the one Prompt-MAML uses, and only the meta-gradient differs.

    Each meta task adapts a copy of P by plain SGD at ``inner_lr``: ``inner_steps`` steps on its
    support rows, then one on its query rows. Two steps on disjoint batches are the paper's k = 2 case,
    whose update carries the gradient inner-product term that MAML's meta-gradient carries; one step
    on all 2m rows would make P - P'_i = alpha grad L_i(P), i.e. joint (multi-task) training.
    Returns the summed query loss at the support-adapted prompts (what maml reports)."""
    weight = prompt_module.weight
    m = len(tasks[0][1])
    start = weight.detach()
    moved = torch.zeros_like(start)
    total = 0.0
    for chunk in task_chunks(tasks, cfg.chunk_tasks):
        with torch.enable_grad():
            adapted = batched_adapt(start.clone().requires_grad_(True), scorer, texts, labels, chunk,
                                    cfg.inner_lr, cfg.inner_steps, create_graph=False).detach().requires_grad_(True)
            q_texts, q_labels = select_rows(texts, labels, [i for _, query in chunk for i in query])
            losses = scorer.losses(q_texts, q_labels, adapted.repeat_interleave(m, dim=0)).view(len(chunk), m).mean(1)
            (grad,) = torch.autograd.grad(losses.sum(), adapted)
        moved += (start - (adapted.detach() - cfg.inner_lr * grad)).sum(0)
        total += losses.sum().item()
    pseudo = moved / len(tasks)
    weight.grad = pseudo if weight.grad is None else weight.grad + pseudo
    return total


def meta_step_multitask(prompt_module, scorer, texts, labels, tasks, cfg) -> float:
    """Multi-task prompt training (Wu et al. 2022, "Continued Pretraining for Better Zero- and Few-Shot
    Promptability", whose multi-task prompt beat FOMAML and Reptile): one batch of every meta task's
    support and query rows, the gradient of the summed per-task mean loss, no inner step."""
    weight = prompt_module.weight
    total = 0.0
    for chunk in task_chunks(tasks, cfg.chunk_tasks):
        rows = [list(support) + list(query) for support, query in chunk]
        b_texts, b_labels = select_rows(texts, labels, [i for r in rows for i in r])
        loss = scorer.losses(b_texts, b_labels, weight).view(len(chunk), -1).mean(1).sum()
        loss.backward()
        total += loss.item()
    return total


# maml's step is the engine ``maml.engine`` names (``maml.first_order`` makes it FOMAML)
ALGORITHMS = {"maml": None, "reptile": meta_step_reptile, "multitask": meta_step_multitask}


def meta_step_of(cfg):
    """The meta-step function of ``cfg.algorithm`` (for maml: of ``cfg.engine``)."""
    return ALGORITHMS[cfg.algorithm] or ENGINES[cfg.engine]


def compute(cfg, *, steps: int, n_tasks: int, m: int, validations: int, val_tasks: int, wall_s: float) -> dict:
    """What a meta-training run cost, comparable across algorithms and with PPT's: rows forward and
    backward through the backbone (``steps`` meta steps of ``n_tasks`` tasks of m + m rows), and the
    rows of meta-validation (the same for every algorithm)."""
    per_task = 2 * m if cfg.algorithm == "multitask" else (cfg.inner_steps + 1) * m
    return {"algorithm": cfg.algorithm, "rows_forward_backward": steps * n_tasks * per_task,
            "second_order": cfg.algorithm == "maml" and not cfg.first_order,
            "rows_forward_validation": validations * val_tasks * 2 * m, "wall_s": wall_s}
