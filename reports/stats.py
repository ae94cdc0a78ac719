"""Uncertainty of accuracies and of paired differences: arrays in, numbers out, no plotting.

Every method is scored on the same split and the same test rows at a given seed, so two methods
are compared *paired*: per seed, only the rows where exactly one of them is right carry
information (``wins``: a right, b wrong; ``losses``: the reverse). Those counts are sufficient for
the statistics below, which is why a results folder only has to keep one prediction per row.

**Two sources of noise, and the method.** A seed's paired difference ``d_s = (wins_s - losses_s) / n_s``
moves for two reasons: the seed (another few-shot split and tuning order) and the finite test set.
Its variance is ``tau^2 + v_s``: ``v_s = ((wins_s + losses_s) / n_s - d_s^2) / n_s`` is the test-row part,
known from the counts; ``tau^2`` is the between-seed part, known only from how the ``d_s`` spread.
The per-comparison interval is a **paired t over the per-seed differences with S - 1 degrees of
freedom, its variance floored by the test-row variance** (:func:`seed_t`):
``se^2 = max(s_d^2, mean_s v_s) / S``, interval ``mean(d) +- t_{S-1, 0.975} se``. Why this one:

- The t over seeds (Student 1908; the paired test Dror et al. 2018, "The Hitchhiker's Guide to
  Testing Statistical Significance in NLP", recommend for normal-ish scores) is exact for normal
  ``d_s`` whatever ``tau`` is. A bootstrap that resamples 2-5 seeds with replacement is not: it
  shrinks the between-seed variance by ``(S - 1) / S`` and uses normal-like quantiles, and covers 0
  in about 69 % of runs at 2 seeds, 78 % at 3 and 90 % at 5 when the difference varies between
  seeds by 6 points (``tests/test_stats.py`` simulates exactly that).
- The floor: ``Var(d_s) >= v_s``, so a sample variance below the test-row variance is sampling luck
  (two seeds that happen to agree); flooring only widens the interval, so coverage stays at or
  above 95 %. The test set is one source of variance among several (Bouthillier et al. 2021,
  "Accounting for Variance in Machine Learning Benchmarks"), and the floor keeps it counted.
- The price is stated, not hidden: ``t_{1, 0.975} = 12.7``, so two seeds decide only very large
  effects. That is by design, as in "When +1 % Is Not Enough" (2025), whose protocol declares
  nothing at three seeds. Rejected: BCa or studentised bootstraps (unstable below ~10 seeds), an
  exact sign-flip test (with 5 seeds its smallest two-sided p is 2/32 > 0.05).

With one seed there is no seed-level spread at all: :func:`paired_difference` then gives the
test-row interval (normal, ``se^2 = v``) and says so (``basis``); the claims draw no verdict from it.

- :func:`paired_difference`: the difference, its interval, the t p-value, the exact McNemar p-value
  over the pooled rows (a test of these rows, not of the methods), and the smallest difference the
  run detects with 80 % power (:func:`power_t` inverted).
- :func:`accuracy_interval`: one method's mean accuracy, the same t with the binomial floor.
- :func:`across_tasks`: the mean over tasks (the seven tasks are fixed, as in rliable), pooled t with
  ``sum_t (S_t - 1)`` degrees of freedom (``T (S - 1)``); the interquartile mean and the probability
  of improvement by a parametric bootstrap from the same model (rliable's aggregates, Agarwal et
  al. 2021; its stratified bootstrap of 2 runs per task has the small-sample problem above).
- :func:`holm`: Holm's step-down adjustment, for "contradicted" across the parts of one claim.
- :func:`power_t`, :func:`seeds_needed`: the seeds a run needs to detect an effect with 80 % power at
  5 %, for exactly the interval above (floor included), by quadrature over the chi-square law of the
  sample variance; :func:`variance_ratio` and :func:`seeds_needed_ratio` for the std-over-seeds claim.

>>> d = paired_difference(wins=[30, 28], losses=[5, 6], n=[500, 500])
>>> round(d["diff"], 3), d["df"], d["lo"] < 0 < d["hi"]
(0.047, 1, True)
"""
from __future__ import annotations

import functools
import math

import numpy as np
from scipy import optimize, stats

LEVEL = 0.95
POWER = 0.80
REPS = 4_000
QUAD = 2_000        # chi-square quantiles in the power quadrature
MAX_SEEDS = 10_000  # seeds_needed gives up (returns None) past this


