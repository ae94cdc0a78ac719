"""HuggingFace hub access: ids, revisions, metadata and reports, for data, backbones and encoders alike.

Nothing here downloads weights or rows. It decides whether the hub may be reached (``offline``,
``forced_offline``),
checks ids (``check_hub_id``: 'namespace/name', as `datasets` >= 4 requires), chooses the revision an
asset loads at (``requested_revision``: ``$METAPT_HUB_REVISIONS``, else the declaration, else ``main``)
and resolves it to the commit recorded (``resolve_revision``, ``model_source``), reads metadata
(``hub_info``, through ``hub_api``, which tests replace) and says what loading an asset would meet
(``hub_report`` for a dataset, ``model_report`` for a model: ``python -m benchmark data check --online``).

``benchmark.sources`` (the hub loader), ``benchmark.backbones`` and ``benchmark.commands.data`` import
this module; it imports only ``paths`` and ``errors``.
"""
from __future__ import annotations

import contextlib
import os
import re

from benchmark import paths
from benchmark.errors import UserError

HUB_ID_RE = re.compile(r"[A-Za-z0-9][\w.\-]*/[A-Za-z0-9][\w.\-]*")
SHA_RE = re.compile(r"[0-9a-f]{40}")
REVISIONS_ENV = "METAPT_HUB_REVISIONS"


def offline() -> bool:
    """Whether the hub is off limits: ``METAPT_OFFLINE`` or ``HF_HUB_OFFLINE`` set."""
    return paths.offline() or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")


@contextlib.contextmanager
def forced_offline():
    """A block in which the HF libraries never reach the hub (``HF_HUB_OFFLINE=1``), restored after."""
    old = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old


def check_hub_id(hub_id, where: str) -> str:
    """A hub id must be 'namespace/name': `datasets` >= 4 refuses bare legacy names such as 'imdb'."""
    if not isinstance(hub_id, str) or not HUB_ID_RE.fullmatch(hub_id):
        raise UserError(f"{where}: hub id {hub_id!r} is not 'namespace/name' (e.g. 'Yelp/yelp_review_full'); "
                        f"current `datasets` and `huggingface_hub` refuse ids without a namespace")
    return hub_id


def revision_overrides() -> dict[str, str]:
    """``$METAPT_HUB_REVISIONS`` (``name=revision,...``; name = a task, a backbone or a hub id): lets a
    user move one asset to another commit without editing the package."""
    raw = os.environ.get(REVISIONS_ENV, "").strip()
    out: dict[str, str] = {}
    for item in filter(None, (x.strip() for x in raw.split(","))):
        name, sep, rev = item.partition("=")
        if not sep or not name.strip() or not rev.strip():
            raise UserError(f"${REVISIONS_ENV}: entry {item!r} must look like NAME=REVISION "
                            f"(e.g. yelp5=main or t5-base=<40-hex commit>)")
        out[name.strip()] = rev.strip()
    return out


def requested_revision(params: dict, *names: str) -> tuple[str, str]:
    """The revision to load and where it came from: the override for the first of ``names`` that has
    one, else the declaration's ``revision``, else ``main``."""
    overrides = revision_overrides()
    for name in names:
        if name and name in overrides:
            return overrides[name], f"${REVISIONS_ENV} ({name})"
    if params.get("revision"):
        return str(params["revision"]), "declaration"
    return "main", "default (no revision declared)"


def hub_api():
    """The hub client (tests replace it)."""
    from huggingface_hub import HfApi

    return HfApi()


def hub_info(hub_id: str, revision: str, *, repo_type: str = "dataset"):
    """Hub metadata of ``hub_id`` at ``revision`` (no data is downloaded); every failure is one UserError
    saying which: the id, the revision, or the hub itself."""
    from huggingface_hub import errors as hf_errors

    api = hub_api()
    fetch = api.dataset_info if repo_type == "dataset" else api.model_info
    try:
        return fetch(hub_id, revision=revision)
    except hf_errors.RevisionNotFoundError:
        raise UserError(f"{repo_type} {hub_id!r} has no revision {revision!r} on the HuggingFace hub",
                        hint=f"use a branch, tag or 40-hex commit of {hub_id} "
                             f"(override with ${REVISIONS_ENV})") from None
    except hf_errors.RepositoryNotFoundError:
        raise UserError(f"{repo_type} {hub_id!r} does not exist on the HuggingFace hub (or is private/gated)",
                        hint="check the id's namespace and name on the hub") from None
    except Exception as exc:  # offline, DNS, timeout, HTTP 5xx
        raise UserError(f"cannot reach the HuggingFace hub for {repo_type} {hub_id!r} "
                        f"({type(exc).__name__}: {str(exc)[:160]})",
                        hint="`--source standin` runs offline on the registry stand-ins") from None


