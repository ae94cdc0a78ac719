"""``python -m benchmark perf``: how fast each engine is, against the machine's own ceiling."""
from __future__ import annotations

import pathlib
import shlex
import sys

from benchmark.errors import UserError

HELP = "measure meta-step, tuning and scoring speed of every engine against the matmul ceiling"


def _ints(text: str) -> tuple:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UserError(f"expected comma-separated integers, got {text!r}") from None


def add_arguments(parser) -> None:
    parser.add_argument("--backbone", default="smollm2-135m",
                        help="registered backbone, local HF folder, or random-t5-base|random-t5-small|random-t5-mini "
                             "(randomly initialised T5 with the tiny tokenizer; default smollm2-135m)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto (default cpu)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--k", type=int, default=10, help="meta tasks per meta-step (default 10)")
    parser.add_argument("--m", type=int, default=4, help="support = query rows per task (default 4)")
    parser.add_argument("--prompt-tokens", type=int, default=20, help="soft prompt length (default 20)")
    parser.add_argument("--prompt-init", default="random", choices=["random", "vocab"],
                        help="soft prompt initialisation of the meta-step (default random, as the profiles)")
    parser.add_argument("--max-length", type=int, default=64, help="text + template tokens (default 64)")
    parser.add_argument("--first-order", action="store_true", help="first-order MAML (default second order)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per variant; medians (default 3)")
    parser.add_argument("--engines", default="l2l,batched", help="engines to time (default l2l,batched)")
    parser.add_argument("--no-ablations", action="store_true",
                        help="skip the bf16-autocast-only and no-bucketing variants")
    parser.add_argument("--skip", default="",
                        help="comma-separated parts of meta-step variant names to leave out (never the reference "
                             "or the default), e.g. 'l2l bf16,attention'")
    parser.add_argument("--tune-batch", type=int, default=4, help="prompt-tuning batch (default 4)")
    parser.add_argument("--tune-steps", type=int, default=6, help="timed prompt-tuning steps (default 6)")
    parser.add_argument("--ppt-draws", default="1,2,4",
                        help="R of the ppt-draws section: R PPT pre-training draws in one bank against R one after "
                             "another (default 1,2,4)")
    parser.add_argument("--ppt-steps", type=int, default=24, help="ppt-draws: training steps per draw (default 24)")
    parser.add_argument("--score-rows", type=int, default=192, help="rows scored per timing (default 192)")
    parser.add_argument("--score-batch", type=int, default=64, help="scoring batch (default 64)")
    parser.add_argument("--no-sweep", action="store_true", help="skip the cost-growth sweeps")
    parser.add_argument("--sweep-k", default="3,10,30", help="K values of the sweep (default 3,10,30)")
    parser.add_argument("--sweep-prompt", default="20,50,100", help="prompt lengths (default 20,50,100)")
    parser.add_argument("--sweep-text", default="16,32,64", help="text lengths in tokens (default 16,32,64)")
    parser.add_argument("--sweep-base-text", type=int, default=16,
                        help="text tokens while K or the prompt length varies (default 16)")
    parser.add_argument("--peak-n", type=int, help="matmul size of the ceiling (default 2048 CPU, 8192 GPU)")
    parser.add_argument("--sections", default="all",
                        help="comma-separated parts to run: meta, memory, bf16-inits, tune, bank, ppt-draws, "
                             "maml-bank, score, ft, sweep (default all; the ceiling and the bf16: auto decision are "
                             "always measured)")
    parser.add_argument("--attention", default="eager,sdpa",
                        help="attention kernels timed for tuning, scoring and FT (default eager,sdpa)")
    parser.add_argument("--cosine-k", type=int, default=3,
                        help="meta tasks of the bf16-vs-float64 meta-gradient comparison (default 3)")
    parser.add_argument("--memory-chunks", default="2,auto,all",
                        help="task chunks timed by the memory section: any of 2, auto, all (= K); default all three")
    parser.add_argument("--no-profile", action="store_true", help="skip the torch.profiler op breakdowns")
    parser.add_argument("--compile", action="store_true",
                        help="tune section: also time the step with torch.compile against eager, alternating "
                             "(compiling takes minutes)")
    parser.add_argument("--maml-bank-sizes", default="1,2,4,8",
                        help="R values of the maml-bank section: Prompt-MAML prompts meta-learned together "
                             "(default 1,2,4,8)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, help="output folder (default <cache>/perf)")
    parser.add_argument("--name", help="file name stem (default <backbone>-<device>)")


def config_from_args(args):
    from benchmark.perf import PerfConfig

    engines = tuple(e.strip() for e in args.engines.split(",") if e.strip())
    bad = [e for e in engines if e not in ("l2l", "batched")]
    if bad or not engines:
        raise UserError(f"unknown engine(s) {bad or args.engines!r}; valid: l2l, batched")
    from benchmark.perf import SECTIONS

    sections = SECTIONS if args.sections == "all" else tuple(x.strip() for x in args.sections.split(",") if x.strip())
    bad = [x for x in sections if x not in SECTIONS]
    if bad or not sections:
        raise UserError(f"--sections {args.sections!r}: unknown part(s) {', '.join(bad) or '(none given)'}; "
                        f"allowed: all or a comma-separated list of {', '.join(SECTIONS)}")
    attention = tuple(x.strip() for x in args.attention.split(",") if x.strip())
    if not attention or any(x not in ("eager", "sdpa") for x in attention):
        raise UserError(f"--attention {args.attention!r} is invalid; allowed: eager, sdpa or eager,sdpa")
    chunks = tuple(x.strip() for x in args.memory_chunks.split(",") if x.strip())
    if not chunks or any(x not in ("2", "auto", "all") for x in chunks):
        raise UserError(f"--memory-chunks {args.memory_chunks!r} is invalid; allowed: a comma-separated list of "
                        "2, auto, all")
    maml_bank_sizes = _ints(args.maml_bank_sizes)
    if not maml_bank_sizes or min(maml_bank_sizes) < 1:
        raise UserError(f"--maml-bank-sizes {args.maml_bank_sizes!r} is invalid; allowed: comma-separated "
                        "integers >= 1")
    for name in ("k", "m", "prompt_tokens", "max_length", "repeats", "tune_batch", "tune_steps", "score_rows",
                 "score_batch", "cosine_k", "ppt_steps"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be >= 1")
    return PerfConfig(backbone=args.backbone, device=args.device, threads=args.threads, k=args.k, m=args.m,
                      prompt_tokens=args.prompt_tokens, prompt_init=args.prompt_init, max_length=args.max_length,
                      first_order=args.first_order,
                      repeats=args.repeats, engines=engines, ablations=not args.no_ablations,
                      skip=tuple(x.strip() for x in args.skip.split(",") if x.strip()),
                      tune_batch=args.tune_batch, tune_steps=args.tune_steps, score_rows=args.score_rows,
                      score_batch=args.score_batch, sweep=not args.no_sweep, sweep_k=_ints(args.sweep_k),
                      sweep_prompt=_ints(args.sweep_prompt), sweep_text=_ints(args.sweep_text),
                      sweep_base_text=args.sweep_base_text, peak_n=args.peak_n, seed=args.seed,
                      sections=sections, attention=attention, cosine_k=args.cosine_k, profile=not args.no_profile,
                      memory_chunks=chunks, compile=args.compile, ppt_draws=_ints(args.ppt_draws),
                      ppt_steps=args.ppt_steps, maml_bank_sizes=maml_bank_sizes)


def run(args) -> int:
    from benchmark import paths, perf

    cfg = config_from_args(args)
    out = args.out or paths.sub("perf")
    name = args.name or f"{cfg.backbone.replace('/', '_')}-{cfg.device}"
    result = perf.run(cfg, partial=out / f"{name}.partial.json")
    (out / f"{name}.partial.json").unlink(missing_ok=True)
    argv = sys.argv[1:]
    command = None
    if "perf" in argv:   # the command line as typed (reproducible), when run from the CLI
        command = "python -m benchmark " + " ".join(shlex.quote(a) for a in argv[argv.index("perf"):])
    jpath, mpath = perf.write(result, out, name, command)
    print(mpath.read_text())
    print(f"wrote {jpath} and {mpath}")
    return 0

