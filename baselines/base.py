"""The interface every method implements, and the shared downstream prompt-tuning step.

A method is one file with one class and one line in ``baselines/__init__.py``:

    class MyMethod(Method):
        name = "mine"
        title = "My method"
        def prepare(self, ctx):            # shared work, made once per configuration (cached)
            return {"prompt": ...}
        def run(self, ctx, task, seed):    # one cell: a task and a seed
            return tune_downstream(ctx, task, seed, init=...)
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch

from benchmark.prompt import SoftPrompt, make_prompt
from benchmark.train import Scorer, fit, metrics
from benchmark.truncation import truncation


class Method:
    name: str = ""
    title: str = ""
    table_row: str | None = None  # the paper's name of the row
    # Bump when a change alters what the method computes: its cells (and artefacts that include it
    # in their key) get new hashes, so a results directory never mixes old and new behaviour.
    version: int = 1

    def prepare(self, ctx) -> dict:
        """Shared artefacts (a pre-trained or meta-learned prompt); ``ctx.artifact`` caches them."""
        return {}

    def artifacts(self, ctx) -> list[tuple[str, dict]]:
        """The artefacts the method's cells read or build, as (kind, key), in build order: each one is made
        from those before it, so once the last is cached the others are not needed. A dry run's plan
        (``benchmark.run_plan``) asks this; nothing is built."""
        return []

    def run(self, ctx, task: str, seed: int) -> dict:
        raise NotImplementedError


def tune_downstream(ctx, task: str, seed: int, *, init: torch.Tensor | None, method: str) -> dict:
    """Prompt tuning on a task's few-shot split (paper section 5), from ``init`` or a fresh prompt.

    The backbone stays frozen: only the SoftPrompt's [n, d] tensor is trained, with AdamW and a
    linear warm-up schedule, early-stopped on validation accuracy; the best prompt is restored
    and scored on the test rows.
    """
    cfg = ctx.cfg
    spec, split = ctx.split(task, seed)
    backbone = ctx.backbone()
    scorer = Scorer(backbone, spec.label_words, cfg["max_length"])
    if init is None:
        prompt = make_prompt(backbone, cfg, seed, spec.label_words)
    else:
        prompt = SoftPrompt.from_tensor(init)
    prompt.to(backbone.device)
    tcfg = ctx.train_config("tune")
    train, val, test = split.train, split.val, split.test
    train_labels = np.asarray(train.labels)

    def loss_fn(idx):
        return scorer.loss([train.texts[i] for i in idx], train_labels[idx], prompt())

    def val_accuracy():
        preds = scorer.predict(val.texts, prompt(), batch_size=tcfg.eval_batch_size)
        return float((preds == np.asarray(val.labels)).mean())

    # The initial prompt scored on the same test rows: the reference row that says what the
    # downstream tuning itself added (no gradient, no RNG: the tuned result is unchanged).
    def score_start():
        return scorer.predict(test.texts, prompt(), batch_size=tcfg.eval_batch_size)

    if init is None:        # a fresh prompt is drawn per seed
        before = score_start()
    else:                   # a shared prompt on the task's fixed test rows: one score for every seed
        key = ("before", task, hashlib.sha256(init.detach().cpu().contiguous().numpy().tobytes()).hexdigest(),
               hashlib.sha256("\n".join(split.test.ids).encode()).hexdigest())
        before = ctx.shared_score(key, score_start).copy()
    torch.manual_seed(seed)
    result = fit(prompt.parameters(), loss_fn, val_accuracy, len(train.texts), tcfg, seed=seed,
                 desc=f"{method}/{task}/s{seed}", progress=ctx.progress)
    preds = scorer.predict(test.texts, prompt(), batch_size=tcfg.eval_batch_size)
    return cell_result(spec, split, preds, result, before_tuning=before, backbone=backbone,
                       max_length=cfg["max_length"])


def tune_from_artifact(ctx, task: str, seed: int, artifact: dict, *, method: str) -> dict:
    """Prompt tuning from a shared (pre-trained or meta-learned) prompt; the cell records which."""
    out = tune_downstream(ctx, task, seed, init=ctx.load_prompt(artifact), method=method)
    return dict(out, init=init_record(artifact))


def init_record(artifact: dict) -> dict:
    """What a cell tuned from a shared prompt says about it: the artefact and how its training went."""
    rep = artifact.get("report") or {}
    hist = rep.get("evaluations") or [[h["step"], h["val_accuracy"]] for h in rep.get("history") or []]
    data = rep.get("data_report") or rep.get("pseudo_labels") or {}
    rows = rep.get("rows") or data.get("rows_after_cap") or data.get("kept_size") or data.get("rows")
    return {"artifact": f"{artifact.get('kind')}/{artifact.get('hash')}", "steps": rep.get("steps"),
            "pretrain_rows": rows,
            "best_step": rep.get("best_step"), "best_val_accuracy": rep.get("best_val_accuracy"),
            "initial_val_accuracy": hist[0][1] if hist else None, "validations": hist}


def cell_result(spec, split, test_preds, fit_result, *, before_tuning=None, backbone=None, max_length=None) -> dict:
    """What a downstream cell reports: test metrics, the split's row ids, the training record.

    ``test`` holds the label and the prediction of every test row, in the order of
    ``split["test"]``, so a report can pair two methods row by row (McNemar, paired bootstrap)
    without rerunning; ``before_tuning`` the same for the prompt the tuning started from.
    """
    labels = [int(x) for x in split.test.labels]
    out = {
        "metrics": metrics(labels, test_preds, spec.label_words),
        "split": split.row_ids(),
        "test": {"labels": labels, "preds": [int(x) for x in test_preds]},
        "train": {"steps": fit_result.steps, "epochs": round(fit_result.epochs, 3),
                  "best_step": fit_result.best_step, "best_val_accuracy": fit_result.best_score,
                  "stopped_early": fit_result.stopped_early, "evaluations": fit_result.evaluations,
                  "budget": fit_result.budget},
    }
    if backbone is not None:   # what max_length cut in this cell's rows
        out["truncation"] = truncation(backbone, [*split.train.texts, *split.val.texts, *split.test.texts],
                                       max_length)
    out["train"].update(train_diagnostics(out["train"]))
    if before_tuning is not None:
        m = metrics(labels, before_tuning, spec.label_words)
        out["before_tuning"] = {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "n": m["n"],
                                "preds": [int(x) for x in before_tuning]}
    return out


EARLY_FRACTION = 0.1   # a best checkpoint this early in the budget is a sign the tuning did little


def train_diagnostics(train: dict, config: dict | None = None, method: str | None = None) -> dict:
    """How a cell's tuning went, from its train record (also one written before these fields existed,
    whose budget comes from its ``config``): the validations it ran, where its best was, whether it
    kept its initial prompt or weights (best at step 0) and whether the best came within the first
    tenth of the budget (None: unknown)."""
    import math

    evaluations = train.get("evaluations") or []
    best, budget = train.get("best_step"), train.get("budget")
    if not budget and config:
        section = config.get("ft" if method == "ft" else "tune") or {}
        try:
            budget = section["max_epochs"] * math.ceil(config["n_train"] / section["batch_size"])
            budget = min(budget, section["max_steps"]) if section.get("max_steps") else budget
        except (KeyError, TypeError, ZeroDivisionError):
            budget = None
    return {"validations": len(evaluations), "kept_initial": best == 0 if best is not None else None,
            "best_fraction": round(best / budget, 3) if best is not None and budget else None,
            "best_early": best <= EARLY_FRACTION * budget if best is not None and budget else None}



def dtype_key(cfg) -> dict:
    """The backbone dtype for an artefact's key: float32 (the default) leaves the key as it was
    before the ``dtype`` setting existed; float64 artefacts never collide with float32 ones."""
    return {} if cfg.get("dtype", "float32") == "float32" else {"dtype": cfg["dtype"]}
