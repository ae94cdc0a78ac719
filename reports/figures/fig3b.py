"""Figure 3(b): MetaPT SST-5 accuracy vs the number of meta tasks K (K-means clusters, 3 … 30)."""
from __future__ import annotations

from reports import SUITES
from reports.figures._common import line_plot, no_data, range_note
from reports.results import pick

AXIS = ("pretrain.k", "k")


def fig3b(results, out_dir):
    suite, groups, note = pick(results, SUITES["fig3b"], task="sst5", axis=AXIS, method="metapt")
    if not groups:
        raise no_data("fig3b", suite)
    caption = [range_note(groups, AXIS, "fig3b", "K stops"), note, "paper curve not transcribed (no numbers printed)"]
    return line_plot("fig3b", groups, AXIS, xlabel="number of meta tasks K (K-means clusters)",
                     title="Fig. 3b: MetaPT on SST-5 vs number of meta tasks K", methods=["metapt"],
                     log=None, out_dir=out_dir, extra_note=" · ".join(x for x in caption if x))
