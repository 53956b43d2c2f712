"""Owners for evaluated records: each territory's pool routes its records, then overflow, then rebalancing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import polars as pl

from revrules.engine.columns import OVERRIDE, rule_column
from revrules.engine.convert import ID
from revrules.engine.definitions import Pool, Territories
from revrules.engine.people import DEPARTURES, previous_column
from revrules.engine.routing import (
    ASSIGNED,
    FULL,
    KEPT,
    NOBODY,
    OVERFLOW,
    REBALANCE,
    capacity_left,
    owner_loads,
    rebalance_pool,
    route_pools,
    route_shared,
    sharing_groups,
)

SIZE = "__size"
"""What a routed row weighs when it carries a family: the records it stands for."""


def route_owners(
    frame: pl.DataFrame, territories: Territories, pools: dict[str, Pool], current_owner: str | None,
    today: dt.date, *, manual: str | None = None,
) -> pl.DataFrame:
    """Assign owners pool by pool, then send what did not fit to each territory's overflow.

    Loads are per owner across every pool (SPEC §3); pools that share an owner are routed together.
    A record whose `manual` column holds an owner is not routed: it goes to that owner (rule
    `override`), who holds it first, like a kept account, whatever the pool.
    """
    output, reason = territories.owner_output or "", rule_column(territories.owner_output or "")
    leaves = {path[-1].id: path[-1] for path in territories.leaves()}
    pool_of = {leaf_id: leaf.pool.id for leaf_id, leaf in leaves.items() if leaf.pool}
    queues = {leaf_id: leaf.overflow_owner for leaf_id, leaf in leaves.items() if leaf.overflow_owner is not None}
    spills = {leaf_id: leaf.overflow_pool.id for leaf_id, leaf in leaves.items()
              if leaf.overflow_pool is not None and leaf.overflow_owner is None}
    current = pl.col(current_owner).cast(pl.String) if current_owner else pl.lit(None, dtype=pl.String)
    balance = sorted({p.balance_by for p in pools.values() if p.balance_by})
    balance += [SIZE] if SIZE in frame.columns else []
    by_hand = pl.col(manual).cast(pl.String) if manual else pl.lit(None, pl.String)
    work = frame.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("row"), ID,
                        pl.col(territories.output).alias("territory"), current.alias("current"), *balance,
                        by_hand.alias("manual"))
    work = work.with_columns(pl.when(pl.col("manual").is_null()).then(pl.col("territory").replace_strict(
        pool_of, default=None, return_dtype=pl.String)).alias("pool"))
    parts = [pl.DataFrame(schema={"row": pl.Int64, output: pl.String, reason: pl.String})]
    chosen = work.filter(pl.col("manual").is_not_null())
    size = pl.col(SIZE) if SIZE in work.columns else pl.lit(1.0)
    held: dict[str, float] = dict(chosen.group_by("manual").agg(size.sum().cast(pl.Float64)).iter_rows())
    parts.append(chosen.select("row", pl.col("manual").alias(output), pl.lit(OVERRIDE).alias(reason)))
    present = work.filter(pl.col("pool").is_not_null())
    sharing = sharing_groups(present["pool"].unique().to_list(), pools)
    alone = [group[0] for group in sharing if len(group) == 1]
    routed = [pl.DataFrame(schema={"row": pl.Int64, "territory": pl.String, output: pl.String, reason: pl.String})]
    if alone:
        routed.append(_route_group(present.filter(pl.col("pool").is_in(alone)), {p: pools[p] for p in alone}, held,
                                   today, output=output, reason=reason))
    for shared in (group for group in sharing if len(group) > 1):
        routed.append(_route_group(present.filter(pl.col("pool").is_in(shared)), {p: pools[p] for p in shared}, held,
                                   today, output=output, reason=reason, shared=True))
    unrouted = pl.col(reason).is_in([FULL, NOBODY])
    spilling = pl.concat(routed).filter(unrouted).with_columns(
        pl.col("territory").replace_strict(queues, default=None, return_dtype=pl.String).alias("queue"),
        pl.col("territory").replace_strict(spills, default=None, return_dtype=pl.String).alias("spill"))
    parts += [frame.filter(~unrouted) for frame in routed]
    parts.append(spilling.filter(pl.col("queue").is_not_null()).select(
        "row", pl.col("queue").alias(output), pl.lit(OVERFLOW).alias(reason)))
    parts.append(spilling.filter(pl.col("queue").is_null() & pl.col("spill").is_null()).select("row", output, reason))
    spilled = work.join(spilling.select("row", "spill").drop_nulls("spill"), on="row", maintain_order="left")
    for pool_id in sorted(spilled["spill"].unique().to_list()):
        overflowing = _route_group(spilled.filter(pl.col("spill") == pool_id).with_columns(pool=pl.lit(pool_id)),
                                   {pool_id: pools[pool_id]}, held, today, output=output, reason=reason)
        parts.append(overflowing.with_columns(
            pl.when(unrouted).then(reason).otherwise(pl.lit(OVERFLOW)).alias(reason)))
    done = pl.concat(parts, how="diagonal")
    return (
        frame.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("__row"),
                           current.alias(previous_column(output)))
        .join(done.select("row", output, reason), left_on="__row", right_on="row", how="left",
              maintain_order="left")
        .drop("__row")
    )


def _sizes(group: pl.DataFrame, pools: Mapping[str, Pool]) -> tuple[pl.Series | None, set[str]]:
    """What each routed row weighs, and the pools whose load sums it instead of counting rows.

    A row weighs its pool's `balance_by` value, else the records it carries (a family).
    Pools whose families are all of one count rows: the count-based routing (much faster
    than by size) then applies.
    """
    by_field: dict[str, list[str]] = {}
    for pool_id, pool in pools.items():
        if pool.balance_by:
            by_field.setdefault(pool.balance_by, []).append(pool_id)
    families = (set(group.filter(pl.col(SIZE) != 1)["pool"].unique().to_list()) if SIZE in group.columns
                else set())
    if not by_field and not families:
        return None, set()
    size = pl.col(SIZE).cast(pl.Float64) if SIZE in group.columns else pl.lit(1.0)
    for field, pool_ids in by_field.items():
        size = pl.when(pl.col("pool").is_in(pool_ids)).then(pl.col(field).cast(pl.Float64)).otherwise(size)
    return group.select(size).to_series(), families.union(*by_field.values())


def _route_group(
    group: pl.DataFrame, pools: Mapping[str, Pool], held: dict[str, float], today: dt.date, *, output: str, reason: str,
    shared: bool = False,
) -> pl.DataFrame:
    """Route the accounts of `pools` (which share owners, or none), starting from and updating what owners `held`."""
    sizes, by_size = _sizes(group, pools)
    route = route_shared if shared else route_pools
    owners, why, after = route(group[ID], group["current"], group["pool"], pools, sizes=sizes, by_size=by_size,
                               held=held, today=today)
    held.update(after)
    return group.select("row", "territory").with_columns(owners.alias(output), why.alias(reason))


def rebalance_owners(
    frame: pl.DataFrame, territories: Territories, pools: dict[str, Pool], tolerance: float
) -> pl.DataFrame:
    """Rebalance each pool's routed accounts; moved accounts get the reason `rebalance`.

    Every pool's books are sorted in one pass; only the moves run pool by pool. What an
    owner holds outside a pool (for capacity) is its total, kept up to date as accounts
    move, less what it holds inside.
    """
    output, reason = territories.owner_output or "", rule_column(territories.owner_output or "")
    pool_of = {path[-1].id: path[-1].pool.id for path in territories.leaves() if path[-1].pool is not None}
    used = sorted(set(pool_of.values()))
    members = pl.DataFrame({"pool": [p for p in used for _ in pools[p].active],
                            "owner": [o.id for p in used for o in pools[p].active]},
                           schema={"pool": pl.String, "owner": pl.String}).with_row_index("member")
    first = np.cumsum([0] + [len(pools[p].active) for p in used])
    placed = frame.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("row"), pl.col(ID).alias("id"), pl.col(output).alias("owner"),
        pl.col(territories.output).replace_strict(pool_of, default=None, return_dtype=pl.String).alias("pool"),
        pl.col(reason), *{f for f in (territories.value, *(pools[p].balance_by for p in used)) if f},
    ).filter(pl.col("pool").is_not_null() & pl.col(reason).is_in([KEPT, ASSIGNED, *DEPARTURES]))
    held = placed.join(members, on=["pool", "owner"], how="inner", maintain_order="left").select(
        "row", "id", "member",
        _per_pool({p: pools[p].balance_by or territories.value for p in used}, pl.lit(0.0)).alias("value"),
        _per_pool({p: pools[p].balance_by for p in used}, pl.lit(1.0)).alias("size"))
    member = held["member"].to_numpy()
    # Summed in row order, as each pool's own bincount would.
    load = np.bincount(member, weights=held["size"].to_numpy(), minlength=len(members)).astype(np.float64)
    # Each member's book, most valuable first (then the highest id), so that its last account
    # is the one given first: the least valuable, then the lowest id.
    ordered = held.sort(["member", "value", "id"], descending=[False, True, True])["row"].to_numpy()
    books = np.split(ordered, np.cumsum(np.bincount(member, minlength=len(members)))[:-1])
    owners, reasons = frame[output].clone(), frame[reason].clone()
    measured = {f: frame.select(_measure(f)).to_series().to_numpy() for f in {pools[p].balance_by for p in used}}
    totals: dict[str | None, dict[str, float]] = {}
    for p, pool_id in enumerate(used):
        pool, at = pools[pool_id], slice(first[p], first[p + 1])
        if any(o.capacity is not None for o in pool.owners):
            if pool.balance_by not in totals:
                totals[pool.balance_by] = owner_loads(owners, pl.Series(measured[pool.balance_by]))
            inside = dict(zip(members["owner"][at], load[at].tolist(), strict=True))
            outside = {o: total - inside.get(o, 0.0) for o, total in totals[pool.balance_by].items()}
            pool = capacity_left(pool, outside)
        moves = rebalance_pool(books[at], load[at].copy(), measured[pool.balance_by], pool, tolerance)
        if not moves:
            continue
        where = pl.Series(list(moves), dtype=pl.Int64)
        givers = owners.gather(where).to_list()
        takers = [pool.active[m].id for m in moves.values()]
        for kind, carried in totals.items():
            # Moves are few: the totals follow them one by one.
            for giver, taker, amount in zip(givers, takers, measured[kind][list(moves)].tolist(), strict=True):
                carried[giver] = carried.get(giver, 0.0) - amount
                carried[taker] = carried.get(taker, 0.0) + amount
        owners = owners.scatter(where, pl.Series(takers, dtype=pl.String))
        reasons = reasons.scatter(where, REBALANCE)
    return frame.with_columns(owners.alias(output), reasons.alias(reason))


def _measure(field: str | None) -> pl.Expr:
    """What an account weighs in a pool balanced by `field` (None: one)."""
    return pl.col(field).cast(pl.Float64).fill_null(0.0) if field else pl.repeat(1.0, pl.len())


def _per_pool(field_of: Mapping[str, str | None], otherwise: pl.Expr) -> pl.Expr:
    """Each row's value of its pool's field (by the `pool` column), nulls as 0; `otherwise` where it has none."""
    value = otherwise
    for field in sorted({f for f in field_of.values() if f}):
        pool_ids = [p for p, f in field_of.items() if f == field]
        value = pl.when(pl.col("pool").is_in(pool_ids)).then(_measure(field)).otherwise(value)
    return value.cast(pl.Float64)
