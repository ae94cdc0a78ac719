"""Configuration is data: profiles and suites are YAML files; this module reads and checks them.

* A **profile** (``benchmark/profiles/<name>.yaml``) holds every setting of a run: backbone,
  encoder, data source, prompt length, seeds, and the hyper-parameters of tuning, FT, PPT and
  Prompt-MAML. ``paper`` is the paper's; every other profile is compared with it, leaf by leaf,
  and the differences are its **reductions**, printed at start and saved with every result.
* A **suite** (``benchmark/suites/<name>.yaml``) lists tasks, methods and the ablation axis
  whose points override profile settings (``n_train``, ``pretrain.k`` …).
* ``--set a.b=value`` overrides any single setting (values are parsed as YAML scalars).
"""
from __future__ import annotations

import copy
import dataclasses
import math
import os
import re
import pathlib

import yaml

from benchmark.errors import UserError, unknown

HERE = pathlib.Path(__file__).parent
PROFILE_DIR = HERE / "profiles"
SUITE_DIR = HERE / "suites"


PROFILES_PATH_ENV = "METAPT_PROFILES_PATH"
SUITES_PATH_ENV = "METAPT_SUITES_PATH"


def _yaml_files(folder: pathlib.Path) -> dict[str, pathlib.Path]:
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def _user_files(env: str) -> dict[str, pathlib.Path]:
    """YAML files in the folders of ``$env`` (``os.pathsep``-separated), as tasks are found on
    ``METAPT_TASKS_PATH``: users add suites and profiles without editing the package."""
    found: dict[str, pathlib.Path] = {}
    for folder in filter(None, os.environ.get(env, "").split(os.pathsep)):
        folder = pathlib.Path(folder).expanduser()
        if not folder.is_dir():
            raise UserError(f"${env} names {str(folder)!r}, which is not a folder")
        for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            found.setdefault(path.stem, path)
    return found


def _find(kind: str, name: str, folder: pathlib.Path, env: str) -> pathlib.Path:
    """A built-in name, a name on ``$env``, or the path of a YAML file."""
    name = str(name)
    if name.endswith((".yaml", ".yml")) or os.sep in name:
        path = pathlib.Path(name).expanduser()
        if not path.is_file():
            raise UserError(f"{kind} file {name!r} does not exist")
        return path.resolve()
    files = {**_user_files(env), **_yaml_files(folder)}   # a built-in name wins
    if name not in files:
        raise unknown(kind, name, files)
    return files[name]


def list_profiles() -> list[str]:
    return list({**_yaml_files(PROFILE_DIR), **_user_files(PROFILES_PATH_ENV)})


def list_suites() -> list[str]:
    return list({**_yaml_files(SUITE_DIR), **_user_files(SUITES_PATH_ENV)})


def _read_yaml(path: pathlib.Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping at the top level")
    return data


def _merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_profile(name: str) -> dict:
    """A profile as a nested dict; ``extends: paper`` profiles are merged over their parent.
    ``name``: a built-in profile, one on ``$METAPT_PROFILES_PATH``, or a YAML file's path."""
    path = _find("profile", name, PROFILE_DIR, PROFILES_PATH_ENV)
    data = _read_yaml(path)
    parent = data.pop("extends", None)
    if parent:
        data = _merge(load_profile(parent), data)
    data["profile"] = path.stem if path.parent != PROFILE_DIR else name
    return data


def load_suite(name: str) -> dict:
    """A suite: a built-in name, one on ``$METAPT_SUITES_PATH``, or a YAML file's path. A file that is
    not a suite (no ``tasks`` + ``methods`` lists, nor ``include``) is refused before anything runs."""
    path = _find("suite", name, SUITE_DIR, SUITES_PATH_ENV)
    data = _read_yaml(path)
    lists = lambda key: isinstance(data.get(key), list) and data[key] and all(isinstance(x, str) for x in data[key])  # noqa: E731
    if not (lists("include") or (lists("tasks") and lists("methods"))):
        raise UserError(f"{path} is not a suite: a suite YAML has 'tasks' and 'methods' lists of names "
                        f"(optionally 'axis', 'seeds') or an 'include' list of suites; found keys "
                        f"{', '.join(map(str, data)) or 'none'}")
    data.setdefault("name", path.stem)
    return data


def parse_override(text: str) -> tuple[list[str], object]:
    if "=" not in text:
        raise UserError(f"override {text!r} must look like key.sub=value (e.g. maml.max_steps=10)")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"override {text!r}: value {raw!r} is not a valid YAML scalar or list ({problem}); "
                        "allowed: a number, true/false, null, a word or a list like [0, 1]") from None
    if isinstance(value, str) and re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+", value.strip()):
        value = float(value)   # YAML 1.1 reads 3e-5 (no dot) as a string; a user means the number
    return key.strip().split("."), value


