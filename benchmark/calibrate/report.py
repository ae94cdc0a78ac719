"""What calibration writes: report.md, curves.png, profile-fragment.yaml and summary.json."""
from __future__ import annotations

import copy
import pathlib

import numpy as np
import yaml

from benchmark import config as config_mod
from benchmark.calibrate.choice import SMOOTH
from benchmark.calibrate.grid import Grid
from benchmark.io import write_json


def fragment_profile(cfg_profile: str, fragment: dict) -> dict:
    """The profile that the fragment makes: ``cfg_profile`` with the fragment merged over it, validated."""
    cfg = config_mod.merge(config_mod.load_profile(cfg_profile), copy.deepcopy(fragment))
    config_mod.validate(cfg)
    return cfg


def _overrides(fragment: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in fragment.items():
        if isinstance(v, dict):
            out += _overrides(v, f"{prefix}{k}.")
        else:
            out.append(f"{prefix}{k}={v}")
    return out


def write_outputs(out: pathlib.Path, cfg: dict, grid: Grid, summary: dict) -> None:
    from benchmark.io import atomic_path

    fragment = summary["fragment"]
    with atomic_path(out / "profile-fragment.yaml") as tmp:
        tmp.write_text(f"# made by `python -m benchmark calibrate` for profile {cfg['profile']} ({cfg['backbone']});\n"
                       "# merge it into a profile, or pass each line as --set key=value\n"
                       + yaml.safe_dump(fragment, sort_keys=True))
    write_json(out / "summary.json", summary)
    _plot(out / "curves.png", grid, summary)
    if "stability" in summary:
        _plot_stability(out / "stability.png", grid, summary["stability"])
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(report_markdown(cfg, grid, summary))


def _plot(path: pathlib.Path, grid: Grid, summary: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmark.io import atomic_path

    tasks = grid.tasks if "curves" in summary else []
    panels = len(tasks) + (1 if "maml" in summary else 0) + (1 if "ppt" in summary else 0)
    if not panels:
        return
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.4), squeeze=False)
    axes = axes[0]
    for ax, task in zip(axes, tasks):
        for init in grid.inits:
            for lr in grid.lrs:
                ev = np.asarray(summary["curves"][f"{task}|{init}|{lr}"]["evaluations"])
                ax.plot(ev[:, 0], ev[:, 1], marker=".", lw=1, label=f"{init} lr={lr:g}")
        ax.set(title=f"{task}: validation accuracy", xlabel="step", ylabel="accuracy")
    i = len(tasks)
    if "maml" in summary:
        ax = axes[i]
        for b, r in summary["maml"]["betas"].items():
            ev = np.asarray(r["evaluations"])
            ax.plot(ev[:, 0], ev[:, 1], marker=".", label=f"beta={float(b):g}")
        ax.set(title=f"Prompt-MAML meta-validation (alpha={summary['maml']['alpha_chosen']:g})",
               xlabel="meta-step", ylabel="accuracy")
        ax.legend(fontsize=7)
        i += 1
    if "ppt" in summary:
        ev = np.asarray(summary["ppt"]["evaluations"])
        axes[i].plot(ev[:, 0], ev[:, 1], marker=".")
        axes[i].set(title=f"PPT pre-training (lr={summary['ppt']['lr']:g})", xlabel="step", ylabel="val accuracy")
    if tasks:
        axes[0].legend(fontsize=6)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def report_markdown(cfg: dict, grid: Grid, summary: dict) -> str:
    lines = [f"# Calibration: {cfg['backbone']} (profile `{cfg['profile']}`)", "",
             "Every number here comes from training and validation rows; no test row was read. "
             "The rules are in docs/CALIBRATION.md.", ""]
    if "tuning" in summary:
        lines += _tuning_section(cfg, grid, summary)
    if "stability" in summary:
        lines += stability_section(cfg, grid, summary["stability"])
    return _rest(cfg, grid, summary, lines)


