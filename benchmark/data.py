"""Task registry, loading with provenance, and seeded few-shot splits.

A task is data: one YAML in ``benchmark/tasks/`` per dataset (``get_task``, ``list_tasks``). Users add
their own without editing the package: a YAML declaration next to a CSV or JSONL file of
``text,label`` rows, given by path (``get_task("path/to/mytask.yaml")``) or found in the folders of
``METAPT_TASKS_PATH`` (``os.pathsep``-separated). A user declaration looks like::

    name: mytask
    title: My product reviews
    role: downstream            # default
    domain: product
    classes: [negative, positive]
    label_words: [bad, good]
    data: reviews.csv           # .csv (header text,label) or .jsonl ({"text", "label"}); relative to the YAML
    test: reviews_test.csv      # optional official test split

Labels may be a class name, a label word or a class index. Any malformed row is a ``UserError``
naming the file, the line and the reason, and nothing is loaded.

``load(name, source)`` returns ``Rows`` whose ``provenance`` says which data it is. Stand-in rows are
marked twice: ``provenance["source"] == "standin"`` and a ``title`` reading "<task> stand-in: <what>".
"""
from __future__ import annotations

import csv
import dataclasses
import json
import os
import pathlib
import re
import sys

import numpy as np
import yaml

from benchmark import hub, paths, sources
from benchmark.errors import UserError, unknown
from benchmark.io import CorruptCacheEntry, config_hash, read_json, write_json

TASKS_DIR = pathlib.Path(__file__).parent / "tasks"
TASKS_PATH_ENV = "METAPT_TASKS_PATH"
ROLES = ("downstream", "pretrain-labelled", "pretrain-unlabelled")
SOURCES = ("auto", "paper", "standin")
CACHE_VERSION = 1

# --------------------------------------------------------------------------- task specs


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    name: str
    title: str
    role: str
    domain: str
    classes: list[str]
    label_words: list[str]
    citation: str = ""
    license: str = ""
    paper_source: dict = dataclasses.field(default_factory=dict)
    standin: dict = dataclasses.field(default_factory=dict)
    path: str | None = None              # the YAML it came from
    user: bool = False                   # a user task (CSV/JSONL declared by the user)
    data: str | None = None              # user task: the data file (absolute)
    test: str | None = None              # user task: the official test file (absolute)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def labelled(self) -> bool:
        return bool(self.classes)

    @property
    def standin_title(self) -> str:
        return f"{self.title} stand-in: {self.standin.get('title', self.standin.get('loader', '?'))}"

    def assets(self) -> list[str]:
        """The registry assets the stand-in reads."""
        return sources.assets_for(self.standin) if self.standin else []


def _str_list(value, key: str, where: str) -> list[str]:
    """A YAML list of names (strings or numbers); anything else is the user's to fix."""
    if value is None:
        return []
    if not isinstance(value, list) or any(isinstance(v, (dict, list)) or v is None for v in value):
        raise UserError(f"{where}: field {key!r} must be a list of words, e.g. [bad, good]; got {value!r}")
    return [str(v) for v in value]


def _data_path(decl: pathlib.Path, value, key: str) -> str:
    if not isinstance(value, (str, int, float)) or isinstance(value, bool) or not str(value).strip():
        raise UserError(f"{decl}: field {key!r} must be a file name (.csv or .jsonl), got {value!r}")
    try:
        return str((decl.parent / str(value)).resolve())
    except (OSError, ValueError) as exc:
        raise UserError(f"{decl}: field {key!r} = {value!r} is not a usable path ({exc})") from None


