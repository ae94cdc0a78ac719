"""Every setting of a run as one typed tree: its name, a one-line help and what it allows.

A profile (``benchmark/profiles/<name>.yaml``) is read into a nested dict of these settings, and that
dict is what a cell is keyed by and saved with, as it is. ``check(cfg)`` is the one validation path
for profile files, ``--set`` overrides and suite axis points: it refuses an unknown key (naming every
valid key of its section), a missing one, and a value of the wrong type or range, naming the key, the
value and what is allowed; it returns the tree. ``TrainConfig`` (the sections ``tune``, ``ft``,
``ppt``) and ``MAMLConfig`` (``maml``) are sections of it.

The paper profile holds the paper's values as data; the defaults here are the same values (a test
holds them equal), for code that builds a section directly. Choices are read from the registries
that hold them (groupings, data sources, prompt inits, Prompt-MAML engines, balance policies) when a
value is checked, so importing this module stays light.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import re
from typing import Callable, Iterable

from benchmark.errors import UserError, unknown


@dataclasses.dataclass(frozen=True)
class Allowed:
    """What one setting allows: ``test`` decides, ``describe`` says it in words (refusals and help)."""
    test: Callable[[object], bool]
    describe: Callable[[], str]
    why: Callable[[object], str | None] | None = None   # what is wrong with a refused value, where words help

    def says(self, value=None) -> str:
        text = self.describe()
        if isinstance(value, float) and not math.isfinite(value):
            return text.replace("a number", "a finite number")
        return text


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return _is_int(value) or (isinstance(value, float) and math.isfinite(value))


def number(*, gt=None, ge=None, lt=None, le=None, integer: bool = False, null: str | None = None) -> Allowed:
    """A finite number (an int is one) or, with ``integer``, an integer, within the bounds given;
    ``null`` says what null means where null is allowed."""
    def test(value) -> bool:
        if value is None:
            return null is not None
        if not (_is_int(value) if integer else _is_number(value)):
            return False
        return ((gt is None or value > gt) and (ge is None or value >= ge)
                and (lt is None or value < lt) and (le is None or value <= le))

    bounds = " and ".join(f"{op} {b}" for op, b in ((">", gt), (">=", ge), ("<", lt), ("<=", le)) if b is not None)
    text = ("an integer" if integer else "a number") + (f" {bounds}" if bounds else "")
    text = f"null ({null}) or {text}" if null else text
    return Allowed(test, lambda: text)


def one_of(names: Callable[[], Iterable[str]]) -> Allowed:
    """One of the names a registry holds, read when checked (``names()``)."""
    return Allowed(lambda value: isinstance(value, str) and value in list(names()), lambda: ", ".join(names()))


def text(what: str) -> Allowed:
    return Allowed(lambda value: isinstance(value, str) and bool(value.strip()), lambda: what)


def _words(*names) -> Callable[[], tuple]:
    return lambda: names


def _groupings():
    from tasksets.groupings import GROUPINGS

    return GROUPINGS


def _sources():
    from benchmark.data import SOURCES

    return SOURCES


def _prompt_inits():
    from benchmark.prompt import PROFILE_INITS

    return PROFILE_INITS


def _engines():
    from benchmark.maml import ENGINES

    return ENGINES


def _algorithms():
    from benchmark.meta_algorithms import ALGORITHMS

    return ALGORITHMS


def _balances():
    from tasksets.pseudo_label import BALANCES

    return BALANCES


POSITIVE_INT = number(gt=0, integer=True)
FLAG = Allowed(lambda value: isinstance(value, bool), lambda: "true or false")
# true | false | auto (auto: chosen by a measured probe at start, benchmark/precision.py)
FLAG_OR_AUTO = Allowed(lambda value: isinstance(value, bool) or value == "auto", lambda: "true, false, auto")
DEVICE = Allowed(lambda value: isinstance(value, str) and bool(re.fullmatch(r"auto|cpu|cuda(:[0-9]+)?", value)),
                 lambda: "auto, cpu, cuda, cuda:N")
MAX_SEED = 2**32 - 1   # numpy's and torch's generators take seeds in [0, 2**32)
SEEDS_ALLOWED = f"distinct integers 0..{MAX_SEED}, at least one, e.g. 0,1,2"


def seeds_problem(seeds) -> str | None:
    """What is wrong with a list of seeds (None: nothing); the one check of ``seeds`` and ``--seeds``."""
    if not isinstance(seeds, list) or not seeds:
        return "no seeds"
    for seed in seeds:
        if not _is_int(seed):
            return f"{seed!r} is not an integer"
        if seed < 0:
            return f"{seed} is negative"
        if seed > MAX_SEED:
            return f"{seed} is above {MAX_SEED}"
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    return f"{', '.join(map(str, twice))} given more than once" if twice else None


SEEDS = Allowed(lambda value: seeds_problem(value) is None, lambda: SEEDS_ALLOWED, seeds_problem)
ANY_TEXT = Allowed(lambda value: isinstance(value, str), lambda: "a string")
CHUNK = Allowed(lambda value: value == "auto" or (_is_int(value) and value >= 1),
                lambda: "auto or an integer >= 1 (at most pretrain.k)")
AXIS_LIMITS = Allowed(lambda value: isinstance(value, dict) and all(isinstance(k, str) and _is_number(v)
                                                                    for k, v in value.items()),
                      lambda: "a mapping from an axis setting to a number, such as {n_train: 320}")


def setting(default, help: str, allowed: Allowed, *, optional: bool = False):
    """One leaf of the tree. ``optional``: a profile may leave it out (the default then applies)."""
    meta = {"help": help, "allowed": allowed, "optional": optional}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def section(kind: type, help: str, **paper_values):
    """A section of the tree; ``paper_values``: where the paper's values differ from ``kind``'s defaults."""
    return dataclasses.field(default_factory=lambda: kind(**paper_values), metadata={"help": help, "section": kind})


BALANCED = "balanced"
RANDOM = "random"
FEW_SHOT_DRAWS = (RANDOM, BALANCED)


def few_shot(cfg: dict) -> str:
    """How a cell's few-shot rows are drawn under ``cfg``: ``few_shot``, or balanced where the
    setting is absent (the draw of every cell made before it, whose keys hold no such setting)."""
    return cfg.get("few_shot", BALANCED)


PER_SEED = "per-seed"
DRAW = Allowed(lambda value: value is None or value == PER_SEED or (_is_int(value) and 0 <= value <= MAX_SEED),
               lambda: f"{PER_SEED}, an integer 0..{MAX_SEED}, or null (pretrain.seed)")


def draw_seed(cfg: dict, seed: int) -> int:
    """The seed of the pre-training draw a cell of ``seed`` tunes from under ``cfg`` (``pretrain.draw``):
    the cell's own seed (per-seed), the one integer given, or, where the setting is absent,
    ``pretrain.seed`` (one artefact per configuration, as cells made before the setting were)."""
    draw = cfg["pretrain"].get("draw")
    if draw == PER_SEED:
        return int(seed)
    return int(cfg["pretrain"]["seed"] if draw is None else draw)


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def refusal(key: str, value, allowed: str, why: str | None = None) -> UserError:
    reason = f" ({why})" if why else ""
    return UserError(f"setting {key} = {value!r} is invalid{reason}; allowed: {allowed}")


class Section:
    """A node of the tree: built from a profile's dict (keys checked), then each value checked."""

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def field(cls, name: str):
        return {f.name: f for f in dataclasses.fields(cls)}.get(name)

    @classmethod
    def from_dict(cls, data, where: str = "", paper: Section | None = None):
        """The section of ``data``: an unknown key names every valid key here; a missing one, what it
        allows and the paper's value (``paper``: this section with the paper's values)."""
        paper = cls() if paper is None else paper
        if not isinstance(data, dict):
            allowed = f"a mapping of settings ({', '.join(cls.keys())})"
            if not where:
                raise UserError(f"a profile is invalid as {data!r}; allowed: {allowed}")
            raise refusal(where, data, allowed)
        names = cls.keys()
        for key in data:
            if key not in names:
                raise unknown("setting", str(key), names, where=f"in {where}" if where else "at the top level")
        values = {}
        for f in dataclasses.fields(cls):
            key = _join(where, f.name)
            kind, default = f.metadata.get("section"), getattr(paper, f.name)
            if f.name in data:
                values[f.name] = kind.from_dict(data[f.name], key, default) if kind else data[f.name]
            elif not f.metadata.get("optional"):
                said = "a section" if kind else f"the paper's value is {default!r}"
                raise UserError(f"setting {key} is missing; allowed: {_allowed_text(f)} ({said})")
        return cls(**values)

    def validate(self, where: str = "", *, skip: tuple = ()) -> None:
        """Each value of this section (and of the sections under it) is what its field allows."""
        for f in dataclasses.fields(self):
            if f.name in skip:
                continue
            value, key = getattr(self, f.name), _join(where, f.name)
            if isinstance(value, Section):
                value.validate(key)
            elif not f.metadata["allowed"].test(value):
                rule = f.metadata["allowed"]
                raise refusal(key, value, rule.says(value), rule.why(value) if rule.why else None)