def _tuning_section(cfg: dict, grid: Grid, summary: dict) -> list:
    t = summary["tuning"]
    lines = ["## Downstream prompt tuning", "",
             f"{grid.steps} steps per curve, validated every {grid.eval_every}, warm-up 10 %, never early-stopped; "
             f"seed {cfg['seeds'][0]}. *best*: the best trailing mean of {SMOOTH} evaluations; *flat at*: the first "
             "evaluation within one validation row of it.", "",
             "| task | init | lr | val at 0 | best | flat at | row norm 0 -> end | wall s |",
             "|---|---|---|---|---|---|---|---|"]
    for task in grid.tasks:
        for init in grid.inits:
            for lr in grid.lrs:
                r = summary["curves"][f"{task}|{init}|{lr}"]
                p = r["plateau"]
                lines.append(f"| {task} | {init} | {lr:g} | {p['initial']:.3f} | {p['smoothed_best']:.3f} | "
                             f"{p['step']}{'' if p['flat'] else ' (rising)'} | "
                             f"{r['row_norm_initial']['median']:.2f} -> "
                             f"{r['row_norm_final']['median']:.2f} | {r['wall_s']:.0f} |")
    lines += ["", "Mean over the tasks:", "", "| init | lr | mean val at 0 | mean best | mean flat at |",
              "|---|---|---|---|---|"]
    for row in sorted(t["table"], key=lambda r: -r["mean_best"]):
        lines.append(f"| {row['init']} | {row['lr']:g} | {row['mean_initial']:.3f} | {row['mean_best']:.3f} | "
                     f"{row['mean_plateau_step']:.0f} |")
    c = t["chosen"]
    lines += ["", f"**Chosen:** `prompt_init: {c['init']}`, `tune.lr: {c['lr']:g}`; budget "
              f"`tune.max_steps: {t['tune']['max_steps']}` ("
              + (f"latest plateau {c['latest_plateau_step']} + 2 evaluations" if c["all_flat"] else
                 f"all {grid.steps} steps: a chosen curve still rose at the end, so rerun with more --steps")
              + "), warm-up "
              f"{t['tune']['warmup_steps']}, patience {t['tune']['patience']} evaluations (the longest stall before "
              "a plateau, + 1). Apply the same budget to FT only after checking its curve; "
              "FT was not calibrated here.", ""]
    return lines


