"""PPT: a prompt pre-trained on the pooled pseudo-labelled data (Gu et al., 2022; appendix A.2:
AdamW 0.003, 20 warm-up steps, batch 4, up to 5 epochs, validation every N steps, patience 5),
then tuned downstream exactly like PT.

Pre-training checkpoints into its artefact folder (``checkpoint.pt``) and a killed run resumes
from the last checkpoint with the same result as an uninterrupted one."""

import numpy as np
import torch

from baselines.base import Method, build_draws_together, compute_key, dtype_key, pretrain_pool
from benchmark.prompt import make_prompt, row_norms
from benchmark.scoring import Scorer
from benchmark.train import fit


def pretrain(scorer, prompt, texts, labels, tcfg, *, seed: int, val_fraction: float, max_val: int | None = None,
             desc: str = "PPT pre-training", progress: bool = True, checkpoint=None, restore=None):
    """PPT's pre-training: plain prompt tuning of ``prompt`` on the pooled (pseudo-)labelled rows.

    A seeded ``val_fraction`` of the rows (at most ``max_val``) is held out for validation; the
    result is the best *trained* checkpoint (``select_initial=False``). Returns the fit result and
    the training and validation row indices. Used by PPT's artefact and by ``calibrate``'s PPT curve.
    """
    labels = np.asarray(labels)
    val_idx, train_idx = pretrain_rows(len(texts), seed, val_fraction, max_val)

    def loss_fn(idx):
        rows = train_idx[idx]
        return scorer.loss([texts[i] for i in rows], labels[rows], prompt())

    def val_accuracy():
        preds = scorer.predict([texts[i] for i in val_idx], prompt(), batch_size=tcfg.eval_batch_size)
        return float((preds == labels[val_idx]).mean())

    torch.manual_seed(seed)
    result = fit(prompt.parameters(), loss_fn, val_accuracy, len(train_idx), tcfg, seed=seed, desc=desc,
                 progress=progress, checkpoint=checkpoint, select_initial=False, restore=restore)
    return result, train_idx, val_idx


