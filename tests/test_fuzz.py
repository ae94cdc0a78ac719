"""Fuzz the config parser and the user-dataset loader with random input (hypothesis): every input
either works or is refused with a clear ``UserError`` (one message, exit 2 in the CLI), never a
traceback. Deterministic (``derandomize``); ``FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py`` tries more.
"""
from __future__ import annotations

import copy
import os
import pathlib
import tempfile

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import (  # noqa: E402
    HealthCheck,
    given,
    settings,
    strategies as st,  # noqa: E402
)

from benchmark import config, data  # noqa: E402
from benchmark.errors import UserError  # noqa: E402

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
SMOKE = config.load_profile("smoke")


def leaf_paths(node, prefix=()):
    for key, value in node.items():
        if isinstance(value, dict) and value:
            yield from leaf_paths(value, prefix + (key,))
        yield prefix + (key,)


PATHS = sorted(set(leaf_paths(SMOKE)))
KEYS = sorted({".".join(p) for p in PATHS})
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(["kmeans", "lda", "cpu", "cuda", "auto", "paper", "standin", "batched",
                                           "random", "vocab", "yelp5", "tiny-decoder", "hashing-64"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                        max_size=3), max_leaves=6)
raw_values = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", "0", "-1", "1e-5", "3e-5", ".nan", ".inf", "-.inf", "null", "~", "true", "[0, 1]", "[]",
                     "[a, b]", "{a: 1}", "[", "{", "'", "!!python/object:os.system", "&a [*a]", "1_000", "0x10",
                     "1e400", "- 1", "? a", "|", ">-", "%YAML", "*x"]),
    values.map(lambda v: str(v)),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=15),
                 st.builds(lambda k, s: f"{k}.{s}", st.sampled_from(KEYS), st.text(max_size=6)))
overrides = st.one_of(st.builds(lambda k, v: f"{k}={v}", keys, raw_values), st.text(max_size=30))


def set_leaf(cfg, parts, value):
    node = cfg
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):   # (an earlier change may have replaced the section itself)
        node[parts[-1]] = value


@FUZZ
@given(st.lists(overrides, max_size=4))
def test_fuzz_overrides_parse_or_refuse_clearly(texts):
    try:
        cfg = config.apply_overrides(SMOKE, texts)
    except UserError as exc:
        assert str(exc).strip()
        return
    config.train_config(cfg["tune"])          # what a valid config must allow downstream
    config.maml_config(cfg["maml"])
    assert all(isinstance(s, int) for s in cfg["seeds"])


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(PATHS), values), min_size=1, max_size=3))
def test_fuzz_profile_values_validate_or_refuse_clearly(changes):
    """A profile file with any value at any setting (as YAML would give it)."""
    cfg = copy.deepcopy(SMOKE)
    for key, value in changes:
        set_leaf(cfg, key, value)
    try:
        config.validate(cfg)
    except UserError as exc:
        assert str(exc).strip()
        return
    tc = config.train_config(cfg["ppt"])
    assert tc.lr > 0 and tc.batch_size > 0
    assert cfg["pretrain"]["k"] <= cfg["pretrain"]["rows"]


@FUZZ
@given(st.text(max_size=200))
def test_fuzz_profile_yaml_text(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "p.yaml"
        path.write_text(text)
        try:
            loaded = config._read_yaml(path)
            config.validate(config.merge(SMOKE, loaded))
        except UserError:
            pass


# -- user datasets -----------------------------------------------------------------------------

words = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=10)
labels = st.one_of(st.integers(-3, 5), st.sampled_from(["negative", "positive", "bad", "good", "0", "1", "2", " 1",
                                                        "-1", "", "neutral", "1.0", "true"]), words)
yaml_field = st.one_of(words, st.integers(), st.none(), st.lists(words, max_size=4), st.booleans(),
                       st.dictionaries(words, words, max_size=2))
specs = st.fixed_dictionaries(
    {},
    optional={"name": st.one_of(st.just("mytask"), yaml_field), "title": st.one_of(st.just("My task"), yaml_field),
              "role": st.one_of(st.sampled_from(["downstream", "pretrain-labelled", "pretrain-unlabelled"]),
                                yaml_field),
              "classes": st.one_of(st.just(["negative", "positive"]), st.lists(words, max_size=4), yaml_field),
              "label_words": st.one_of(st.just(["bad", "good"]), st.lists(words, max_size=4), yaml_field),
              "data": st.one_of(st.sampled_from(["d.csv", "d.jsonl", "missing.csv", "d.txt", "../d.csv"]), yaml_field),
              "test": st.one_of(st.just("t.csv"), yaml_field), "domain": yaml_field})
csv_cell = st.one_of(words, st.sampled_from(['"quoted, comma"', '"unterminated', "a\tb", "", " "]))
csv_rows = st.lists(st.tuples(csv_cell, labels.map(str)), max_size=12)
jsonl_lines = st.lists(st.one_of(
    st.fixed_dictionaries({"text": st.one_of(words, st.integers(), st.none()), "label": labels}),
    st.dictionaries(words, words, max_size=2).map(lambda d: d), st.just([1, 2]), st.just("{bad json"),
    st.just("")), max_size=10)


def _write_data(folder, kind, header, rows, lines, blob):
    import json

    if kind == "csv":
        text = (header + "\n" if header is not None else "") + "\n".join(f"{t},{lab}" for t, lab in rows)
        (folder / "d.csv").write_text(text, encoding="utf-8")
        (folder / "t.csv").write_text(text, encoding="utf-8")
    elif kind == "jsonl":
        out = [x if isinstance(x, str) else json.dumps(x) for x in lines]
        (folder / "d.jsonl").write_text("\n".join(out), encoding="utf-8")
    else:
        (folder / "d.csv").write_bytes(blob)


@FUZZ
@given(spec=st.one_of(specs, st.text(max_size=60)), kind=st.sampled_from(["csv", "jsonl", "bytes"]),
       header=st.one_of(st.sampled_from(["text,label", "label,text", "text", "txt,label", " text , label ", ""]),
                        st.none()),
       rows=csv_rows, lines=jsonl_lines, blob=st.binary(max_size=64),
       shots=st.tuples(st.integers(-2, 12), st.integers(-2, 12), st.integers(0, 3)))
def test_fuzz_user_dataset_loader(spec, kind, header, rows, lines, blob, shots):
    import yaml

    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        decl = folder / "mytask.yaml"
        decl.write_text(spec if isinstance(spec, str) else yaml.safe_dump(spec, allow_unicode=True))
        _write_data(folder, kind, header, rows, lines, blob)
        try:
            task = data.get_task(str(decl))
            loaded = data.load(str(decl))
        except UserError as exc:
            assert str(exc).strip()
            return
        assert len(loaded.texts) == len(loaded.ids) >= 1
        if loaded.labels is not None:
            assert all(0 <= y < len(task.classes) for y in loaded.labels)
        n_train, n_val, seed = shots
        try:
            split = data.few_shot_split(loaded, n_train=n_train, n_val=n_val, seed=seed)
        except UserError:
            return
        assert len(split.train.texts) == n_train and len(split.val.texts) == n_val and len(split.test.texts) >= 1
