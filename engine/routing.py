"""Owner routing within a territory: sticky owners, then least load/weight under capacity."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from revrules.engine.rulebook import Owner

KEPT, ASSIGNED, FULL = "kept", "least-loaded", "capacity-full"


def route_pool(ids: pl.Series, current: pl.Series, pool: Sequence[Owner]) -> tuple[pl.Series, pl.Series]:
    """Owners and reasons for the accounts of one territory, in the order given.

    An account whose current owner is in the pool keeps it. The rest, in
    ascending order of id, each go to the member with the lowest load/weight
    that is under capacity (ties by pool order). The greedy sequence equals a
    merge of each member's slot keys (load + k - 1) / weight, so it is computed
    with numpy instead of one heap operation per account.
    """
    members = [owner.id for owner in pool]
    kept_mask = current.is_in(members).fill_null(False)
    held = current.filter(kept_mask).value_counts()
    counts = dict(zip(held[held.columns[0]].to_list(), held["count"].to_list(), strict=True))
    load = np.array([counts.get(member, 0) for member in members], dtype=np.int64)
    waiting = np.flatnonzero(~kept_mask.to_numpy())
    in_id_order = waiting[ids.gather(waiting).arg_sort().to_numpy()] if len(waiting) else waiting
    sequence = _greedy_sequence(pool, load, len(waiting))
    chosen = np.full(len(ids), len(members), dtype=np.int64)
    chosen[in_id_order[: len(sequence)]] = sequence
    # Index len(members) is "no owner": every member at capacity.
    names = pl.Series([*members, None], dtype=pl.String)
    assigned = names.gather(pl.Series(chosen))
    frame = pl.DataFrame({"kept": kept_mask, "current": current, "assigned": assigned})
    routed = frame.select(
        pl.when("kept").then("current").otherwise("assigned").alias("owner"),
        pl.when("kept").then(pl.lit(KEPT))
        .when(pl.col("assigned").is_not_null()).then(pl.lit(ASSIGNED))
        .otherwise(pl.lit(FULL)).alias("reason"),
    )
    return routed["owner"], routed["reason"]


def _greedy_sequence(pool: Sequence[Owner], load: np.ndarray, count: int) -> np.ndarray:
    """Pool indexes in the order the greedy rule picks them, at most `count` long."""
    if count == 0 or not pool:
        return np.zeros(0, dtype=np.int64)
    weight = np.array([o.weight for o in pool], dtype=np.float64)
    capacity = np.array([np.inf if o.capacity is None else o.capacity for o in pool])
    room = np.clip(capacity - load, 0, count).astype(np.int64)
    if room.sum() == 0:
        return np.zeros(0, dtype=np.int64)

    def slots_up_to(threshold: float, spare: int) -> np.ndarray[Any, np.dtype[np.int64]]:
        # Slots k = 1.. have keys (load + k - 1) / weight; floor(T*w - load) + 1 of them are
        # <= T. Searching with one fewer and taking one more makes float rounding harmless.
        fitting = np.floor(threshold * weight - load) + spare
        slots: np.ndarray[Any, np.dtype[np.int64]] = np.clip(fitting, 0, room).astype(np.int64)
        return slots

    low, high = 0.0, float(((load + count) / weight).max())
    for _ in range(100):
        middle = (low + high) / 2
        if slots_up_to(middle, 0).sum() >= count:
            high = middle
        else:
            low = middle
    taken = slots_up_to(high, 2)
    owner_index = np.repeat(np.arange(len(pool)), taken)
    first = np.repeat(np.cumsum(taken) - taken, taken)
    k = np.arange(taken.sum()) - first
    keys = (load[owner_index] + k) / weight[owner_index]
    order = np.lexsort((owner_index, keys))
    return owner_index[order][:count]
