"""The interface every method implements, and the shared downstream prompt-tuning step.

A method is one file with one class and one line in ``baselines/__init__.py`` (or, for a method
kept outside this package, one ``baselines.register`` call). It *declares* what it needs as class
attributes; the executors, ``preflight``, ``calibrate`` and the reports read them (``Method.needs``),
never the method's type or name::

    class MyMethod(Method):
        name = "mine"
        title = "My method"
        pretrain_data = "labelled"       # reads the labelled pre-training pool
        meta_tasks = True                # split into meta tasks by the profile's pretrain.grouping
        artifact_kind = "mine-prompt"    # a shared artefact, built once per key and pre-training draw:
        def artifact_key(self, ctx):     #   everything the artefact depends on (the draw is added)
            return {...}
        def build_artifact(self, ctx, out_dir):   # -> ctx.save_prompt(out_dir, weight, ...)
            ...                                   #   seeded by ctx.draw_seed

A prompt method with an artefact is then tuned downstream from the artefact's prompt (``run``'s
default); one without starts from a fresh prompt per seed. Override ``run`` for anything else.
"""
from __future__ import annotations

import dataclasses
import hashlib
import time

import numpy as np
import torch

from benchmark.prompt import SoftPrompt, make_prompt
from benchmark.scoring import Scorer, metrics
from benchmark.train import fit
from benchmark.truncation import truncation

PRETRAIN_DATA = ("pseudo", "labelled")   # the pseudo-labelled corpus; the labelled pool
# what a cell tunes -> the profile section that holds its training settings
TRAIN_SECTIONS = {"prompt": "tune", "model": "ft"}


@dataclasses.dataclass(frozen=True)
class Needs:
    """What a method's cells need built before them under one profile (``Method.needs``)."""
    pretrain_data: str | None    # "pseudo", "labelled" or None: no pre-training rows
    grouping: str | None         # the grouping that splits those rows into meta tasks, or None
    artifact_kind: str | None    # the shared artefact's kind (its folder under artifacts/), or None


