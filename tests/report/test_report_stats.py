"""The report's statistics against scipy.stats and hand computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from revrules.report.stats import holm, kruskal_wallis, mann_whitney, proportions, two_proportions


def test_kruskal_wallis_matches_scipy() -> None:
    groups = [np.array([1.0, 3, 5, 7, 9]), np.array([2.0, 4, 6, 8, 10]), np.array([2.0, 2, 11])]
    result = kruskal_wallis(groups)
    h, p = stats.kruskal(*groups)
    assert result.statistic == pytest.approx(h, abs=1e-12)
    assert result.p == pytest.approx(p, abs=1e-12)
    assert result.effect == pytest.approx(h / (13 - 1))


def test_identical_values_find_nothing() -> None:
    result = kruskal_wallis([np.ones(3), np.ones(2)])
    assert (result.statistic, result.p, result.effect) == (0.0, 1.0, 0.0)
    assert mann_whitney(np.ones(3), np.ones(4)).p == 1.0


def test_mann_whitney_is_exact_for_small_groups_and_gives_cliffs_delta() -> None:
    a, b = np.array([1.0, 2, 3, 4]), np.array([5.0, 6, 7, 8, 9])
    result = mann_whitney(a, b)
    assert result.p == pytest.approx(stats.mannwhitneyu(a, b, method="exact").pvalue, abs=1e-12)
    assert result.p == pytest.approx(2 / 126)  # 2 of C(9, 4) orderings are this extreme
    assert (result.statistic, result.cliffs_delta) == (0.0, -1.0)


def test_mann_whitney_on_large_tied_groups_matches_scipy() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 20, 500).astype(float), rng.integers(2, 22, 400).astype(float)
    result = mann_whitney(a, b)
    expected = stats.mannwhitneyu(a, b, alternative="two-sided")
    assert result.p == pytest.approx(expected.pvalue, abs=1e-12)
    assert result.cliffs_delta == pytest.approx(2 * expected.statistic / (500 * 400) - 1)


def test_a_rare_outcome_three_times_as_frequent_is_a_clear_difference() -> None:
    # The case: 14% against 4% churn over large groups. Cliff's delta on 0/1 data is only
    # the risk difference (0.10, "negligible"); the proportion test and the ratio say what it is.
    result = two_proportions(280, 2000, 80, 2000)
    assert result.method == "two-proportion z"
    z = (0.14 - 0.04) / np.sqrt(0.09 * 0.91 * (2 / 2000))
    assert result.p == pytest.approx(2 * stats.norm.sf(z), rel=1e-9)
    assert result.risk_ratio == pytest.approx(3.5)
    assert result.risk_difference == pytest.approx(0.10)


def test_small_counts_use_fishers_exact_test() -> None:
    result = two_proportions(1, 4, 3, 7)
    assert result.method == "Fisher exact"
    assert result.p == pytest.approx(stats.fisher_exact([[1, 3], [3, 4]]).pvalue, abs=1e-12)


def test_proportions_over_k_groups_match_chi_square() -> None:
    result = proportions([10, 30, 25], [100, 120, 90])
    table = [[10, 90], [30, 90], [25, 65]]
    expected = stats.chi2_contingency(table, correction=False)
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.p == pytest.approx(expected.pvalue)
    assert result.df == 2


def test_no_events_at_all_is_no_evidence() -> None:
    assert proportions([0, 0], [10, 12]).p == 1.0
    assert two_proportions(0, 10, 0, 12).p == 1.0


def test_holm_step_down_by_hand() -> None:
    # Sorted 0.01, 0.02, 0.03, 0.5 -> 0.04, 0.06, 0.06 (kept monotone), 0.5.
    assert holm([0.03, 0.01, 0.5, 0.02]) == pytest.approx([0.06, 0.04, 0.5, 0.06])
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []
