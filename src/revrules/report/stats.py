"""Rank statistics for the report: Kruskal-Wallis, Mann-Whitney, effect sizes and their p-values."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Cliff's delta below this is "negligible" (Romano et al., 2006); a pair of segments
# whose difference is negligible or not significant is not distinguishable.
NEGLIGIBLE_DELTA = 0.147
ALPHA = 0.05


@dataclass(frozen=True)
class KruskalWallis:
    """The Kruskal-Wallis H test over k groups, with epsilon-squared as the effect size."""

    h: float
    df: int
    p: float
    epsilon_squared: float
    n: int


@dataclass(frozen=True)
class MannWhitney:
    """The Mann-Whitney U test of two groups, with Cliff's delta (positive: `a` tends larger)."""

    u: float
    p: float
    cliffs_delta: float

    @property
    def distinguishable(self) -> bool:
        """Significant at ALPHA and more than a negligible difference."""
        return self.p < ALPHA and abs(self.cliffs_delta) >= NEGLIGIBLE_DELTA


def ranks(values: Sequence[float]) -> tuple[list[float], float]:
    """Average ranks (1 = smallest) of `values`, and the tie term sum(t^3 - t) over groups of ties."""
    order = sorted(range(len(values)), key=values.__getitem__)
    result = [0.0] * len(values)
    ties = 0.0
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        average = (start + end) / 2 + 1
        for position in range(start, end + 1):
            result[order[position]] = average
        size = end - start + 1
        ties += size**3 - size
        start = end + 1
    return result, ties


def kruskal_wallis(groups: Sequence[Sequence[float]]) -> KruskalWallis:
    """H = 12/(N(N+1)) * sum(R_i^2/n_i) - 3(N+1), divided by the tie correction 1 - sum(t^3-t)/(N^3-N).

    Epsilon-squared is H / (N - 1) (Tomczak & Tomczak, 2014): 0 no effect .. 1 groups fully separate.
    """
    groups = [g for g in groups if len(g)]
    pooled = [float(v) for g in groups for v in g]
    n, k = len(pooled), len(groups)
    if k < 2 or n < 3:
        return KruskalWallis(0.0, max(k - 1, 0), 1.0, 0.0, n)
    rank, ties = ranks(pooled)
    total, start = 0.0, 0
    for group in groups:
        rank_sum = sum(rank[start:start + len(group)])
        total += rank_sum * rank_sum / len(group)
        start += len(group)
    correction = 1 - ties / (n**3 - n)
    if correction <= 0:  # every value is the same: no evidence of any difference
        return KruskalWallis(0.0, k - 1, 1.0, 0.0, n)
    h = (12 / (n * (n + 1)) * total - 3 * (n + 1)) / correction
    h = max(h, 0.0)
    return KruskalWallis(h, k - 1, chi2_sf(h, k - 1), min(h / (n - 1), 1.0), n)


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> MannWhitney:
    """Two-sided Mann-Whitney U with the tie-corrected normal approximation and a continuity correction."""
    n1, n2 = len(a), len(b)
    if not n1 or not n2:
        return MannWhitney(0.0, 1.0, 0.0)
    rank, ties = ranks([float(v) for v in (*a, *b)])
    n = n1 + n2
    u = sum(rank[:n1]) - n1 * (n1 + 1) / 2
    mean = n1 * n2 / 2
    variance = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))) if n > 1 else 0.0
    if variance <= 0:
        p = 1.0
    else:
        z = max(abs(u - mean) - 0.5, 0.0) / math.sqrt(variance)
        p = min(1.0, math.erfc(z / math.sqrt(2)))
    return MannWhitney(u, p, 2 * u / (n1 * n2) - 1)


def chi2_sf(x: float, df: int) -> float:
    """P(X > x) for a chi-square variable with `df` degrees of freedom."""
    if df <= 0:
        return 1.0
    return _gamma_q(df / 2, x / 2)


def _gamma_q(a: float, x: float) -> float:
    """The regularized upper incomplete gamma function Q(a, x) (series below a+1, continued fraction above)."""
    if x <= 0:
        return 1.0
    log_prefix = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:
        term = total = 1 / a
        denominator = a
        for _ in range(10_000):
            denominator += 1
            term *= x / denominator
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1 - total * math.exp(log_prefix))
    tiny = 1e-300
    b = x + 1 - a
    c, d = 1 / tiny, 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = d if abs(d) > tiny else tiny
        c = b + an / c
        c = c if abs(c) > tiny else tiny
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return min(1.0, math.exp(log_prefix) * h)
