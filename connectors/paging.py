"""Cursor paging shared by the connectors, refusing a cursor the CRM repeats instead of looping forever."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

from revrules.errors import CrmError

P = TypeVar("P")


def cursor_pages(
    fetch: Callable[[str | None], P],
    next_cursor: Callable[[P], str | None],
    *,
    what: str,
    first: P | None = None,
) -> Iterator[P]:
    """Every page of a cursor-paged answer, fetched lazily, first page first.

    Stopping the iteration early fetches no further page.

    Args:
        fetch: The page at a cursor; None asks for the first page.
        next_cursor: The cursor of the page after this one; None on the last page.
        what: What is being read, for the error message.
        first: The first page when the caller already has it (it is not fetched again).

    Raises:
        CrmError: The CRM handed out a cursor it had handed out before: following it
            would read the same pages again and again.
    """
    page = fetch(None) if first is None else first
    seen: set[str] = set()
    while True:
        yield page
        cursor = next_cursor(page)
        if cursor is None:
            return
        if cursor in seen:
            raise CrmError(f"{what}: the CRM returned the paging cursor {cursor!r} twice; stopping the read")
        seen.add(cursor)
        page = fetch(cursor)
