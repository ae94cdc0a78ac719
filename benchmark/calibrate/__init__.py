"""Calibration: choose a backbone's prompt init, learning rates and budgets from training and
validation rows only (``python -m benchmark calibrate``; the rules are in docs/CALIBRATION.md).

The paper's settings were made for T5-base on a GPU; on another backbone they may leave the
prompt where it started (issue 10: PT on smollm2-135m scored the same before and after tuning).
This module measures, never on test rows:

* **downstream tuning**: validation accuracy against steps for every (task, init, lr) of a small
  grid, and the step where each curve flattens;
* **Prompt-MAML**: the inner rate alpha by the meta-validation query loss after one inner step
  from the initial prompt (no meta-training), then the outer rate beta from short meta-training
  runs, kept only if its meta-trained prompt validates above the initial one; the prompt's row
  norm drift (how far meta-training carries it from the embedding scale);
* **PPT**: its pre-training curve at the chosen rate, with a budget comparable to Prompt-MAML's
  (rows through the backbone).

Every grid point is a small JSON in ``<out>/points`` written atomically and skipped on rerun (a
killed calibration resumes; meta-training also resumes mid-run from its checkpoint). The output
folder gets ``report.md``, ``curves.png``, ``profile-fragment.yaml`` and ``summary.json``.
Modules: ``grid`` (what is measured, and the checks), ``curves`` (the measurements, resumable),
``choice`` (plateaus and the rules that choose), ``report`` (report, plot, fragment), ``run``
(the command's driver).
"""
from __future__ import annotations

from benchmark.calibrate.choice import (RULE, SMOOTH, cell_outcome, choose_stable, choose_tuning, plateau, replay,
                                       smoothed, stability_table)
from benchmark.calibrate.curves import (Points, alpha_losses, beta_run, ppt_curve, stability_curve, start_prompt,
                                       tune_curve)
from benchmark.calibrate.grid import MIN_VAL_ROWS, Grid, check
from benchmark.calibrate.report import _overrides, fragment_profile, report_markdown, write_outputs
from benchmark.calibrate.run import calibrate

__all__ = ["RULE", "cell_outcome", "choose_stable", "replay", "stability_table", "stability_curve", "start_prompt",
           "Grid", "MIN_VAL_ROWS", "SMOOTH", "Points", "alpha_losses", "beta_run", "calibrate", "check",
           "choose_tuning", "fragment_profile", "plateau", "ppt_curve", "report_markdown", "smoothed",
           "tune_curve", "write_outputs"]
