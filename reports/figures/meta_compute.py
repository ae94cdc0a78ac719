"""MetaPT and PPT SST-5 accuracy vs pre-training compute (the ``meta-compute`` suite): whether MetaPT's
gap to PPT closes, opens or stays as both get more of the same budget.

The x-axis is ``pretrain.compute``, the multiple of the profile's PPT and Prompt-MAML budgets
(``config.scale_budget``), equal between the two methods in rows through the backbone at each point.
A budget is a cap that early stopping may leave unused, so the caption gives the steps each method
took (its artefacts' ``steps``, through the cells' ``init`` records).
"""
from __future__ import annotations

import statistics

from reports import SUITES
from reports.figures._common import axis_value, line_plot, no_data, range_note
from reports.results import pick

METHODS = ["metapt", "ppt"]
AXIS = ("pretrain.compute", "compute")


def meta_compute(results, out_dir):
    suite, groups, note = pick(results, SUITES["meta_compute"], task="sst5", axis=AXIS, method=METHODS)
    if not groups:
        raise no_data("meta_compute", suite)
    caption = ["x: the multiple of the profile's PPT and Prompt-MAML pre-training budgets (steps, epochs, "
               "warm-up and validation intervals), equal in rows through the backbone between the two",
               steps_note(groups), range_note(groups, AXIS, "meta_compute", "compute stops"), note]
    return line_plot("meta_compute", groups, AXIS, xlabel="pre-training compute (x the profile's budget, log scale)",
                     title="MetaPT and PPT on SST-5 vs pre-training compute", methods=METHODS, log=2,
                     out_dir=out_dir, extra_note=" · ".join(x for x in caption if x))


def steps_note(groups) -> str:
    """'steps taken (median over seeds): MetaPT 1x 24, 4x 60; PPT ...' from the cells' init records."""
    parts = []
    for method in METHODS:
        points = []
        for g in sorted((g for g in groups if g.method == method), key=lambda g: float(axis_value(g, AXIS))):
            steps = [s for s in ((c.get("init") or {}).get("steps") for c in g.cells) if isinstance(s, int)]
            if steps:
                points.append(f"{axis_value(g, AXIS):g}x {statistics.median(steps):g}")
        if points:
            parts.append(f"{'MetaPT meta' if method == 'metapt' else 'PPT'} steps {', '.join(points)}")
    return ("steps taken, median over seeds (early stopping may leave a budget unused): " + "; ".join(parts)
            if parts else "")