def _rest(cfg: dict, grid: Grid, summary: dict, lines: list) -> str:
    from tasksets.pseudo_label import label_purity

    if "maml" in summary:
        mm = summary["maml"]
        alpha = mm["alpha"]
        lines += ["## Prompt-MAML", "",
                  f"Pre-training data: {grid.pretrain_data}; {alpha['val_tasks']} meta-validation tasks, "
                  f"{alpha['query_rows']} query rows.", "",
                  "Inner rate alpha: mean meta-validation query loss after one inner step from the initial prompt "
                  "(alpha 0 = no adaptation):", "", "| alpha | query loss |", "|---|---|"]
        lines += [f"| {float(a):g} | {v:.4f} |" for a, v in alpha["query_loss"].items()]
        purity = label_purity(alpha["summary"])
        lines += ["", f"Meta tasks ({alpha['summary'].get('grouping')}, K={alpha['summary'].get('k_effective')}): "
                  f"sizes {[tk['size'] for tk in alpha['summary']['tasks']]}; label purity (share of rows carrying "
                  f"their task's commonest label) {purity['overall']}, per task {purity['per_task']}.", "",
                  f"Outer rate beta: {grid.maml_steps} meta-steps at alpha {mm['alpha_chosen']:g}, "
                  "meta-validated every "
                  f"{grid.maml_eval_every}:", "",
                  "| beta | meta-val at 0 | best (step) | above initial | row norm 0 -> kept | relative distance "
                  "| wall s |",
                  "|---|---|---|---|---|---|---|"]
        for b, r in mm["betas"].items():
            lines.append(f"| {float(b):g} | {r['initial_val_accuracy']:.3f} | "
                         f"{r['best_val_accuracy']:.3f} ({r['best_step']}) | "
                         f"{'yes' if r['above_initial'] else 'no'} | {r['row_norm_initial']['median']:.2f} -> "
                         f"{r['row_norm_kept']['median']:.2f} | {r['distance_kept']:.3f} | {r['wall_s']:.0f} |")
        lines += ["", f"**Chosen:** alpha {mm['alpha_chosen']:g}, " +
                  (f"beta {float(mm['beta_chosen']):g} (highest meta-validation accuracy above the initial prompt's)."
                   if mm["beta_chosen"] is not None else
                   "no beta: none kept a prompt above the initial one's meta-validation accuracy; "
                   "the profile's beta stays and MetaPT's meta-learning cannot be said to help here."), ""]
    if "ppt" in summary:
        p = summary["ppt"]
        lines += ["## PPT pre-training", "",
                  f"lr {p['lr']:g}, {p['steps']} steps ({p['rows_forward_backward']} rows forward + backward; "
                  f"the same number Prompt-MAML's calibration runs put through per run), {p['rows']} training rows, "
                  f"{p['n_val']} validation rows: accuracy {p['plateau']['initial']:.3f} -> "
                  f"best {p['plateau']['best']:.3f}, "
                  f"flattens at step {p['plateau']['step']}{'' if p['plateau']['flat'] else ' (still rising)'}; "
                  f"row norm {p['row_norm_initial']['median']:.2f} -> {p['row_norm_final']['median']:.2f}; "
                  f"{p['wall_s']:.0f} s.", ""]
    lines += ["## Profile fragment", "", "`profile-fragment.yaml` (merge into a profile, or pass as overrides):", "",
              "```", *("--set " + o for o in _overrides(summary["fragment"])), "```", "",
              f"This invocation's wall time {summary['wall_s']:.0f} s ({summary['points_run']} points run, "
              f"{summary['points_skipped']} reused from an earlier run)"
              + (f"; the points' own compute time, summed over all of them whenever each ran: "
                 f"{summary['points_compute_s'] / 60:.1f} min" if summary.get("points_compute_s") is not None else "")
              + "; curves: `curves.png`"
              + (", `stability.png`" if "stability" in summary else "") + ".", ""]
    return "\n".join(lines)



