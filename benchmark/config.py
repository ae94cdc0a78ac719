"""Configuration is data: profiles and suites are YAML files; this module reads them and applies
overrides, and ``benchmark.settings`` (the typed tree of every setting) checks them.

* A **profile** (``benchmark/profiles/<name>.yaml``) holds every setting of a run: backbone,
  encoder, data source, prompt length, seeds, and the hyper-parameters of tuning, FT, PPT and
  Prompt-MAML. ``paper`` is the paper's; every other profile is compared with it, leaf by leaf,
  and the differences are its **reductions**, printed at start and saved with every result.
* A **suite** (``benchmark/suites/<name>.yaml``) lists tasks, methods and the ablation axis
  whose points override profile settings (``n_train``, ``pretrain.k`` …).
* ``--set a.b=value`` overrides any single setting (values are parsed as YAML scalars).

A profile stays a nested dict: cells are keyed by it and saved with it as it is.
"""
from __future__ import annotations

import copy
import dataclasses
import os
import pathlib
import re

import yaml

from benchmark import settings
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


def merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
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
        data = merge(load_profile(parent), data)
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
    """Set ``cfg[k1][k2]… = value``: only a setting of the tree (``benchmark.settings``) can be set, and
    an unknown key is refused naming every valid key of its section. The value is checked by
    ``validate`` afterwards; a setting the profile leaves at its default (``ft.select_smooth``) is added.

    A key may itself hold dots (``axis_limits: {pretrain.k: 20}``): where the rest of the path names
    such a key, it is taken whole (``axis_limits.pretrain.k=10``). Such a mapping's valid keys are those
    it holds."""
    keys = list(keys)
    node = cfg
    for i in range(len(keys)):
        rest = ".".join(keys[i:])
        if isinstance(node, dict) and rest in node:
            keys = keys[:i] + [rest]        # the rest of the path is one key (with dots)
        key, path = keys[i], ".".join(keys[:i])
        if not isinstance(node, dict):
            raise UserError(f"{where}: {path} is one setting, not a section; set it as {path}=VALUE")
        kind = settings.node_of(keys[:i])
        valid = kind.keys() if kind else list(node)
        if key not in valid:
            raise unknown("setting", key, valid, where=f"in {where} ({path or 'top level'})")
        if i == len(keys) - 1:
            old = node.get(key)
            if isinstance(old, float) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)       # 1 where the profile has 1.0: the same setting, the same key
            node[key] = value
            return
        if key not in node and settings.node_of(keys[:i + 1]):
            node[key] = {}
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


# The settings ``pretrain.compute`` multiplies: the whole run stretched, so the learning-rate schedule keeps
# its shape, a run validates as often per budget, and early stopping waits the same share of it.
COMPUTE_SCALED = {"ppt": ("max_steps", "max_epochs", "warmup_steps", "eval_every", "checkpoint_every"),
                  "maml": ("max_steps", "eval_every", "checkpoint_every")}


def scale_budget(cfg: dict, section: str) -> dict:
    """``cfg[section]`` with its budget settings (``COMPUTE_SCALED``) multiplied by ``pretrain.compute``
    (rounded, at least 1; null stays null); a section it does not scale, or a compute of 1, as it is."""
    factor = cfg.get("pretrain", {}).get("compute", 1)
    out = dict(cfg[section])
    if factor == 1 or section not in COMPUTE_SCALED:
        return out
    for name in COMPUTE_SCALED[section]:
        if out.get(name) is not None:
            out[name] = max(1, round(out[name] * factor))
    return out


def train_config(section: dict) -> settings.TrainConfig:
    """A checked ``tune``, ``ft`` or ``ppt`` section, typed."""
    return settings.TrainConfig(**section)


def maml_config(section: dict) -> settings.MAMLConfig:
    return settings.MAMLConfig(**section)


def validate(cfg: dict) -> settings.Settings:
    """Refuse settings that cannot work, before any training, naming the setting, its value and what is
    allowed (``settings.check``, the one validation path); ``cfg`` is left as it is."""
    return settings.check(cfg)


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