def set_path(cfg: dict, keys: list[str], value, *, where: str = "override") -> None:
    """Set ``cfg[k1][k2]… = value``; only existing settings can be set (typos are errors).

    A key may itself hold dots (``axis_limits: {pretrain.k: 20}``): where the rest of the path names
    such a key, it is taken whole (``axis_limits.pretrain.k=10``)."""
    keys = list(keys)
    node = cfg
    for i in range(len(keys)):
        rest = ".".join(keys[i:])
        if isinstance(node, dict) and rest in node:
            keys = keys[:i] + [rest]        # the rest of the path is one key (with dots)
        key = keys[i]
        if isinstance(node, dict) and key not in node and i == len(keys) - 1 and _train_field(keys[:i], key):
            node[key] = value      # a TrainConfig setting the profile leaves at its default (ft.select_smooth)
            return
        if not isinstance(node, dict) or key not in node:
            known = sorted(node) if isinstance(node, dict) else []
            raise unknown("setting", key, known, where=f"in {where} ({'.'.join(keys[:i]) or 'top level'})")
        if i == len(keys) - 1:
            old = node[key]
            if old is not None and value is not None and isinstance(old, (int, float)) \
                    and not isinstance(old, bool) and isinstance(value, (int, float)) and not isinstance(value, bool):
                value = type(old)(value) if isinstance(old, float) else value
            elif old is not None and value is not None and type(old) is not type(value) \
                    and not (isinstance(old, list) and isinstance(value, list)) \
                    and ".".join(keys) not in _BOOL_OR_AUTO:     # checked by validate(), allowed values named
                raise UserError(f"{where}: {'.'.join(keys)} expects a {type(old).__name__}, "
                                f"got {value!r}")
            node[key] = value
            return
        node = node[key]


# Settings that choose which cells a run has, never what one cell computes: a cell's config (and so
# its key) keeps the profile's values of these, so `--seeds 0,1,2` or a narrower axis_limits reuses
# every cell already done; the values a run used are saved beside the cell as its ``run`` record.
RUN_SCOPE = ("seeds", "axis_limits")


def cell_settings(cfg: dict, profile_cfg: dict) -> dict:
    """``cfg`` with the run-scope settings as ``profile_cfg`` (the profile without overrides) sets them."""
    out = copy.deepcopy(cfg)
    for key in RUN_SCOPE:
        if key in profile_cfg:
            out[key] = copy.deepcopy(profile_cfg[key])
        else:
            out.pop(key, None)
    return out


def apply_overrides(cfg: dict, overrides: list[str]) -> dict:
    cfg = copy.deepcopy(cfg)
    for text in overrides or []:
        keys, value = parse_override(text)
        set_path(cfg, keys, value)
    validate(cfg)
    return cfg


def get(cfg: dict, dotted: str):
    node = cfg
    for key in dotted.split("."):
        node = node[key]
    return node


def reductions(cfg: dict, reference: dict | None = None, prefix: str = "") -> dict:
    """Every leaf where ``cfg`` differs from the paper profile: {dotted.key: {"paper": a, "here": b}}."""
    reference = load_profile("paper") if reference is None else reference
    out = {}
    for key, value in cfg.items():
        if key in ("profile", "description", "notes"):
            continue
        ref = reference.get(key) if isinstance(reference, dict) else None
        name = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(ref, dict):
            out.update(reductions(value, ref, name + "."))
        elif value != ref:
            out[name] = {"paper": ref, "here": value}
    return out


TRAIN_SECTIONS = ("tune", "ft", "ppt")     # the profile sections that are benchmark.train.TrainConfig


def _train_field(path: list[str], key: str) -> bool:
    import dataclasses

    from benchmark.train import TrainConfig

    return len(path) == 1 and path[0] in TRAIN_SECTIONS and key in {f.name for f in dataclasses.fields(TrainConfig)}


