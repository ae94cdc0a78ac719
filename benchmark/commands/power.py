"""``python -m benchmark power --suite NAME``: the seeds each claim needs, and what adding them costs."""
from __future__ import annotations

import pathlib
import warnings

from benchmark.errors import UserError

HELP = ("print, for the claims a suite tests, the seeds that would detect the paper's own effect with "
        "80 % power at 5 % at this run's test rows and spread, and what adding them costs")


def add_arguments(parser) -> None:
    parser.add_argument("--suite", default="sentiment7",
                        help="the suite whose claims to plan: sentiment7, clustering, pretrain-size or clusters "
                             "(default sentiment7)")
    parser.add_argument("--results", metavar="DIR", default=None,
                        help="results folder holding cells/*.json (default: the cache's results folder)")
    parser.add_argument("--profile", default=None, help="use only cells of this profile")
    parser.add_argument("--backbone", default=None, help="use only cells of this backbone")
    parser.add_argument("--draw-sd", type=float, default=None, metavar="POINTS",
                        help="SD of a pre-training draw's effect on accuracy, in points, added to comparisons whose "
                             "cells share one artefact across seeds where the variance suite's cells do not measure "
                             "it (default 2.0, an assumption; 0: plan for the shared artefact as it is)")


def run(args) -> int:
    from benchmark import paths
    from reports import plan as plan_mod, results as results_mod

    if args.suite not in plan_mod.SUITE_CLAIMS:
        raise UserError(f"no claim of the paper is tested on suite {args.suite!r}; suites with claims: "
                        f"{', '.join(plan_mod.SUITE_CLAIMS)}")
    draw_sd = plan_mod.DRAW_SD if args.draw_sd is None else args.draw_sd
    if not (draw_sd >= 0 and draw_sd < 100):
        raise UserError(f"--draw-sd {args.draw_sd} is invalid; allowed: a number of accuracy points, 0 <= x < 100")
    root = pathlib.Path(args.results).expanduser() if args.results else paths.sub("results")
    if not root.is_dir():
        raise UserError(f"results folder {str(root)!r} does not exist; pass --results DIR, or run "
                        f"`python -m benchmark run --suite {args.suite}` first")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", results_mod.ResultWarning)
        res = results_mod.load(root, profile=args.profile, backbone=args.backbone)
        res.groups()
    if not res.cells:
        raise UserError(f"{root} holds no result cells (cells/*.json written by `python -m benchmark run`): "
                        "empty, or not a results folder")
    if not any(g.suite == args.suite for g in res.groups().values()):
        have = ", ".join(res.suites()) or "none"
        raise UserError(f"{root} has no finished cells of suite {args.suite!r} (suites there: {have}); run "
                        f"`python -m benchmark run --suite {args.suite}` first")
    print(plan_mod.render(plan_mod.plan(res, args.suite, draw_sd)), end="")
    return 0
