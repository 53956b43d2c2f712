"""Owner routing: sticky owners, then least load/weight under capacity, then the territory's overflow."""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import polars as pl

from revrules.engine.definitions import Owner, Pool, Territories

KEPT, ASSIGNED, OVERFLOW, FULL = "kept", "least-loaded", "overflow", "capacity-full"
FAMILY = "family"
"""Reason of a family member routed with its family (`families: together`): it follows its unit's owner."""
NOBODY = "no-available-owner"
"""No member can receive accounts: every one is gone, away, or unknown or inactive in the CRM."""
GONE, UNAVAILABLE = "owner-gone", "owner-unavailable"
"""Reasons of an account that left its owner: `active: false` in the rulebook, or unknown/inactive in the CRM."""

Loads = np.ndarray[Any, np.dtype[np.float64]]


def route_pools(
    ids: pl.Series,
    current: pl.Series,
    pool: pl.Series,
    pools: Mapping[str, Pool],
    *,
    sizes: pl.Series | None = None,
    by_size: Collection[str] = (),
    held: Mapping[str, float] | None = None,
    today: dt.date | None = None,
) -> tuple[pl.Series, pl.Series, dict[str, float]]:
    """Owners and reasons for accounts routed through pools that share no active owner, in the order given.

    An account whose current owner is an active member of its pool keeps it. The
    rest of each pool, in ascending order of id, each go to the active member with
    the lowest load/weight that stays within capacity (ties by pool order); the
    others are left without an owner (`capacity-full`, or `no-available-owner` when
    no member can receive at all). Load counts accounts, or sums `sizes` in the pools
    routed `by_size` (`balance_by`, or families). A member away on `today` keeps their
    accounts but receives none; a returned member with `catch_up: none` starts level
    with the least loaded other member instead of catching up.

    The pools are routed together, one pass over the accounts, because they are
    independent: only the choice of each next owner runs pool by pool.

    Args:
        ids: Record ids.
        current: Each record's current owner (null when none).
        pool: Each record's pool id, a key of `pools`.
        pools: The pools; no two share an active owner.
        sizes: Each record's size (balance_by value or family size); None: one each.
        by_size: Pools whose load sums `sizes` instead of counting accounts.
        held: Loads owners already carry in this run (for overflow into a pool).
        today: The day the run is for (who is away); None: nobody is away.

    Returns:
        Owners, reasons, and every member's load afterwards.
    """
    order = list(pools)
    members = [o for p in order for o in pools[p].active]
    names = [o.id for o in members]
    first = np.cumsum([0] + [len(pools[p].active) for p in order])
    of_pool = np.repeat(np.arange(len(order)), np.diff(first))
    weight = np.array([o.weight for o in members], dtype=np.float64)
    away = np.array([today is not None and o.away_on(today) for o in members], dtype=bool)
    # An away member's capacity for new accounts is nothing; what they keep is not capped.
    capacity = np.array([np.inf if o.capacity is None else o.capacity for o in members], dtype=np.float64)
    capacity = np.where(away, -np.inf, capacity)
    loads = np.array([(held or {}).get(name, 0.0) for name in names], dtype=np.float64)
    size = (np.ones(len(ids)) if sizes is None
            else sizes.cast(pl.Float64).fill_null(0.0).fill_nan(0.0).clip(0).to_numpy())
    in_pool = pool.replace_strict(order, list(range(len(order))), return_dtype=pl.Int64).to_numpy()
    # Names are unique across independent pools, so a name finds its member directly.
    member = (current.replace_strict(names, list(range(len(names))), default=-1, return_dtype=pl.Int64)
              .fill_null(-1).to_numpy() if names else np.full(len(ids), -1))
    kept = member >= 0
    kept[kept] = of_pool[member[kept]] == in_pool[kept]
    np.add.at(loads, member[kept], size[kept])
    head_start = np.zeros(len(names))
    for p, pool_id in enumerate(order):
        at = slice(first[p], first[p + 1])
        others = _others_level(pools[pool_id].active, loads[at], away[at], today)
        head_start[at] = [_head_start(o, float(loads[first[p] + i]) / o.weight, others, today)
                          for i, o in enumerate(pools[pool_id].active)]
    loads += head_start
    capacity = capacity + head_start
    # The waiting accounts of each pool in ascending order of id: ids first (a string sort, quick
    # when they come sorted), then a stable sort by pool.
    waiting = np.flatnonzero(~kept)
    waiting = waiting[ids.gather(waiting).arg_sort().to_numpy()]
    waiting = waiting[np.argsort(in_pool[waiting], kind="stable")]
    ends = np.cumsum(np.bincount(in_pool[waiting], minlength=len(order)))
    chosen = np.full(len(ids), len(names), dtype=np.int64)  # len(names) means "no owner"
    sized: list[tuple[np.ndarray[Any, Any], slice]] = []
    for p, pool_id in enumerate(order):
        rows, at = waiting[ends[p - 1] if p else 0:ends[p]], slice(first[p], first[p + 1])
        if not len(rows) or first[p] == first[p + 1]:
            continue
        if pool_id in by_size:
            sized.append((rows, at))
        else:
            picks = _greedy_sequence(weight[at], capacity[at], loads[at], len(rows))
            chosen[rows[: len(picks)]] = picks + first[p]
            np.add.at(loads, picks + first[p], 1.0)
    spans = [at for _rows, at in sized]
    for (rows, at), picks in zip(sized, _greedy_by_size_pools(weight, capacity, loads, [size[r] for r, _ in sized],
                                                              spans), strict=True):
        chosen[rows] = np.where(picks < at.stop - at.start, picks + at.start, len(names))
    loads -= head_start
    unrouted = pl.Series([NOBODY if away[first[p]:first[p + 1]].all() else FULL for p in range(len(order))],
                         dtype=pl.String)
    owners, reasons = _outcome(current, kept, chosen, names=names, unrouted=unrouted.gather(in_pool))
    return owners, reasons, dict(zip(names, loads.tolist(), strict=True))