def _spec_from_yaml(path: pathlib.Path, *, user: bool) -> TaskSpec:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark else ""
        raise UserError(f"{path}{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: a task YAML must be a mapping with name, title, classes, label_words …")
    where = str(path)
    for key in ("name", "classes", "label_words"):
        if key not in raw:
            raise UserError(f"{where}: missing field {key!r}")
    name = str(raw["name"])
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise UserError(f"{where}: task name {name!r} must be letters, digits, '_', '-', '.'")
    role = raw.get("role", "downstream")
    if role not in ROLES:
        raise UserError(f"{where}: role {role!r} is not one of {', '.join(ROLES)}")
    classes = _str_list(raw.get("classes"), "classes", where)
    words = _str_list(raw.get("label_words"), "label_words", where)
    if len(classes) != len(words):
        raise UserError(f"{where}: {len(classes)} classes but {len(words)} label_words; give one word per class")
    if role != "pretrain-unlabelled" and len(classes) < 2:
        raise UserError(f"{where}: a labelled task needs at least 2 classes")
    if len(set(classes)) != len(classes):
        raise UserError(f"{where}: duplicate class names {classes}")
    data = test = None
    if user:
        if "data" not in raw:
            raise UserError(f"{where}: missing field 'data' (the CSV or JSONL file of text,label rows)")
        data = _data_path(path, raw["data"], "data")
        if raw.get("test"):
            test = _data_path(path, raw["test"], "test")
    elif not raw.get("standin"):
        raise UserError(f"{where}: a built-in task needs a 'standin' declaration")
    for key in ("paper_source", "standin"):
        if raw.get(key) is not None and not isinstance(raw[key], dict):
            raise UserError(f"{where}: field {key!r} must be a mapping, got {raw[key]!r}")
    if isinstance(raw.get("paper_source"), dict) and raw["paper_source"].get("format") == "hf_hub":
        hub.check_hub_id(raw["paper_source"].get("hub_id"), f"{where}: paper_source")
    return TaskSpec(name=name, title=str(raw.get("title", name)), role=role, domain=str(raw.get("domain", "")),
                    classes=classes, label_words=words, citation=str(raw.get("citation", "")),
                    license=str(raw.get("license", "")), paper_source=dict(raw.get("paper_source") or {}),
                    standin=dict(raw.get("standin") or {}), path=str(path), user=user, data=data, test=test)


_BUILTIN: dict[str, TaskSpec] | None = None


def _builtin() -> dict[str, TaskSpec]:
    global _BUILTIN
    if _BUILTIN is None:
        specs = [_spec_from_yaml(p, user=False) for p in sorted(TASKS_DIR.glob("*.yaml"))]
        _BUILTIN = {s.name: s for s in specs}
    return _BUILTIN


def _user_tasks() -> dict[str, TaskSpec]:
    found: dict[str, TaskSpec] = {}
    for folder in filter(None, os.environ.get(TASKS_PATH_ENV, "").split(os.pathsep)):
        folder = pathlib.Path(folder).expanduser()
        if not folder.is_dir():
            raise UserError(f"${TASKS_PATH_ENV} names {str(folder)!r}, which is not a folder")
        for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            spec = _spec_from_yaml(path, user=True)
            if spec.name in _builtin():
                raise UserError(f"{path}: user task {spec.name!r} has the name of a built-in task; rename it")
            if spec.name in found:
                raise UserError(f"{path}: task {spec.name!r} is also declared in {found[spec.name].path}")
            found[spec.name] = spec
    return found


def list_tasks(role: str | None = None) -> list[TaskSpec]:
    """Built-in tasks (sorted by role, then name) followed by the user tasks on ``METAPT_TASKS_PATH``."""
    order = {r: i for i, r in enumerate(ROLES)}
    specs = sorted(_builtin().values(), key=lambda s: (order[s.role], s.name)) + list(_user_tasks().values())
    return [s for s in specs if role is None or s.role == role]


def get_task(name: str, role: str | None = None) -> TaskSpec:
    """A task by name, or a user task by the path of its YAML declaration; with ``role``, only a task
    of that role (``downstream`` for ``run --tasks``): another is refused, naming those that are."""
    if isinstance(name, TaskSpec):
        return name
    spec = _find_task(str(name), role)
    if role is not None and spec.role != role:
        valid = [s.name for s in list_tasks(role)]
        raise UserError(f"task {spec.name!r} is a {spec.role} source, not a {role} task; "
                        f"valid {role} tasks: {', '.join(sorted(valid))}")
    return spec


def _find_task(name: str, role: str | None) -> TaskSpec:
    if name in _builtin():
        return _builtin()[name]
    if name.endswith((".yaml", ".yml")) or os.sep in name:
        path = pathlib.Path(name).expanduser()
        if path.is_file():
            return _spec_from_yaml(path.resolve(), user=True)
        raise UserError(f"task file {name!r} does not exist")
    users = _user_tasks()
    if name in users:
        return users[name]
    raise unknown(f"{role} task" if role else "task", name, [s.name for s in list_tasks(role)])


# --------------------------------------------------------------------------- rows and splits


