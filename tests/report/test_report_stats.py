"""Kruskal-Wallis, Mann-Whitney and the chi-square tail against published reference values."""

from __future__ import annotations

import pytest

from revrules.report.stats import chi2_sf, kruskal_wallis, mann_whitney


def test_kruskal_wallis_matches_reference_values() -> None:
    # scipy.stats.kruskal documentation examples.
    result = kruskal_wallis([[1, 3, 5, 7, 9], [2, 4, 6, 8, 10]])
    assert (result.h, result.p) == pytest.approx((0.2727272727, 0.6015081344))
    tied = kruskal_wallis([[1, 1, 1], [2, 2, 2], [2, 2]])
    assert (tied.h, tied.p) == pytest.approx((7.0, 0.0301973834))


def test_kruskal_wallis_of_identical_values_finds_nothing() -> None:
    result = kruskal_wallis([[1, 1, 1], [1, 1]])
    assert (result.h, result.p, result.epsilon_squared) == (0.0, 1.0, 0.0)


def test_chi_square_tail() -> None:
    assert chi2_sf(3.841458820694124, 1) == pytest.approx(0.05)
    assert chi2_sf(18.307038053275146, 10) == pytest.approx(0.05)
    assert chi2_sf(0.0, 3) == 1.0


def test_mann_whitney_and_cliffs_delta() -> None:
    result = mann_whitney([1, 2, 3, 4], [5, 6, 7, 8, 9])
    assert result.u == 0
    assert result.cliffs_delta == -1.0
    assert result.p == pytest.approx(0.0199644533)  # scipy: asymptotic, continuity-corrected
    assert result.distinguishable
    same = mann_whitney([1, 2, 3, 4, 5], [1, 2, 3, 4, 5])
    assert not same.distinguishable