def _allowed_text(f) -> str:
    kind = f.metadata.get("section")
    return f"a mapping of settings ({', '.join(kind.keys())})" if kind else f.metadata["allowed"].says()


@dataclasses.dataclass
class TrainConfig(Section):
    """Downstream prompt tuning (``tune``), full-model tuning (``ft``) and PPT's prompt pre-training
    (``ppt``): AdamW, linear warm-up and early stopping on validation accuracy (paper section 5,
    appendix A). The defaults are the paper's ``tune``."""

    lr: float = setting(3e-3, "peak learning rate of AdamW", number(gt=0))
    warmup_steps: int = setting(20, "optimiser steps of linear warm-up to the peak rate", number(ge=0, integer=True))
    batch_size: int = setting(4, "training rows per optimiser step", POSITIVE_INT)
    max_epochs: int = setting(200, "passes over the training rows, at most", POSITIVE_INT)
    patience: int = setting(5, "validations without improvement before stopping early", POSITIVE_INT)
    weight_decay: float = setting(0.01, "AdamW weight decay", number(ge=0))
    eval_every: int | None = setting(None, "optimiser steps between validations",
                                     number(gt=0, integer=True, null="once per epoch"))
    max_steps: int | None = setting(None, "cap on optimiser steps",
                                    number(gt=0, integer=True, null="the epochs decide"))
    eval_batch_size: int = setting(32, "rows per forward pass when validating and testing", POSITIVE_INT)
    checkpoint_every: int | None = setting(None, "optimiser steps between resume points (with a checkpoint file)",
                                           number(gt=0, integer=True, null="at each validation"), optional=True)
    select_smooth: int = setting(1, "checkpoint choice and early stopping on the trailing mean of this many "
                                    "validations (1: each one)", number(ge=1, integer=True), optional=True)
    # the start, judged on its one validation while later checkpoints are judged on a mean of
    # several, could otherwise win on one lucky evaluation of a few rows
    full_window: bool = setting(False, "with select_smooth > 1, only checkpoints whose trailing window is full "
                                       "compete", FLAG, optional=True)


