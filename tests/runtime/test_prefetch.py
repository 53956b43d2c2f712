"""`prefetched`: the next item made on a thread of its own, in order, never more than one ahead."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from revrules.runtime.prefetch import prefetched


def _counted(made: list[int], count: int, *, fail_at: int | None = None) -> Iterator[int]:
    for item in range(count):
        if item == fail_at:
            raise ValueError(f"cannot make item {item}")
        made.append(item)
        yield item


def test_items_come_in_order_each_made_off_the_callers_thread() -> None:
    makers: set[str] = set()

    def items() -> Iterator[int]:
        for item in range(5):
            makers.add(threading.current_thread().name)
            yield item

    assert list(prefetched(items())) == [0, 1, 2, 3, 4]
    assert threading.current_thread().name not in makers


def test_the_maker_is_at_most_one_item_ahead() -> None:
    made: list[int] = []
    for item in prefetched(_counted(made, 6)):
        # Item k is in hand; k + 1 may be made (or being made), never k + 2.
        assert len(made) <= item + 2


def test_an_error_making_an_item_is_raised_where_that_item_is_asked_for() -> None:
    made: list[int] = []
    got: list[int] = []
    with pytest.raises(ValueError, match="cannot make item 3"):
        for item in prefetched(_counted(made, 6, fail_at=3)):
            got.append(item)
    assert got == [0, 1, 2]


def test_a_caller_that_stops_early_leaves_the_rest_unmade_and_no_thread_behind() -> None:
    made: list[int] = []
    before = threading.active_count()
    items = prefetched(_counted(made, 100))
    assert next(items) == 0
    items.close()
    assert made in ([0], [0, 1])
    assert threading.active_count() == before