class Method:
    name: str = ""
    title: str = ""
    table_row: str | None = None  # the paper's name of the row
    # Bump when a change alters what the method computes: its cells (and artefacts that include it
    # in their key) get new hashes, so a results directory never mixes old and new behaviour.
    version: int = 1

    # What the method needs, declared as data.
    pretrain_data: str | None = None   # pre-training rows it reads: one of PRETRAIN_DATA, or None
    meta_tasks: bool = False           # whether it splits those rows into meta tasks
    grouping: str | None = None        # the grouping that makes them; None: the profile's pretrain.grouping
    artifact_kind: str | None = None   # its shared artefact (keyed by artifact_key, made by build_artifact)
    tunes: str | None = "prompt"       # what a cell trains: "prompt", "model" (every weight) or None

    def grouping_of(self, ctx) -> str | None:
        """The grouping of this method's meta tasks under ``ctx``'s profile (None: no meta tasks)."""
        return (self.grouping or ctx.cfg["pretrain"]["grouping"]) if self.meta_tasks else None

    def needs(self, ctx) -> Needs:
        return Needs(self.pretrain_data, self.grouping_of(ctx), self.artifact_kind)

    @property
    def train_section(self) -> str | None:
        """The profile section holding a cell's training settings (``tune``, ``ft``), or None."""
        return TRAIN_SECTIONS.get(self.tunes)

    def artifact_key(self, ctx) -> dict:
        """Everything the artefact depends on: its hash names the artefact's folder."""
        raise NotImplementedError(f"method {self.name!r} declares artifact_kind but no artifact_key")

    def build_artifact(self, ctx, out_dir) -> dict:
        """Make the artefact in ``out_dir``; returns its record (``ctx.save_prompt`` for a prompt)."""
        raise NotImplementedError(f"method {self.name!r} declares artifact_kind but no build_artifact")

    def stored_key(self, ctx) -> dict:
        """The key the artefact is stored under: ``artifact_key`` and, where the profile sets
        ``pretrain.draw``, the draw ``ctx`` is for (``Context.draw_seed``). Absent, the key is
        ``artifact_key`` alone, as artefacts made before the setting were keyed."""
        return {**self.artifact_key(ctx), **draw_key(ctx)}

    def prepare(self, ctx) -> dict:
        """Shared work made once per configuration and draw: the declared artefact (``ctx.artifact``
        caches it)."""
        if self.artifact_kind is None:
            return {}
        key = self.stored_key(ctx)
        block = draw_block(ctx.cfg) if ctx.cfg["pretrain"].get("draw") is not None else 1
        if block > 1 and not (ctx.artifact_folder(self.artifact_kind, key) / "artifact.json").exists():
            self.build_artifacts(ctx, block_of(ctx.draw_seed, block))   # the whole block, always together
        return ctx.artifact(self.artifact_kind, key, self.build_artifact)

    def build_artifacts(self, ctx, draws) -> None:
        """Make the artefacts of the pre-training ``draws`` of one block (``pretrain.draw_block``) of
        ``ctx``'s configuration; ``prepare`` asks for a draw's whole block the first time one of them is
        needed. Default: each alone; a method that can train several draws in one pass overrides it (PPT:
        one prompt bank), and must build every draw it is given, cached or not, in that one pass."""
        for draw in draws:
            ctx.drawn(draw).prepared(self)

    def artifacts(self, ctx) -> list[tuple[str, dict]]:
        """The artefacts the method's cells read or build, as (kind, key), in build order: each one is made
        from those before it, so once the last is cached the others are not needed. A dry run's plan
        (``benchmark.run_plan``) asks this, with ``ctx`` drawn for each cell's seed; nothing is built.
        Derived from the declarations: the pseudo-labelled corpus where the method reads it, then the
        method's own artefact for ``ctx``'s draw."""
        from benchmark.context import PSEUDO_LABELS

        out = [(PSEUDO_LABELS, ctx.pseudo_labelled_key())] if self.pretrain_data == "pseudo" else []
        if self.artifact_kind:
            out.append((self.artifact_kind, self.stored_key(ctx)))
        return out

    def run(self, ctx, task: str, seed: int) -> dict:
        """One cell: prompt tuning from the artefact's prompt, or from a fresh prompt without one."""
        return self.tuning(ctx, task, seed).fit()

    def tuning(self, ctx, task: str, seed: int) -> Tuning:
        """The cell made ready to tune (``run`` tunes it alone; a group tunes several in one bank)."""
        if self.tunes != "prompt":
            raise NotImplementedError(f"method {self.name!r} tunes {self.tunes!r}: it must define run")
        if self.artifact_kind is None:
            return prepare_tuning(ctx, task, seed, init=None, method=self.name)
        artifact = ctx.prepared(self, seed)
        out = prepare_tuning(ctx, task, seed, init=ctx.load_prompt(artifact), method=self.name)
        out.extra["init"] = init_record(artifact)
        return out

    @property
    def groups(self) -> bool:
        """Whether its cells may be tuned in a group (``tune_group``): a prompt method whose cell is
        the default ``run``, i.e. exactly ``tuning(...).fit()``. A method with its own ``run``
        computes something a bank cannot know of, and stays one cell at a time."""
        return self.tunes == "prompt" and type(self).run is Method.run


def check_declaration(method: Method) -> None:
    """Refuse a method whose declaration the executors could not act on (one line: what, allowed)."""
    from tasksets.groupings import GROUPINGS as groupings

    where = f"method {method.name!r} ({type(method).__name__})"
    if not method.name or not isinstance(method.name, str):
        raise ValueError(f"{where}: name must be a non-empty string")
    if method.pretrain_data not in (None, *PRETRAIN_DATA):
        raise ValueError(f"{where}: pretrain_data = {method.pretrain_data!r}; allowed: "
                         f"{', '.join(PRETRAIN_DATA)} or None")
    if method.meta_tasks and method.pretrain_data is None:
        raise ValueError(f"{where}: meta_tasks needs pretrain_data (the rows the meta tasks are made of)")
    if method.grouping is not None and (not method.meta_tasks or method.grouping not in groupings):
        raise ValueError(f"{where}: grouping = {method.grouping!r}; allowed: with meta_tasks, one of "
                         f"{', '.join(sorted(groupings))}, or None for the profile's pretrain.grouping")
    if method.tunes not in (None, *TRAIN_SECTIONS):
        raise ValueError(f"{where}: tunes = {method.tunes!r}; allowed: {', '.join(TRAIN_SECTIONS)} or None")
    if method.artifact_kind is not None:
        missing = [f for f in ("artifact_key", "build_artifact")
                   if getattr(type(method), f) is getattr(Method, f)]
        if missing:
            raise ValueError(f"{where}: artifact_kind {method.artifact_kind!r} needs {' and '.join(missing)}")


