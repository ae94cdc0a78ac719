"""The methods compared in the paper's Tables 1 and 2: one file each, one registry line each.

A method kept outside this package is added with ``register(MyMethod())`` from its own module; to
reach ``python -m benchmark`` (and the Ray workers, which get the variable too) that module is
named in ``METAPT_METHODS`` (module names, comma-separated, importable on ``PYTHONPATH``).
"""
from __future__ import annotations

import importlib
import os

from baselines.base import Method, check_declaration
from baselines.ft import FullModelTuning
from baselines.metapt import MetaPT
from baselines.metapt_fomaml import MetaPTFirstOrder
from baselines.metapt_multitask import MetaPTMultiTask
from baselines.metapt_reptile import MetaPTReptile
from baselines.ppt import PretrainedPromptTuning
from baselines.pt import PromptTuning
from baselines.tsne import TSNE
from benchmark.errors import UserError, unknown

METHODS_ENV = "METAPT_METHODS"

METHODS = {m.name: m for m in [
    FullModelTuning(),
    PromptTuning(),
    PretrainedPromptTuning(),
    MetaPT("metapt", "MetaPT", data="pseudo", table_row="MetaPT"),
    MetaPT("metapt_y", "MetaPT(Y)", data="labelled", table_row="MetaPT(Y)"),
    MetaPT("metapt_kmeans", "MetaPT K-means", data="labelled", grouping="kmeans", table_row="K-means"),
    MetaPT("metapt_lda", "MetaPT LDA", data="labelled", grouping="lda", table_row="LDA"),
    MetaPT("metapt_random", "MetaPT random", data="labelled", grouping="random", table_row="random"),
    MetaPT("metapt_label", "MetaPT label", data="labelled", grouping="label", table_row="label"),
    MetaPTFirstOrder(),     # the same meta tasks as metapt, other ways to train the prompt on them
    MetaPTReptile(),
    MetaPTMultiTask(),
    TSNE(),
]}
BUILTIN = frozenset(METHODS)
for _method in METHODS.values():
    check_declaration(_method)


def register(method: Method) -> Method:
    """Add ``method`` (an instance) to the registry under its ``name``; returns it.

    Its declaration is checked first (``base.check_declaration``). A built-in name is refused; a
    name registered before is replaced (a module imported again registers its method again).
    """
    if not isinstance(method, Method):
        raise TypeError(f"register() takes a baselines.base.Method instance, not {type(method).__name__}")
    if method.name in BUILTIN and METHODS.get(method.name) is not method:
        raise ValueError(f"method name {method.name!r} is built in; choose another name")
    check_declaration(method)
    METHODS[method.name] = method
    return method


def _import_user_methods() -> None:
    """Import the modules ``METAPT_METHODS`` names; each registers its methods when imported."""
    for module in filter(None, (m.strip() for m in os.environ.get(METHODS_ENV, "").split(","))):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise UserError(f"${METHODS_ENV} names module {module!r}, which cannot be imported ({exc})",
                            hint="allowed: comma-separated names of modules on PYTHONPATH that call "
                                 "baselines.register") from None
        except (TypeError, ValueError) as exc:   # register() refused a method the module declares
            raise UserError(f"${METHODS_ENV} module {module!r}: {exc}") from None


def get_method(name: str):
    if name not in METHODS:
        raise unknown("method", name, METHODS)
    return METHODS[name]


def reads_a_draw(name: str) -> bool:
    """Whether method ``name``'s cells tune from a pre-training draw (``pretrain.draw``): a method with an
    artefact, or one no longer registered (its cells may have). FT and PT do not: their cells are the same
    computation, with the same key, under either protocol."""
    method = METHODS.get(name)
    return method is None or bool(method.artifact_kind)


def clusters_by_draw(name: str) -> bool:
    """Whether method ``name``'s cell makes meta tasks itself, with no artefact (the t-SNE cell): they are
    seeded by the pre-training draw the cell's seed tunes from, as the artefact methods' are."""
    method = METHODS.get(name)
    return method is not None and method.meta_tasks and not method.artifact_kind


def list_methods() -> list[str]:
    return list(METHODS)


_import_user_methods()   # last: a user module imports register from this module
