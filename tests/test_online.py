"""The paper's hub data and models, with the hub mocked (no network): the arguments each loader passes,
namespaced ids, revisions resolved to commits and recorded, and `data check --online`'s verdicts.

`datasets` is not installed here: a fake module is put in ``sys.modules``; the hub client is replaced
through ``benchmark.hub.hub_api``.
"""
from __future__ import annotations

import sys
import types

import pytest
from huggingface_hub import errors as hf_errors

from benchmark import data, hub
from benchmark.errors import UserError

SHA_MAIN = "a" * 40


def _response():
    import requests
    r = requests.Response()
    r.status_code, r.url = 404, "https://hub.invalid/api"
    return r


class FakeHub:
    """dataset_info / model_info: known ids at 'main' (-> SHA_MAIN) or at any 40-hex SHA."""

    def __init__(self, known=("*",)):
        self.known = set(known)
        self.calls = []

    def _info(self, repo_id, revision):
        self.calls.append((repo_id, revision))
        if "*" not in self.known and repo_id not in self.known:
            raise hf_errors.RepositoryNotFoundError(f"404 {repo_id}", response=_response())
        if revision == "main":
            return types.SimpleNamespace(sha=SHA_MAIN, siblings=[types.SimpleNamespace(rfilename="config.json")])
        if hub.SHA_RE.fullmatch(revision or ""):
            return types.SimpleNamespace(sha=revision, siblings=[types.SimpleNamespace(rfilename="config.json")])
        raise hf_errors.RevisionNotFoundError(f"no revision {revision}", response=_response())

    def dataset_info(self, repo_id, revision=None):
        return self._info(repo_id, revision)

    def model_info(self, repo_id, revision=None):
        return self._info(repo_id, revision)


class ClassLabel:
    def __init__(self, n):
        self.num_classes = n


class FakeDatasets(types.ModuleType):
    """load_dataset records its arguments and yields rows; load_dataset_builder serves metadata."""

    def __init__(self, rows=None, splits=("train", "test"), features=None):
        super().__init__("datasets")
        self.rows = rows if rows is not None else [{"text": f"t{i}", "label": i % 5} for i in range(10)]
        self.splits = splits
        self.features = features
        self.load_calls = []
        self.builder_calls = []

    def load_dataset(self, path, name=None, *, split=None, revision=None, streaming=False):
        self.load_calls.append({"path": path, "name": name, "split": split, "revision": revision,
                                "streaming": streaming})
        return iter(list(self.rows))

    def load_dataset_builder(self, path, name=None, *, revision=None):
        self.builder_calls.append({"path": path, "name": name, "revision": revision})
        splits = {s: types.SimpleNamespace(num_examples=100) for s in self.splits}
        return types.SimpleNamespace(info=types.SimpleNamespace(splits=splits, features=self.features),
                                     config=types.SimpleNamespace(data_files={}))


@pytest.fixture
def fake_hub(monkeypatch):
    fake = FakeHub()
    monkeypatch.setattr(hub, "hub_api", lambda: fake)
    monkeypatch.delenv(hub.REVISIONS_ENV, raising=False)
    monkeypatch.delenv("METAPT_OFFLINE", raising=False)
    return fake


def install_datasets(monkeypatch, **kw):
    fake = FakeDatasets(**kw)
    monkeypatch.setitem(sys.modules, "datasets", fake)
    return fake


# ---------------------------------------------------------------- ids


def test_every_builtin_hub_id_has_a_namespace():
    hub_specs = [s for s in data.list_tasks() if s.paper_source.get("format") == "hf_hub"]
    assert {s.name for s in hub_specs} == {"sst5", "sst2", "amazon5", "amazon2", "yelp5", "openwebtext"}
    for spec in hub_specs:
        assert hub.HUB_ID_RE.fullmatch(spec.paper_source["hub_id"]), spec.name
        assert spec.paper_source.get("revision"), f"{spec.name} declares no revision"


def test_hub_backbones_have_namespaced_ids():
    from benchmark import backbones
    for entry in backbones.list_backbones():
        if entry.source == "hub":
            assert hub.HUB_ID_RE.fullmatch(entry.ref) and entry.revision, entry.name