def build_draws_together(method: Method, ctx, draws, train, report, what: str) -> None:
    """The frame of a joint build (``Method.build_artifacts``): ``train(checkpoint)`` trains every draw in
    one pass and returns one result per draw (``failed``: why it failed, or None); ``report(i, result)``
    gives draw i's kept weight and report. Each draw that did not fail is saved under its own key, with
    its share of the shared passes as its build time; the bank's one checkpoint file (resumed by
    ``train`` after a kill) goes once they are saved, and a failed draw raises after the others are."""
    from benchmark.io import config_hash

    views = [ctx.drawn(d) for d in draws]
    keys = [method.stored_key(v) for v in views]
    checkpoint = ctx.artifacts_dir / method.artifact_kind / f"bank-{config_hash(keys)}.pt"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(draws[0])
    started = time.time()
    results = train(checkpoint)
    share = (time.time() - started) / len(draws)    # each draw's part of the shared passes (the plan's cost)
    for i, (view, key, result) in enumerate(zip(views, keys, results)):
        if result.failed:
            continue
        weight, rep = report(i, result)
        view.artifact(method.artifact_kind, key,
                      lambda c, out, w=weight, r=dict(rep, bank=list(draws)): c.save_prompt(out, w, method=method.name,
                                                                                           report=r),
                      build_s=share)
    checkpoint.unlink(missing_ok=True)
    failed = [f"draw {d}: {r.failed}" for d, r in zip(draws, results) if r.failed]
    if failed:
        raise FloatingPointError(f"{what} failed for " + "; ".join(failed))


def pretrain_pool(ctx, data: str) -> dict:
    """The pre-training rows ``data`` names: the pseudo-labelled corpus or the labelled pool."""
    return ctx.pseudo_labelled() if data == "pseudo" else ctx.labelled_pool()


@dataclasses.dataclass
class Tuning:
    """One prompt cell made ready to tune (paper section 5): its prompt, rows, scorer and settings.

    ``fit()`` tunes it alone (``train.fit``); the local executor's groups put several in one
    ``bank.PromptBank`` instead (``bank_run``) and then call ``finish`` with each prompt's result.
    Either way the backbone stays frozen: only the SoftPrompt's [n, d] tensor is trained, with AdamW
    and a linear warm-up schedule, early-stopped on validation accuracy; the best prompt is restored
    and scored on the test rows.
    """

    spec: object
    split: object
    scorer: Scorer
    prompt: SoftPrompt
    cfg: object                   # the ``tune`` section's TrainConfig
    seed: int
    desc: str
    before: np.ndarray            # the starting prompt's test predictions
    max_length: int
    progress: bool = True
    extra: dict = dataclasses.field(default_factory=dict)   # added to the cell's record (``init``)

    def val_accuracy(self, weight=None) -> float:
        weight = self.prompt() if weight is None else weight
        preds = self.scorer.predict(self.split.val.texts, weight, batch_size=self.cfg.eval_batch_size)
        return float((preds == np.asarray(self.split.val.labels)).mean())

    def fit(self) -> dict:
        """Tune alone and return the cell's record."""
        train = self.split.train
        labels = np.asarray(train.labels)

        def loss_fn(idx):
            return self.scorer.loss([train.texts[i] for i in idx], labels[idx], self.prompt())

        torch.manual_seed(self.seed)
        result = fit(self.prompt.parameters(), loss_fn, self.val_accuracy, len(train.texts), self.cfg,
                     seed=self.seed, desc=self.desc, progress=self.progress)
        return self.finish(result)

    def bank_run(self):
        """This cell as one ``bank.PromptRun``: the prompt, rows, validation and seed ``fit()`` uses."""
        from benchmark.bank import PromptRun

        train = self.split.train
        return PromptRun(self.prompt.weight, train.texts, train.labels, self.val_accuracy, self.cfg,
                         seed=self.seed, name=self.desc)

    def finish(self, result) -> dict:
        """The cell's record once its prompt holds the kept state: the test rows scored with it."""
        preds = self.scorer.predict(self.split.test.texts, self.prompt(), batch_size=self.cfg.eval_batch_size)
        out = cell_result(self.spec, self.split, preds, result, before_tuning=self.before,
                          backbone=self.scorer.backbone, max_length=self.max_length)
        return dict(out, **self.extra)