@dataclasses.dataclass
class Rows:
    texts: list[str]
    labels: list[int] | None
    ids: list[str]
    official_test: "Rows | None" = None
    provenance: dict = dataclasses.field(default_factory=dict)
    title: str = ""

    def __post_init__(self):
        if len(self.texts) != len(self.ids) or (self.labels is not None and len(self.labels) != len(self.texts)):
            raise ValueError("texts, labels and ids must have the same length")

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def is_standin(self) -> bool:
        return self.provenance.get("source") == "standin"

    def subset(self, indices) -> "Rows":
        idx = [int(i) for i in indices]
        return Rows(texts=[self.texts[i] for i in idx],
                    labels=None if self.labels is None else [self.labels[i] for i in idx],
                    ids=[self.ids[i] for i in idx], official_test=None, provenance=self.provenance,
                    title=self.title)

    def label_counts(self, n_classes: int | None = None) -> list[int]:
        if self.labels is None:
            return []
        n = n_classes or (max(self.labels) + 1 if self.labels else 0)
        return np.bincount(np.asarray(self.labels, dtype=int), minlength=n).tolist()


@dataclasses.dataclass
class Split:
    train: Rows
    val: Rows
    test: Rows
    seed: int
    info: dict = dataclasses.field(default_factory=dict)

    def row_ids(self) -> dict[str, list[str]]:
        return {"train": list(self.train.ids), "val": list(self.val.ids), "test": list(self.test.ids)}


