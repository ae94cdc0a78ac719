"""How the cells' training went, per suite and method: the cells that kept their initial prompt or
weights (best validation at step 0), those whose best came within the first tenth of the budget,
the validations run, and what ``max_length`` cut in the tasks (cells that recorded it)."""
from __future__ import annotations

import statistics

from baselines.base import EARLY_FRACTION, train_diagnostics


def training_table(res) -> str:
    rows: dict = {}
    cut: dict = {}
    for cell in res.done():
        train = cell.get("train") or {}
        if train.get("best_step") is None:
            continue
        key = (cell.get("suite") or "?", cell.get("method"))
        diag = train_diagnostics(train, cell.get("config"), cell.get("method"))
        rows.setdefault(key, []).append(diag)
        if cell.get("truncation"):
            cut.setdefault(cell["task"], cell["truncation"])
    parts = ["# Training diagnostics", "",
             "A cell that *kept its start* chose its initial prompt (or weights) as the best on validation, "
             f"so its tuning changed nothing; *best early*: the best came within the first "
             f"{int(100 * EARLY_FRACTION)} % of the step budget. Many of either say the budget, the learning "
             "rate or the validation set decide more than the method does.", "",
             "| suite | method | cells | kept its start | best early | validations (median) |",
             "|---|---|---:|---:|---:|---:|"]
    for (suite, method), diags in sorted(rows.items()):
        n = len(diags)
        kept = sum(bool(d["kept_initial"]) for d in diags)
        early = sum(bool(d["best_early"]) for d in diags)
        vals = statistics.median(d["validations"] for d in diags)
        parts.append(f"| {suite} | {method} | {n} | {kept} | {early} | {vals:g} |")
    if not rows:
        parts.append("| - | - | 0 | - | - | - |")
    parts += ["", "## What max_length cuts", ""]
    if cut:
        parts += ["| task | rows | cut | share | median tokens | max_length keeping 90 % |",
                  "|---|---:|---:|---:|---:|---:|"]
        for task, t in sorted(cut.items()):
            parts.append(f"| {task} | {t['rows']} | {t['truncated']} | {100 * t['share']:.1f} % | "
                         f"{t['median_tokens']:g} | {t['max_length_for_90']} |")
    else:
        parts.append("No cell here recorded it (cells made before truncation was measured); "
                     "`python -m benchmark data show TASK` prints it.")
    return "\n".join(parts) + "\n"