def prepare_tuning(ctx, task: str, seed: int, *, init: torch.Tensor | None, method: str) -> Tuning:
    """A task's few-shot split tuned from ``init`` or, without one, a fresh prompt drawn per seed."""
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

    # The initial prompt scored on the same test rows: the reference row that says what the
    # downstream tuning itself added (no gradient, no RNG: the tuned result is unchanged).
    def score_start():
        return scorer.predict(split.test.texts, prompt(), batch_size=tcfg.eval_batch_size)

    if init is None:        # a fresh prompt is drawn per seed
        before = score_start()
    else:                   # a shared prompt on the task's fixed test rows: one score for every seed
        key = ("before", task, hashlib.sha256(init.detach().cpu().contiguous().numpy().tobytes()).hexdigest(),
               hashlib.sha256("\n".join(split.test.ids).encode()).hexdigest())
        before = ctx.shared_score(key, score_start).copy()
    return Tuning(spec, split, scorer, prompt, tcfg, seed, f"{method}/{task}/s{seed}", before, cfg["max_length"],
                  progress=ctx.progress)


def tune_downstream(ctx, task: str, seed: int, *, init: torch.Tensor | None, method: str) -> dict:
    """Prompt tuning on a task's few-shot split (paper section 5), from ``init`` or a fresh prompt:
    the cell's record (``Tuning.fit``)."""
    return prepare_tuning(ctx, task, seed, init=init, method=method).fit()


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
        section = config.get(_train_section(method)) or {}
        try:
            budget = section["max_epochs"] * math.ceil(config["n_train"] / section["batch_size"])
            budget = min(budget, section["max_steps"]) if section.get("max_steps") else budget
        except (KeyError, TypeError, ZeroDivisionError):
            budget = None
    return {"validations": len(evaluations), "kept_initial": best == 0 if best is not None else None,
            "best_fraction": round(best / budget, 3) if best is not None and budget else None,
            "best_early": best <= EARLY_FRACTION * budget if best is not None and budget else None}



def _train_section(method: str | None) -> str:
    """The registered method's own section; a method no longer registered (an old cell) reads ``tune``."""
    from baselines import METHODS

    return getattr(METHODS.get(method), "train_section", None) or "tune"


def draw_key(ctx) -> dict:
    """The pre-training draw for an artefact's key. Absent where the draw is ``pretrain.seed`` and made
    alone: the computation, and so the key, of the one artefact per configuration made before the
    setting existed (per-seed draw 0 reuses it). A draw made in a block names the block's size."""
    pre = ctx.cfg.get("pretrain", {})
    block = draw_block(ctx.cfg)
    if pre.get("draw") is None or (ctx.draw_seed == pre.get("seed", 0) and block == 1):
        return {}
    return {"draw": ctx.draw_seed, **({"draw_block": block} if block > 1 else {})}


def draw_block(cfg) -> int:
    """``pretrain.draw_block``: how many draws are trained together (1 where absent)."""
    return int(cfg.get("pretrain", {}).get("draw_block", 1) or 1)


def block_of(draw: int, block: int) -> list[int]:
    """The fixed block of draws that ``draw`` is trained with: [kB, (k+1)B)."""
    first = draw // block * block
    return list(range(first, first + block))


def dtype_key(cfg) -> dict:
    """The backbone dtype for an artefact's key: float32 (the default) leaves the key as it was
    before the ``dtype`` setting existed; float64 artefacts never collide with float32 ones."""
    return {} if cfg.get("dtype", "float32") == "float32" else {"dtype": cfg["dtype"]}


def compute_key(cfg) -> dict:
    """``pretrain.compute`` for a pre-trained prompt's key: 1 (the default) leaves the key as it was before
    the setting existed, so the 1x point of a compute axis reuses the profile's prompts."""
    factor = cfg["pretrain"].get("compute", 1)
    return {} if factor == 1 else {"compute": factor}
