"""Owner routing within a territory: sticky owners, then least load/weight under capacity."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from revrules.engine.rulebook import Owner

KEPT, ASSIGNED, FULL = "kept", "least-loaded", "capacity-full"


def route_pool(
    ids: Sequence[str], current: Sequence[str | None], pool: Sequence[Owner]
) -> tuple[list[str | None], list[str]]:
    """Owners and reasons for the accounts of one territory.

    An account whose current owner is in the pool keeps it. The rest, in
    ascending order of id, each go to the member with the lowest load/weight
    that is under capacity (ties by pool order). The greedy sequence equals a
    merge of each member's slot keys (load + k - 1) / weight, so it is computed
    with numpy instead of one heap operation per account.
    """
    members = {owner.id: i for i, owner in enumerate(pool)}
    owners: list[str | None] = [None] * len(ids)
    reasons = [FULL] * len(ids)
    load = np.zeros(len(pool), dtype=np.int64)
    waiting: list[int] = []
    for row, owner_id in enumerate(current):
        index = members.get(owner_id) if owner_id is not None else None
        if index is None:
            waiting.append(row)
        else:
            owners[row], reasons[row] = owner_id, KEPT
            load[index] += 1
    waiting.sort(key=lambda row: ids[row])
    sequence = _greedy_sequence(pool, load, len(waiting))
    for row, index in zip(waiting, sequence, strict=False):
        owners[row], reasons[row] = pool[index].id, ASSIGNED
    return owners, reasons


def _greedy_sequence(pool: Sequence[Owner], load: np.ndarray, count: int) -> np.ndarray:
    """Pool indexes in the order the greedy rule picks them, at most `count` long."""
    if count == 0 or not pool:
        return np.zeros(0, dtype=np.int64)
    weight = np.array([o.weight for o in pool], dtype=np.float64)
    capacity = np.array([np.inf if o.capacity is None else o.capacity for o in pool])
    room = np.clip(capacity - load, 0, count).astype(np.int64)
    if room.sum() == 0:
        return np.zeros(0, dtype=np.int64)

    def slots_up_to(threshold: float, spare: int) -> np.ndarray:
        # Slots k = 1.. have keys (load + k - 1) / weight; floor(T*w - load) + 1 of them are
        # <= T. Searching with one fewer and taking one more makes float rounding harmless.
        fitting = np.floor(threshold * weight - load) + spare
        return np.clip(fitting, 0, room).astype(np.int64)

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
