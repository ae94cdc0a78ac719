"""Paper numbers, tables and figures built from a results folder.

- :mod:`reports.paper`: the paper's reported numbers (``paper_numbers.yaml``).
- :mod:`reports.results`: ``load(dir)`` -> :class:`~reports.results.Results`; mean ± std over seeds.
- :mod:`reports.tables`: Table 1, Table 2, per-class recall, the algorithms table as Markdown (``TABLES``).
- :mod:`reports.figures`: Figures 2, 3a, 3b, 4 (``FIGURES``: name -> function(results, out_dir)).
"""

# The suite whose cells each table or figure reads (the name of ``benchmark/suites/<name>.yaml``).
# A report whose suite has no cells falls back to matching cells of another suite and says so.
SUITES = {
    "table1": "sentiment7",
    "recall": "sentiment7",
    "table2": "clustering",
    "fig2": "shots",
    "fig3a": "pretrain-size",
    "fig3b": "clusters",
    "fig4": "tsne",
    "meta_compute": "meta-compute",
    "algorithms": "algorithms",
}


def suite_spec(name: str) -> dict:
    """A built-in suite as its YAML declares it (tasks, methods, seeds): a report that tests a claim
    on each of a suite's tasks reads them from there, so that a task not run counts as not run."""
    from benchmark import config

    return config.load_suite(name)
