"""Balance report for `--rebalance`: per pool, how far owners are from their share by count and by value."""

from __future__ import annotations

import datetime as dt

import polars as pl

from revrules.engine.definitions import Pool
from revrules.project import CURRENT_OWNER, Project

BALANCE_SCHEMA = pl.Schema({"pool": pl.String(), "measure": pl.String(), "before": pl.Float64(),
                            "after": pl.Float64(), "balanced_by": pl.String(), "tolerance": pl.Float64()})
"""`before`/`after`: the largest deviation of a member from its weighted share, as a fraction of that share."""


def pool_balance(project: Project, evaluated: pl.DataFrame, tolerance: float,
                 today: dt.date | None = None) -> pl.DataFrame:
    """Per pool, count and value balance before and after (members away today are left out, as rebalance does).

    Args:
        project: The project.
        evaluated: The evaluated frame.
        tolerance: The rebalance tolerance, kept for the warning.
        today: The day of the run (who is away).

    Returns:
        One row per pool and measure (`accounts`, and `value` when `territories.value` is set).
    """
    territories = project.book.territories
    if territories is None or project.owner_output is None or CURRENT_OWNER not in evaluated.columns:
        return pl.DataFrame(schema=BALANCE_SCHEMA)
    day = today or dt.datetime.now(dt.UTC).date()
    value = pl.col(territories.value).cast(pl.Float64).fill_null(0.0) if territories.value else pl.lit(0.0)
    frame = evaluated.select(pl.col(territories.output).alias("territory"), pl.col(CURRENT_OWNER).alias("before"),
                             pl.coalesce(territories.owner_output, CURRENT_OWNER).alias("after"),
                             value.alias("value"), pl.lit(1.0).alias("one"))
    leaves = [path[-1] for path in territories.leaves() if path[-1].pool is not None]
    pools = {leaf.pool.id: leaf.pool for leaf in leaves if leaf.pool is not None}
    rows = []
    for pool_id in sorted(pools):
        pool = pools[pool_id].without_away(day)
        if len(pool.active) < 2:
            continue
        where = frame.filter(pl.col("territory").is_in([x.id for x in leaves if x.pool and x.pool.id == pool_id]))
        measures = {"accounts": pl.col("one")} | ({"value": pl.col("value")} if territories.value else {})
        for measure, size in measures.items():
            rows.append((pool_id, measure, _spread(where, pool, "before", size), _spread(where, pool, "after", size),
                         "value" if pool.balance_by else "accounts", tolerance))
    return pl.DataFrame(rows, schema=BALANCE_SCHEMA, orient="row")


def _spread(frame: pl.DataFrame, pool: Pool, side: str, size: pl.Expr) -> float:
    """The largest |load - share| / share over the pool's members (0 when the pool holds nothing)."""
    weights = {o.id: o.weight for o in pool.active}
    held = dict(frame.filter(pl.col(side).is_in(list(weights))).group_by(side).agg(size.sum()).iter_rows())
    total, weight = sum(held.values()), sum(weights.values())
    if total <= 0:
        return 0.0
    return float(max(abs(held.get(owner, 0.0) - total * w / weight) / (total * w / weight)
                     for owner, w in weights.items()))


def balance_warnings(balance: pl.DataFrame) -> list[str]:
    """Pools balanced by count whose value shares end further apart than the tolerance."""
    uneven = balance.filter((pl.col("balanced_by") == "accounts") & (pl.col("measure") == "value")
                            & (pl.col("after") > pl.col("tolerance") + 1e-9))
    return [f"pool {pool}: balanced by account count, value is up to {after:.0%} off an owner's share "
            f"(tolerance {tol:.0%}); set balance_by on the pool to balance value"
            for pool, after, tol in uneven.select("pool", "after", "tolerance").iter_rows()]
