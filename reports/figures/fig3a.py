"""Figure 3(a): MetaPT SST-5 accuracy vs the number of pre-training rows (K-means, K = 10)."""
from __future__ import annotations

from reports import SUITES
from reports.figures._common import axis_value, line_plot, no_data
from reports.results import pick

AXIS = ("pretrain.rows", "pretrain_rows")


def fig3a(results, out_dir):
    suite, groups, note = pick(results, SUITES["fig3a"], task="sst5", axis=AXIS, method="metapt")
    if not groups:
        raise no_data("fig3a", suite)
    used = rows_used(groups)
    if used:
        note = (note + " " if note else "") + ("rows requested → rows the prompt was meta-trained on (after the "
                                               "pseudo-label confidence filter and class balance): " + used + ".")
    return line_plot("fig3a", groups, AXIS, xlabel="pre-training rows (log scale)",
                     title="Fig. 3a: MetaPT on SST-5 vs pre-training data", methods=["metapt"],
                     log=10, out_dir=out_dir,
                     extra_note=(note + " " if note else "") + "paper curve not transcribed (no numbers printed)")


def rows_used(groups) -> str:
    """'1000→335, 3000→335' for the points whose meta-training used fewer rows than requested."""
    out = []
    for g in sorted(groups, key=lambda g: float(axis_value(g, AXIS))):
        want = axis_value(g, AXIS)
        got = {c.get("init", {}).get("pretrain_rows") for c in g.cells} - {None}
        if got and got != {want}:
            out.append(f"{want}→{'/'.join(str(r) for r in sorted(got))}")
    return ", ".join(out)
