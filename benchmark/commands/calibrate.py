"""`python -m benchmark calibrate`: choose prompt init, learning rates and budgets for a backbone
from training and validation rows (never test rows); see docs/CALIBRATION.md."""
from __future__ import annotations

import pathlib
import sys

from benchmark import paths
from benchmark.commands._common import add_profile_options, resolve_profile, seed_list
from benchmark.errors import UserError

HELP = "calibrate prompt init, learning rates and budgets on training + validation rows (report, PNG, profile fragment)"


def _numbers(text, name):
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UserError(f"calibrate: --{name} {text!r} is not a comma-separated list of numbers; "
                        "allowed: e.g. 0.003,0.03,0.3") from None


def _integers(text, name):
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UserError(f"calibrate: --{name} {text!r} is not a comma-separated list of integers; "
                        "allowed: e.g. 3,5") from None


def _schedules(text):
    out = []
    for t in (t.strip() for t in text.split(",")):
        if not t:
            continue
        try:
            lr, steps = t.split(":")
            out.append([float(lr), int(steps)])
        except ValueError:
            raise UserError(f"calibrate: --schedules entry {t!r} is not lr:steps; allowed: e.g. "
                            "0.03:100,0.01:200") from None
    return out


def add_arguments(parser) -> None:
    from benchmark.calibrate import Grid
    from benchmark.calibrate.grid import STARTS

    g = Grid()
    add_profile_options(parser)
    parser.add_argument("--out", type=pathlib.Path, metavar="DIR",
                        help="calibration folder, resumed when rerun (default <cache>/calibration/<profile>)")
    parser.add_argument("--tasks", help=f"downstream tasks (default {','.join(g.tasks)})")
    parser.add_argument("--inits", help=f"prompt inits to compare (default {','.join(g.inits)})")
    parser.add_argument("--lrs", help=f"downstream learning rates (default {','.join(map(str, g.lrs))})")
    parser.add_argument("--steps", type=int, default=g.steps, help=f"steps per tuning curve (default {g.steps})")
    parser.add_argument("--eval-every", type=int, default=g.eval_every,
                        help=f"steps between validations (default {g.eval_every})")
    parser.add_argument("--alphas", help=f"Prompt-MAML inner rates (default {','.join(map(str, g.alphas))})")
    parser.add_argument("--betas", help=f"Prompt-MAML outer rates (default {','.join(map(str, g.betas))})")
    parser.add_argument("--maml-steps", type=int, default=g.maml_steps,
                        help=f"meta-steps per beta run (default {g.maml_steps})")
    parser.add_argument("--maml-eval-every", type=int, default=g.maml_eval_every,
                        help=f"meta-steps between meta-validations (default {g.maml_eval_every})")
    parser.add_argument("--ppt-steps", type=int, help="PPT curve steps (default: the rows a Prompt-MAML run uses)")
    parser.add_argument("--pretrain-data", default=g.pretrain_data,
                        help="pseudo (MetaPT's and PPT's pool, default) or labelled (cheaper: no corpus annotation)")
    parser.add_argument("--no-maml", action="store_true", help="skip the Prompt-MAML calibration")
    parser.add_argument("--no-ppt", action="store_true", help="skip the PPT curve")
    parser.add_argument("--stab-seeds", type=seed_list, metavar="SEEDS",
                        help=f"split seeds of the stability curves, at least 3 "
                        f"(default {','.join(map(str, g.stab_seeds))})")
    parser.add_argument("--starts", help=f"starting prompts of the stability curves, of {', '.join(STARTS)} "
                        f"(default {','.join(g.starts)})")
    parser.add_argument("--schedules", help="lr:steps pairs of the stability curves (default "
                        + ",".join(f"{lr:g}:{n}" for lr, n in g.schedules) + ")")
    parser.add_argument("--patiences",
                        help=f"patiences replayed, in validations (default {','.join(map(str, g.patiences))})")
    parser.add_argument("--cadences", help=f"validation cadences replayed, in steps; multiples of --eval-every "
                        f"(default {','.join(map(str, g.cadences))})")
    parser.add_argument("--smooths", help=f"validations in the selection's trailing mean (default "
                        f"{','.join(map(str, g.smooths))}; 1 = the raw accuracy)")
    parser.add_argument("--picks", help="which checkpoint of the winning window is kept, replayed where smoothing > 1: "
                        f"latest and/or best (default {','.join(g.picks)}; "
                        "`fit` keeps the latest, so only latest can be chosen)")
    parser.add_argument("--cached-starts", action="store_true",
                        help="PPT / MetaPT starts only where their artefact is already built (skip, never build)")
    parser.add_argument("--no-stability", action="store_true", help="skip the stability curves")
    parser.add_argument("--stability-only", action="store_true",
                        help="only the stability curves (no init grid, Prompt-MAML or PPT curves; init: the profile's)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args) -> int:
    from benchmark.calibrate import Grid, calibrate

    g = Grid()
    grid = Grid(tasks=[t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else g.tasks,
                inits=[t.strip() for t in args.inits.split(",") if t.strip()] if args.inits else g.inits,
                lrs=_numbers(args.lrs, "lrs") if args.lrs else g.lrs,
                steps=args.steps, eval_every=args.eval_every,
                alphas=_numbers(args.alphas, "alphas") if args.alphas else g.alphas,
                betas=_numbers(args.betas, "betas") if args.betas else g.betas,
                maml_steps=args.maml_steps, maml_eval_every=args.maml_eval_every, ppt_steps=args.ppt_steps,
                pretrain_data=args.pretrain_data, maml=not args.no_maml, ppt=not args.no_ppt,
                stability=not args.no_stability, stability_only=args.stability_only,
                stab_seeds=args.stab_seeds or g.stab_seeds,
                starts=[t.strip() for t in args.starts.split(",") if t.strip()] if args.starts else g.starts,
                schedules=_schedules(args.schedules) if args.schedules else g.schedules,
                patiences=_integers(args.patiences, "patiences") if args.patiences else g.patiences,
                cadences=_integers(args.cadences, "cadences") if args.cadences else g.cadences,
                smooths=_integers(args.smooths, "smooths") if args.smooths else g.smooths,
                picks=[t.strip() for t in args.picks.split(",") if t.strip()] if args.picks else g.picks,
                cached_starts=args.cached_starts)
    if grid.stability_only and not grid.stability:
        raise UserError("calibrate: --stability-only with --no-stability leaves nothing to measure; "
                        "allowed: one of them")
    cfg = resolve_profile(args, stream=sys.stderr)
    out = args.out or paths.cache_dir() / "calibration" / cfg["profile"]
    calibrate(cfg, grid, out, progress=not args.no_progress)
    return 0
