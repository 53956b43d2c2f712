"""Significance tests for the report, from scipy.stats: rank tests, proportion tests, and Holm's correction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats
from scipy.stats.contingency import association

# Cliff's delta below this is "negligible" (Romano et al., 2006); a pair of segments
# whose difference is negligible or not significant is not distinguishable.
NEGLIGIBLE_DELTA = 0.147
ALPHA = 0.05
# Below this expected count in any cell the chi-square approximation is poor (Cochran's rule):
# Fisher's exact test instead.
MIN_EXPECTED = 5.0

Values = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Omnibus:
    """One test over k groups: Kruskal-Wallis H (continuous) or chi-square (binary), with its effect size."""

    statistic: float
    df: int
    p: float
    effect: float
    """Epsilon-squared for Kruskal-Wallis, Cramér's V for chi-square: 0 none .. 1 groups fully separate."""
    n: int
    method: str


@dataclass(frozen=True)
class PairTest:
    """Two groups compared; `p_adjusted` is filled in by Holm's correction over the decision's pairs."""

    statistic: float
    p: float
    method: str
    cliffs_delta: float | None = None
    risk_difference: float | None = None
    risk_ratio: float | None = None


def kruskal_wallis(groups: Sequence[Values]) -> Omnibus:
    """Kruskal-Wallis H over the non-empty groups, with epsilon-squared H / (N - 1) (Tomczak & Tomczak, 2014)."""
    groups = [g for g in groups if len(g)]
    n = sum(len(g) for g in groups)
    if len(groups) < 2 or n < 3 or _all_equal(groups):
        return Omnibus(0.0, max(len(groups) - 1, 0), 1.0, 0.0, n, "Kruskal-Wallis")
    h, p = stats.kruskal(*groups)
    return Omnibus(float(h), len(groups) - 1, float(p), min(float(h) / (n - 1), 1.0), n, "Kruskal-Wallis")


def mann_whitney(a: Values, b: Values) -> PairTest:
    """Two-sided Mann-Whitney U (exact for small groups without ties), with Cliff's delta (+: `a` tends larger)."""
    if not len(a) or not len(b):
        return PairTest(0.0, 1.0, "Mann-Whitney", cliffs_delta=0.0)
    if _all_equal([a, b]):
        return PairTest(len(a) * len(b) / 2, 1.0, "Mann-Whitney", cliffs_delta=0.0)
    result = stats.mannwhitneyu(a, b, alternative="two-sided", method="auto")
    u = float(result.statistic)
    return PairTest(u, float(result.pvalue), "Mann-Whitney", cliffs_delta=2 * u / (len(a) * len(b)) - 1)


def proportions(events: Sequence[int], totals: Sequence[int]) -> Omnibus:
    """Chi-square test of k proportions (a k x 2 table), with Cramér's V."""
    table = _table(events, totals)
    n = int(table.sum())
    if table.shape[0] < 2 or (table.sum(axis=0) == 0).any():
        return Omnibus(0.0, max(table.shape[0] - 1, 0), 1.0, 0.0, n, "chi-square")
    result = stats.chi2_contingency(table, correction=False)
    v = float(association(table, method="cramer", correction=False))
    return Omnibus(float(result.statistic), int(result.dof), float(result.pvalue), v, n, "chi-square")


def two_proportions(events_a: int, total_a: int, events_b: int, total_b: int) -> PairTest:
    """Two proportions compared, with the risk difference and ratio of `a` against `b`.

    The two-proportion z test (computed as chi-square without continuity correction: z^2 = chi^2),
    or Fisher's exact test when an expected cell count is under 5.
    """
    rate_a = events_a / total_a if total_a else 0.0
    rate_b = events_b / total_b if total_b else 0.0
    ratio = rate_a / rate_b if rate_b else None
    table = _table([events_a, events_b], [total_a, total_b])
    margins = table.sum(axis=0)
    if not total_a or not total_b or (margins == 0).any():
        return PairTest(0.0, 1.0, "no events to compare", risk_difference=rate_a - rate_b, risk_ratio=ratio)
    expected = np.outer(table.sum(axis=1), margins) / table.sum()
    if expected.min() < MIN_EXPECTED:
        odds, p = stats.fisher_exact(table)
        return PairTest(float(odds), float(p), "Fisher exact", risk_difference=rate_a - rate_b, risk_ratio=ratio)
    result = stats.chi2_contingency(table, correction=False)
    return PairTest(float(result.statistic), float(result.pvalue), "two-proportion z",
                    risk_difference=rate_a - rate_b, risk_ratio=ratio)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values: the k-th smallest times (m - k + 1), kept monotone, capped at 1.

    scipy.stats offers only the false-discovery-rate procedures; Holm controls the family-wise
    error, the right guard when each pair is read as a claim of its own.
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if not m:
        return []
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(np.maximum.accumulate(p[order] * (m - np.arange(m))), 1.0)
    adjusted = np.empty(m)
    adjusted[order] = scaled
    return [float(v) for v in adjusted]


def _table(events: Sequence[int], totals: Sequence[int]) -> npt.NDArray[np.int64]:
    hits = np.asarray(events, dtype=np.int64)
    return np.column_stack([hits, np.asarray(totals, dtype=np.int64) - hits])


def _all_equal(groups: Sequence[Values]) -> bool:
    low = min(float(np.min(g)) for g in groups)
    high = max(float(np.max(g)) for g in groups)
    return low == high