def train_config(section: dict):
    from benchmark.train import TrainConfig

    return TrainConfig(**section)


def maml_config(section: dict):
    from benchmark.maml import MAMLConfig

    return MAMLConfig(**section)


_NULLABLE_INTS = {"max_test", "tune.eval_every", "tune.max_steps", "ft.eval_every", "ft.max_steps",
                  "ppt.eval_every", "ppt.max_steps", "pretrain.corpus_rows"}
# true | false | auto (auto: chosen by a measured probe at start, benchmark/precision.py)
_BOOL_OR_AUTO = {"bf16": (True, False, "auto"), "maml.chunk_tasks": ("auto",)}  # chunk: auto or an int
_CHOICES = {"device": ("auto", "cpu", "cuda"), "dtype": ("float32", "float64"), "prompt_init": ("random", "uniform", "normal", "vocab", "label"),
            "maml.engine": ("batched", "l2l"), "pretrain.balance": ("min", "cap", "none"),
            "tune_group": ("none", "task-seed")}   # task-seed: benchmark.runner.assign_groups


def _describe_type(value) -> str:
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a mapping"}.get(type(value), type(value).__name__)


def _check_types(cfg, ref, prefix: str = "") -> None:
    """Every setting the paper profile has must be present and of its type (an int is a valid float)."""
    if not isinstance(cfg, dict):
        raise UserError(f"setting {prefix.rstrip('.') or 'profile'} must be a mapping, got {cfg!r}")
    for key, want in ref.items():
        name = f"{prefix}{key}"
        if key in ("profile", "description", "notes", "axis_limits"):
            continue
        if key not in cfg:
            raise UserError(f"setting {name} is missing; allowed: {_describe_type(want)} as in the paper profile")
        value = cfg[key]
        if name == "maml.chunk_tasks":
            continue    # auto or an integer 1..K: MAMLConfig.validate names the range
        if name in _BOOL_OR_AUTO:
            if not any(value is v or (isinstance(v, str) and value == v) for v in _BOOL_OR_AUTO[name]):
                raise UserError(f"setting {name} = {value!r} is invalid; allowed: true, false, auto")
            continue
        if isinstance(want, dict):
            _check_types(value, want, name + ".")
            continue
        if want is None:   # optional integers (null = no limit)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise UserError(f"setting {name} = {value!r} is invalid; allowed: null or an integer")
            continue
        ok = type(value) is type(want) or (isinstance(want, float) and isinstance(value, int)
                                            and not isinstance(value, bool))
        if not ok:
            raise UserError(f"setting {name} = {value!r} is invalid; allowed: {_describe_type(want)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise UserError(f"setting {name} = {value!r} is invalid; allowed: a finite number")


def validate(cfg: dict) -> None:
    """Refuse settings that cannot work, before any training, naming the setting and what is allowed."""
    _check_types(cfg, load_profile("paper"))
    seeds = cfg.get("seeds")
    if not isinstance(seeds, list) or any(isinstance(s, bool) or not isinstance(s, int) for s in seeds):
        raise UserError(f"setting seeds = {seeds!r} is invalid; allowed: a list of integers, e.g. [0, 1]")
    if not re.fullmatch(r"auto|cpu|cuda(:[0-9]+)?", cfg["device"]):
        raise UserError(f"setting device = {cfg['device']!r} is invalid; allowed: auto, cpu, cuda, cuda:N")
    for key, allowed in _CHOICES.items():
        if key != "device" and get(cfg, key) not in allowed:
            raise UserError(f"setting {key} = {get(cfg, key)!r} is invalid; allowed: {', '.join(allowed)}")
    if cfg["dtype"] == "float64" and cfg["bf16"] is not False:
        raise UserError(f"setting dtype = float64 with bf16 = {cfg['bf16']!r} is invalid; allowed: bf16 = false "
                        "with float64 (bf16 autocast runs a float32 backbone)")
    for key in ("backbone", "encoder"):
        if not cfg[key].strip():
            raise UserError(f"setting {key} is empty; allowed: a registered name or a local model folder")

    def positive(key, allow_zero=False):
        value = get(cfg, key)
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (value == 0 and not allow_zero):
            raise UserError(f"setting {key} = {value!r} is invalid; allowed: a number "
                            f"{'>= 0' if allow_zero else '> 0'}")

    for key in ("prompt_tokens", "max_length", "n_train", "n_val", "pretrain.k", "pretrain.rows",
                "pretrain.m"):
        positive(key)
    for key in ("max_test",):
        positive(key)
    for section in ("tune", "ft", "ppt"):
        try:
            train_config(cfg[section]).validate(section)
        except TypeError as exc:
            raise UserError(f"profile section {section!r}: {exc}") from exc
    try:
        maml_config(cfg["maml"]).validate("maml", n_tasks=cfg["pretrain"]["k"])
    except TypeError as exc:
        raise UserError(f"profile section 'maml': {exc}") from exc
    if not cfg.get("seeds"):
        raise UserError("setting seeds is empty; give at least one seed, e.g. --set seeds=[0]")
    if cfg["pretrain"]["grouping"] not in ("kmeans", "lda", "random", "label"):
        raise UserError(f"setting pretrain.grouping = {cfg['pretrain']['grouping']!r}; "
                        "allowed: kmeans, lda, random, label")
    if cfg["data_source"] not in ("auto", "paper", "standin"):
        raise UserError(f"setting data_source = {cfg['data_source']!r}; allowed: auto, paper, standin")
    if not 0 < cfg["pretrain"]["pseudo_threshold"] <= 1:
        raise UserError(f"setting pretrain.pseudo_threshold = {cfg['pretrain']['pseudo_threshold']}; "
                        "allowed: 0 < value <= 1")
    if not cfg["pretrain"]["balance_ratio"] >= 1:
        raise UserError(f"setting pretrain.balance_ratio = {cfg['pretrain']['balance_ratio']}; allowed: a number >= 1 "
                        "(pretrain.balance: cap keeps at most that many times the smallest class per class)")
    if not 0 < cfg["pretrain"]["val_fraction"] < 1:
        raise UserError(f"setting pretrain.val_fraction = {cfg['pretrain']['val_fraction']}; allowed: 0 < value < 1")
    for key in ("pretrain.corpus_rows", "pretrain.seed", "maml.weight_decay", "maml.val_tasks_per_cluster",
                "maml.checkpoint_every", "tune.weight_decay", "ft.weight_decay", "ppt.weight_decay"):
        positive(key, allow_zero=True)
    for key in ("maml.val_tasks_per_cluster", "maml.checkpoint_every", "tune.eval_every", "ft.eval_every",
                "ppt.eval_every", "tune.max_steps", "ft.max_steps", "ppt.max_steps"):
        positive(key)
    pre = cfg["pretrain"]
    if pre["k"] > pre["rows"]:
        raise UserError(f"setting pretrain.k = {pre['k']} is above the number of pre-training rows "
                        f"(pretrain.rows = {pre['rows']}); allowed: 1 <= pretrain.k <= {pre['rows']}")
    if 2 * pre["m"] > pre["rows"]:
        raise UserError(f"setting pretrain.m = {pre['m']} needs {2 * pre['m']} rows per meta task but pretrain.rows "
                        f"= {pre['rows']}; allowed: 1 <= pretrain.m <= {pre['rows'] // 2}")
    limits = cfg.get("axis_limits") or {}
    if not isinstance(limits, dict):
        raise UserError(f"setting axis_limits = {limits!r} is invalid; allowed: a mapping such as {{n_train: 320}}")
    for name, limit in limits.items():
        if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not math.isfinite(limit):
            raise UserError(f"setting axis_limits.{name} = {limit!r} is invalid; allowed: a number")


def choose_default_profile() -> tuple[str, str]:
    """``paper`` only with a CUDA GPU and the paper's data reachable, else ``cpu``; says why."""
    import torch

    if not torch.cuda.is_available():
        return "cpu", "no CUDA GPU found, so the offline `cpu` profile (smollm2-135m, stand-in data) is used"
    try:
        import datasets  # noqa: F401
    except ImportError:
        return "cpu", "a CUDA GPU is present but the `datasets` package (paper data) is missing: using `cpu`"
    import os

    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("METAPT_OFFLINE"):
        return "cpu", "a CUDA GPU is present but the hub is marked offline: using `cpu`"
    return "paper", "a CUDA GPU and the `datasets` package are present: using the paper's settings"


@dataclasses.dataclass
class Point:
    """One ablation point of a suite: settings overridden for its cells."""
    values: dict

    def label(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.values.items()) or "-"