def resolve_revision(hub_id: str, revision: str, *, repo_type: str = "dataset") -> str:
    """The commit SHA that ``revision`` (branch, tag or SHA) names now: what a result records, so that a
    later change on the hub cannot pass unnoticed. A pinned 40-hex SHA is already that commit."""
    if SHA_RE.fullmatch(revision):
        return revision
    sha = getattr(hub_info(hub_id, revision, repo_type=repo_type), "sha", None)
    if not sha:
        raise UserError(f"the hub returned no commit for {repo_type} {hub_id!r} at revision {revision!r}")
    return sha


def model_source(ref: str, declared: str, label: str) -> dict:
    """The revision a hub model loads at: resolved to its commit SHA when the hub is reachable, so the
    weights read are the commit recorded (``Backbone.source``)."""
    revision, origin = requested_revision({"revision": declared}, label, ref)
    sha = None if offline() else resolve_revision(ref, revision, repo_type="model")
    return {"ref": ref, "revision": revision, "revision_from": origin, "revision_sha": sha}


def import_datasets():
    """The optional `datasets` package (>= 4: scripts refused, ids namespaced), or one UserError."""
    try:
        import datasets  # noqa: F401  (optional dependency, imported lazily)
    except ImportError:
        raise UserError("the paper's data for this task comes from the HuggingFace hub and needs the optional "
                        "`datasets` package: pip install datasets  (or pip install 'metapt-bench[online]')",
                        hint="`--source standin` runs offline on the registry stand-ins") from None
    return datasets


def _builder_splits(builder) -> dict[str, int | None]:
    """Split name -> rows (None when the metadata has no count) from a builder, without its data."""
    info = getattr(builder, "info", None)
    splits = getattr(info, "splits", None) or {}
    out = {str(name): getattr(sp, "num_examples", None) for name, sp in dict(splits).items()}
    if not out:   # JSON/CSV repositories without dataset_info metadata: the data files name the splits
        out = {str(name): None for name in dict(getattr(builder.config, "data_files", None) or {})}
    return out


def _n_label_names(feature) -> int | None:
    """The number of classes of a ClassLabel feature (None for a plain integer column)."""
    n = getattr(feature, "num_classes", None)
    return int(n) if isinstance(n, int) else None