@dataclasses.dataclass
class MAMLConfig(Section):
    """Prompt-MAML (paper section 5): the rates of equations 5-6, its budget and how a meta step runs."""

    inner_lr: float = setting(0.08, "alpha: the inner (adaptation) learning rate, eq. 5", number(gt=0))
    outer_lr: float = setting(0.025, "beta: the outer (meta) learning rate of Adam, eq. 6", number(gt=0))
    weight_decay: float = setting(0.01, "weight decay of the outer Adam", number(ge=0))
    m: int = setting(4, "support rows (and as many query rows) per meta task in a meta step", POSITIVE_INT)
    inner_steps: int = setting(1, "inner gradient steps per meta task", POSITIVE_INT)
    first_order: bool = setting(False, "drop the second-order term of the meta-gradient", FLAG)
    max_steps: int = setting(20000, "meta steps, at most", POSITIVE_INT)
    patience: int = setting(6, "meta-validations without improvement before stopping early", POSITIVE_INT)
    eval_every: int = setting(100, "meta steps between meta-validations", POSITIVE_INT)
    val_tasks_per_cluster: int = setting(2, "held-out meta tasks per cluster for meta-validation", POSITIVE_INT)
    checkpoint_every: int = setting(100, "meta steps between resume points", POSITIVE_INT)
    engine: str = setting("batched", "how a maml meta step is computed: batched (every meta task in one pass) or "
                                     "l2l (the learn2learn reference, one meta task at a time)", one_of(_engines))
    # the same meta tasks, rows and loop (validation, early stopping, checkpoint) for every algorithm;
    # benchmark/meta_algorithms.py states each one's update and how its rows per step match MAML's
    algorithm: str = setting("maml", "how the prompt is trained on the meta tasks: maml (equations 5-6; "
                                     "first_order picks FOMAML), reptile (Nichol et al. 2018) or multitask "
                                     "(the summed loss of the meta tasks, no inner step)", one_of(_algorithms),
                             optional=True)   # absent: maml (keys made before it)
    # bf16 second-order meta-gradients are unreliable (docs/PERF.md), so meta-training stays float32
    # even where tuning and scoring use bf16
    bf16: bool = setting(False, "bf16 frozen backbone during meta-training", FLAG)
    # the second-order step keeps every activation of its rows alive until the backward: chunks of
    # meta tasks accumulate the same meta-gradient in bounded memory
    chunk_tasks: int | str = setting("auto", "meta tasks per forward/backward; auto: the most whose activations "
                                             "fit memory_budget_mb", CHUNK)
    memory_budget_mb: float | None = setting(None, "memory for one chunk's activations, in MB",
                                             number(gt=0, null="1/8 of the machine's memory"))

    def validate(self, where: str = "maml", *, n_tasks: int | None = None, skip: tuple = ()) -> None:
        """As every section; ``chunk_tasks`` is at most ``n_tasks`` (K, the meta tasks per step) when given."""
        chunk = self.chunk_tasks
        if chunk != "auto" and not (_is_int(chunk) and 1 <= chunk <= (n_tasks or chunk)):
            upper = f"1..{n_tasks} (K, the meta tasks per step)" if n_tasks else "an integer >= 1"
            raise refusal(_join(where, "chunk_tasks"), chunk, f"auto or {upper}")
        super().validate(where, skip=skip)


