"""MetaPT: Prompt-MAML over meta tasks made by clustering the pre-training data (sections 4-5).

One class, several registry lines: the pre-training data ("pseudo": the pseudo-labelled
open-domain corpus, MetaPT; "labelled": the labelled pool, MetaPT(Y)) and the grouping that
makes the meta tasks (K-means on sentence embeddings, LDA topics, random, label — Table 2).
The meta-learned prompt is made once per configuration and pre-training draw (``pretrain.draw``)
and reused by every task and seed that tunes from that draw.
"""
import contextlib
import dataclasses

import numpy as np
import torch

from baselines.base import Method, build_draws_together, compute_key, dtype_key, pretrain_pool
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
        pre.pop("compute", None)
        pre.update(compute_key(cfg))   # 1x is the budget the profile states: the key of a profile without it
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
        setup = self._setup(ctx, [ctx.draw_seed])
        (tasks, sampler, prompt, norm), = setup["draws"]
        torch.manual_seed(ctx.draw_seed)
        with _meta_precision(setup["backbone"], setup["mcfg"]):
            result = meta_train(prompt, setup["scorer"], setup["texts"], setup["labels"], sampler, setup["mcfg"],
                                checkpoint=out_dir / "checkpoint.pt", progress=ctx.progress, desc=setup["desc"],
                                select_initial=False)
        return ctx.save_prompt(out_dir, prompt.weight, method=self.name,
                               report=self._report(setup, tasks, sampler, prompt, norm, result))

    def build_artifacts(self, ctx, draws) -> None:
        """A block of draws (``pretrain.draw_block``) meta-learned together in the batched engine
        (``maml_bank.meta_train_many``: R x K meta tasks per step, each draw its own meta tasks, sampler,
        AdamW and early stopping), each saved as its own artefact. Other algorithms and the l2l engine
        build each draw alone."""
        from benchmark.maml_bank import meta_train_many

        mcfg = dataclasses.replace(ctx.maml_config(), **self.maml_settings)
        if mcfg.algorithm != "maml" or mcfg.engine != "batched":
            return super().build_artifacts(ctx, draws)
        setup = self._setup(ctx, draws)

        def train(checkpoint):
            with _meta_precision(setup["backbone"], mcfg):
                return meta_train_many([p for _, _, p, _ in setup["draws"]], setup["scorer"], setup["texts"],
                                       setup["labels"], [s for _, s, _, _ in setup["draws"]], mcfg,
                                       checkpoint=checkpoint, progress=ctx.progress,
                                       desc=f"{setup['desc']}, draws {list(draws)}", select_initial=False)

        def report(i, result):
            tasks, sampler, prompt, norm = setup["draws"][i]
            return prompt.weight, self._report(setup, tasks, sampler, prompt, norm, result)

        build_draws_together(self, ctx, draws, train, report, "Prompt-MAML")

    def _setup(self, ctx, draws) -> dict:
        """What meta-training the ``draws`` of ``ctx``'s configuration needs: the rows, scorer and settings
        they share, and per draw its meta tasks (the grouping seeded by the draw), sampler and prompt."""
        cfg = ctx.cfg
        pre = cfg["pretrain"]
        pool = pretrain_pool(ctx, self.pretrain_data)
        texts, labels = pool["texts"], np.asarray(pool["labels"])
        grouping = self.grouping_of(ctx)
        backbone = ctx.backbone()
        words = ctx.pretrain_label_words()
        mcfg = dataclasses.replace(ctx.maml_config(), **self.maml_settings)
        per_draw = []
        for draw in draws:
            tasks = ctx.tasksets(grouping, texts, labels, k=pre["k"], m=pre["m"], seed=draw)
            sampler = ctx.meta_sampler(tasks, m=pre["m"], seed=draw, val_per_task=mcfg.val_tasks_per_cluster)
            prompt = make_prompt(backbone, cfg, draw, words).to(backbone.device)
            per_draw.append((tasks, sampler, prompt, row_norms(prompt.weight)))
        return {"pool": pool, "texts": texts, "labels": labels, "grouping": grouping, "backbone": backbone,
                "scorer": Scorer(backbone, words, cfg["max_length"]), "mcfg": mcfg, "m": pre["m"],
                "desc": f"Prompt-MAML ({self.name}, {grouping}, K={pre['k']})", "draws": per_draw}

    def _report(self, setup, tasks, sampler, prompt, initial_norm, result) -> dict:
        return {"grouping": setup["grouping"], "tasks": tasks.summary(), "best_step": result.best_step,
                "steps": result.steps, "best_val_accuracy": result.best_score,
                "history": result.history, "stopped_early": result.stopped_early, "wall_s": result.wall_s,
                "resumed_from": result.resumed_from, "chunk": result.chunk, "data_report": setup["pool"].get("report"),
                # what it cost, comparable with PPT's and across algorithms: rows through the backbone
                "compute": compute(setup["mcfg"], steps=result.steps, n_tasks=len(tasks.task_ids), m=setup["m"],
                                   validations=len(result.history), val_tasks=len(sampler.validation_tasks()),
                                   wall_s=result.wall_s),
                "row_norm": {"initial": initial_norm, "kept": row_norms(prompt.weight)},
                "label_purity": label_purity(tasks.summary())}


@contextlib.contextmanager
def _meta_precision(backbone, mcfg):
    """float32 meta-gradients unless ``maml.bf16`` says otherwise; the downstream precision after."""
    downstream_bf16 = backbone.autocast_bf16
    backbone.autocast_bf16 = mcfg.bf16
    try:
        yield
    finally:
        backbone.autocast_bf16 = downstream_bf16