@pytest.mark.parametrize("bad", ["yelp_review_full", "imdb", "/x", "a/b/c", "", None])
def test_namespace_less_id_is_refused(bad):
    with pytest.raises(UserError, match="namespace/name"):
        hub.check_hub_id(bad, "task x")


def test_task_yaml_with_a_bare_hub_id_is_refused(tmp_path):
    decl = tmp_path / "t.yaml"
    decl.write_text("name: t\nclasses: [a, b]\nlabel_words: [bad, good]\ndata: x.csv\n"
                    "paper_source: {format: hf_hub, hub_id: imdb}\n")
    with pytest.raises(UserError, match="'imdb' is not 'namespace/name'"):
        data.get_task(str(decl))


# ---------------------------------------------------------------- loader arguments


def test_loader_passes_id_config_resolved_revision_split_and_streaming(fake_hub, monkeypatch):
    ds = install_datasets(monkeypatch)
    rows = data.load("yelp5", source="paper")
    spec = data.get_task("yelp5")
    pinned = spec.paper_source["revision"]
    assert ds.load_calls == [{"path": "Yelp/yelp_review_full", "name": "yelp_review_full", "split": "train",
                              "revision": pinned, "streaming": False}]
    notes = rows.provenance["notes"]
    assert notes["revision_sha"] == pinned and notes["revision_from"] == "declaration"
    assert rows.provenance["origin"] == f"hf:Yelp/yelp_review_full/yelp_review_full@{pinned[:12]}:train"


def test_named_revision_is_resolved_before_loading_and_recorded(fake_hub, monkeypatch):
    ds = install_datasets(monkeypatch, rows=[{"label": i % 2, "title": "T", "content": f"c{i}"} for i in range(6)])
    rows = data.load("amazon2", source="paper")
    # 'main' was asked of the hub and the data read at the commit it named, train then test
    assert ("fancyzhx/amazon_polarity", "main") in fake_hub.calls
    assert [(c["split"], c["revision"], c["name"]) for c in ds.load_calls] == \
        [("train", SHA_MAIN, "amazon_polarity"), ("test", SHA_MAIN, "amazon_polarity")]
    assert rows.provenance["notes"]["revision"] == "main"
    assert rows.provenance["notes"]["revision_sha"] == SHA_MAIN
    assert rows.texts[0] == "T. c0"


def test_openwebtext_streams_at_its_pinned_parquet_commit(fake_hub, monkeypatch):
    ds = install_datasets(monkeypatch, rows=[{"text": f"doc {i}"} for i in range(5)])
    rows = data.load("openwebtext", source="paper")
    assert ds.load_calls == [{"path": "Skylion007/openwebtext", "name": None, "split": "train",
                              "revision": "963532436460638ab26b7633e23776e6c7e37d59", "streaming": True}]
    assert rows.labels is None and len(rows) == 5


def test_revision_override_from_the_environment(fake_hub, monkeypatch):
    ds = install_datasets(monkeypatch)
    monkeypatch.setenv(hub.REVISIONS_ENV, "sst5=main")
    rows = data.load("sst5", source="paper")
    assert {c["revision"] for c in ds.load_calls} == {SHA_MAIN}
    assert rows.provenance["notes"]["revision_from"].startswith("$METAPT_HUB_REVISIONS")


def test_revision_that_does_not_exist_is_one_clear_error(fake_hub, monkeypatch):
    ds = install_datasets(monkeypatch)
    monkeypatch.setenv(hub.REVISIONS_ENV, "sst2=no-such-branch")
    with pytest.raises(UserError, match="dataset 'SetFit/sst2' has no revision 'no-such-branch'"):
        data.load("sst2", source="paper")
    assert ds.load_calls == []          # nothing was read


def test_unknown_repository_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(hub, "hub_api", lambda: FakeHub(known={"someone/else"}))
    install_datasets(monkeypatch)
    with pytest.raises(UserError, match="'SetFit/sst2' does not exist on the HuggingFace hub"):
        data.load("sst2", source="paper")


def test_malformed_override_is_refused(monkeypatch):
    monkeypatch.setenv(hub.REVISIONS_ENV, "sst5")
    with pytest.raises(UserError, match="NAME=REVISION"):
        hub.revision_overrides()