@dataclasses.dataclass
class PretrainConfig(Section):
    """The pre-training data of MetaPT and PPT (paper section 4): pseudo-labelling, balance, meta tasks."""

    labelled_pool: str = setting("yelp5", "labelled pool: MetaPT(Y) uses it directly; the labeller is trained on "
                                          "it", text("a task name or a task YAML file"))
    unlabelled: str = setting("openwebtext", "open-domain corpus pseudo-labelled for MetaPT and PPT",
                              text("a task name or a task YAML file"))
    rows: int = setting(1000000, "pre-training rows after balancing", POSITIVE_INT)
    corpus_rows: int | None = setting(None, "unlabelled rows to annotate",
                                      number(ge=0, integer=True, null="the whole corpus"))
    pseudo_threshold: float = setting(0.9, "keep pseudo-labels with confidence >= this", number(gt=0, le=1))
    balance: str = setting("min", "confident rows per class: min (down to the smallest class), cap, none",
                           one_of(_balances))
    balance_ratio: float = setting(3.0, "balance: cap keeps at most this many times the smallest class per class",
                                   number(ge=1))
    labeller: str = setting("roberta-base", "pseudo-labeller: a model name, or a registered labeller "
                                            "(logreg-embeddings)", text("a labeller or model name"))
    grouping: str = setting("kmeans", "how rows are split into meta tasks", one_of(_groupings))
    k: int = setting(10, "K: meta tasks (clusters)", POSITIVE_INT)
    m: int = setting(4, "rows per meta task's support set (and as many for its query set)", POSITIVE_INT)
    val_fraction: float = setting(0.1, "share of the pre-training rows held out for validation", number(gt=0, lt=1))
    seed: int = setting(0, "seed of the shared pre-training data (corpus sample, pseudo-labels, pool subsample)",
                        number(ge=0, integer=True))
    # The prompt's init, PPT's data order and validation rows, the grouping's initialisation and
    # Prompt-MAML's task sampling: one draw of a method's pre-training. A verdict about a method covers
    # that randomness only when each seed draws its own (``draw_seed``).
    draw: int | str | None = setting(None, "which draw of PPT's and MetaPT's pre-training a cell tunes from: "
                                           "per-seed (seed s tunes from the artefact drawn with seed s), or an "
                                           "integer (one artefact drawn with that seed, shared by every seed)",
                                     DRAW, optional=True)   # absent: drawn with pretrain.seed (cells made before it)
    # A draw trained beside others in one pass rounds differently from the same draw alone, so draws are
    # only ever trained together in fixed blocks that the key names: whatever --seeds selects, draw d is
    # the same computation.
    draw_block: int = setting(1, "pre-training draws trained together in one pass (PPT's prompt bank, Prompt-MAML's "
                                 "batched engine), in fixed blocks [kB, (k+1)B) that the artefacts' keys name; "
                                 "1: each draw alone", POSITIVE_INT, optional=True)
    # One knob for a compute axis that keeps PPT and the meta algorithms equal at every point: each
    # run is stretched (budget, warm-up, validation and resume intervals) so its schedule keeps its
    # shape and early stopping the same share of the budget (``scale_budget``).
    compute: float = setting(1, "pre-training compute of PPT and MetaPT as a multiple of the ppt and maml "
                                "budgets (max_steps, max_epochs, warmup_steps, eval_every, checkpoint_every)",
                             number(gt=0), optional=True)   # absent: 1 (keys made before it)

    def validate(self, where: str = "pretrain", *, skip: tuple = ()) -> None:
        super().validate(where, skip=skip)
        if self.k > self.rows:
            raise UserError(f"setting {where}.k = {self.k} is above the number of pre-training rows ({where}.rows "
                            f"= {self.rows}); allowed: 1 <= {where}.k <= {self.rows}")
        if 2 * self.m > self.rows:
            raise UserError(f"setting {where}.m = {self.m} needs {2 * self.m} rows per meta task but {where}.rows "
                            f"= {self.rows}; allowed: 1 <= {where}.m <= {self.rows // 2}")