def pretrain_rows(n: int, seed: int, val_fraction: float, max_val: int | None = None):
    """The validation and training row indices of a pre-training draw of ``seed`` over ``n`` rows."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(int(n * val_fraction), 1)
    if max_val is not None:
        n_val = min(n_val, max_val)
    return order[:n_val], order[n_val:]


class PretrainedPromptTuning(Method):
    name = "ppt"
    title = "PPT"
    table_row = "PPT"
    version = 2  # 2: the pre-trained prompt is the best trained checkpoint, never the initial prompt
    pretrain_data = "pseudo"
    artifact_kind = "ppt-prompt"   # Method.run tunes downstream from this prompt

    def artifact_key(self, ctx):
        cfg = ctx.cfg
        return {"method": "ppt", "backbone": cfg["backbone"], "prompt_tokens": cfg["prompt_tokens"],
                "prompt_init": cfg["prompt_init"], "max_length": cfg["max_length"], "ppt": cfg["ppt"],
                "bf16": cfg["bf16"], **dtype_key(cfg), "data": ctx.pseudo_labelled_key(), "version": self.version,
                **compute_key(cfg)}

    def build_artifact(self, ctx, out_dir):
        cfg = ctx.cfg
        pool = pretrain_pool(ctx, self.pretrain_data)
        backbone = ctx.backbone()
        scorer = Scorer(backbone, ctx.pretrain_label_words(), cfg["max_length"])
        seed = ctx.draw_seed
        prompt = make_prompt(backbone, cfg, seed, ctx.pretrain_label_words()).to(backbone.device)
        tcfg = ctx.train_config("ppt")
        initial_norm = row_norms(prompt.weight)
        result, train_idx, val_idx = pretrain(
            scorer, prompt, pool["texts"], pool["labels"], tcfg, seed=seed,
            val_fraction=cfg["pretrain"]["val_fraction"], desc="PPT pre-training", progress=ctx.progress,
            checkpoint=out_dir / "checkpoint.pt")  # resumed after a kill; removed once the artefact is made
        report = _report(result, tcfg, pool, len(train_idx), len(val_idx), initial_norm, prompt.weight)
        return ctx.save_prompt(out_dir, prompt.weight, method=self.name, report=report)

    def build_artifacts(self, ctx, draws) -> None:
        """Several draws' pre-training in one ``bank.PromptBank``: each draw keeps the prompt, training
        and validation rows, data order and ``select_initial=False`` that ``build_artifact`` gives it
        alone, and is saved as its own artefact; only the passes through the frozen backbone are shared.
        The bank checkpoints into one file beside the artefacts and a killed build resumes from it."""
        from benchmark.bank import PromptBank, prompts_per_pass

        cfg = ctx.cfg
        pool = pretrain_pool(ctx, self.pretrain_data)
        texts, labels = pool["texts"], np.asarray(pool["labels"])
        backbone = ctx.backbone()
        words = ctx.pretrain_label_words()
        scorer = Scorer(backbone, words, cfg["max_length"])
        tcfg = ctx.train_config("ppt")
        runs, rows, norms = [], [], []
        for draw in draws:
            weight = make_prompt(backbone, cfg, draw, words).to(backbone.device).weight
            norms.append(row_norms(weight))
            run, n_train, n_val = draw_run(scorer, weight, texts, labels, tcfg, seed=draw,
                                           val_fraction=cfg["pretrain"]["val_fraction"])
            runs.append(run)
            rows.append((n_train, n_val))

        def train(checkpoint):
            fits = prompts_per_pass(scorer, runs, cfg["maml"].get("memory_budget_mb"))
            return PromptBank(scorer, runs, checkpoint=checkpoint, desc=f"PPT pre-training, draws {list(draws)}",
                              progress=ctx.progress, per_pass=fits["per_pass"]).train()

        def report(i, result):
            return runs[i].weight, _report(result, tcfg, pool, *rows[i], norms[i], runs[i].weight)

        build_draws_together(self, ctx, draws, train, report, "PPT pre-training")


def draw_run(scorer, weight, texts, labels, tcfg, *, seed: int, val_fraction: float, max_val: int | None = None):
    """One draw of PPT's pre-training as a ``bank.PromptRun``: the training rows, data order, validation
    rows and ``select_initial=False`` that ``pretrain`` gives ``seed``. Returns (run, training rows,
    validation rows)."""
    from benchmark.bank import PromptRun

    labels = np.asarray(labels)
    val_idx, train_idx = pretrain_rows(len(texts), seed, val_fraction, max_val)
    val_texts, val_labels = [texts[i] for i in val_idx], labels[val_idx]

    def validate(w):
        preds = scorer.predict(val_texts, w, batch_size=tcfg.eval_batch_size)
        return float((preds == val_labels).mean())

    run = PromptRun(weight, [texts[i] for i in train_idx], labels[train_idx], validate, tcfg, seed=seed,
                    select_initial=False, name=f"draw {seed}")
    return run, len(train_idx), len(val_idx)


def _report(result, tcfg, pool, n_train: int, n_val: int, initial_norm, weight) -> dict:
    """What a PPT artefact says about its pre-training."""
    return {"steps": result.steps, "best_step": result.best_step, "best_val_accuracy": result.best_score,
            "evaluations": result.evaluations, "rows": n_train, "val_rows": n_val,
            "pseudo_labels": pool["report"], "wall_s": result.wall_s,
            # what it cost, comparable with Prompt-MAML's: rows through the backbone
            "compute": {"rows_forward_backward": result.steps * tcfg.batch_size,
                        "rows_forward_validation": len(result.evaluations) * n_val,
                        "wall_s": result.wall_s},
            "row_norm": {"initial": initial_norm, "kept": row_norms(weight)}}
