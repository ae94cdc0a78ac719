"""Figure 3(a): MetaPT SST-5 accuracy vs the number of pre-training rows (K-means, K = 10).

The x-axis is the rows the prompt was meta-trained on (``init.pretrain_rows`` of the cells: what
was left after the pseudo-label confidence filter and the class balance), not the rows requested
(the suite's axis): where the corpus yields fewer confident rows than asked, the two differ, and a
reader of the axis needs the rows the prompt saw. The requested counts go in the caption.
"""
from __future__ import annotations

from reports import SUITES
from reports.figures._common import axis_value, line_plot, no_data, range_note
from reports.results import pick

AXIS = ("pretrain.rows", "pretrain_rows")


def fig3a(results, out_dir):
    suite, groups, note = pick(results, SUITES["fig3a"], task="sst5", axis=AXIS, method="metapt")
    if not groups:
        raise no_data("fig3a", suite)
    used = all(rows_used(g) for g in groups)
    if used:
        first = ("x: the pre-training rows the prompt was meta-trained on (after the pseudo-label confidence "
                 "filter and class balance); requested → used: " + requested_to_used(groups))
    else:
        first = "x: the pre-training rows requested (not every cell records the rows it used)"
    caption = [first, range_note(groups, AXIS, "fig3a", "requests stop"), note,
               "paper curve not transcribed (no numbers printed)"]
    return line_plot("fig3a", groups, AXIS,
                     xlabel=f"pre-training rows {'used' if used else 'requested'} (log scale)",
                     title=f"Fig. 3a: MetaPT on SST-5 vs pre-training rows {'used' if used else 'requested'}",
                     methods=["metapt"], log=10, out_dir=out_dir,
                     extra_note=" · ".join(x for x in caption if x), x_of=x_used if used else None)


def rows_used(g) -> list[int]:
    """The distinct rows the group's cells were meta-trained on (empty when a cell does not say)."""
    got = [(c.get("init") or {}).get("pretrain_rows") for c in g.cells]
    return [] if any(not isinstance(r, int) for r in got) else sorted(set(got))


def x_used(g) -> int:
    """Where a point sits on the rows-used axis: its rows used (their mean if the seeds differ)."""
    got = rows_used(g)
    return round(sum(got) / len(got))


def requested_to_used(groups) -> str:
    """'1,000 → 933, 3,000 → 2,206' for every point, in the order of the rows requested."""
    out = []
    for g in sorted(groups, key=lambda g: float(axis_value(g, AXIS))):
        got = rows_used(g)
        used = f"{got[0]:,}" if len(got) == 1 else f"{got[0]:,}–{got[-1]:,}"
        out.append(f"{axis_value(g, AXIS):,} → {used}")
    return ", ".join(out)
