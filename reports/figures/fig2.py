"""Figure 2: SST-5 accuracy of FT, PPT and MetaPT as the training examples grow (10 … 2,560)."""
from __future__ import annotations

from reports import SUITES
from reports.figures._common import line_plot, no_data
from reports.results import pick

METHODS = ["ft", "ppt", "metapt"]  # the paper's three lines; PT / MetaPT(Y) are drawn when present
AXIS = ("n_train", "shots")  # the runner's axis key, and the short name


def fig2(results, out_dir):
    suite, groups, note = pick(results, SUITES["fig2"], task="sst5", axis=AXIS,
                               method=METHODS + ["pt", "metapt_y"])
    if not groups:
        raise no_data("fig2", suite)
    return line_plot("fig2", groups, AXIS, xlabel="number of training examples (log scale)",
                     title="Fig. 2: SST-5 accuracy vs training examples", methods=METHODS,
                     log=2, out_dir=out_dir,
                     extra_note=(note + " " if note else "") + "paper curve not transcribed (no numbers printed)")