def _counts(wins, losses, n) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    w, l_, n = (np.asarray(x, dtype=np.int64) for x in (wins, losses, n))
    if not (w.shape == l_.shape == n.shape) or w.ndim != 1 or w.size == 0:
        raise ValueError("wins, losses and n must be equally long, non-empty 1-d sequences")
    if np.any(n <= 0) or np.any(w < 0) or np.any(l_ < 0) or np.any(w + l_ > n):
        raise ValueError("need 0 <= wins + losses <= n and n > 0 for every seed")
    return w, l_, n


def row_variance(wins, losses, n):
    """Test-row variance of one seed's ``(wins - losses) / n``: each row scores +1, -1 or 0, and the
    mean of n rows drawn with replacement has variance ``(E[x^2] - E[x]^2) / n`` (the exact
    variance of the row bootstrap)."""
    w, l_, n = (np.asarray(x, dtype=float) for x in (wins, losses, n))
    d = (w - l_) / n
    return np.maximum((w + l_) / n - d ** 2, 0.0) / n


def seed_t(values, row_var, level: float = LEVEL) -> dict:
    """Mean over seeds (last axis) with a t interval of S - 1 df, variance floored by ``row_var``.

    Student's t over per-seed values; the sample variance is raised to the mean test-row variance
    where it falls below it (see the module docstring). Works on arrays ``(..., S)`` (simulations).
    Returns ``mean, se, df, lo, hi, p`` (two-sided, "mean 0"), ``sd`` (sample SD over seeds, NaN for
    one seed), ``sd_rows`` (root mean test-row variance) and ``floored`` (the floor was used).
    With S = 1: the test-row interval (normal, df = inf).
    """
    x = np.asarray(values, dtype=float)
    v = np.broadcast_to(np.asarray(row_var, dtype=float), x.shape)
    s = x.shape[-1]
    mean = x.mean(axis=-1)
    floor = v.mean(axis=-1)
    if s > 1:
        s2 = x.var(axis=-1, ddof=1)
        var, df = np.maximum(s2, floor), s - 1
        crit = stats.t.ppf(1 - (1 - level) / 2, df)
    else:
        s2 = np.full_like(mean, np.nan)
        var, df = floor, math.inf
        crit = stats.norm.ppf(1 - (1 - level) / 2)
    se = np.sqrt(var / s)
    with np.errstate(divide="ignore", invalid="ignore"):
        tstat = np.abs(mean) / se
    p = np.where(se > 0, 2 * stats.t.sf(tstat, df), np.where(mean == 0, 1.0, 0.0))
    out = {"mean": mean, "se": se, "df": df, "lo": mean - crit * se, "hi": mean + crit * se, "p": p,
           "sd": np.sqrt(s2), "sd_rows": np.sqrt(floor), "floored": (s > 1) & (np.nan_to_num(s2, nan=0) < floor)}
    if x.ndim == 1:
        out = {k: (v_ if k == "df" else (bool(v_) if k == "floored" else float(v_))) for k, v_ in out.items()}
    return out


def t_p_beyond(mean: float, se: float, df: float, bound: float = 0.0, side: str = "below") -> float:
    """One-sided p-value of "the true value is on the far side of ``bound``": for ``side="below"``,
    of "true >= bound" given an estimate below it (small when the estimate is well below)."""
    if not se > 0:
        return 0.0 if (mean < bound if side == "below" else mean > bound) else 1.0
    z = (mean - bound) / se
    return float(stats.t.cdf(z, df) if side == "below" else stats.t.sf(z, df))


def mcnemar_exact(wins: int, losses: int) -> float:
    """Exact two-sided McNemar test: under "equally good", each discordant row is a fair coin."""
    wins, losses = int(wins), int(losses)
    if wins + losses == 0:
        return 1.0
    return float(stats.binomtest(wins, wins + losses, 0.5).pvalue)


def min_detectable(se: float, level: float = LEVEL, power: float = POWER) -> float:
    """The smallest true difference a two-sided test at ``level`` detects with ``power``, given the
    standard error of a normal estimate: ``(z_{1-a/2} + z_power) * se`` (the one-seed case)."""
    z = stats.norm.ppf
    return float((z(1 - (1 - level) / 2) + z(power)) * se)


