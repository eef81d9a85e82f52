"""reports.stats: the intervals and tests equal scipy.stats' on known data; Holm's correction by hand."""

import numpy as np
import pytest
from scipy import stats as S

from dlhw.reports import stats

SMALL = [0.91, 0.93, 0.90, 0.94, 0.92]


def test_small_n_is_students_t_as_scipy_computes_it():
    iv = stats.interval(SMALL)
    lo, hi = S.t.interval(0.95, len(SMALL) - 1, loc=np.mean(SMALL), scale=S.sem(SMALL))
    assert iv.method == "t" and iv.n == 5
    assert iv.mean == pytest.approx(np.mean(SMALL))
    assert (iv.low, iv.high) == (pytest.approx(lo), pytest.approx(hi))
    assert iv.low < iv.mean < iv.high


def test_large_n_is_scipys_bca_bootstrap_with_a_fixed_seed():
    data = list(np.random.default_rng(3).normal(0.8, 0.05, size=30))
    iv = stats.interval(data)
    ref = S.bootstrap((np.asarray(data),), np.mean, confidence_level=0.95, n_resamples=stats.RESAMPLES,
                      method="BCa", random_state=np.random.default_rng(stats.SEED)).confidence_interval
    assert iv.method == "bootstrap" and iv.n == 30
    assert (iv.low, iv.high) == (pytest.approx(ref.low), pytest.approx(ref.high))
    assert stats.interval(data) == iv  # the same report twice: the same interval


def test_one_value_has_no_interval_and_none_values_are_dropped():
    assert stats.interval([0.5, None, float("nan")]) == stats.Interval(1, 0.5)
    assert stats.interval([]).mean is None
    assert stats.interval([0.7, 0.7, 0.7]).low == 0.7  # no spread: the interval is the value


def test_paired_difference_is_ttest_rel():
    a, b = [0.91, 0.93, 0.90, 0.94], [0.88, 0.92, 0.87, 0.90]
    d = stats.difference(a, b, paired=True)
    ref = S.ttest_rel(a, b)
    ci = ref.confidence_interval(0.95)
    assert d.method == "paired t" and d.paired
    assert d.diff == pytest.approx(np.mean(a) - np.mean(b))
    assert (d.low, d.high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert d.p == pytest.approx(S.ttest_rel(a, b, alternative="greater").pvalue)


def test_unpaired_difference_is_welch_and_lower_is_better_flips_the_test():
    a, b = [0.31, 0.35, 0.30], [0.42, 0.40, 0.47, 0.44]
    d = stats.difference(a, b, paired=False, higher=False)
    ci = S.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert d.method == "Welch t" and (d.low, d.high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert d.p == pytest.approx(S.ttest_ind(a, b, equal_var=False, alternative="less").pvalue)
    assert d.p < 0.05


def test_equivalence_is_two_one_sided_tests_with_the_90_percent_interval():
    a, b = [0.900, 0.910, 0.905, 0.902], [0.901, 0.909, 0.906, 0.903]
    e = stats.equivalence(a, b, within=0.01, paired=True)
    d = np.subtract(a, b)
    p = max(S.ttest_1samp(d, -0.01, alternative="greater").pvalue, S.ttest_1samp(d, 0.01, alternative="less").pvalue)
    ci = S.ttest_rel(a, b).confidence_interval(0.90)
    assert e.p == pytest.approx(p) and e.p < 0.05 and e.level == pytest.approx(0.90)
    assert (e.low, e.high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert -0.01 < e.low < e.high < 0.01


def test_holm_on_known_pvalues():
    # Holm (1979): sorted 0.01, 0.02, 0.04 times 3, 2, 1 -> 0.03, 0.04, 0.04 (monotone)
    assert stats.holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert stats.holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    assert stats.holm([]) == []


def test_a_difference_needs_two_runs_a_side():
    with pytest.raises(ValueError):
        stats.difference([0.9], [0.8, 0.7], paired=False)
