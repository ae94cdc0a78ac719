"""The typed tree of settings (benchmark/settings.py): one validation path for profile files and
``--set``, defaults that are the paper profile's values, help on every setting, choices from the
registries, and refusals that name the key, the value and what is allowed."""
from __future__ import annotations

import copy

import pytest

from benchmark import config, settings
from benchmark.errors import UserError

METADATA = ("profile", "description")     # what a profile says about itself, not a setting of the run


def leaves(node: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in node.items():
        if isinstance(value, dict) and key != "axis_limits":
            out.update(leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_the_tree_defaults_are_the_paper_profile_and_it_requires_what_paper_has():
    paper = {k: v for k, v in leaves(config.load_profile("paper")).items() if k not in METADATA}
    tree = {key: value for key, value, _, _ in settings.rows() if key not in METADATA}
    assert set(paper) <= set(tree)
    # pretrain.draw's tree default is what an absent value means (cells made before it: one shared
    # draw); the paper profile chooses per-seed
    assert paper["pretrain.draw"] == "per-seed" and tree["pretrain.draw"] is None
    same = [k for k in paper if k != "pretrain.draw"]
    assert {k: tree[k] for k in same} == {k: paper[k] for k in same}
    optional = {k for k in tree if k not in paper}
    may_omit = {f"{s}.{n}" for s in ("tune", "ft", "ppt") for n in ("checkpoint_every", "select_smooth", "full_window")}
    may_omit |= {"pretrain.draw", "pretrain.draw_block", "pretrain.compute", "maml.algorithm"}
    assert optional == may_omit - set(paper)
    for key in optional:        # a profile may leave these out: the default applies
        section, name = key.split(".")
        assert settings.node_of([section]).field(name).metadata["optional"], key


def test_every_setting_has_a_one_line_help_and_says_what_it_allows():
    rows = settings.rows()
    assert len(rows) == len({key for key, _, _, _ in rows}) > 60
    for key, _, allowed, help in rows:
        assert help.strip() and "\n" not in help, key
        assert allowed.strip() and "\n" not in allowed, key


@pytest.mark.parametrize("section", ["", "tune", "ft", "maml", "pretrain"])
def test_an_unknown_key_names_every_key_of_its_section(section):
    kind = settings.node_of([section] if section else [])
    path = f"{section}.learning_rate" if section else "learning_rate"
    with pytest.raises(UserError) as err:
        config.apply_overrides(config.load_profile("smoke"), [f"{path}=0.1"])
    assert f"valid settings: {', '.join(sorted(kind.keys()))}" in str(err.value)
    cfg = config.load_profile("smoke")                     # the same from a profile file's dict
    (cfg[section] if section else cfg)["learning_rate"] = 0.1
    with pytest.raises(UserError, match=f"unknown setting 'learning_rate' {'in ' + section if section else 'at the'}"):
        config.validate(cfg)


def test_choices_are_read_from_the_registries(monkeypatch):
    from benchmark import maml
    from tasksets import groupings

    smoke = config.load_profile("smoke")
    refused = "pretrain.grouping = 'spectral' is invalid; allowed: kmeans, lda, random, label$"
    with pytest.raises(UserError, match=refused):
        config.apply_overrides(smoke, ["pretrain.grouping=spectral"])
    monkeypatch.setitem(groupings.GROUPINGS, "spectral", groupings.GROUPINGS["kmeans"])
    monkeypatch.setitem(maml.ENGINES, "fast", maml.ENGINES["batched"])
    cfg = config.apply_overrides(smoke, ["pretrain.grouping=spectral", "maml.engine=fast"])
    assert cfg["pretrain"]["grouping"] == "spectral" and cfg["maml"]["engine"] == "fast"


@pytest.mark.parametrize("override,message", [
    ("tune.lr=abc", "setting tune.lr = 'abc' is invalid; allowed: a number > 0"),
    ("tune.lr=.inf", "setting tune.lr = inf is invalid; allowed: a finite number > 0"),
    ("ft.eval_every=0", "setting ft.eval_every = 0 is invalid; allowed: null (once per epoch) or an integer > 0"),
    ("ppt.warmup_steps=1.5", "setting ppt.warmup_steps = 1.5 is invalid; allowed: an integer >= 0"),
    ("maml.first_order=maybe", "setting maml.first_order = 'maybe' is invalid; allowed: true or false"),
    ("maml.memory_budget_mb=0", "setting maml.memory_budget_mb = 0 is invalid; allowed: null (1/8 of the "
                                "machine's memory) or a number > 0"),
    ("pretrain.val_fraction=1", "setting pretrain.val_fraction = 1.0 is invalid; allowed: a number > 0 and < 1"),
    ("prompt_init=zeros", "setting prompt_init = 'zeros' is invalid; allowed: random, uniform, normal, vocab, label"),
    ("dtype=float16", "setting dtype = 'float16' is invalid; allowed: float32, float64"),
    ("seeds=[]", "setting seeds = [] is invalid (no seeds); allowed: distinct integers 0..4294967295, at least one"),
    ("axis_limits={n_train: big}", "setting axis_limits = {'n_train': 'big'} is invalid; allowed: a mapping"),
    ("tune=5", "setting tune = 5 is invalid; allowed: a mapping of settings (lr, warmup_steps,"),
    ("tune.lr.peak=1", "override: tune.lr is one setting, not a section; set it as tune.lr=VALUE"),
])
def test_a_refusal_names_the_key_the_value_and_what_is_allowed(override, message):
    with pytest.raises(UserError) as err:
        config.apply_overrides(config.load_profile("smoke"), [override])
    assert str(err.value).startswith(message), str(err.value)


def test_a_missing_setting_says_what_it_allows_and_the_papers_value():
    cfg = config.load_profile("smoke")
    del cfg["ft"]["lr"]
    missing = r"setting ft.lr is missing; allowed: a number > 0 \(the paper's value is 3e-05"
    with pytest.raises(UserError, match=missing):
        config.validate(cfg)


def test_validation_leaves_the_dict_as_it_is_and_a_defaulted_setting_can_be_set():
    """The dict is what cells are keyed by: checking it adds no default; a setting the profile leaves at
    its default (ft.select_smooth) is added by --set only."""
    cfg = config.load_profile("smoke")
    before = copy.deepcopy(cfg)
    tree = config.validate(cfg)
    assert cfg == before and "select_smooth" not in cfg["ft"] and tree.ft.select_smooth == 1
    assert isinstance(tree.maml, settings.MAMLConfig) and tree.maml.m == cfg["maml"]["m"]
    changed = config.apply_overrides(cfg, ["ft.select_smooth=3", "tune.lr=1"])
    assert changed["ft"]["select_smooth"] == 3 and changed["tune"]["lr"] == 1.0
    assert isinstance(changed["tune"]["lr"], float)           # 1 where the profile has a float: the same key
    assert config.train_config(changed["ft"]).select_smooth == 3


def test_a_profile_file_goes_through_the_same_path(tmp_path):
    prof = tmp_path / "mine.yaml"
    prof.write_text("extends: smoke\nmaml:\n  inner_lr: 0\n")
    with pytest.raises(UserError, match="setting maml.inner_lr = 0 is invalid; allowed: a number > 0"):
        config.apply_overrides(config.load_profile(str(prof)), [])
    prof.write_text("extends: smoke\npretrain:\n  groupings: lda\n")
    with pytest.raises(UserError, match="unknown setting 'groupings' in pretrain; valid settings: balance, "):
        config.apply_overrides(config.load_profile(str(prof)), [])


def test_profiles_md_lists_every_setting_the_cpu_profile_changes():
    """docs/PROFILES.md's table is how a reader learns what the cpu profile gives up; a setting added
    to the profile (or to the paper's) without a row there would go unsaid."""
    import pathlib
    import re

    text = (pathlib.Path(__file__).resolve().parent.parent / "docs" / "PROFILES.md").read_text()
    section = text.split("## What the `cpu` profile changes", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `([^`]+)` \|", section, flags=re.M)
    changed = config.reductions(config.load_profile("cpu"))
    assert sorted(listed) == sorted(changed), "rows of docs/PROFILES.md against the cpu profile's differences"
    count = int(re.search(r"differs in (\d+) settings", section).group(1))
    assert count == len(changed)