def paired_difference(wins, losses, n, *, level: float = LEVEL) -> dict:
    """Accuracy of a minus accuracy of b over paired seeds (fractions).

    Method: :func:`seed_t` on the per-seed differences (paired t, S - 1 df, floored by the test
    rows). Returns ``diff, lo, hi`` (the ``level`` interval, clipped to [-1, 1]), ``se``, ``df``,
    ``p`` (t, two-sided), ``p_mcnemar`` (exact, rows pooled over seeds), ``mde`` (80 % power at these seeds),
    ``sd_seed`` (SD of a seed's difference over seeds), ``sd_rows`` (its test-row part), ``seeds``,
    ``rows``, ``wins``, ``losses`` and ``basis`` (what the interval is).
    """
    w, l_, n_ = _counts(wins, losses, n)
    d = (w - l_) / n_
    t = seed_t(d, row_variance(w, l_, n_), level)
    s = int(w.size)
    if s > 1:
        mde = min_detectable_t(t["sd"], t["sd_rows"], s, level=level)
        basis = f"paired t, {s - 1} df" + (" (test-row floor)" if t["floored"] else "")
    else:
        mde = min_detectable(t["se"], level)
        basis = "rows only (1 seed)"
    # clipped to [-1, 1], the range a difference of accuracies can take: the true value is never
    # cut off, so coverage is unchanged (a t interval at 1 df otherwise reaches past +-100 points)
    return {"diff": t["mean"], "lo": max(t["lo"], -1.0), "hi": min(t["hi"], 1.0), "se": t["se"], "df": t["df"],
            "p": t["p"],
            "p_mcnemar": mcnemar_exact(w.sum(), l_.sum()), "mde": mde, "sd_seed": t["sd"],
            "sd_rows": t["sd_rows"], "seeds": s, "rows": int(n_.sum()), "wins": int(w.sum()),
            "losses": int(l_.sum()), "basis": basis}


def accuracy_interval(correct, n, *, level: float = LEVEL) -> dict:
    """Mean accuracy over seeds with its ``level`` interval.

    Two or more seeds: :func:`seed_t` on the per-seed accuracies with the binomial floor
    ``acc (1 - acc) / n``, clipped to [0, 1]. One seed: Wilson's score interval of the test rows
    (``scipy.stats.binomtest``), basis "rows only (1 seed)".
    """
    correct, n = np.asarray(correct, dtype=np.int64), np.asarray(n, dtype=np.int64)
    acc = correct / n
    if correct.size == 1:
        ci = stats.binomtest(int(correct[0]), int(n[0])).proportion_ci(confidence_level=level, method="wilson")
        return {"mean": float(acc[0]), "lo": float(ci.low), "hi": float(ci.high),
                "se": float(math.sqrt(acc[0] * (1 - acc[0]) / n[0])), "basis": "rows only (1 seed)"}
    t = seed_t(acc, acc * (1 - acc) / n, level)
    return {"mean": t["mean"], "lo": max(t["lo"], 0.0), "hi": min(t["hi"], 1.0), "se": t["se"],
            "basis": f"t over seeds, {correct.size - 1} df"}


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


def macro_f1(labels, preds, n_classes: int) -> float:
    """Unweighted mean over the ``n_classes`` classes of F1 (0 for a class never right), as
    ``sklearn.metrics.f1_score(average="macro", labels=range(C), zero_division=0)`` computes it."""
    y, p = np.asarray(labels, dtype=np.int64), np.asarray(preds, dtype=np.int64)
    f1 = []
    for c in range(n_classes):
        tp = np.sum((y == c) & (p == c))
        denom = np.sum(y == c) + np.sum(p == c)
        f1.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(f1)) if f1 else math.nan


def holm(pvalues) -> list[float]:
    """Holm's (1979) step-down adjusted p-values; a NaN (a part with no test) counts as 1, so the
    family keeps its size. Reject part i at familywise level a when its adjusted p <= a."""
    p = np.array([1.0 if (x is None or math.isnan(x)) else float(x) for x in pvalues])
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj
    return out.tolist()


# -- power and the seeds a comparison needs ------------------------------------------------------
@functools.lru_cache(maxsize=4096)
def _chi_nodes(df: int) -> np.ndarray:
    """``QUAD`` equally likely values of chi2_df / df (midpoint quantiles): the law of s^2 / sigma^2."""
    if df < 1:
        return np.full(QUAD, np.nan)
    return stats.chi2.ppf((np.arange(QUAD) + 0.5) / QUAD, df) / df


