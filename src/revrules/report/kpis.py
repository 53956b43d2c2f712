"""What the report measures: the KPI field names it looks for, and shared helpers over the rulebook."""

from __future__ import annotations

import polars as pl

from revrules.engine.convert import FieldType
from revrules.engine.definitions import Rulebook

NUMERIC = (FieldType.NUMBER, FieldType.INTEGER)

# KPI -> the names a config or rulebook usually gives the field that carries it.
ARR_NAMES = ("arr", "annual_recurring_revenue")
MRR_NAMES = ("mrr",)
LTV_NAMES = ("ltv", "lifetime_value", "clv")
NRR_NAMES = ("nrr", "net_revenue_retention", "net_retention")
CHURN_NAMES = ("churned", "is_churned", "churn")
WIN_NAMES = ("won", "is_won", "closed_won", "win_rate")
NPS_CATEGORY_NAMES = ("nps_category",)
NPS_NAMES = ("nps", "nps_score")
SUPPORT_NAMES = ("tickets_90d", "support_tickets", "tickets", "support_cases")
CHURN_RISK_NAMES = ("churn_risk",)


def depends_on(book: Rulebook, name: str) -> set[str]:
    """`name` and every derived value or decision computed from it, directly or not."""
    tainted = {name}
    for derive in book.derives:
        reads = set(derive.expression.symbols) if derive.expression else {derive.quantile_of or ""}
        if reads & tainted:
            tainted.add(derive.name)
    for decision in book.decisions:
        if decision.depends_on & tainted:
            tainted.add(decision.name)
    return tainted


def ltv_quintile(frame: pl.DataFrame, ltv: str) -> pl.Series:
    """SPEC §3 buckets: 1 + floor(5 (r - 1) / n), r the rank with ties sharing the lowest; null stays null."""
    result = frame.select(
        (1 + (5 * (pl.col(ltv).rank("min").cast(pl.Int64) - 1)) // pl.col(ltv).count().cast(pl.Int64))
        .alias("q"))
    return result["q"]
