"""Figure 2: SST-5 accuracy of FT, PPT and MetaPT as the training examples grow (10 … 2,560)."""
from __future__ import annotations

from reports import SUITES
from reports.figures._common import axis_value, line_plot, no_data, range_note
from reports.results import pick

METHODS = ["ft", "ppt", "metapt"]  # the paper's three lines; PT / MetaPT(Y) are drawn when present
AXIS = ("n_train", "shots")  # the runner's axis key, and the short name


def fig2(results, out_dir):
    suite, groups, note = pick(results, SUITES["fig2"], task="sst5", axis=AXIS,
                               method=METHODS + ["pt", "metapt_y"])
    if not groups:
        raise no_data("fig2", suite)
    caption = ["One task, SST-5: downstream accuracy as its training examples grow",
               range_note(groups, AXIS, "fig2", "training examples stop"), budget_note(groups),
               note, "paper curve not transcribed (no numbers printed)"]
    return line_plot("fig2", groups, AXIS, xlabel="SST-5 training examples (log scale)",
                     title="Fig. 2: SST-5 accuracy vs training examples", methods=METHODS,
                     log=2, out_dir=out_dir, extra_note=" · ".join(x for x in caption if x))


def budget_note(groups) -> str:
    """The training steps the cells could take (``train.budget``): a budget fixed in steps stops
    growing with the training set, so past the point where it binds more examples bring no more
    training, and the curves flatten for that reason alone."""
    by_x: dict = {}
    for g in groups:
        for c in g.cells:
            t = c.get("train") or {}
            if isinstance(t.get("budget"), (int, float)):
                by_x.setdefault(axis_value(g, AXIS), []).append(t)
    if not by_x:
        return ""
    cap = max(t["budget"] for ts in by_x.values() for t in ts)
    binds = min(x for x, ts in by_x.items() if all(t["budget"] == cap for t in ts))
    last = max(by_x)
    # the epochs of a cell that used its whole budget (one stopped early trained fewer)
    epochs = [t["epochs"] for t in by_x[last] if isinstance(t.get("epochs"), (int, float))]
    at_last = f" ({max(epochs):g} epochs at {last:,})" if epochs and last > binds else ""
    return (f"every cell trains at most {cap:,} steps: from {binds:,} examples on this fixed budget binds"
            f"{at_last}, so more examples bring no more training steps, which flattens the curves")
