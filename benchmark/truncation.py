"""What ``max_length`` cuts: the share of a task's rows whose text does not fit, and the length that
would keep 90 % of them whole. Printed by `data show` and at the start of `run`, saved in each cell.

``max_length`` counts the template (``x It was <X>.`` and the special tokens) too, so the room left
for the text is ``max_length - template length``; a row longer than that keeps only its first tokens.
"""
from __future__ import annotations

import numpy as np

KEEP = 0.9            # the share of rows the suggested max_length keeps whole
WARN_SHARE = 0.10     # `run` warns when more than this share of a task's rows is cut


def truncation(backbone, texts, max_length: int) -> dict:
    """``{"rows", "room", "truncated", "share", "median_tokens", "max_length_for_90"}`` for ``texts``."""
    texts = list(texts)
    template = backbone.template_length()
    room = max_length - template
    if not texts:
        return {"rows": 0, "room": int(room), "truncated": 0, "share": 0.0, "median_tokens": 0.0,
                "max_length_for_90": template}
    lengths = np.asarray([len(ids) for ids in backbone.token_ids(texts)], dtype=np.int64)
    cut = int((lengths > room).sum())
    return {"rows": len(texts), "room": int(room), "truncated": cut, "share": round(cut / len(texts), 4),
            "median_tokens": float(np.median(lengths)),
            "max_length_for_90": int(np.ceil(np.quantile(lengths, KEEP))) + template}


def task_truncation(backbone, rows, max_length: int) -> dict:
    """``truncation`` over all of a task's rows: its pool and, where it has one, its official test split."""
    texts = list(rows.texts) + (list(rows.official_test.texts) if rows.official_test is not None else [])
    return truncation(backbone, texts, max_length)


def describe(task: str, record: dict, max_length: int) -> str:
    """One line a reader can act on."""
    return (f"{task}: max_length {max_length} leaves {record['room']} tokens for the text; "
            f"{record['truncated']} of {record['rows']} rows ({100 * record['share']:.1f} %) are cut "
            f"(median {record['median_tokens']:.0f} tokens); max_length {record['max_length_for_90']} would keep "
            f"{int(100 * KEEP)} % whole")
