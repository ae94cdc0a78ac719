"""``python -m benchmark plot``: Tables 1-2, per-class recall, the algorithms table, the claims and Figures 2-4
from a results folder."""
from __future__ import annotations

import pathlib
import warnings

from benchmark.errors import UserError

HELP = ("write Tables 1-2, recall, the algorithms table, the claims with verdicts, the variance report and Figures "
        "2, 3a, 3b, 4 (Markdown, PNG, SVG) from results")

TABLE_FILES = {"table1": "table1.md", "table2": "table2.md", "recall": "recall.md", "claims": "claims.md",
               "training": "training.md", "variance": "variance.md", "algorithms": "algorithms.md"}


def add_arguments(parser) -> None:
    parser.add_argument("--results", metavar="DIR", default=None,
                        help="results folder holding cells/*.json (default: the cache's results folder)")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="where to write the report (default: <results>/report)")
    parser.add_argument("--only", metavar="NAMES", default=None,
                        help="comma-separated subset of: table1, table2, recall, claims, training, variance, "
                             "algorithms, fig2, fig3a, fig3b, fig4, meta_compute (variance: the Markdown table and "
                             "its figure)")
    parser.add_argument("--profile", default=None, help="use only cells of this profile")
    parser.add_argument("--backbone", default=None, help="use only cells of this backbone")
    parser.add_argument("--protocol", default=None, choices=["shared", "per-seed"],
                        help="use only cells of this pre-training protocol (pretrain.draw); default: per-seed "
                             "where a folder holds both")


def run(args) -> int:
    """Render the chosen tables and figures from a results folder.
    Long because it is a dispatch over every table and figure with their ``NoData`` and warning handling in one
    place."""
    from benchmark import paths
    from benchmark.errors import unknown
    from reports import claims, evidence, results as results_mod, variance
    from reports.figures import FIGURES, NoData
    from reports.tables import NO_RESULTS, TABLES

    TABLES = dict(TABLES, claims=claims.claims_md, variance=variance.variance_md)

    root = pathlib.Path(args.results).expanduser() if args.results else paths.sub("results")
    if not root.is_dir():
        raise UserError(f"results folder {str(root)!r} does not exist",
                        hint="pass --results DIR, or run `python -m benchmark run --suite NAME` first")
    out = pathlib.Path(args.out).expanduser() if args.out else root / "report"

    names = list(dict.fromkeys([*TABLES, *FIGURES]))   # variance is a table and a figure
    wanted = names
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        for n in wanted:
            if n not in names:
                raise unknown("report", n, names)

    with warnings.catch_warnings():  # printed once below, not twice
        warnings.simplefilter("ignore", results_mod.ResultWarning)
        res = results_mod.load(root, profile=args.profile, backbone=args.backbone,
                               protocol=getattr(args, "protocol", None))
        res.groups()
    for w in res.warnings:
        print(f"warning: {w}")
    print(f"read {len(res.cells)} cells ({len(res.done())} done, {len(res.failed())} not done) "
          f"of suites {', '.join(res.suites()) or 'none'} from {root}")

    scored = [c for g in res.groups().values() for c in g.cells]
    no_rows = [c for c in scored if evidence.rows(c) is None]
    if no_rows:
        print(f"note: {len(no_rows)} of {len(scored)} scored cells carry no per-row predictions (written "
              "before they were saved): their paired comparisons, majority rows and the claim verdicts "
              "that need them are marked as not computed")

    out.mkdir(parents=True, exist_ok=True)
    written, skipped = [], []
    for name in wanted:
        if name in TABLES:
            path = out / TABLE_FILES[name]
            text = TABLES[name](res)
            path.write_text(text)
            written.append(path)
            if NO_RESULTS in text:  # written anyway: it says which suite to run
                skipped.append(f"{name}: no results yet, see {path.name} for the suite to run")
        if name in FIGURES:
            try:
                written.extend(FIGURES[name](res, out))
            except NoData as exc:
                skipped.append(str(exc))
    for path in written:
        print(f"wrote {path}")
    for msg in skipped:
        print(f"missing {msg}")
    missing = [m for m in res.missing() if m["state"] == "missing"]
    if missing:
        suites = sorted({str(m["suite"]) for m in missing})
        print(f"missing: {len(missing)} cells of the manifest have no result (suites: {', '.join(suites)}); "
              "the tables list them")
    return 0
