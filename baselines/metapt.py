"""MetaPT: Prompt-MAML over meta tasks made by clustering the pre-training data (sections 4-5).

One class, several registry lines: the pre-training data ("pseudo": the pseudo-labelled
open-domain corpus, MetaPT; "labelled": the labelled pool, MetaPT(Y)) and the grouping that
makes the meta tasks (K-means on sentence embeddings, LDA topics, random, label — Table 2).
The meta-learned prompt is made once per configuration and pre-training draw (``pretrain.draw``)
and reused by every task and seed that tunes from that draw.
"""
import dataclasses

import numpy as np
import torch

from baselines.base import Method, dtype_key, pretrain_pool
from benchmark.maml import meta_train
from benchmark.meta_algorithms import compute
from benchmark.prompt import make_prompt, row_norms
from benchmark.scoring import Scorer
from tasksets.pseudo_label import label_purity


class MetaPT(Method):
    version = 2  # 2: the meta-learned prompt is the best meta-trained one, never the initial prompt
    meta_tasks = True
    artifact_kind = "metapt-prompt"   # Method.run tunes downstream from this prompt
    # maml settings the method fixes (a subclass's algorithm); they enter the artefact key's "maml"
    maml_settings: dict = {}

    def __init__(self, name, title, *, data="pseudo", grouping=None, table_row=None):
        self.name, self.title, self.table_row = name, title, table_row
        self.pretrain_data, self.grouping = data, grouping   # grouping None: the profile's pretrain.grouping

    def artifact_key(self, ctx):
        cfg = ctx.cfg
        pre = dict(cfg["pretrain"], grouping=self.grouping_of(ctx))
        if pre.get("compute", 1) == 1:   # 1x is the budget the profile states: the key of a profile without it
            pre.pop("compute", None)
        pre.pop("labeller", None) if self.pretrain_data == "labelled" else None
        pre.pop("draw", None)   # the draw's own seed is in the stored key (Method.stored_key)
        data_key = ctx.pseudo_labelled_key() if self.pretrain_data == "pseudo" else ctx.labelled_pool_key()
        return {"method": "metapt", "data": self.pretrain_data, "backbone": cfg["backbone"],
                "encoder": cfg["encoder"],
                "prompt_tokens": cfg["prompt_tokens"], "prompt_init": cfg["prompt_init"],
                "max_length": cfg["max_length"], "maml": {**cfg["maml"], **self.maml_settings}, "pretrain": pre,
                "bf16": cfg["bf16"],
                **dtype_key(cfg),
                "data_key": data_key, "version": self.version}

    def build_artifact(self, ctx, out_dir):
        """Prompt-MAML over the meta tasks of the declared pre-training rows (``maml.meta_train``)."""
        cfg = ctx.cfg
        pre = cfg["pretrain"]
        pool = pretrain_pool(ctx, self.pretrain_data)
        texts, labels = pool["texts"], np.asarray(pool["labels"])
        grouping = self.grouping_of(ctx)
        tasks = ctx.tasksets(grouping, texts, labels, k=pre["k"], m=pre["m"], seed=ctx.draw_seed)
        backbone = ctx.backbone()
        scorer = Scorer(backbone, ctx.pretrain_label_words(), cfg["max_length"])
        prompt = make_prompt(backbone, cfg, ctx.draw_seed, ctx.pretrain_label_words()).to(backbone.device)
        mcfg = dataclasses.replace(ctx.maml_config(), **self.maml_settings)
        sampler = ctx.meta_sampler(tasks, m=pre["m"], seed=ctx.draw_seed, val_per_task=mcfg.val_tasks_per_cluster)
        initial_norm = row_norms(prompt.weight)
        torch.manual_seed(ctx.draw_seed)
        downstream_bf16 = backbone.autocast_bf16
        backbone.autocast_bf16 = mcfg.bf16          # float32 meta-gradients unless maml.bf16 says otherwise
        try:
            result = meta_train(prompt, scorer, texts, labels, sampler, mcfg, checkpoint=out_dir / "checkpoint.pt",
                                progress=ctx.progress, desc=f"Prompt-MAML ({self.name}, {grouping}, K={pre['k']})",
                                select_initial=False)
        finally:
            backbone.autocast_bf16 = downstream_bf16
        report = {"grouping": grouping, "tasks": tasks.summary(), "best_step": result.best_step,
                  "steps": result.steps, "best_val_accuracy": result.best_score,
                  "history": result.history, "stopped_early": result.stopped_early, "wall_s": result.wall_s,
                  "resumed_from": result.resumed_from, "chunk": result.chunk, "data_report": pool.get("report"),
                  # what it cost, comparable with PPT's and across algorithms: rows through the backbone
                  "compute": compute(mcfg, steps=result.steps, n_tasks=len(tasks.task_ids), m=pre["m"],
                                     validations=len(result.history), val_tasks=len(sampler.validation_tasks()),
                                     wall_s=result.wall_s),
                  "row_norm": {"initial": initial_norm, "kept": row_norms(prompt.weight)},
                  "label_purity": label_purity(tasks.summary())}
        return ctx.save_prompt(out_dir, prompt.weight, method=self.name, report=report)
