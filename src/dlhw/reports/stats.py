"""Confidence intervals and tests for groups of repeats (seeds, splits, folds), from scipy.stats.

- ``interval(values)``: n, mean and a 95% confidence interval of the mean: Student's t for
  n < BOOTSTRAP_MIN_N (``scipy.stats.t.interval``), a BCa bootstrap from BOOTSTRAP_MIN_N runs on
  (``scipy.stats.bootstrap``, a fixed seed so a report is reproducible). One run: no interval.
- ``difference(a, b, paired)``: mean(a - b) with its interval and one-sided t-test p-value
  (``ttest_rel`` paired by seed, Welch's ``ttest_ind`` otherwise).
- ``equivalence(a, b, within, paired)``: two one-sided t-tests (TOST) against ±within, with the
  90% interval that TOST at 5% corresponds to.
- ``holm(pvalues)``: Holm's step-down correction (scipy.stats has no Holm; its false_discovery_control
  is Benjamini-Hochberg).

scipy is imported inside the functions (a report without repeats never loads it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

LEVEL = 0.95
BOOTSTRAP_MIN_N = 10  # below this the t interval (the bootstrap needs more points than a few seeds)
RESAMPLES = 2000
SEED = 0


@dataclass(frozen=True)
class Interval:
    n: int
    mean: float | None
    low: float | None = None
    high: float | None = None
    method: str = ""  # "t", "bootstrap" or "" (fewer than two values)

    def text(self, digits: int = 4) -> str:
        if self.mean is None:
            return "-"
        if self.low is None or self.high is None:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


@dataclass(frozen=True)
class Difference:
    diff: float
    low: float
    high: float
    p: float            # one-sided (better) or TOST (same) p-value, before correction
    method: str         # "paired t", "Welch t", "paired bootstrap", "bootstrap"
    paired: bool
    n_a: int
    n_b: int
    level: float = LEVEL


def _clean(values: Sequence[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def t_quantile(df: int, level: float = LEVEL) -> float:
    """Student's t quantile of a two-sided ``level`` interval with ``df`` degrees of freedom
    (t(0.975, df) for 95%): the half-width of a curve's band is this x sd / sqrt(n)."""
    from scipy import stats

    return float(stats.t.ppf(0.5 + level / 2, df))


def interval(values: Sequence[float | None], level: float = LEVEL) -> Interval:
    """n, mean and the ``level`` confidence interval of the mean of ``values`` (None and NaN dropped)."""
    xs = _clean(values)
    if not xs:
        return Interval(0, None)
    mean = sum(xs) / len(xs)
    if len(xs) < 2:
        return Interval(1, mean)
    import numpy as np
    from scipy import stats

    arr = np.asarray(xs)
    if max(xs) == min(xs):  # no spread: the interval is the value (t would divide by zero)
        return Interval(len(xs), xs[0], xs[0], xs[0], "t")
    if len(xs) < BOOTSTRAP_MIN_N:
        lo, hi = stats.t.interval(level, len(xs) - 1, loc=mean, scale=stats.sem(arr))
        return Interval(len(xs), mean, float(lo), float(hi), "t")
    res = stats.bootstrap((arr,), np.mean, confidence_level=level, n_resamples=RESAMPLES, method="BCa",
                          random_state=np.random.default_rng(SEED))
    return Interval(len(xs), mean, float(res.confidence_interval.low), float(res.confidence_interval.high), "bootstrap")