def _allocate(n: int, avail: dict[int, int], order: list[int]) -> dict[int, int]:
    """Spread ``n`` picks over classes as evenly as their sizes allow; ``order`` breaks ties."""
    alloc = {c: 0 for c in order}
    remaining = n
    while remaining > 0:
        open_ = [c for c in order if alloc[c] < avail[c]]
        if not open_:
            raise AssertionError("allocation exceeds the pool")  # guarded by the caller
        share = max(1, remaining // len(open_))
        for c in open_:
            if remaining == 0:
                break
            take = min(share, avail[c] - alloc[c], remaining)
            alloc[c] += take
            remaining -= take
    return alloc


TEST_SEED = 0x7E57   # the one draw of a task's fixed test rows


def few_shot_split(rows: Rows, n_train: int = 40, n_val: int = 40, seed: int = 0, *,
                   max_test: int | None = None, balanced: bool = True) -> Split:
    """A seeded few-shot split, identical on every machine.

    A task's test rows are chosen once (LM-BFF's protocol),
    whatever the seed and the shot counts: the official test split when the source has one, else a
    draw of ``max_test`` rows (half the pool when ``max_test`` is None) from the pool with
    ``default_rng(TEST_SEED)``; ``max_test`` keeps a subset of an official split drawn the same way.
    Pool rows whose text (lower-cased words) equals a test row's are never drawn for training. The
    seed then draws only the ``n_train`` + ``n_val`` few-shot rows, with ``default_rng(seed)`` over the
    remaining rows sorted by id, class-balanced when the classes are large enough (a small class
    gives its share to the others). So every seed and every figure point of a task is scored on
    the same rows, and a fixed prompt's score on them is the same number everywhere. Every subset
    keeps the pool's order. (The archived cells of results format 1 drew their test rows per seed:
    ``plot`` reads them; they are not rerun.)
    """
    task = rows.provenance.get("task", "task")
    if n_train < 0 or n_val < 0:
        raise UserError(f"{task}: shot counts must be >= 0 (got train {n_train}, val {n_val})")
    if max_test is not None and max_test < 1:
        raise UserError(f"{task}: max_test must be >= 1 (got {max_test})")
    n = len(rows)
    need = n_train + n_val
    has_test = rows.official_test is not None and len(rows.official_test) > 0
    if need > n or (not has_test and need >= n):
        raise UserError(f"{task}: asked for {n_train} train + {n_val} validation rows but the pool has only {n} "
                        f"rows" + ("" if has_test else " (and the rest must leave a test set)"),
                        hint="lower the shots (n_train / n_val) or use a larger task")
    test_source = rows.official_test if has_test else rows
    test_idx = fixed_test_rows(rows, max_test)
    test_texts = {sources.normalise(test_source.texts[i]) for i in test_idx}
    taken = set() if has_test else set(test_idx)
    pool = [i for i in range(n) if i not in taken and sources.normalise(rows.texts[i]) not in test_texts]
    if need > len(pool):
        raise UserError(f"{task}: asked for {n_train} train + {n_val} validation rows but only {len(pool)} rows are "
                        f"left for training once the {len(test_idx)} fixed test rows (and rows of the same text) "
                        "are set aside", hint="lower the shots (n_train / n_val) or max_test")
    rng = np.random.default_rng(seed)
    train_idx, val_idx = _draw_few_shot(rows, pool, n_train, n_val, rng, balanced)
    info = {"n_train": n_train, "n_val": n_val, "seed": seed, "max_test": max_test, "balanced": balanced,
            "test_rows": "fixed", "test_from": "official" if has_test else "pool",
            "pool_dropped_duplicates": n - len(taken) - len(pool)}
    return Split(train=rows.subset(sorted(train_idx)), val=rows.subset(sorted(val_idx)),
                 test=test_source.subset(test_idx), seed=seed, info=info)


def fixed_test_rows(rows: Rows, max_test: int | None) -> list[int]:
    """The indices (into the official test split, or else into the pool) of a task's fixed test rows."""
    has_test = rows.official_test is not None and len(rows.official_test) > 0
    source = rows.official_test if has_test else rows
    count = len(source) if has_test else len(source) // 2
    if max_test is not None:
        count = min(count if has_test else len(source) - 1, max_test)
    order = sorted(range(len(source)), key=lambda i: source.ids[i])
    if count >= len(order):
        return order
    keep = {order[j] for j in np.random.default_rng(TEST_SEED).permutation(len(order))[:count]}
    return [i for i in range(len(source)) if i in keep]


def _draw_few_shot(rows: Rows, candidates, n_train: int, n_val: int, rng, balanced: bool):
    """``n_train`` + ``n_val`` rows drawn from ``candidates`` (sorted by id first), class-balanced."""
    order = sorted(candidates, key=lambda i: rows.ids[i])
    need = n_train + n_val
    if rows.labels is None or not balanced:
        perm = [order[j] for j in rng.permutation(len(order))]
        return perm[:n_train], perm[n_train:need]
    by_class: dict[int, list[int]] = {}
    for i in order:
        by_class.setdefault(rows.labels[i], []).append(i)
    classes = sorted(by_class)
    shuffled = {c: [by_class[c][j] for j in rng.permutation(len(by_class[c]))] for c in classes}
    class_order = [classes[j] for j in rng.permutation(len(classes))]
    avail = {c: len(shuffled[c]) for c in classes}
    a_train = _allocate(n_train, avail, class_order)
    a_val = _allocate(n_val, {c: avail[c] - a_train[c] for c in classes}, class_order)
    train_idx = [i for c in classes for i in shuffled[c][:a_train[c]]]
    val_idx = [i for c in classes for i in shuffled[c][a_train[c]:a_train[c] + a_val[c]]]
    return train_idx, val_idx


# --------------------------------------------------------------------------- loading

_MEMO: dict[tuple, Rows] = {}


def clear_cache() -> None:
    """Forget stand-ins parsed in this process (the on-disk cache is keyed by content, so it stays valid)."""
    _MEMO.clear()


def _sha_field(sha: dict[str, str]):
    if not sha:
        return None
    if len(sha) == 1:
        return next(iter(sha.values()))
    return dict(sorted(sha.items()))


def _rows_from_loaded(spec: TaskSpec, got: sources.Loaded, source: str, title: str, extra: dict) -> Rows:
    if got.labels is not None and spec.labelled:
        bad = [lab for lab in got.labels if not 0 <= lab < spec.n_classes]
        if bad:
            raise UserError(f"{spec.name}: loader {got.origin!r} produced label {bad[0]} "
                            f"outside 0..{spec.n_classes - 1}")
    test = None
    if got.test is not None:
        test = Rows(got.test.texts, got.test.labels, [f"{spec.name}:{k}" for k in got.test.keys], title=title)
    prov = {"task": spec.name, "source": source,
            "standin_for": spec.title if source == "standin" else None,
            "title": title, "origin": got.origin, "sha256": _sha_field(got.sha256),
            "rows": len(got), "test_rows": len(got.test) if got.test is not None else None,
            "notes": got.notes, **extra}
    rows = Rows(got.texts, got.labels if spec.labelled else None, [f"{spec.name}:{k}" for k in got.keys],
                official_test=test, provenance=prov, title=title)
    if test is not None:
        test.provenance = prov
    return rows


def _downstream_texts() -> set[str]:
    out: set[str] = set()
    for spec in list_tasks("downstream"):
        if spec.user:
            continue
        out |= {sources.normalise(t) for t in load(spec.name, source="standin").texts}
    return out


def _standin_params(spec: TaskSpec) -> dict:
    return {k: v for k, v in spec.standin.items() if k not in ("loader", "title", "note", "license")}


def _load_standin(spec: TaskSpec) -> Rows:
    if not spec.standin:
        raise UserError(f"task {spec.name!r} has no stand-in; use --source paper")
    loader = spec.standin["loader"]
    params = _standin_params(spec)
    roots = {a: str(sources.base.asset_root(a)) for a in spec.assets()}   # fetches/extracts when needed
    key = (spec.name, config_hash({"standin": spec.standin, "roots": roots}))
    if key in _MEMO:
        return _MEMO[key]
    ident = {"v": CACHE_VERSION, "standin": spec.standin, "roots": roots,
             "sha": {a: sources.base.asset_sha256(a) for a in roots}}
    if loader == "corpus":   # deduplicated against the downstream stand-ins: their declarations matter too
        ident["downstream"] = {s.name: s.standin for s in _builtin().values() if s.role == "downstream"}
    cache_file = paths.sub("data") / f"{spec.name}-standin-{config_hash(ident)}.json"
    got = None
    if cache_file.exists():
        try:
            d = read_json(cache_file, checksum=True)
            got = sources.Loaded(d["texts"], d["labels"], d["keys"], d["origin"], d["sha256"], None, d["notes"])
        except (CorruptCacheEntry, KeyError, TypeError):
            got = None
    if got is None:
        fn = sources.get_loader(loader)
        if loader == "corpus":
            got = fn(params, exclude=_downstream_texts if params.get("dedupe_against") else None)
        else:
            got = fn(params)
        write_json(cache_file, dataclasses.asdict(got) | {"test": None}, checksum=True)
    rows = _rows_from_loaded(spec, got, "standin", spec.standin_title,
                             {"standin_loader": loader, "standin_note": spec.standin.get("note")})
    _MEMO[key] = rows
    return rows


def paper_params(spec: TaskSpec, path=None, test_path=None) -> dict:
    params = dict(spec.paper_source)
    params["_task"] = spec.name          # names the task in messages and in revision overrides
    if path is not None:
        params["path"] = str(path)
    if test_path is not None:
        params["test_path"] = str(test_path)
    return params


def _load_paper(spec: TaskSpec, path=None, test_path=None) -> Rows:
    if not spec.paper_source:
        raise UserError(f"task {spec.name!r} declares no paper source")
    params = paper_params(spec, path, test_path)
    got = sources.get_loader(params["format"])(params)
    return _rows_from_loaded(spec, got, "paper", spec.title, {"paper_format": params["format"]})


def paper_available(name, *, path=None, test_path=None) -> bool:
    """Whether ``source="auto"`` will try the paper's data (no network is touched to decide)."""
    spec = get_task(name)
    return bool(spec.paper_source) and sources.paper_configured(paper_params(spec, path, test_path))


def load(name, source: str = "auto", *, path=None, test_path=None) -> Rows:
    """The rows of a task.

    ``source``: ``"paper"`` (HF hub via the optional ``datasets`` package, or the original SemEval /
    Sentihood files from ``path``/``test_path`` or the env vars named in the task YAML), ``"standin"``
    (registry archives, offline) or ``"auto"`` (the paper's data when it is configured and reachable,
    else the stand-in; a hub failure falls back with a warning and is recorded in the provenance).
    User tasks always load their own files (``source`` is then ``"user"`` in the provenance).
    """
    if source not in SOURCES:
        raise unknown("data source", source, SOURCES)
    spec = get_task(name)
    if spec.user:
        return _load_user(spec)
    if source == "standin":
        return _load_standin(spec)
    if source == "paper":
        return _load_paper(spec, path, test_path)
    if not paper_available(spec, path=path, test_path=test_path):
        return _load_standin(spec)
    if spec.paper_source.get("format") != "hf_hub":
        return _load_paper(spec, path, test_path)   # a configured file that is broken is the user's to fix
    try:
        return _load_paper(spec, path, test_path)
    except UserError as exc:
        print(f"warning: {spec.name}: paper data unavailable ({exc.message}); using the offline stand-in",
              file=sys.stderr)
        rows = _load_standin(spec)
        rows.provenance = {**rows.provenance, "fallback": exc.message}
        return rows


# --------------------------------------------------------------------------- user tasks


def _user_label(raw, spec: TaskSpec, where: str) -> int:
    if isinstance(raw, bool):
        raw = str(raw)
    if isinstance(raw, int) or (isinstance(raw, float) and raw.is_integer()):
        idx = int(raw)
    elif isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        idx = int(raw.strip())
    elif isinstance(raw, str):
        key = raw.strip().lower()
        for i, (c, w) in enumerate(zip(spec.classes, spec.label_words)):
            if key in (c.lower(), w.lower()):
                return i
        raise UserError(f"{where}: label {raw!r} is not a class of task {spec.name!r} "
                        f"(classes: {', '.join(spec.classes)}; or a label word, or an index 0..{spec.n_classes - 1})")
    else:
        raise UserError(f"{where}: label {raw!r} must be a class name, a label word or an index")
    if not 0 <= idx < spec.n_classes:
        raise UserError(f"{where}: label index {idx} is outside 0..{spec.n_classes - 1} "
                        f"(classes: {', '.join(spec.classes)})")
    return idx


def _read_user_file(path: pathlib.Path, spec: TaskSpec) -> tuple[list[str], list[int] | None, list[int]]:
    """texts, labels, 1-based line numbers; raises UserError at the first bad row.
    Long because it reads both formats (CSV, JSON lines) with a message for each bad row."""
    if not path.is_file():
        raise UserError(f"{path}: data file of task {spec.name!r} does not exist (declared in {spec.path})")
    need_label = spec.labelled
    texts, labels, lines = [], [], []
    suffix = path.suffix.lower()
    try:
        content = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if suffix == ".csv":
        reader = csv.DictReader(content.splitlines(keepends=True))
        header = reader.fieldnames
        if not header:
            raise UserError(f"{path}, line 1: empty file; expected a header 'text,label' and at least one row")
        cols = [h.strip() for h in header]
        reader.fieldnames = cols
        for col in ["text"] + (["label"] if need_label else []):
            if col not in cols:
                raise UserError(f"{path}, line 1: missing column {col!r} (found: {', '.join(cols)})")
        for row in reader:
            lineno = reader.line_num
            where = f"{path}, line {lineno}"
            if None in row:
                raise UserError(f"{where}: more fields than the header's {len(cols)}")
            text = (row.get("text") or "").strip()
            if not text:
                raise UserError(f"{where}: empty text")
            texts.append(text)
            lines.append(lineno)
            if need_label:
                if row.get("label") is None:
                    raise UserError(f"{where}: missing label")
                labels.append(_user_label(row["label"], spec, where))
    elif suffix in (".jsonl", ".ndjson"):
        for lineno, line in enumerate(content.splitlines(), 1):
            if not line.strip():
                continue
            where = f"{path}, line {lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"{where}: not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise UserError(f"{where}: expected an object with 'text' and 'label'")
            for col in ["text"] + (["label"] if need_label else []):
                if col not in obj:
                    raise UserError(f"{where}: missing field {col!r}")
            text = obj["text"].strip() if isinstance(obj["text"], str) else ""
            if not text:
                raise UserError(f"{where}: empty or non-string text")
            texts.append(text)
            lines.append(lineno)
            if need_label:
                labels.append(_user_label(obj["label"], spec, where))
    else:
        raise UserError(f"{path}: unsupported data file type {suffix!r}; use .csv (text,label) or .jsonl")
    if not texts:
        raise UserError(f"{path}, line 1: no rows; expected at least one text,label row")
    return texts, (labels if need_label else None), lines


def _load_user(spec: TaskSpec) -> Rows:
    from benchmark.io import sha256_file
    path = pathlib.Path(spec.data)
    texts, labels, lines = _read_user_file(path, spec)
    sha = {path.name: sha256_file(path)}
    test = None
    if spec.test:
        tpath = pathlib.Path(spec.test)
        t_texts, t_labels, t_lines = _read_user_file(tpath, spec)
        sha[tpath.name] = sha256_file(tpath)
        test = Rows(t_texts, t_labels, [f"{spec.name}:test:{n}" for n in t_lines], title=spec.title)
    prov = {"task": spec.name, "source": "user", "standin_for": None, "title": spec.title,
            "origin": f"user file {path.name}" + (f" + {pathlib.Path(spec.test).name}" if spec.test else ""),
            "sha256": _sha_field(sha), "rows": len(texts), "test_rows": len(test) if test else None,
            "declaration": spec.path}
    rows = Rows(texts, labels, [f"{spec.name}:{n}" for n in lines], official_test=test, provenance=prov,
                title=spec.title)
    if test is not None:
        test.provenance = prov
    return rows


__all__ = ["TaskSpec", "Rows", "Split", "get_task", "list_tasks", "load", "few_shot_split", "fixed_test_rows",
           "paper_available", "clear_cache", "ROLES", "SOURCES", "TASKS_PATH_ENV"]