def test_hub_backbone_loads_at_the_resolved_commit(fake_hub, monkeypatch):
    from benchmark import backbones
    seen = {}

    def fake_load_hf(ref, kind, *, local, dtype, attn, label, revision=None):
        seen.update(ref=ref, revision=revision)
        model, tok = backbones.build_tiny("encoder-decoder")
        return model, tok, "encoder-decoder"

    monkeypatch.setattr(backbones.loading, "_load_hf", fake_load_hf)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(hub, "offline", lambda: False)
    bb = backbones.load("t5-small")
    assert seen == {"ref": "google-t5/t5-small", "revision": SHA_MAIN}
    assert bb.source == {"ref": "google-t5/t5-small", "revision": "main", "revision_from": "declaration",
                         "revision_sha": SHA_MAIN}


# ---------------------------------------------------------------- data check --online


def check(capsys, *argv):
    from benchmark.cli import main
    rc = main(["data", "check", "--online", *argv])
    return rc, capsys.readouterr().out


def test_check_online_passes_when_everything_resolves(fake_hub, monkeypatch, capsys):
    install_datasets(monkeypatch, features={"text": object(), "label": ClassLabel(5)})
    rc, out = check(capsys, "--tasks", "sst5")
    assert rc == 0, out
    assert "ok    sst5" in out and "split 'test': 100 rows" in out and "5 classes, as the task" in out
    assert f"backbone             backbone google-t5/t5-base: revision 'main' -> {SHA_MAIN}" in out


def test_check_online_reports_a_missing_split(fake_hub, monkeypatch, capsys):
    install_datasets(monkeypatch, splits=("train", "validation"), features={"text": 1, "label": ClassLabel(5)})
    rc, out = check(capsys, "--tasks", "sst5")
    assert rc == 1
    assert "split 'test' is missing; the repository has: train, validation" in out
    assert "1 asset(s) will fail: sst5" in out


def test_check_online_reports_a_wrong_column(fake_hub, monkeypatch, capsys):
    install_datasets(monkeypatch, features={"review": 1, "stars": ClassLabel(5)})
    rc, out = check(capsys, "--tasks", "yelp5")
    assert rc == 1
    assert "column(s) 'text', 'label' not in the data; its columns are: review, stars" in out


def test_check_online_reports_a_label_range_mismatch(fake_hub, monkeypatch, capsys):
    install_datasets(monkeypatch, features={"text": 1, "label": ClassLabel(3)})
    rc, out = check(capsys, "--tasks", "sst2")
    assert rc == 1 and "label column 'label' has 3 classes, the task has 2" in out


def test_check_online_sample_finds_labels_out_of_range(fake_hub, monkeypatch, capsys):
    ds = install_datasets(monkeypatch, rows=[{"text": "x", "label": v} for v in (1, 2, 3, 4, 5)])
    rc, out = check(capsys, "--tasks", "amazon5", "--sample", "5")
    assert rc == 1 and "label value(s) 5 in the first 5 rows of 'train' are outside 0..4" in out
    assert ds.load_calls[-1]["streaming"] is True


def test_check_online_reports_a_script_repository(fake_hub, monkeypatch, capsys):
    ds = install_datasets(monkeypatch)

    def refuse(*a, **k):
        raise RuntimeError("Dataset scripts are no longer supported, but found openwebtext.py")

    ds.load_dataset_builder = refuse
    rc, out = check(capsys, "--tasks", "openwebtext")
    assert rc == 1 and "Dataset scripts are no longer supported" in out


def test_check_online_reports_a_missing_revision_and_repository(monkeypatch, capsys):
    monkeypatch.setattr(hub, "hub_api", lambda: FakeHub(known={"SetFit/sst2"}))
    monkeypatch.setenv(hub.REVISIONS_ENV, "sst2=v9")
    install_datasets(monkeypatch)
    rc, out = check(capsys, "--tasks", "sst2,sst5")
    assert rc == 1
    assert "has no revision 'v9'" in out
    assert "'SetFit/sst5' does not exist on the HuggingFace hub" in out


def test_check_unknown_task_exits_2(capsys):
    from benchmark.cli import main
    assert main(["data", "check", "--tasks", "nosuchtask"]) == 2