def power_t(delta, sd, sd_rows, seeds, *, tasks: int = 1, level: float = LEVEL, margin: float | None = None):
    """Power of the floored t interval of :func:`seed_t` (or of the pooled mean of
    :func:`across_tasks` with ``tasks`` tasks) for a true difference ``delta``.

    ``sd``: SD of one seed's difference (between-seed and test rows together; a value below
    ``sd_rows`` is taken as ``sd_rows``); ``sd_rows``: its test-row part (the floor). Without
    ``margin``: P(interval above 0) for ``delta > 0`` (below 0 for ``delta < 0``); with ``margin``:
    P(interval inside +-margin), the "~" rule. Exact for normal differences: the mean and the
    sample variance are independent, so the power is an average over the chi-square law of the
    variance (``QUAD`` quantiles), floor included. ``seeds`` may be an array.
    """
    s = np.atleast_1d(np.asarray(seeds, dtype=float))
    sigma2 = max(float(sd) ** 2 if not math.isnan(sd) else 0.0, float(sd_rows) ** 2)
    floor = float(sd_rows) ** 2
    df = tasks * (s - 1)
    chi = np.stack([_chi_nodes(int(k)) for k in df])                       # s^2 / sigma^2
    se = np.sqrt(np.maximum(sigma2 * chi, floor) / (tasks * s[:, None]))
    crit = stats.t.ppf(1 - (1 - level) / 2, df)[:, None]
    sd_mean = math.sqrt(sigma2) / np.sqrt(tasks * s[:, None])
    if sigma2 == 0:   # no noise at all: the estimate is the truth
        hit = float(delta != 0) if margin is None else float(abs(delta) < margin)
        out = np.where(s > 1, hit, 0.0)
        return out if np.ndim(seeds) else float(out[0])
    if margin is None:
        pw = stats.norm.cdf((abs(delta) - crit * se) / sd_mean)
    else:
        hi = stats.norm.cdf((margin - delta - crit * se) / sd_mean)
        lo = stats.norm.cdf((-margin - delta + crit * se) / sd_mean)
        pw = np.maximum(hi - lo, 0.0)
    out = pw.mean(axis=1)
    out = np.where(s > 1, out, 0.0)
    return out if np.ndim(seeds) else float(out[0])


def _first_seed(ok, max_seeds: int) -> int | None:
    """The smallest S >= 2 with ok(S), for ok monotone in S (doubling, then bisection)."""
    lo, hi = 1, 2          # one seed decides nothing
    while not ok(hi):
        if hi >= max_seeds:
            return None
        lo, hi = hi, min(hi * 2, max_seeds)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def seeds_needed(delta, sd, sd_rows, *, tasks: int = 1, power: float = POWER, level: float = LEVEL,
                 margin: float | None = None, max_seeds: int = MAX_SEEDS) -> int | None:
    """The fewest seeds (2 or more) at which :func:`power_t` reaches ``power``; None past
    ``max_seeds`` (or never: an effect of 0, or a "~" effect at or beyond the margin). Power grows
    with the seeds (a smaller t quantile and a smaller standard error), so a doubling search then
    bisection finds the first seed count that reaches it."""
    if (margin is None and delta == 0) or (margin is not None and abs(delta) >= margin):
        return None
    def ok(s: int) -> bool:
        return power_t(delta, sd, sd_rows, s, tasks=tasks, level=level, margin=margin) >= power
    return _first_seed(ok, max_seeds)


def seeds_needed_all(parts, *, tasks: int = 1, power: float = POWER, level: float = LEVEL,
                     max_seeds: int = MAX_SEEDS) -> int | None:
    """The fewest seeds at which every part of an intersection-union claim is decided at once with
    ``power`` (the product of the parts' :func:`power_t`: independent parts, e.g. tasks that each
    draw their own split). ``parts``: ``(delta, sd, sd_rows, margin)`` tuples (margin None for ">")."""
    parts = list(parts)
    if not parts or any((m is None and d == 0) or (m is not None and abs(d) >= m) for d, _, _, m in parts):
        return None
    def ok(s: int) -> bool:
        return float(np.prod([power_t(d, sd, r, s, tasks=tasks, level=level, margin=m)
                              for d, sd, r, m in parts])) >= power
    return _first_seed(ok, max_seeds)


