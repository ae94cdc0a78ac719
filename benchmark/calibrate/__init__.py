"""Calibration: choose a backbone's prompt init, learning rates and budgets from training and
validation rows only (``python -m benchmark calibrate``; the rules are in docs/CALIBRATION.md).

The paper's settings were made for T5-base on a GPU; on another backbone they may leave the
prompt where it started (docs/CALIBRATION.md).
This module measures, never on test rows:

* **downstream tuning**: validation accuracy against steps for every (task, init, lr) of a small
  grid, and the step where each curve flattens;
* **Prompt-MAML**: the inner rate alpha by the meta-validation query loss after one inner step
  from the initial prompt (no meta-training), then the outer rate beta from short meta-training
  runs, kept only if its meta-trained prompt validates above the initial one; the prompt's row
  norm drift (how far meta-training carries it from the embedding scale);
* **PPT**: its pre-training curve at the chosen rate, with a budget comparable to Prompt-MAML's
  (rows through the backbone).
* **stability**: prompt-tuning curves over at least 3 split seeds (each seed draws its
  own few-shot training and validation rows; the test rows are never read), from each starting
  prompt (PT: a fresh prompt per seed; PPT and MetaPT: the shared artefact ``run`` tunes from),
  for every (learning rate, budget) schedule, validated every ``eval_every`` steps and never
  early-stopped. Each validation keeps which rows were right, so every patience, validation cadence
  and selection smoothing (``TrainConfig.select_smooth``) is replayed on each curve exactly as
  ``fit`` would run it (``choice.replay``; early stopping changes nothing before the stop).

  **The rule** (``choice.choose_stable``): the setting with the highest *mean held-out validation
  accuracy minus one pooled between-seed SD of it* wins (ties: the lower SD). *Held-out*: the
  checkpoint chosen on every other validation row, scored on the rest, both ways, averaged; the
  accuracy of the rows that chose a checkpoint is a maximum over noisy evaluations and would
  reward exactly the spiky curves this is meant to avoid. Why mean - SD and not "the lowest SD
  within one SE of the best mean": with 3 seeds one SE is 0.58 SD, so nearly every setting is
  within it and that rule turns into "lowest SD", which rewards a prompt that barely moves; mean -
  SD prices one seed's typical luck explicitly and still takes a noisier setting that is better by
  more than its extra noise.
 in ``<out>/points`` written atomically and skipped on rerun (a
killed calibration resumes; meta-training also resumes mid-run from its checkpoint). The output
folder gets ``report.md``, ``curves.png``, ``profile-fragment.yaml`` and ``summary.json``.
Modules: ``grid`` (what is measured, and the checks), ``curves`` (the measurements, resumable),
``choice`` (plateaus and the rules that choose), ``report`` (report, plot, fragment), ``run``
(the command's driver).
"""
from __future__ import annotations

import importlib

# name -> the module that defines it; imported on first use (PEP 562), so reading the grid's
# defaults for `calibrate --help` does not import torch
_EXPORTS = {
    "choice": ["RULE", "SMOOTH", "cell_outcome", "choose_stable", "choose_tuning", "plateau", "replay", "smoothed",
               "stability_table"],
    "curves": ["Points", "alpha_losses", "beta_run", "ppt_curve", "stability_curve", "start_prompt", "tune_curve"],
    "grid": ["MIN_VAL_ROWS", "Grid", "check"],
    "report": ["_overrides", "fragment_profile", "report_markdown", "write_outputs"],
    "run": ["calibrate"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [name for name in _WHERE if not name.startswith("_")]


def __getattr__(name):
    if name in _EXPORTS:    # a module of the package, as after an eager import of it
        return importlib.import_module(f"{__name__}.{name}")
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *_WHERE])
