"""The paper's reported numbers (``paper_numbers.yaml``), read once.

>>> from reports import paper
>>> paper.table1_cell("metapt", "sst5")
{'mean': 45.26, 'std': 0.39}
"""
from __future__ import annotations

import functools
import pathlib

import yaml

PATH = pathlib.Path(__file__).with_name("paper_numbers.yaml")


@functools.lru_cache(maxsize=1)
def numbers() -> dict:
    """The whole transcription as a dict (see the YAML for its layout)."""
    return yaml.safe_load(PATH.read_text())


def task_title(task: str) -> str:
    """The paper's name for one of our tasks ("sst5" -> "SST-5"); unknown names pass through."""
    return numbers()["tasks"].get(task, {}).get("title", task)


def method_title(method: str) -> str:
    """The paper's name for a method; for a method beyond the paper (Reptile, multi-task, a user's
    own), the title its registry line gives it; else the name itself."""
    title = numbers()["methods"].get(method)
    if title is not None:
        return title
    from baselines import get_method
    from benchmark.errors import UserError

    try:
        return get_method(method).title
    except UserError:   # a method this process does not know (a user's, not loaded): its name
        return method


def table1_cell(method: str, task: str) -> dict | None:
    """``{"mean", "std"}`` in percent, or None where the paper prints nothing."""
    return numbers()["table1"]["cells"].get(method, {}).get(task)


def table2_cell(method: str) -> dict | None:
    return numbers()["table2"]["cells"].get(method)


def recall_cell(method: str, task: str, word: str) -> float | None:
    rec = numbers()["recall"]
    if task != rec["task"]:
        return None
    return rec["cells"].get(method, {}).get(word)


def table1_diff(a: str, b: str, task: str) -> float | None:
    """The paper's Table 1 difference a − b on ``task`` as a fraction (0.0236 for 2.36 points)."""
    ca, cb = table1_cell(a, task), table1_cell(b, task)
    return None if not ca or not cb else (ca["mean"] - cb["mean"]) / 100


def table2_diff(a: str, b: str) -> float | None:
    """The paper's Table 2 difference a − b (SST-5) as a fraction."""
    ca, cb = table2_cell(a), table2_cell(b)
    return None if not ca or not cb else (ca["mean"] - cb["mean"]) / 100


def fmt(cell: dict | None) -> str:
    return "—" if not cell else f"{cell['mean']:.2f} ± {cell['std']:.2f}"
