"""PPT: a prompt pre-trained on the pooled pseudo-labelled data (Gu et al., 2022; appendix A.2:
AdamW 0.003, 20 warm-up steps, batch 4, up to 5 epochs, validation every N steps, patience 5),
then tuned downstream exactly like PT.

Pre-training checkpoints into its artefact folder (``checkpoint.pt``) and a killed run resumes
from the last checkpoint with the same result as an uninterrupted one."""
import numpy as np
import torch

from baselines.base import Method, compute_key, dtype_key, pretrain_pool
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
    order = np.random.default_rng(seed).permutation(len(texts))
    n_val = max(int(len(texts) * val_fraction), 1)
    if max_val is not None:
        n_val = min(n_val, max_val)
    val_idx, train_idx = order[:n_val], order[n_val:]

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
        seed = cfg["pretrain"]["seed"]
        prompt = make_prompt(backbone, cfg, seed, ctx.pretrain_label_words()).to(backbone.device)
        tcfg = ctx.train_config("ppt")
        initial_norm = row_norms(prompt.weight)
        result, train_idx, val_idx = pretrain(
            scorer, prompt, pool["texts"], pool["labels"], tcfg, seed=seed,
            val_fraction=cfg["pretrain"]["val_fraction"], desc="PPT pre-training", progress=ctx.progress,
            checkpoint=out_dir / "checkpoint.pt")  # resumed after a kill; removed once the artefact is made
        report = {"steps": result.steps, "best_step": result.best_step, "best_val_accuracy": result.best_score,
                  "evaluations": result.evaluations, "rows": len(train_idx), "val_rows": len(val_idx),
                  "pseudo_labels": pool["report"], "wall_s": result.wall_s,
                  # what it cost, comparable with Prompt-MAML's: rows through the backbone
                  "compute": {"rows_forward_backward": result.steps * tcfg.batch_size,
                              "rows_forward_validation": len(result.evaluations) * len(val_idx),
                              "wall_s": result.wall_s},
                  "row_norm": {"initial": initial_norm, "kept": row_norms(prompt.weight)}}
        return ctx.save_prompt(out_dir, prompt.weight, method=self.name, report=report)
