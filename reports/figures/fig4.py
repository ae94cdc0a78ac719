"""Figure 4: t-SNE of the pre-training rows coloured by K-means cluster, panels K = 3, 6, 10.

A cell of the t-SNE suite holds ``{"tsne": {"k": 3, "points": [[x, y], ...], "assignments": [...]}}``.
"""
from __future__ import annotations

import numpy as np

from reports import SUITES
from reports.figures._common import add_footer, footer, no_data, plt, save, title_suffix

PAPER_K = [3, 6, 10]


def _tsne_cells(results, suite):
    def usable(c):
        t = c.get("tsne")
        return (c.get("status") == "done" and isinstance(t, dict) and t.get("points")
                and len(t.get("points")) == len(t.get("assignments") or []))
    cells = [c for c in results.cells if c.get("suite") == suite and usable(c)]
    note = ""
    if not cells:
        cells = [c for c in results.cells if usable(c)]
        if cells:
            note = f"(no cells of suite '{suite}'; using t-SNE cells of {sorted({c['suite'] for c in cells})})"
    return cells, note


def fig4(results, out_dir):
    suite = SUITES["fig4"]
    cells, note = _tsne_cells(results, suite)
    if not cells:
        raise no_data("fig4", suite, " with a 'tsne' field")
    by_k: dict[int, dict] = {}
    for c in sorted(cells, key=lambda c: (str(c.get("seed")), c.get("_path", ""))):
        pt = c.get("point") or {}
        k = int(c["tsne"].get("k") or pt.get("pretrain.k") or pt.get("k") or len(set(c["tsne"]["assignments"])))
        by_k.setdefault(k, c)  # one panel per K: the lowest seed
    ks = sorted(by_k)
    fig, axes = plt.subplots(1, len(ks), figsize=(4.2 * len(ks), 4.4), squeeze=False)
    for ax, k in zip(axes[0], ks):
        c = by_k[k]
        pts = np.asarray(c["tsne"]["points"], dtype=float)
        lab = np.asarray(c["tsne"]["assignments"])
        cmap = plt.get_cmap("tab10" if k <= 10 else "tab20")
        for j, cl in enumerate(sorted(set(lab.tolist()))):
            m = lab == cl
            ax.scatter(pts[m, 0], pts[m, 1], s=6, alpha=0.75, color=cmap(j % cmap.N), linewidths=0)
        ax.set_title(f"K = {k}  ({len(pts):,} rows, seed {c.get('seed')})", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("t-SNE 1")
        ax.set_ylabel("t-SNE 2")
    fig.suptitle(f"Fig. 4: t-SNE of pre-training rows coloured by K-means cluster "
                 f"({title_suffix(cells)})", fontsize=11)
    absent = [k for k in PAPER_K if k not in by_k]
    extra = (note + " " if note else "") + ("paper panels K = " + ", ".join(map(str, PAPER_K)))
    if absent:
        extra += "; no result for K = " + ", ".join(map(str, absent))
    fig.tight_layout()
    add_footer(fig, footer(cells, extra, axes=("pretrain.k", "k")))  # K: one value per panel
    return save(fig, out_dir, "fig4")
