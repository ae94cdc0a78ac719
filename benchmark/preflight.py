"""Checks run by ``benchmark run`` before the results directory is touched and before any training.

Everything a cell would trip over late is refused here with one ``UserError`` naming the setting
and the allowed values (the CLI exits 2, nothing is written to the results directory):

* every cell's settings (suite axis points included) pass ``config.validate``;
* each task has enough rows for ``n_train`` + ``n_val`` shots (and a test set) for every seed;
* ``pretrain.k`` does not exceed the rows of the labelled pre-training pool actually available
  (for the methods that declare pre-training data, ``Method.pretrain_data``);
* every label word (downstream tasks and, for those methods, the pre-training pool) is one token
  of the backbone (the backbone is loaded for its tokenizer; the local executor reuses it).
"""
from __future__ import annotations

import json

from benchmark import config as config_mod
from benchmark.errors import UserError
from benchmark.io import config_hash


def _uses_pretraining(method: str) -> bool:
    from baselines import get_method

    return get_method(method).pretrain_data is not None


def check_cells(cells, *, load_backbone: bool = True) -> None:
    """Refuse the run if any of ``cells`` cannot work (see the module docstring)."""
    from benchmark import data
    from benchmark.context import Context

    configs = {}
    for cell in cells:
        configs.setdefault(config_hash(cell.config), (cell.config, []))[1].append(cell)
    for cfg, group in configs.values():
        point = group[0].point
        try:
            config_mod.validate(cfg)
        except UserError as exc:
            where = f" (suite {group[0].suite} axis point {json.dumps(point)})" if point else ""
            raise UserError(f"{exc.message}{where}", hint=exc.hint) from None
        ctx = Context(cfg, progress=False)
        for task in sorted({c.task for c in group}):
            rows = ctx.rows(task)
            for seed in sorted({c.seed for c in group if c.task == task}):
                try:
                    ctx.split(task, seed)
                except UserError as exc:
                    raise UserError(f"settings n_train = {cfg['n_train']}, n_val = {cfg['n_val']} do not fit task "
                                    f"{task!r} ({len(rows)} rows): {exc.message}; allowed: n_train + n_val < "
                                    f"{len(rows) + (1 if rows.official_test is not None else 0)}",
                                    hint=exc.hint) from None
        pre = cfg["pretrain"]
        uses_pre = any(_uses_pretraining(c.method) for c in group)
        if uses_pre:
            pool = ctx.rows(pre["labelled_pool"])
            available = min(pre["rows"], len(pool))
            if pre["k"] > available:
                raise UserError(f"setting pretrain.k = {pre['k']} is above the number of pre-training rows "
                                f"({available} rows of {pre['labelled_pool']!r}); allowed: 1 <= pretrain.k <= "
                                f"{available}")
        if load_backbone:
            backbone = ctx.backbone()
            words = {t: data.get_task(t).label_words for t in sorted({c.task for c in group})}
            if uses_pre:
                words[pre["labelled_pool"]] = ctx.pretrain_label_words()
            for task, label_words in words.items():
                try:
                    backbone.label_token_ids(label_words)
                except UserError as exc:
                    raise UserError(f"task {task!r} label_words: {exc.message}; allowed: words that are one "
                                    f"token of backbone {cfg['backbone']!r}", hint=exc.hint) from None
