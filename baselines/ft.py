"""FT: full-model tuning (appendix A.1). The same template and verbalizer as prompt tuning, no
soft prompt, every backbone weight trained: AdamW 3e-5, 20 warm-up steps, batch 4, patience 5."""
import numpy as np
import torch

from baselines.base import Method, cell_result
from benchmark.scoring import Scorer
from benchmark.train import fit, module_snapshot


class FullModelTuning(Method):
    name = "ft"
    title = "FT"
    table_row = "FT"
    tunes = "model"

    def run(self, ctx, task, seed):
        cfg = ctx.cfg
        spec, split = ctx.split(task, seed)
        backbone = ctx.trainable_backbone()   # a private copy; the shared frozen one is untouched
        scorer = Scorer(backbone, spec.label_words, cfg["max_length"])
        tcfg = ctx.train_config("ft")
        train, val, test = split.train, split.val, split.test
        train_labels = np.asarray(train.labels)
        snap, restore = module_snapshot(backbone.model)

        def loss_fn(idx):
            backbone.model.train()
            return scorer.loss([train.texts[i] for i in idx], train_labels[idx])

        def val_accuracy():
            backbone.model.eval()
            preds = scorer.predict(val.texts, batch_size=tcfg.eval_batch_size)
            return float((preds == np.asarray(val.labels)).mean())

        torch.manual_seed(seed)
        result = fit(backbone.model.parameters(), loss_fn, val_accuracy, len(train.texts), tcfg, seed=seed,
                     snapshot=snap, restore=restore, desc=f"ft/{task}/s{seed}", progress=ctx.progress)
        backbone.model.eval()
        return cell_result(spec, split, scorer.predict(test.texts, batch_size=tcfg.eval_batch_size), result,
                           backbone=backbone, max_length=cfg["max_length"])
