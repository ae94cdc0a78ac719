"""Uncertainty of accuracies and of paired differences: arrays in, numbers out, no plotting.

Every method is scored on the same split and the same test rows at a given seed, so two methods
are compared *paired*: per seed, only the rows where exactly one of them is right carry
information (``wins``: a right, b wrong; ``losses``: the reverse). Those counts are sufficient for
the statistics below, which is why a results folder only has to keep one prediction per row.

- :func:`two_stage_bootstrap` resamples seeds, then test rows within each drawn seed (the two
  sources of noise a benchmark has: training randomness and the finite test set). With one seed
  only rows are resampled, and the result says so (``basis``).
- :func:`paired_difference`: the difference, its 95 % interval, a bootstrap p-value, the exact
  McNemar p-value over the pooled rows, and the smallest difference the run could detect.
- :func:`across_tasks`: a stratified bootstrap (one stratum per task, as rliable does) of the mean
  difference, the interquartile mean and the probability of improvement, by
  ``scipy.stats.bootstrap`` (rliable 1.2.0 imports ``arch``, which fails to import beside
  pandas 3; scipy resamples each task's sample independently, which is the stratified bootstrap).

>>> d = paired_difference(wins=[30, 28], losses=[5, 6], n=[500, 500])
>>> round(d["diff"], 3), d["lo"] > 0
(0.047, True)
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

LEVEL = 0.95
POWER = 0.80
REPS = 10_000


def two_stage_bootstrap(wins, losses, n, *, reps: int = REPS, seed: int = 0,
                        resample_seeds: bool | None = None) -> np.ndarray:
    """Bootstrap draws of the mean over seeds of ``(wins - losses) / n``.

    Resampling rows of a seed with replacement only changes how many of its rows are wins,
    losses or neither, so a multinomial draw of those three counts is the exact row resample.
    ``resample_seeds`` defaults to True with two or more seeds. A single accuracy is the case
    ``losses = 0`` (wins = rows right).
    """
    w, l_, n = (np.asarray(x, dtype=np.int64) for x in (wins, losses, n))
    if not (w.shape == l_.shape == n.shape) or w.ndim != 1 or w.size == 0:
        raise ValueError("wins, losses and n must be equally long, non-empty 1-d sequences")
    if np.any(n <= 0) or np.any(w < 0) or np.any(l_ < 0) or np.any(w + l_ > n):
        raise ValueError("need 0 <= wins + losses <= n and n > 0 for every seed")
    rng = np.random.default_rng(seed)
    s = w.size
    if resample_seeds is None:
        resample_seeds = s > 1
    idx = rng.integers(0, s, size=(reps, s)) if resample_seeds else np.broadcast_to(np.arange(s), (reps, s))
    probs = np.stack([w / n, l_ / n, (n - w - l_) / n], axis=1)
    counts = rng.multinomial(n[idx], probs[idx])          # (reps, s, 3)
    return ((counts[..., 0] - counts[..., 1]) / n[idx]).mean(axis=1)


def percentile_interval(draws, level: float = LEVEL) -> tuple[float, float]:
    a = (1 - level) / 2
    lo, hi = np.quantile(np.asarray(draws, dtype=float), [a, 1 - a])
    return float(lo), float(hi)


def bootstrap_p(draws, estimate: float) -> float:
    """Two-sided p-value of "no difference": the draws shifted to mean 0 (the null), the share at
    least as far from 0 as the estimate. 1.0 for an estimate of 0."""
    draws = np.asarray(draws, dtype=float)
    centred = draws - draws.mean()
    return float(max(np.mean(np.abs(centred) >= abs(estimate) - 1e-12), 1 / draws.size))


def mcnemar_exact(wins: int, losses: int) -> float:
    """Exact two-sided McNemar test: under "equally good", each discordant row is a fair coin."""
    wins, losses = int(wins), int(losses)
    if wins + losses == 0:
        return 1.0
    return float(stats.binomtest(wins, wins + losses, 0.5).pvalue)


def min_detectable(se: float, level: float = LEVEL, power: float = POWER) -> float:
    """The smallest true difference a two-sided test at ``level`` detects with ``power``, given the
    standard error of the estimate (normal approximation: (z_{1-a/2} + z_power) * se)."""
    z = stats.norm.ppf
    return float((z(1 - (1 - level) / 2) + z(power)) * se)


def paired_difference(wins, losses, n, *, reps: int = REPS, seed: int = 0, level: float = LEVEL) -> dict:
    """Accuracy of a minus accuracy of b over paired seeds (fractions).

    Returns ``diff, lo, hi`` (the ``level`` interval), ``p`` (bootstrap, seeds + rows),
    ``p_mcnemar`` (exact, rows pooled over seeds), ``se``, ``mde`` (80 % power), ``seeds``,
    ``rows`` and ``basis`` ("seeds + rows" or "rows only (1 seed)").
    """
    w, l_, n_ = (np.asarray(x, dtype=np.int64) for x in (wins, losses, n))
    draws = two_stage_bootstrap(w, l_, n_, reps=reps, seed=seed)
    diff = float(((w - l_) / n_).mean())
    lo, hi = percentile_interval(draws, level)
    se = float(draws.std(ddof=1))
    return {"diff": diff, "lo": lo, "hi": hi, "p": bootstrap_p(draws, diff),
            "p_mcnemar": mcnemar_exact(w.sum(), l_.sum()), "se": se, "mde": min_detectable(se, level),
            "seeds": int(w.size), "rows": int(n_.sum()), "wins": int(w.sum()), "losses": int(l_.sum()),
            "basis": "seeds + rows" if w.size > 1 else "rows only (1 seed)"}


def accuracy_interval(correct, n, *, reps: int = REPS, seed: int = 0, level: float = LEVEL) -> dict:
    """Mean accuracy over seeds with its ``level`` interval (seeds + rows; rows only for one seed)."""
    correct, n = np.asarray(correct, dtype=np.int64), np.asarray(n, dtype=np.int64)
    draws = two_stage_bootstrap(correct, np.zeros_like(correct), n, reps=reps, seed=seed)
    lo, hi = percentile_interval(draws, level)
    return {"mean": float((correct / n).mean()), "lo": lo, "hi": hi, "se": float(draws.std(ddof=1)),
            "basis": "seeds + rows" if correct.size > 1 else "rows only (1 seed)"}


def paired_counts(a_preds, b_preds, labels) -> tuple[int, int, int]:
    """(wins, losses, n) of a against b on one seed's rows."""
    a_ok = np.asarray(a_preds) == np.asarray(labels)
    b_ok = np.asarray(b_preds) == np.asarray(labels)
    return int((a_ok & ~b_ok).sum()), int((~a_ok & b_ok).sum()), int(a_ok.size)