def hub_report(params: dict, *, n_classes: int, sample: int = 0) -> list[tuple[str, str]]:
    """What loading this hub source would meet, from hub metadata only: ``[(status, line)]`` with status
    ``ok``, ``warn`` or ``FAIL``. Checks the id, the revision (resolved to a commit), the config, the
    splits, the columns and the label range; ``sample`` > 0 also streams that many rows of the train
    split to check columns and labels where the metadata has no schema.
    Long because it is one list of checks in the order a load meets them, each a few lines."""
    out: list[tuple[str, str]] = []
    task = params.get("_task", "paper_source")
    try:
        hub_id = check_hub_id(params.get("hub_id"), task)
    except UserError as exc:
        return [("FAIL", exc.message)]
    config = params.get("config")
    revision, revision_from = requested_revision(params, task, hub_id)
    try:
        sha = getattr(hub_info(hub_id, revision), "sha", None) or revision
    except UserError as exc:
        return [("FAIL", exc.message)]
    pinned = "pinned" if SHA_RE.fullmatch(revision) else f"{revision!r} resolves to"
    out.append(("ok", f"{hub_id}: revision {pinned} {sha} ({revision_from})"))
    try:
        datasets = import_datasets()
    except UserError as exc:
        return out + [("FAIL", exc.message)]
    try:
        builder = datasets.load_dataset_builder(hub_id, config, revision=sha)
    except Exception as exc:  # a script repository, an unknown config, a broken card ...
        return out + [("FAIL", f"{hub_id}@{sha[:12]}: `datasets` cannot build it ({type(exc).__name__}: "
                               f"{str(exc)[:240]})")]
    splits = _builder_splits(builder)
    wanted = [params.get("train_split", "train")] + ([params["test_split"]] if params.get("test_split") else [])
    for split in wanted:
        if split not in splits:
            out.append(("FAIL", f"{hub_id}@{sha[:12]}: split {split!r} is missing; the repository has: "
                                f"{', '.join(sorted(splits)) or 'none'}"))
        else:
            rows = splits[split]
            count = f"{rows:,} rows" if rows is not None else "rows not in the metadata"
            out.append(("ok", f"split {split!r}: {count}"))
    fields = list(params.get("text_fields") or ["text"])
    label_field = params.get("label_field", "label")
    needed = fields + ([label_field] if label_field else [])
    features = getattr(builder.info, "features", None)
    if features:
        columns = list(features)
        missing = [c for c in needed if c not in columns]
        if missing:
            out.append(("FAIL", f"{hub_id}@{sha[:12]}: column(s) {', '.join(map(repr, missing))} not in the data; "
                                f"its columns are: {', '.join(columns)}"))
        else:
            out.append(("ok", f"columns {', '.join(needed)} present"))
        if label_field and label_field in columns and not params.get("label_map"):
            n = _n_label_names(features[label_field])
            if n is None:
                out.append(("warn", f"label column {label_field!r} is not a ClassLabel: its range is not in the "
                                    f"metadata (use --sample N to look at rows)"))
            elif n != n_classes:
                out.append(("FAIL", f"{hub_id}@{sha[:12]}: label column {label_field!r} has {n} classes, "
                                    f"the task has {n_classes}"))
            else:
                out.append(("ok", f"label {label_field!r}: {n} classes, as the task"))
    elif not sample:
        out.append(("warn", "no schema in the metadata: columns and labels unchecked (use --sample N to look at rows)"))
    if sample and wanted[0] in splits:
        out += _sample_report(datasets, hub_id, config, sha, wanted[0], needed, label_field, n_classes,
                              params.get("label_map"), sample)
    return out


def _sample_report(datasets, hub_id, config, sha, split, needed, label_field, n_classes, label_map, n):
    try:
        stream = datasets.load_dataset(hub_id, config, split=split, revision=sha, streaming=True)
        rows = [row for _, row in zip(range(n), stream)]
    except Exception as exc:
        return [("FAIL", f"{hub_id}@{sha[:12]}: streaming {n} rows of {split!r} failed ({type(exc).__name__}: "
                         f"{str(exc)[:200]})")]
    if not rows:
        return [("FAIL", f"{hub_id}@{sha[:12]}: split {split!r} streamed no rows")]
    out = []
    missing = [c for c in needed if c not in rows[0]]
    if missing:
        out.append(("FAIL", f"{hub_id}@{sha[:12]}: column(s) {', '.join(map(repr, missing))} not in the rows; "
                            f"they have: {', '.join(rows[0])}"))
    elif label_field:
        labels = [row[label_field] for row in rows]
        mapped = [label_map.get(x) if label_map else x for x in labels]
        bad = sorted({str(x) for x, m in zip(labels, mapped)
                      if not isinstance(m, int) or isinstance(m, bool) or not 0 <= m < n_classes})
        if bad:
            out.append(("FAIL", f"{hub_id}@{sha[:12]}: label value(s) {', '.join(bad[:5])} "
                                f"in the first {len(rows)} rows of {split!r} are outside 0..{n_classes - 1}"))
        else:
            out.append(("ok", f"first {len(rows)} rows of {split!r}: columns present, labels "
                              f"{min(mapped)}..{max(mapped)} within 0..{n_classes - 1}"))
    else:
        out.append(("ok", f"first {len(rows)} rows of {split!r}: columns present"))
    return out


def model_report(ref: str, revision: str, revision_from: str, *, what: str) -> list[tuple[str, str]]:
    """A hub model (backbone, encoder, labeller) at a revision, from hub metadata only."""
    try:
        check_hub_id(ref, what)
        info = hub_info(ref, revision, repo_type="model")
    except UserError as exc:
        return [("FAIL", exc.message)]
    sha = getattr(info, "sha", None) or revision
    files = {getattr(f, "rfilename", None) for f in (getattr(info, "siblings", None) or [])}
    line = [("ok", f"{what} {ref}: revision {revision!r} -> {sha} ({revision_from})")]
    if files and "config.json" not in files and "modules.json" not in files:
        line.append(("FAIL", f"{what} {ref}@{sha[:12]}: no config.json in the repository"))
    return line
