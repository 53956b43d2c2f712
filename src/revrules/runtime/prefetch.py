"""Making the next item of a sequence while the caller works on the one before."""

from __future__ import annotations

from collections.abc import Generator, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar, cast

T = TypeVar("T")
_END = object()


def prefetched(items: Iterable[T]) -> Generator[T, None, None]:
    """`items` in order, each next one made by a thread of its own while the caller has the one before.

    For items polars makes (slices of a plan's changes) for a caller that then waits on
    the disk, SQLite or the CRM, which let go of the interpreter too: on two cores both go
    on at once. The maker is never more than one item ahead, and makes them one at a time,
    so `items` may be a generator; an error making one is raised where the caller asks for it.
    """
    iterator = iter(items)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as maker:
        upcoming = maker.submit(next, iterator, _END)
        while (item := upcoming.result()) is not _END:
            upcoming = maker.submit(next, iterator, _END)
            yield cast(T, item)