def majority_accuracy(labels) -> float:
    """Accuracy of always answering the most frequent class of these rows."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return math.nan
    return float(np.bincount(labels.astype(np.int64)).max() / labels.size)


# -- across tasks --------------------------------------------------------------------------------
def iqm(x, axis=-1):
    """Interquartile mean: the mean of the middle 50 % (robust to one odd task or run)."""
    return stats.trim_mean(x, 0.25, axis=axis)


def probability_of_improvement(a_runs, b_runs, axis=-1):
    """P(a run of a scores above a run of b) + half the ties, over all run pairs of one task."""
    a = np.expand_dims(np.asarray(a_runs), -1)
    b = np.expand_dims(np.asarray(b_runs), -2)
    return ((a > b) + 0.5 * (a == b)).mean(axis=(-1, -2))


def across_tasks(a: dict, b: dict, *, reps: int = 2_000, seed: int = 0, level: float = LEVEL) -> dict:
    """Stratified bootstrap over tasks of three aggregates of a against b.

    ``a`` and ``b`` map task -> accuracies per seed, paired by position (the same seeds). Each
    task's runs are resampled within the task; the interval is the percentile one (rliable's
    choice: BCa is unstable with 2-5 runs). Returns ``{"mean_diff", "iqm_diff", "poi"}``, each
    ``{"value", "lo", "hi"}``, plus ``tasks`` and ``runs``. With a single run per task no run can
    be resampled: the values come back without an interval (lo = hi = NaN).
    """
    tasks = [t for t in a if t in b and len(a[t]) == len(b[t]) and len(a[t]) > 0]
    if not tasks:
        raise ValueError("no task has paired runs on both sides")
    diffs = [np.asarray(a[t], float) - np.asarray(b[t], float) for t in tasks]
    runs = min(len(d) for d in diffs)

    def mean_diff(*samples, axis=-1):
        return np.mean([s.mean(axis=axis) for s in samples], axis=0)

    def iqm_diff(*samples, axis=-1):
        return iqm(np.concatenate(samples, axis=axis), axis=axis)

    def poi(*samples, axis=-1):
        k = len(samples) // 2
        return np.mean([probability_of_improvement(samples[i], samples[k + i]) for i in range(k)], axis=0)

    out = {"tasks": tasks, "runs": runs}
    pairs = [np.asarray(a[t], float) for t in tasks] + [np.asarray(b[t], float) for t in tasks]
    for name, fn, data in (("mean_diff", mean_diff, diffs), ("iqm_diff", iqm_diff, diffs), ("poi", poi, pairs)):
        value = float(fn(*data))
        lo = hi = math.nan
        if runs > 1:
            res = stats.bootstrap(tuple(data), fn, n_resamples=reps, confidence_level=level,
                                  method="percentile", vectorized=True, rng=np.random.default_rng(seed))
            lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
        out[name] = {"value": value, "lo": lo, "hi": hi}
    return out


# -- spread over seeds (claim 2) -----------------------------------------------------------------
def pooled_variance(groups_of_runs) -> tuple[float, int]:
    """Within-task variance pooled over tasks, and its degrees of freedom (sum of n_t - 1)."""
    ss, df = 0.0, 0
    for runs in groups_of_runs:
        r = np.asarray(runs, float)
        if r.size > 1:
            ss += float(((r - r.mean()) ** 2).sum())
            df += r.size - 1
    return (ss / df if df else math.nan), df


def variance_ratio(a_runs_by_task, b_runs_by_task, *, level: float = LEVEL, power: float = POWER) -> dict:
    """Is a's spread over seeds below b's? F-test of the pooled within-task variances.

    Returns ``ratio`` (std a / std b), its ``lo``/``hi`` interval, the one-sided ``p`` of "a varies
    less", and ``mde``: the largest std ratio below 1 the test would detect with ``power``.
    """
    va, dfa = pooled_variance(a_runs_by_task)
    vb, dfb = pooled_variance(b_runs_by_task)
    out = {"ratio": math.nan, "lo": math.nan, "hi": math.nan, "p": math.nan, "mde": math.nan,
           "df": (dfa, dfb)}
    if not dfa or not dfb or not vb > 0:
        return out
    f = va / vb
    a = (1 - level) / 2
    out.update(ratio=math.sqrt(f),
               lo=math.sqrt(f / stats.f.ppf(1 - a, dfa, dfb)), hi=math.sqrt(f / stats.f.ppf(a, dfa, dfb)),
               p=float(stats.f.cdf(f, dfa, dfb)),
               # reject "a varies as much as b" when F < F_alpha; a true variance ratio rho gives
               # F ~ rho * F(dfa, dfb), so 80 % power needs rho = F_alpha / F_power
               mde=math.sqrt(stats.f.ppf(1 - level, dfa, dfb) / stats.f.ppf(power, dfa, dfb)))
    return out
