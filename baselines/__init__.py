"""The methods compared in the paper's Tables 1 and 2: one file each, one registry line each."""
from __future__ import annotations

from benchmark.errors import unknown

from baselines.ft import FullModelTuning
from baselines.metapt import MetaPT
from baselines.ppt import PretrainedPromptTuning
from baselines.pt import PromptTuning
from baselines.tsne import TSNE

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
    TSNE(),
]}


def get_method(name: str):
    if name not in METHODS:
        raise unknown("method", name, METHODS)
    return METHODS[name]


def list_methods() -> list[str]:
    return list(METHODS)
