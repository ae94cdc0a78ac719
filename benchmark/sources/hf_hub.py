"""The paper's data from the HuggingFace hub (``format: hf_hub``), read at one resolved commit.

Ids, revisions and the `datasets` import are ``benchmark.hub``'s; this module turns rows into texts
and labels (``text_fields`` joined by ``join``, ``label_field`` through an optional ``label_map``).
"""
from __future__ import annotations

import importlib.util

from benchmark import hub, paths
from benchmark.errors import UserError
from benchmark.sources.base import Loaded


def _hub_rows(ds, params: dict, limit: int | None) -> tuple[list[str], list[int] | None]:
    fields = params.get("text_fields") or ["text"]
    label_field = params.get("label_field", "label")
    label_map = params.get("label_map")
    joiner = params.get("join", ". ")
    texts, labels = [], []
    for i, row in enumerate(ds):
        if limit is not None and i >= limit:
            break
        parts = [str(row[f]).strip() for f in fields if row.get(f)]
        texts.append(joiner.join(parts))
        if label_field:
            lab = row[label_field]
            labels.append(int(label_map[lab] if label_map else lab))
    return texts, (labels if label_field else None)


def load(params: dict) -> Loaded:
    """Rows from the hub at one commit: the declared (or overridden) revision is resolved to its SHA
    first and that SHA is what ``load_dataset`` gets, so the recorded commit is the one read."""
    hub_id = hub.check_hub_id(params.get("hub_id"), params.get("_task", "paper_source"))
    datasets = hub.import_datasets()
    config = params.get("config")
    streaming = bool(params.get("streaming", False))
    limit = params.get("max_rows")
    revision, revision_from = hub.requested_revision(params, params.get("_task"), hub_id)
    sha = hub.resolve_revision(hub_id, revision)

    def get(split):
        try:
            return datasets.load_dataset(hub_id, config, split=split, revision=sha, streaming=streaming)
        except Exception as exc:  # network, auth, id: all mean "cannot reach the paper's data"
            raise UserError(f"could not load {hub_id!r} split {split!r} at revision {sha[:12]} from the "
                            f"HuggingFace hub ({type(exc).__name__}: {str(exc)[:200]}); the hub is unreachable from "
                            f"here, or the repository does not load at that commit",
                            hint="`python -m benchmark data check --online` says what is wrong; "
                                 "`--source standin` runs offline on the registry stand-ins") from None

    train_split = params.get("train_split", "train")
    texts, labels = _hub_rows(get(train_split), params, limit)
    test = None
    where = f"hf:{hub_id}" + (f"/{config}" if config else "") + f"@{sha[:12]}"
    if params.get("test_split"):
        t_texts, t_labels = _hub_rows(get(params["test_split"]), params, limit)
        test = Loaded(t_texts, t_labels, [f"test:{i}" for i in range(len(t_texts))],
                      origin=f"{where}:{params['test_split']}", sha256={})
    return Loaded(texts, labels, [str(i) for i in range(len(texts))], origin=f"{where}:{train_split}",
                  sha256={}, test=test, notes={"hub_id": hub_id, "config": config, "revision": revision,
                                               "revision_from": revision_from, "revision_sha": sha,
                                               "streaming": streaming, "max_rows": limit})


def configured(params: dict) -> bool:
    """Whether ``auto`` should try the hub: not ``METAPT_OFFLINE``, and `datasets` installed."""
    if paths.offline():
        return False
    try:
        return importlib.util.find_spec("datasets") is not None
    except Exception:  # a broken or stubbed module: treat as absent
        return False
