"""Figures 2, 3a, 3b and 4, the variance figure and the meta-compute suite's: one file each, one line each in
``FIGURES``.

Each entry is ``function(results, out_dir) -> list[pathlib.Path]`` (a PNG and an SVG) and raises
:class:`NoData` (a ``UserError``) naming the suite to run when it has nothing to draw.
"""
from reports.figures._common import NoData
from reports.figures.fig2 import fig2
from reports.figures.fig3a import fig3a
from reports.figures.fig3b import fig3b
from reports.figures.fig4 import fig4
from reports.figures.meta_compute import meta_compute
from reports.figures.variance import variance_figure

FIGURES = {
    "fig2": fig2,    # SST-5 accuracy vs training examples: FT, PPT, MetaPT
    "fig3a": fig3a,  # MetaPT SST-5 accuracy vs pre-training rows
    "fig3b": fig3b,  # MetaPT SST-5 accuracy vs number of clusters K
    "fig4": fig4,    # t-SNE of K-means meta tasks, K = 3, 6, 10
    "variance": variance_figure,   # SD of each source of a method's spread: draw, split, residual
    "meta_compute": meta_compute,   # MetaPT and PPT SST-5 accuracy vs pre-training compute
}

__all__ = ["FIGURES", "NoData"]
