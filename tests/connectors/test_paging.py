"""The shared cursor paginator."""

from __future__ import annotations

import pytest

from revrules.connectors.paging import cursor_pages
from revrules.errors import CrmError


def test_pages_are_followed_until_there_is_no_cursor() -> None:
    pages: dict[str | None, dict[str, object]] = {
        None: {"items": [1], "next": "a"}, "a": {"items": [2], "next": "b"}, "b": {"items": [3], "next": None}
    }
    asked: list[str | None] = []

    def fetch(cursor: str | None) -> dict[str, object]:
        asked.append(cursor)
        return pages[cursor]

    got = [page["items"] for page in cursor_pages(fetch, lambda page: page["next"], what="read")]  # type: ignore[arg-type,return-value]
    assert got == [[1], [2], [3]]
    assert asked == [None, "a", "b"]


def test_a_given_first_page_is_not_fetched_again() -> None:
    asked: list[str | None] = []

    def fetch(cursor: str | None) -> str:
        asked.append(cursor)
        return "last"

    pages = list(cursor_pages(fetch, lambda page: "x" if page == "first" else None, what="read", first="first"))
    assert pages == ["first", "last"]
    assert asked == ["x"]


def test_a_repeated_cursor_is_an_error_not_an_endless_loop() -> None:
    # The CRM cycles a -> b -> a: the second "a" would read the same pages forever.
    following = {None: "a", "a": "b", "b": "a"}
    fetched: list[str | None] = []

    def fetch(cursor: str | None) -> str | None:
        fetched.append(cursor)
        return cursor

    with pytest.raises(CrmError, match=r"read members: .*paging cursor 'a' twice"):
        list(cursor_pages(fetch, lambda page: following[page], what="read members"))
    assert fetched == [None, "a", "b"]


def test_stopping_early_fetches_no_further_page() -> None:
    fetched: list[str | None] = []

    def fetch(cursor: str | None) -> str:
        fetched.append(cursor)
        return str(cursor)

    for _ in cursor_pages(fetch, lambda page: page + "+", what="read"):
        break
    assert fetched == [None]