def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def stability_section(cfg: dict, grid: Grid, st: dict) -> list:
    """The stability table: one row per replayed setting, best first, and the rule's choice."""
    best = st["table"][0]
    lines = ["## Stability over split seeds", "",
             f"Prompt tuning from each start ({', '.join(f'{k}: {v}' for k, v in st['starts'].items())}) on "
             f"{len(grid.tasks)} tasks ({', '.join(grid.tasks)}), split seeds {st['seeds']}: one curve per "
             f"(start, task, lr:steps, seed), validated every {grid.eval_every} steps and never early-stopped; "
             "every patience, cadence and smoothing is then replayed on each curve exactly as `fit` would have "
             "run it (early stopping changes nothing before the stop). Training and validation rows only.", "",
             "*held-out*: the checkpoint chosen on one half of the validation rows (every other row), scored on "
             "the other half, both ways, averaged: the kept prompt's accuracy without its own selection's "
             "optimism. *kept val*: the kept checkpoint's accuracy on the (all) validation rows that chose it. "
             "Every *mean* is over the (task, start) groups of the seed means; every *SD* is the pooled "
             "between-seed SD (the root of the groups' mean between-seed variance). Points; steps.", "",
             "**Rule (`mean-minus-sd`)**: choose the setting with the highest mean held-out validation accuracy "
             "minus one pooled between-seed SD of it (ties: the lower SD). One SD is the price of one seed's "
             "typical luck: a setting 3 points better on average but 5 points noisier loses. The one-SE rule "
             f"(among settings within one SE of the best mean, the lowest SD) was not used: with "
             f"{len(st['seeds'])} seeds one SE is {1 / len(st['seeds']) ** 0.5:.2f} SD, so nearly every setting "
             "is within it and the rule "
             "degenerates into the lowest SD, which favours settings that barely move the prompt.", "",
             "| setting | held-out mean | held-out SD | score | kept val mean | kept val SD | kept step mean | "
             "kept step SD | stop step mean | kept start |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in st["table"]:
        lines.append(f"| {r['name']} | {_pct(r['heldout']['mean'])} | {_pct(r['heldout']['sd'])} | "
                     f"{_pct(r['objective'])} | {_pct(r['kept_val']['mean'])} | {_pct(r['kept_val']['sd'])} | "
                     f"{r['kept_step']['mean']:.0f} | {r['kept_step']['sd']:.0f} | {r['stop_step']['mean']:.0f} | "
                     f"{r['kept_start']}/{r['cells']} |")
    lines += ["", f"Per group, the chosen setting ({best['name']}): held-out accuracy and kept step per seed:", "",
              "| task, start | held-out per seed | kept step per seed |", "|---|---|---|"]
    for g, v in best["per_group"].items():
        lines.append(f"| {g.replace('|', ', ')} | {', '.join(_pct(x) for x in v['heldout'])} | "
                     f"{', '.join(str(int(x)) for x in v['kept_step'])} |")
    if len(st.get("by_start", {})) > 1:
        lines += ["", "Per start, the rule on that start's groups alone (held-out mean - SD = score), against "
                  f"the pooled choice ({best['name']}) on the same groups:", "",
                  "| start | its own choice | mean | SD | score | the pooled choice: mean | SD | score |",
                  "|---|---|---|---|---|---|---|---|"]
        for start, b in st["by_start"].items():
            o = b["overall"]
            lines.append(f"| {start} | {b['chosen']} | {_pct(b['mean'])} | {_pct(b['sd'])} | {_pct(b['objective'])} | "
                         f"{_pct(o['mean'])} | {_pct(o['sd'])} | {_pct(o['objective'])} |")
    frag = st["tune"]
    lines += ["", f"**Chosen:** {best['name']}: " + ", ".join(f"`tune.{k}: {v}`" for k, v in frag.items()) + ".",
              "", "*pick*: which checkpoint of the winning window is kept: its latest (what `fit` keeps, so the "
              "choice is among these), or its best raw validation (replayed to compare); "
              "the profile's `tune.full_window` "
              f"({'true' if best.get('full_window') else 'false'}) is replayed as `fit` runs it.", ""]
    return lines


def _plot_stability(path: pathlib.Path, grid: Grid, st: dict) -> None:
    """Per (task, start): the seed-mean validation curve of each schedule, +- one between-seed SD."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmark.io import atomic_path

    groups = st["groups"]
    cols = min(3, len(groups))                    # a row of at most 3 panels: their titles stay readable
    rows = -(-len(groups) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat[len(groups):]:
        ax.set_visible(False)
    for ax, g in zip(axes.flat, groups):
        task, start = g.split("|")
        for lr, steps in grid.schedules:
            runs = [st["curves"][f"{task}|{start}|{float(lr)}|{int(steps)}|{s}"] for s in st["seeds"]
                    if f"{task}|{start}|{float(lr)}|{int(steps)}|{s}" in st["curves"]]
            if not runs:
                continue
            ev = np.array([[a for _, a in r["evaluations"]] for r in runs])
            x = [s for s, _ in runs[0]["evaluations"]]
            m, sd = ev.mean(0), ev.std(0, ddof=1) if len(runs) > 1 else np.zeros(ev.shape[1])
            ax.plot(x, m, lw=1, label=f"lr={float(lr):g}, {steps} steps")
            ax.fill_between(x, np.clip(m - sd, 0, 1), np.clip(m + sd, 0, 1), alpha=0.2)   # accuracy's range
        ax.set(title=f"{task}, {start}: val acc. (mean +- SD)", xlabel="step", ylabel="accuracy")
        ax.legend(fontsize=6)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
