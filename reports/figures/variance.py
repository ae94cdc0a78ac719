"""The variance report's figure: per method, the SD of each source of its spread with its 95 %
interval (:mod:`reports.variance`), pooled over the tasks of its crossed design."""
from __future__ import annotations

import math

import numpy as np

from reports import paper, variance as var
from reports.figures._common import NoData, add_footer, footer, plt, save

COLOURS = {"a": "#9467bd", "b": "#17becf", "e": "#bcbd22"}


def variance_figure(results, out_dir):
    found = var.designs(results)
    if not found:
        raise NoData(f"variance: {var.NO_CELLS.lower()} (suite '{var.SUITE}'); run python -m benchmark run "
                     f"--suite {var.SUITE}")
    fig, ax = plt.subplots(figsize=(1.6 + 1.9 * len(found), 3.6))
    width = 0.26
    for i, design in enumerate(found):
        fit, share = design.fit(), var.shares(design.fit())
        for j, (k, name) in enumerate(var.COMPONENTS):
            sd = math.sqrt(fit[k]["var"])
            err = [[sd - math.sqrt(fit[k]["lo"])], [math.sqrt(fit[k]["hi"]) - sd]]
            x = i + (j - 1) * width
            ax.bar(x, sd, width, color=COLOURS[k], label=name if i == 0 else None)
            ax.errorbar(x, sd, yerr=err, color="black", capsize=3, linewidth=1)
            if not math.isnan(share[k]):
                ax.text(x, 0, f"{100 * share[k]:.0f}%", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(np.arange(len(found)))
    ax.set_xticklabels([f"{paper.method_title(d.method)}\n{d.y.shape[1]} draws x {d.y.shape[2]} seeds"
                        + (f" x {len(d.tasks)} tasks" if len(d.tasks) > 1 else "") for d in found], fontsize=8)
    ax.set_ylabel("SD of accuracy, points")
    ax.set_title("Where the spread comes from (ANOVA components, pooled over tasks)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)   # outside: never on a whisker
    caption = ("bars: 95 % modified large-sample intervals (Ting, Burdick & Graybill 1990); "
               "labels: share of the variance")
    add_footer(fig, footer(results.select(suite=var.SUITE), caption, axes=[var.DRAW_AXIS]))
    return save(fig, out_dir, "variance")