def min_detectable_t(sd, sd_rows, seeds: int, *, tasks: int = 1, level: float = LEVEL,
                     power: float = POWER) -> float:
    """The smallest true difference the floored t interval detects with ``power`` at ``seeds``
    (:func:`power_t` solved for ``delta``); NaN with one seed."""
    if seeds < 2:
        return math.nan
    sigma = max(sd if not math.isnan(sd) else 0.0, sd_rows)
    if sigma == 0:
        return 0.0
    f = lambda d: power_t(d, sd, sd_rows, seeds, tasks=tasks, level=level) - power  # noqa: E731
    hi = sigma
    while f(hi) < 0:
        hi *= 2
    return float(optimize.brentq(f, 0.0, hi, xtol=1e-6 * sigma))


# -- across tasks --------------------------------------------------------------------------------
def iqm(x, axis=-1):
    """Interquartile mean: the mean of the middle 50 % (robust to one odd task or run)."""
    return stats.trim_mean(x, 0.25, axis=axis)


def probability_of_improvement(a_runs, b_runs, axis=-1):
    """P(a run of a scores above a run of b) + half the ties, over all run pairs of one task."""
    a = np.expand_dims(np.asarray(a_runs), -1)
    b = np.expand_dims(np.asarray(b_runs), -2)
    return ((a > b) + 0.5 * (a == b)).mean(axis=(-1, -2))


def across_mean(diffs: dict, row_var: dict | None = None, *, level: float = LEVEL) -> dict:
    """Mean over tasks of the per-task mean differences, with the pooled floored t interval.

    ``diffs``: task -> per-seed differences; ``row_var``: task -> their test-row variances (0 if
    left out). Tasks are fixed (the population is these tasks); each task's variance is floored
    like :func:`seed_t`'s and the variance of the mean is ``sum_t V_t / S_t / T^2`` with
    ``sum_t (S_t - 1)`` degrees of freedom (tasks independent given the seed: each draws its own
    split). Returns ``value, lo, hi, se, df, p, sd`` (root mean per-seed variance over tasks,
    floored), ``sd_rows``; lo = hi = NaN when no task has two seeds.
    """
    tasks = list(diffs)
    t_ = len(tasks)
    means, var_terms, df, floors, pooled = [], [], 0, [], []
    for t in tasks:
        d = np.asarray(diffs[t], float)
        v = np.zeros_like(d) if row_var is None or t not in row_var else np.asarray(row_var[t], float)
        means.append(d.mean())
        floors.append(v.mean())
        if d.size > 1:
            var = max(d.var(ddof=1), v.mean())
            var_terms.append(var / d.size)
            pooled.append(var)
            df += d.size - 1
        else:
            var_terms.append(v.mean() / d.size)
    value = float(np.mean(means))
    out = {"value": value, "lo": math.nan, "hi": math.nan, "se": math.nan, "df": df, "p": math.nan,
           "sd": float(math.sqrt(np.mean(pooled))) if pooled else math.nan,
           "sd_rows": float(math.sqrt(np.mean(floors))), "tasks": t_}
    if df == 0:
        return out
    se = math.sqrt(sum(var_terms)) / t_
    crit = stats.t.ppf(1 - (1 - level) / 2, df)
    p = 2 * stats.t.sf(abs(value) / se, df) if se > 0 else (1.0 if value == 0 else 0.0)
    # clipped to [-1, 1] like paired_difference's: a mean of accuracy differences cannot leave it
    out.update(lo=max(value - crit * se, -1.0), hi=min(value + crit * se, 1.0), se=se, p=float(p))
    return out


def _pooled(samples: list, floors: list) -> float:
    """Within-task variance pooled over tasks (df-weighted), each task's floored like
    :func:`seed_t`'s; tasks with one seed add nothing (their floor is used when none has two)."""
    num = sum((x.size - 1) * max(x.var(ddof=1), f) for x, f in zip(samples, floors) if x.size > 1)
    df = sum(x.size - 1 for x in samples)
    return num / df if df else float(np.mean(floors))


def _scaled_draws(rng, centres: list, variance: float, sizes: list, df: int, reps: int) -> list:
    """Per task, ``reps`` new samples of ``sizes[t]`` normal values around ``centres[t]`` with the
    pooled ``variance`` times ``df / chi2_df`` (one chi-square draw per replicate, shared by the
    tasks: the pooled t's denominator). For the mean this reproduces the pooled t interval."""
    scale = np.sqrt(variance * df / rng.chisquare(df, size=reps))[:, None]
    return [c + scale * rng.standard_normal((reps, k)) for c, k in zip(centres, sizes)]