def _diff_interval(a, b, paired: bool, level: float):
    """(low, high, method) of mean(a) - mean(b)."""
    import numpy as np
    from scipy import stats

    n = min(len(a), len(b))
    if n >= BOOTSTRAP_MIN_N:
        rng = np.random.default_rng(SEED)
        if paired:
            res = stats.bootstrap((a - b,), np.mean, confidence_level=level, n_resamples=RESAMPLES, random_state=rng)
        else:
            res = stats.bootstrap((a, b), lambda x, y, axis=-1: np.mean(x, axis=axis) - np.mean(y, axis=axis),
                                  confidence_level=level, n_resamples=RESAMPLES, method="percentile",
                                  random_state=rng)
        ci = res.confidence_interval
        return float(ci.low), float(ci.high), "paired bootstrap" if paired else "bootstrap"
    test = stats.ttest_rel(a, b) if paired else stats.ttest_ind(a, b, equal_var=False)
    ci = test.confidence_interval(confidence_level=level)
    return float(ci.low), float(ci.high), "paired t" if paired else "Welch t"


def _degenerate(a, b, paired: bool) -> bool:
    import numpy as np

    return bool(np.ptp(a - b) == 0) if paired else bool(np.ptp(a) == 0 and np.ptp(b) == 0)


def difference(a: Sequence[float], b: Sequence[float], paired: bool, higher: bool | None = True,
               level: float = LEVEL) -> Difference:
    """mean(a) - mean(b), its interval, and the one-sided p-value of "a is better than b"
    (``higher``: larger is better; None: the two-sided p-value of "they differ"). ``paired``: a[i]
    and b[i] share a seed (and fold)."""
    import numpy as np
    from scipy import stats

    xa, xb = np.asarray(_clean(a)), np.asarray(_clean(b))
    if len(xa) < 2 or len(xb) < 2 or (paired and len(xa) != len(xb)):
        raise ValueError("a difference needs two or more runs on each side (the same number when paired)")
    diff = float(xa.mean() - xb.mean())
    alt = "two-sided" if higher is None else "greater" if higher else "less"
    if _degenerate(xa, xb, paired):  # no spread: the t statistic is undefined; the difference is exact
        p = 0.0 if diff != 0 and (higher is None or (diff > 0) == higher) else 1.0
        return Difference(diff, diff, diff, p, "exact", paired, len(xa), len(xb), level)
    lo, hi, method = _diff_interval(xa, xb, paired, level)
    test = stats.ttest_rel(xa, xb, alternative=alt) if paired else stats.ttest_ind(xa, xb, equal_var=False,
                                                                                    alternative=alt)
    return Difference(diff, lo, hi, float(test.pvalue), method, paired, len(xa), len(xb), level)


def equivalence(a: Sequence[float], b: Sequence[float], within: float, paired: bool,
                level: float = LEVEL) -> Difference:
    """TOST: mean(a) - mean(b) lies within ±within. The p-value is the larger of the two one-sided
    tests; the interval is the 1 - 2(1 - level) one (90% for a 5% test), as TOST reads it."""
    import numpy as np
    from scipy import stats

    xa, xb = np.asarray(_clean(a)), np.asarray(_clean(b))
    if len(xa) < 2 or len(xb) < 2 or (paired and len(xa) != len(xb)):
        raise ValueError("an equivalence test needs two or more runs on each side (the same number when paired)")
    diff = float(xa.mean() - xb.mean())
    tost_level = 1 - 2 * (1 - level)
    if _degenerate(xa, xb, paired):
        p = 0.0 if abs(diff) < within else 1.0
        return Difference(diff, diff, diff, p, "exact", paired, len(xa), len(xb), tost_level)
    if paired:
        d = xa - xb
        p_low = stats.ttest_1samp(d, -within, alternative="greater").pvalue
        p_high = stats.ttest_1samp(d, within, alternative="less").pvalue
    else:
        p_low = stats.ttest_ind(xa + within, xb, equal_var=False, alternative="greater").pvalue
        p_high = stats.ttest_ind(xa - within, xb, equal_var=False, alternative="less").pvalue
    lo, hi, method = _diff_interval(xa, xb, paired, tost_level)
    return Difference(diff, lo, hi, float(max(p_low, p_high)), "TOST " + method, paired, len(xa), len(xb),
                      tost_level)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input's order (monotone, capped at 1)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out