@dataclasses.dataclass
class Settings(Section):
    """A run's settings: what a profile holds (the paper's values by default)."""

    description: str = setting("", "one line saying what the profile is for", ANY_TEXT, optional=True)
    backbone: str = setting("t5-base", "the frozen language model: a registered name or a local model folder",
                            text("a registered name or a local model folder"))
    encoder: str = setting("sentence-transformers/bert-base-nli-mean-tokens", "sentence encoder of K-means grouping "
                           "and the offline labeller", text("a registered name or a local model folder"))
    data_source: str = setting("paper", "auto (the paper's data when reachable), paper, or the offline standin",
                               one_of(_sources))
    device: str = setting("auto", "where the backbone runs; auto: cuda when available", DEVICE)
    bf16: bool | str = setting(False, "bf16 frozen backbone for tuning, PPT and scoring (prompt, loss and optimiser "
                                      "stay float32); auto: whichever a probe at start measures faster", FLAG_OR_AUTO)
    dtype: str = setting("float32", "the backbone's weights and arithmetic (float64: decisions hold on any "
                                    "processor)", one_of(_words("float32", "float64")))
    prompt_tokens: int = setting(100, "soft prompt length in tokens", POSITIVE_INT)
    prompt_init: str = setting("random", "how the soft prompt starts", one_of(_prompt_inits))
    max_length: int = setting(256, "tokens of the input text (the template is always kept)", POSITIVE_INT)
    seeds: list = setting([0, 1, 2, 3, 4], "seeds of the few-shot splits and training", SEEDS)
    n_train: int = setting(40, "training rows per task (few-shot)", POSITIVE_INT)
    n_val: int = setting(40, "validation rows per task", POSITIVE_INT)
    few_shot: str = setting("random", "how a seed draws its training and validation rows: random (uniformly, as the "
                                      "paper's \"randomly select\") or balanced (as equal a count per class as the "
                                      "classes allow)", one_of(_words(*FEW_SHOT_DRAWS)),
                            optional=True)   # absent: balanced, the draw of cells made before the setting
    max_test: int | None = setting(None, "test rows per task, at most",
                                   number(gt=0, integer=True, null="the whole test set"))
    tune: TrainConfig = section(TrainConfig, "downstream prompt tuning (PT, PPT, MetaPT)")
    tune_group: str = setting("none", "none: each prompt cell tuned alone; task-seed: the prompt methods of one task "
                                      "and seed tuned together in one bank (their keys name the group)",
                              one_of(_words("none", "task-seed")), optional=True)   # cells made before it: none
    ft: TrainConfig = section(TrainConfig, "full-model tuning (appendix A.1)", lr=3e-5)
    ppt: TrainConfig = section(TrainConfig, "prompt pre-training on the pseudo-labelled data (appendix A.2)",
                               max_epochs=5, eval_every=20000)
    maml: MAMLConfig = section(MAMLConfig, "Prompt-MAML (section 5)")
    pretrain: PretrainConfig = section(PretrainConfig, "pre-training data of MetaPT and PPT")
    axis_limits: dict = setting({}, "cap on suite axis values (e.g. n_train) for small machines", AXIS_LIMITS,
                                optional=True)
    profile: str = setting("paper", "the profile's name (set when it is loaded)", text("a profile name"),
                           optional=True)

    def validate(self, where: str = "", *, skip: tuple = ()) -> None:
        super().validate(where, skip=(*skip, "maml"))
        self.maml.validate(_join(where, "maml"), n_tasks=self.pretrain.k)   # pretrain.k was checked above
        if self.dtype == "float64" and self.bf16 is not False:
            raise UserError(f"setting dtype = float64 with bf16 = {self.bf16!r} is invalid; allowed: bf16 = false "
                            "with float64 (bf16 autocast runs a float32 backbone)")


def check(cfg: dict) -> Settings:
    """The one validation path: ``cfg`` (a profile's nested dict) as a typed tree, or one clear
    ``UserError``. ``cfg`` itself is left as it is (cell keys are made from it)."""
    tree = Settings.from_dict(cfg)
    tree.validate()
    return tree


def node_of(path: list[str]):
    """The section class at ``path`` (top level: ``Settings``), or None where ``path`` ends at a leaf."""
    node = Settings
    for name in path:
        f = node.field(name) if isinstance(node, type) and issubclass(node, Section) else None
        node = f.metadata.get("section") if f else None
        if node is None:
            return None
    return node


def rows(node: Section | None = None, where: str = "") -> list[tuple[str, object, str, str]]:
    """``(key, paper value, allowed, help)`` for every leaf, in profile order (``list --settings``)."""
    node = Settings() if node is None else node
    out = []
    for f in dataclasses.fields(node):
        key, value = _join(where, f.name), getattr(node, f.name)
        if isinstance(value, Section):
            out += rows(value, key)
        else:
            out.append((key, value, f.metadata["allowed"].says(), f.metadata["help"]))
    return out