def across_tasks(a: dict, b: dict, *, n: dict | None = None, row_var: dict | None = None,
                 reps: int = REPS, seed: int = 0, level: float = LEVEL) -> dict:
    """Mean, interquartile mean and probability of improvement of a against b over tasks.

    ``a`` and ``b`` map task -> accuracies per seed, paired by position (the same seeds);
    ``row_var``: task -> test-row variance of each seed's difference (:func:`row_variance`), and
    ``n``: task -> test rows per seed (for the binomial floor of each method's runs); both may be
    left out (no floor).

    - ``mean_diff``: :func:`across_mean` (pooled floored t, ``sum_t (S_t - 1)`` df).
    - ``iqm_diff`` (rliable's IQM over all task x seed differences) and ``poi`` (rliable's
      probability that a run of a beats a run of b, averaged over tasks): percentile intervals of a
      parametric bootstrap from the pooled model behind the mean's interval (new per-seed values,
      normal around each task's mean with the pooled floored variance scaled by one chi-square
      draw per replicate). Resampling 2-5 runs per task, as rliable's stratified bootstrap does,
      shares the small-sample problem of the module docstring; this keeps the t's degrees of
      freedom (coverage checked in tests/test_stats.py; per-task variances from one df each
      undercovered there, 88 % at 2 seeds, which is why the variance is pooled).

    Each aggregate is ``{"value", "lo", "hi"}``; plus ``tasks``, ``runs`` (fewest seeds of a task)
    and ``df``. With one run per task no interval can be drawn (lo = hi = NaN).
    """
    tasks = [t for t in a if t in b and len(a[t]) == len(b[t]) and len(a[t]) > 0]
    if not tasks:
        raise ValueError("no task has paired runs on both sides")
    A = [np.asarray(a[t], float) for t in tasks]
    B = [np.asarray(b[t], float) for t in tasks]
    D = [x - y for x, y in zip(A, B)]
    rv = {t: (np.asarray(row_var[t], float) if row_var and t in row_var else np.zeros(len(a[t]))) for t in tasks}
    mean = across_mean(dict(zip(tasks, D)), rv, level=level)
    sizes = [d.size for d in D]
    out = {"tasks": tasks, "runs": min(sizes), "df": mean["df"],
           "mean_diff": {k: mean[k] for k in ("value", "lo", "hi", "se", "p", "sd", "sd_rows")},
           "iqm_diff": {"value": float(iqm(np.concatenate(D))), "lo": math.nan, "hi": math.nan},
           "poi": {"value": float(np.mean([probability_of_improvement(x, y) for x, y in zip(A, B)])),
                   "lo": math.nan, "hi": math.nan}}
    df = mean["df"]
    if df == 0:
        return out
    rng = np.random.default_rng(seed)
    q = [(1 - level) / 2, 1 - (1 - level) / 2]

    draws = _scaled_draws(rng, [d.mean() for d in D], _pooled(D, [rv[t].mean() for t in tasks]), sizes, df, reps)
    lo, hi = np.quantile(iqm(np.concatenate(draws, axis=1), axis=1), q)
    out["iqm_diff"].update(lo=float(lo), hi=float(hi))

    def binom(x, t):
        return 0.0 if n is None or t not in n else float(np.mean(x * (1 - x) / np.asarray(n[t], float)))

    da = _scaled_draws(rng, [x.mean() for x in A], _pooled(A, [binom(x, t) for x, t in zip(A, tasks)]),
                       sizes, df, reps)
    db = _scaled_draws(rng, [y.mean() for y in B], _pooled(B, [binom(y, t) for y, t in zip(B, tasks)]),
                       sizes, df, reps)
    lo, hi = np.quantile(np.mean([probability_of_improvement(x, y) for x, y in zip(da, db)], axis=0), q)
    out["poi"].update(lo=float(lo), hi=float(hi))
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

    Returns ``ratio`` (std a / std b), its ``lo``/``hi`` interval, ``p`` (one-sided, "a varies
    less"), ``p_more`` (one-sided, "a varies more": the contradicting side), and ``mde``: the
    largest std ratio below 1 that the interval's upper end puts below 1 with ``power``.
    """
    va, dfa = pooled_variance(a_runs_by_task)
    vb, dfb = pooled_variance(b_runs_by_task)
    out = {"ratio": math.nan, "lo": math.nan, "hi": math.nan, "p": math.nan, "p_more": math.nan,
           "mde": math.nan, "df": (dfa, dfb)}
    if not dfa or not dfb or not vb > 0:
        return out
    f = va / vb
    a = (1 - level) / 2
    out.update(ratio=math.sqrt(f),
               lo=math.sqrt(f / stats.f.ppf(1 - a, dfa, dfb)), hi=math.sqrt(f / stats.f.ppf(a, dfa, dfb)),
               p=float(stats.f.cdf(f, dfa, dfb)), p_more=float(stats.f.sf(f, dfa, dfb)),
               mde=ratio_detectable(dfa, dfb, level=level, power=power))
    return out


def ratio_detectable(dfa: int, dfb: int, *, level: float = LEVEL, power: float = POWER) -> float:
    """The interval of :func:`variance_ratio` lies below 1 when F < F_{a/2}(dfa, dfb); a true std
    ratio rho gives F ~ rho^2 F(dfa, dfb), so ``power`` needs rho = sqrt(F_{a/2} / F_power)."""
    a = (1 - level) / 2
    return math.sqrt(stats.f.ppf(a, dfa, dfb) / stats.f.ppf(power, dfa, dfb))


def power_ratio(rho: float, dfa: int, dfb: int, *, level: float = LEVEL) -> float:
    """P(the std-ratio interval lies below 1) when the true std ratio is ``rho``."""
    a = (1 - level) / 2
    return float(stats.f.cdf(stats.f.ppf(a, dfa, dfb) / rho ** 2, dfa, dfb))


def seeds_needed_ratio(rho, tasks: int, *, power: float = POWER, level: float = LEVEL,
                       max_seeds: int = MAX_SEEDS) -> int | None:
    """The fewest seeds per task at which the F-test of :func:`variance_ratio`, pooled over
    ``tasks`` tasks (``tasks (S - 1)`` df a side), detects a true std ratio ``rho < 1``; ``rho``
    may be a list (every ratio at once: the product of the powers)."""
    rhos = [rho] if np.ndim(rho) == 0 else list(rho)
    if not rhos or not all(r < 1 for r in rhos):
        return None
    def ok(s: int) -> bool:
        df = tasks * (s - 1)
        return float(np.prod([power_ratio(r, df, df, level=level) for r in rhos])) >= power
    return _first_seed(ok, max_seeds)


# -- variance components of a crossed design (the variance report) -------------------------------
def crossed_components(y, *, level: float = LEVEL) -> dict:
    """Variance components of ``y[d, s] = mu + a_d + b_s + e_ds`` (a: the row factor, here the
    pre-training draw; b: the column factor, the split seed; e: the residual, with one value per
    cell the interaction and whatever else moves a run: training order), every effect random,
    independent and normal with variances ``var_a, var_b, var_e``.

    ``y``: an array ``(D, S)``, or ``(T, D, S)`` for T tasks with a mean of their own and the same
    components, whose mean squares are pooled (sums of squares and degrees of freedom added over
    tasks; this takes a draw's effect on one task as independent of its effect on another).

    Estimates: the ANOVA (expected-mean-squares) method for a balanced two-way crossed design
    without replication (Searle, Casella & McCulloch 1992, "Variance Components", ch. 4):
    ``E[MS_a] = var_e + S var_a``, ``E[MS_b] = var_e + D var_b``, ``E[MS_e] = var_e``, solved for the
    components: unbiased, but a difference of mean squares can fall below 0, and such an estimate is
    truncated at 0 (``raw`` keeps the untruncated values). Intervals (``level``, two-sided): for
    ``var_e`` the exact chi-square interval; for ``var_a`` and ``var_b``, each a difference
    ``(MS_x - MS_e) / n_x`` of independent scaled chi-squares, the modified large-sample interval
    of Ting, Burdick & Graybill (1990; Burdick & Graybill 1992, "Confidence Intervals on Variance
    Components", ch. 3), clipped at 0; coverage checked by simulation in tests/test_variance.py.

    Returns ``{"a", "b", "e"}`` each ``{"var", "raw", "lo", "hi", "ms", "df"}`` (variances in
    ``y``'s units squared), plus ``"mean"``, ``"D"``, ``"S"``, ``"T"``.
    """
    y = np.asarray(y, dtype=float)
    if y.ndim == 2:
        y = y[None]
    if y.ndim != 3 or y.shape[1] < 2 or y.shape[2] < 2 or not np.all(np.isfinite(y)):
        raise ValueError("need a finite (D, S) or (T, D, S) array with D >= 2 and S >= 2")
    t_, d, s = y.shape
    grand = y.mean(axis=(1, 2), keepdims=True)
    rows = y.mean(axis=2, keepdims=True)
    cols = y.mean(axis=1, keepdims=True)
    ss_a = float(s * ((rows - grand) ** 2).sum())
    ss_b = float(d * ((cols - grand) ** 2).sum())
    ss_e = float(((y - rows - cols + grand) ** 2).sum())
    df_a, df_b, df_e = t_ * (d - 1), t_ * (s - 1), t_ * (d - 1) * (s - 1)
    ms_a, ms_b, ms_e = ss_a / df_a, ss_b / df_b, ss_e / df_e
    alpha = (1 - level) / 2
    lo_e = df_e * ms_e / stats.chi2.ppf(1 - alpha, df_e)
    hi_e = df_e * ms_e / stats.chi2.ppf(alpha, df_e)
    out = {"mean": float(y.mean()), "D": d, "S": s, "T": t_,
           "e": {"var": ms_e, "raw": ms_e, "lo": lo_e, "hi": hi_e, "ms": ms_e, "df": df_e}}
    for name, ms, df, n in (("a", ms_a, df_a, s), ("b", ms_b, df_b, d)):
        raw = (ms - ms_e) / n
        lo, hi = mls_difference(ms, df, ms_e, df_e, 1 / n, 1 / n, level=level)
        out[name] = {"var": max(raw, 0.0), "raw": raw, "lo": max(lo, 0.0), "hi": max(hi, 0.0), "ms": ms, "df": df}
    return out


@functools.lru_cache(maxsize=1024)
def _mls_constants(df1: int, df2: int, level: float) -> tuple:
    """G1, H1, G2, H2, G12, H12 of the MLS interval (Burdick & Graybill 1992, ch. 3), from chi-square
    and F quantiles at the interval's two tails."""
    a = (1 - level) / 2

    def f_inf(q, df):   # F(df, infinity) quantile: chi2 / df (scipy's F gives NaN at infinity)
        return stats.chi2.ppf(q, df) / df

    g1, h1 = 1 - 1 / f_inf(1 - a, df1), 1 / f_inf(a, df1) - 1
    g2, h2 = 1 - 1 / f_inf(1 - a, df2), 1 / f_inf(a, df2) - 1
    fu, fl = stats.f.ppf(1 - a, df1, df2), stats.f.ppf(a, df1, df2)
    g12 = ((fu - 1) ** 2 - g1 ** 2 * fu ** 2 - h2 ** 2) / fu
    h12 = ((1 - fl) ** 2 - h1 ** 2 * fl ** 2 - g2 ** 2) / fl
    return g1, h1, g2, h2, g12, h12


def mls_difference(ms1: float, df1: int, ms2: float, df2: int, c1: float, c2: float, *,
                   level: float = LEVEL) -> tuple[float, float]:
    """Two-sided ``level`` interval for ``c1 E[MS1] - c2 E[MS2]`` (c1, c2 >= 0), MS1 and MS2
    independent with ``df_i MS_i / E[MS_i] ~ chi2(df_i)``: the modified large-sample (MLS) interval
    of Ting, Burdick & Graybill (1990), as in Burdick & Graybill (1992), ch. 3. Exact when either
    term is 0; close to ``level`` between (tests/test_variance.py)."""
    g1, h1, g2, h2, g12, h12 = _mls_constants(int(df1), int(df2), float(level))
    x1, x2 = c1 * ms1, c2 * ms2
    est = x1 - x2
    v_lo = g1 ** 2 * x1 ** 2 + h2 ** 2 * x2 ** 2 + g12 * x1 * x2
    v_hi = h1 ** 2 * x1 ** 2 + g2 ** 2 * x2 ** 2 + h12 * x1 * x2
    return float(est - math.sqrt(max(v_lo, 0.0))), float(est + math.sqrt(max(v_hi, 0.0)))