def _outcome(current: pl.Series, kept: np.ndarray[Any, Any], chosen: np.ndarray[Any, Any], *, names: list[str],
             unrouted: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Owners and reasons of routed records.

    The current owner where kept, else the chosen member (`len(names)`: none), else
    no owner, for the record's reason of routing nobody (`unrouted`).
    """
    frame = pl.DataFrame({
        "kept": kept, "current": current, "picked": pl.Series([*names, None], dtype=pl.String).gather(chosen),
        "unrouted": unrouted,
    })
    routed = frame.select(
        pl.when("kept").then("current").otherwise("picked").alias("owner"),
        pl.when("kept").then(pl.lit(KEPT))
        .when(pl.col("picked").is_not_null()).then(pl.lit(ASSIGNED))
        .otherwise("unrouted").alias("reason"),
    )
    return routed["owner"], routed["reason"]


def _others_level(members: Sequence[Owner], loads: Loads, away: np.ndarray[Any, Any], today: dt.date | None) -> float:
    """The lowest load/weight among members who receive and are not returning without catch-up."""
    level = [float(loads[i]) / o.weight for i, o in enumerate(members)
             if not away[i] and not _returned_without_catch_up(o, today)]
    return min(level, default=0.0)


def _returned_without_catch_up(owner: Owner, today: dt.date | None) -> bool:
    return (today is not None and owner.away_until is not None and not owner.away_on(today)
            and owner.catch_up == "none")


def _head_start(owner: Owner, level: float, others: float, today: dt.date | None) -> float:
    """The load a returned `catch_up: none` member is credited so they take turns instead of catching up.

    It only ranks them level with the least loaded other member: it is never written
    anywhere and is taken off their load again after routing.
    """
    if not _returned_without_catch_up(owner, today):
        return 0.0
    return max(0.0, (others - level) * owner.weight)


def route_shared(
    ids: pl.Series,
    current: pl.Series,
    pool: pl.Series,
    pools: Mapping[str, Pool],
    *,
    sizes: pl.Series | None = None,
    by_size: Collection[str] = (),
    held: Mapping[str, float] | None = None,
    today: dt.date | None = None,
) -> tuple[pl.Series, pl.Series, dict[str, float]]:
    """Owners and reasons for accounts of pools that share owners, routed together as SPEC §3 orders it.

    An owner listed in several pools has one load and one capacity. Kept accounts
    of every pool count first; then the other accounts of all the pools, in
    ascending order of id, each go to the member of its own pool with the lowest
    load/weight that stays within capacity (ties by pool order). Away members keep
    and do not receive, and returned ones catch up, as in `route_pools`. One account
    at a time, since each choice moves loads that the next account of any of the
    pools compares; the loop holds only plain numbers.

    Args:
        ids: Record ids.
        current: Each record's current owner (null when none).
        pool: Each record's pool id, a key of `pools`.
        pools: The pools.
        sizes: Each record's size (balance_by value or family size); None: one each.
        by_size: Pools whose load sums `sizes` instead of counting accounts.
        held: Loads owners already carry in this run.
        today: The day the run is for (who is away); None: nobody is away.

    Returns:
        Owners, reasons, and every owner's load afterwards.
    """
    order = list(pools)
    names = list(dict.fromkeys(o.id for p in order for o in pools[p].active))
    index = {name: i for i, name in enumerate(names)}
    in_pool = pool.replace_strict(order, list(range(len(order))), return_dtype=pl.Int64).to_numpy()
    weighed = np.isin(in_pool, [p for p, pool_id in enumerate(order) if pool_id in by_size])
    size = np.ones(len(ids)) if sizes is None else np.where(
        weighed, sizes.cast(pl.Float64).fill_null(0.0).fill_nan(0.0).clip(0).to_numpy(), 1.0)
    owner = (current.replace_strict(names, list(range(len(names))), default=-1, return_dtype=pl.Int64)
             .fill_null(-1).to_numpy() if names else np.full(len(ids), -1))
    listed = np.zeros((len(order), len(names) + 1), dtype=bool)  # the last column: no owner
    for p, pool_id in enumerate(order):
        listed[p, [index[o.id] for o in pools[pool_id].active]] = True
    kept = listed[in_pool, owner]
    # Kept loads added pool by pool, each in record order: the sums one account at a time makes.
    adding = np.flatnonzero(kept)
    adding = adding[np.argsort(in_pool[adding], kind="stable")]
    loads = np.array([(held or {}).get(name, 0.0) for name in names], dtype=np.float64)
    np.add.at(loads, owner[adding], size[adding])
    load = loads.tolist()
    receiving = {o.id: o for p in order for o in pools[p].active if not (today and o.away_on(today))}
    others = min((load[index[o.id]] / o.weight for o in receiving.values()
                  if not _returned_without_catch_up(o, today)), default=0.0)
    head = [0.0] * len(names)
    for o in receiving.values():
        head[index[o.id]] = _head_start(o, load[index[o.id]] / o.weight, others, today)
    # Per pool, its receiving members as (owner, weight, capacity), in pool order.
    members = [[(index[o.id], o.weight, _capacity(o.capacity)) for o in pools[p].active if o.id in receiving]
               for p in order]
    waiting = np.flatnonzero(~kept)
    waiting = waiting[pl.DataFrame({"id": ids.gather(waiting), "pool": in_pool[waiting]}).select(
        pl.arg_sort_by("id", "pool", maintain_order=True)).to_series().to_numpy()]
    chosen = np.full(len(ids), len(names), dtype=np.int64)  # len(names) means "no owner"
    for row, p, amount in zip(waiting.tolist(), in_pool[waiting].tolist(), size[waiting].tolist(), strict=True):
        best, lowest = -1, np.inf
        for member, weight, room in members[p]:
            if load[member] + amount <= room and (key := (load[member] + head[member]) / weight) < lowest:
                best, lowest = member, key
        if best >= 0:
            chosen[row] = best
            load[best] += amount
    unrouted = pl.Series([FULL if receivers else NOBODY for receivers in members], dtype=pl.String)
    owners, reasons = _outcome(current, kept, chosen, names=names, unrouted=unrouted.gather(in_pool))
    return owners, reasons, {**(held or {}), **dict(zip(names, load, strict=True))}


def _capacity(capacity: float | None) -> float:
    return np.inf if capacity is None else capacity


_FEW_SLOTS = 4096
"""Up to this many slots in all, every member's first slots are merged without searching for a threshold."""


def _greedy_sequence(weight: Loads, capacity: Loads, load: Loads, count: int) -> np.ndarray[Any, Any]:
    """Member indexes in the order the count-based greedy rule picks them, at most `count` long.

    The greedy picks equal a merge of each member's slot keys (load + k - 1) / weight,
    so they are computed with numpy instead of one heap operation per account.
    """
    room = np.clip(np.floor(capacity - load), 0, count).astype(np.int64)
    if count == 0 or room.sum() == 0:
        return np.zeros(0, dtype=np.int64)

    def slots_up_to(threshold: float, spare: int) -> np.ndarray[Any, np.dtype[np.int64]]:
        # floor(T*w - load) + 1 slots have keys <= T. Searching with one fewer and
        # taking one more makes float rounding harmless.
        fitting = np.floor(threshold * weight - load) + spare
        slots: np.ndarray[Any, np.dtype[np.int64]] = np.clip(fitting, 0, room).astype(np.int64)
        return slots

    if count * len(weight) <= _FEW_SLOTS:
        taken = room  # each member's first `count` slots hold the picks: merged alike, no search needed
    else:
        low, high = 0.0, float(((load + count) / weight).max())
        for _ in range(100):
            middle = (low + high) / 2
            if slots_up_to(middle, 0).sum() >= count:
                high = middle
            else:
                low = middle
        taken = slots_up_to(high, 2)
    member = np.repeat(np.arange(len(weight)), taken)
    first = np.repeat(np.cumsum(taken) - taken, taken)
    k = np.arange(taken.sum()) - first
    keys = (load[member] + k) / weight[member]
    order = np.lexsort((member, keys))
    return member[order][:count]


def _greedy_by_size(weight: Loads, capacity: Loads, load: Loads, sizes: Loads) -> np.ndarray[Any, Any]:
    """Members for accounts of varying size, one at a time; `load` is updated in place.

    Each account goes to the member with the lowest load/weight that it fits (ties by
    pool order): a heap of (load/weight, member) finds it in a few steps, where one
    numpy call per account cost more than the choice itself.
    """
    weights, room, held = weight.tolist(), capacity.tolist(), load.tolist()
    chosen = [len(weights)] * len(sizes)
    heap = [(held[m] / weights[m], m) for m in range(len(weights))]
    heapq.heapify(heap)
    full: list[tuple[float, int]] = []
    for i, size in enumerate(sizes.tolist()):
        while heap and held[heap[0][1]] + size > room[heap[0][1]]:
            full.append(heapq.heappop(heap))
        if heap:
            best = heap[0][1]
            chosen[i] = best
            held[best] += size
            heapq.heapreplace(heap, (held[best] / weights[best], best))
        for item in full:
            heapq.heappush(heap, item)
        full.clear()
    load[:] = held
    return np.array(chosen, dtype=np.int64)


_LOCKSTEP_POOLS = 16
"""While this many pools still choose, numpy over all of them beats a heap per pool (each step costs the same)."""


def _greedy_by_size_pools(weight: Loads, capacity: Loads, load: Loads, sizes: Sequence[Loads], spans: Sequence[slice],
                          *, lockstep_from: int = _LOCKSTEP_POOLS) -> list[np.ndarray[Any, Any]]:
    """`_greedy_by_size` for independent pools at once; `load` (of every member) is updated in place.

    Step k gives every pool that has one its k-th account, as numpy over a table of pools by
    members; once fewer than `lockstep_from` pools remain, each finishes with its own heap.
    The picks are the same as pool by pool: the same sums, and argmin keeps the first of ties.

    Args:
        weight: Of every member.
        capacity: Of every member (less for none, -inf while away).
        load: Of every member.
        sizes: Per pool, its waiting accounts' sizes in the order they choose.
        spans: Per pool, its members' positions in `weight`, `capacity` and `load`.
        lockstep_from: Fewest pools still choosing for a step to run over all of them.

    Returns:
        Per pool, the member each account goes to, counted within the pool (the pool's size: none).
    """
    if not sizes:
        return []
    by_length = np.argsort([-len(s) for s in sizes], kind="stable")
    lengths = np.array([len(sizes[p]) for p in by_length])
    widths = np.array([spans[p].stop - spans[p].start for p in by_length])
    widest = int(widths.max())
    weights, room, held = np.ones((len(sizes), widest)), np.full((len(sizes), widest), -np.inf), np.zeros(
        (len(sizes), widest))
    for r, p in enumerate(by_length):
        weights[r, :widths[r]], room[r, :widths[r]], held[r, :widths[r]] = (
            weight[spans[p]], capacity[spans[p]], load[spans[p]])
    flat = np.concatenate([sizes[p] for p in by_length])
    start = np.cumsum(lengths) - lengths
    picks = np.empty(len(flat), dtype=np.int64)
    step, active = 0, int(np.count_nonzero(lengths))
    while active >= lockstep_from:
        at = start[:active] + step
        size, now = flat[at], held[:active]
        fits = now + size[:, None] <= room[:active]
        best = np.where(fits, now / weights[:active], np.inf).argmin(axis=1)
        taken = fits[np.arange(active), best]
        picks[at] = np.where(taken, best, widths[:active])
        now[taken, best[taken]] += size[taken]
        step += 1
        active = int(np.count_nonzero(lengths > step))
    for r in range(active):
        rest = slice(start[r] + step, start[r] + lengths[r])
        picks[rest] = _greedy_by_size(weights[r, :widths[r]], room[r, :widths[r]], held[r, :widths[r]], flat[rest])
    chosen: list[np.ndarray[Any, Any]] = [np.empty(0)] * len(sizes)
    for r, p in enumerate(by_length):
        load[spans[p]] = held[r, :widths[r]]
        chosen[p] = picks[start[r]:start[r] + lengths[r]]
    return chosen


REBALANCE = "rebalance"


def size_of(books: Sequence[np.ndarray[Any, Any]], size: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The size of the account each member would give next (0 when it has none)."""
    return np.array([size[book[-1]] if len(book) else 0.0 for book in books])


def rebalance_pool(
    books: Sequence[np.ndarray[Any, Any]], load: Loads, size: Loads, pool: Pool, tolerance: float
) -> dict[int, int]:
    """The fewest moves that bring every active member within `tolerance` of its share.

    A member's share is the pool's load times its weight over the total weight; load
    counts accounts, or sums their values when the pool balances by a field. Moves go
    from the most loaded member to the least loaded, and never push a member past
    capacity. A member gives the last account of its book first (the caller orders
    books most valuable first, then by highest id). With `balance_by`, it gives the
    account whose value comes closest to what the receiver lacks, so value is balanced
    with the fewest accounts moved. One move at a time, in Python: moves are few, and
    each is vectorised over the donor's book.

    Args:
        books: Per active member (in `pool.active` order), the rows it holds.
        load: Per active member, its load; updated in place.
        size: What each row weighs.
        pool: The pool.
        tolerance: How far from its share a member may stay, as a fraction.

    Returns:
        Moved rows and the member each goes to.
    """
    if not pool.active:
        return {}
    books = list(books)
    weight = np.array([o.weight for o in pool.active])
    capacity = np.array([np.inf if o.capacity is None else o.capacity for o in pool.active])
    moves: dict[int, int] = {}
    share = load.sum() * weight / weight.sum()
    low, high = share * (1 - tolerance), share * (1 + tolerance)
    for _ in range(sum(len(book) for book in books)):  # every move fixes a unit of excess or deficit
        over, under = load > high + 1e-9, load < low - 1e-9
        if not over.any() and not under.any():
            break
        has_book = np.array([len(book) > 0 for book in books])
        donors = over & has_book if over.any() else has_book & (load - size_of(books, size) >= low - 1e-9)
        if not donors.any():
            break
        donor = int(np.argmax(np.where(donors, load / weight, -np.inf)))
        position = len(books[donor]) - 1
        if pool.balance_by:
            position = _closest_fit(size[books[donor]], load, share, high=high, capacity=capacity, donor=donor,
                                    under=under)
        row = int(books[donor][position])
        room = (load + size[row] <= capacity) & (load + size[row] <= high + 1e-9)
        room[donor] = False
        if under.any():
            room &= under
        if not room.any():
            break
        receiver = int(np.argmin(np.where(room, load / weight, np.inf)))
        books[donor] = np.delete(books[donor], position)
        load[donor] -= size[row]
        load[receiver] += size[row]
        moves[row] = receiver
    return moves


def _closest_fit(sizes: Loads, load: Loads, share: Loads, *, high: Loads, capacity: Loads, donor: int,
                 under: np.ndarray[Any, Any]) -> int:
    """The position in the donor's book of the account that best closes the gap to the neediest receiver.

    The gap is the smaller of the donor's excess and the receiver's shortfall; the
    account closest to it that fits the receiver wins (the book's order breaks ties),
    else the smallest account, as the count rule would give.
    """
    candidates = under.copy() if under.any() else np.ones(len(load), dtype=bool)
    candidates[donor] = False
    if not candidates.any():
        return len(sizes) - 1
    receiver = int(np.argmin(np.where(candidates, load / np.maximum(share, 1e-12), np.inf)))
    gap = min(load[donor] - share[donor], share[receiver] - load[receiver])
    fits = (load[receiver] + sizes <= min(capacity[receiver], high[receiver] + 1e-9))
    if gap <= 0 or not fits.any():
        return len(sizes) - 1
    distance = np.where(fits, np.abs(sizes - gap), np.inf)
    # Reversed so that among equal distances the last position (the lowest id of equal values) wins.
    return int(len(sizes) - 1 - np.argmin(distance[::-1]))


def active_pools(territories: Territories, unavailable: frozenset[str]) -> dict[str, Pool]:
    """Every pool in use by id, unavailable owners inactive, each owner with one capacity.

    An owner listed in several pools has one capacity (SPEC §3): the smallest listed.
    """
    pools = {p.id: p for path in territories.leaves() for p in (path[-1].pool, path[-1].overflow_pool) if p}
    capacity: dict[str, float | None] = {}
    for owner in (o for pool in pools.values() for o in pool.owners):
        listed = capacity.get(owner.id, owner.capacity)
        capacity[owner.id] = min((c for c in (listed, owner.capacity) if c is not None), default=None)
    return {
        pool_id: replace(pool, owners=tuple(replace(o, active=o.active and o.id not in unavailable,
                                                    capacity=capacity[o.id]) for o in pool.owners))
        for pool_id, pool in pools.items()
    }


def sharing_groups(pool_ids: list[str], pools: dict[str, Pool]) -> list[list[str]]:
    """Pools grouped so that pools with a common active owner are in one group."""
    groups: list[tuple[set[str], list[str]]] = []
    for pool_id in sorted(pool_ids):
        names = {o.id for o in pools[pool_id].active}
        joined = [g for g in groups if g[0] & names]
        groups = [g for g in groups if not g[0] & names]
        groups.append((names.union(*(g[0] for g in joined)), [i for g in joined for i in g[1]] + [pool_id]))
    return [ids for _names, ids in groups]


def capacity_left(pool: Pool, outside: Mapping[str, float]) -> Pool:
    """`pool` with each capacity reduced by what its owner holds outside the pool (one capacity per owner)."""
    return replace(pool, owners=tuple(
        o if o.capacity is None else replace(o, capacity=o.capacity - outside.get(o.id, 0.0)) for o in pool.owners
    ))


def owner_loads(owners: pl.Series, sizes: pl.Series) -> dict[str, float]:
    """Owner -> the sum of `sizes` of the accounts it holds."""
    held = pl.DataFrame({"owner": owners, "size": sizes})
    return {str(owner): float(total) for owner, total in held.group_by("owner").agg(pl.col("size").sum()).iter_rows()
            if owner is not None}
