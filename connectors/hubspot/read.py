"""Reading HubSpot records: list pages, batch reads by id, and incremental reads through the search API."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl

from revrules.connectors.hubspot.session import Answer, HubspotSession, next_after
from revrules.connectors.hubspot.values import epoch_ms, frame, parse_ms
from revrules.connectors.paging import cursor_pages
from revrules.errors import CrmError

log = logging.getLogger(__name__)

PAGE_SIZE = 100
"""Records per list page and per batch read (HubSpot's maximum)."""
SEARCH_PAGE_SIZE = 200
"""Records per search page (HubSpot's maximum)."""
SEARCH_CAP = 10_000
"""How deep one search query may page."""
MODIFIED = "hs_lastmodifieddate"


def read(session: HubspotSession, names: list[str]) -> pl.DataFrame:
    """Every record: `__id` plus each (checked) property, paging 100 records a call."""
    def fetch(after: str | None) -> Any:
        query = [("limit", PAGE_SIZE), ("after", after), ("archived", "false")]
        query += [("properties", name) for name in names]
        return session.request("read records", "GET", session.paths.objects(session.object_type), query=query).body

    rows: list[tuple[str, dict[str, Any]]] = []
    for page in cursor_pages(fetch, next_after, what="read records"):
        rows += [(str(item["id"]), item.get("properties") or {}) for item in page.get("results", [])]
    log.debug("read %d %s from HubSpot", len(rows), session.object_type)
    return frame(rows, names)


def read_records(session: HubspotSession, ids: Sequence[str], names: list[str]) -> pl.DataFrame:
    """The current values of (checked) `names` for `ids`, in the order asked; unknown ids are left out."""
    wanted = list(dict.fromkeys(str(record) for record in ids))
    found: dict[str, dict[str, Any]] = {}
    path = session.paths.objects(session.object_type) + "/batch/read"
    for start in range(0, len(wanted), PAGE_SIZE):
        chunk = wanted[start : start + PAGE_SIZE]
        body = {"inputs": [{"id": record} for record in chunk], "properties": names}
        answer = session.request("read records by id", "POST", path, body=body, query=[("archived", "false")])
        for item in answer.body.get("results", []):
            found[str(item["id"])] = item.get("properties") or {}
    return frame([(record, found[record]) for record in wanted if record in found], names)


def read_modified_since(
    session: HubspotSession, names: list[str], since: datetime, until: datetime, *, search_cap: int = SEARCH_CAP
) -> pl.DataFrame:
    """Records modified from `since` to `until`, searched by `hs_lastmodifieddate`, oldest first.

    A query can page only `search_cap` records deep, so past that the search restarts
    from the last modification time seen; records seen twice are kept once, with their
    latest values.

    Raises:
        CrmError: HubSpot failed, or more than `search_cap` records share one modification time.
    """
    upper = epoch_ms(until)
    cursor = epoch_ms(since if since.tzinfo else since.replace(tzinfo=UTC))
    seen: dict[str, dict[str, Any]] = {}
    while True:
        before = len(seen)
        restart_at = _search_pass(session, names, cursor, upper, seen, cap=search_cap)
        if restart_at is None:
            break
        if len(seen) == before and restart_at <= cursor:
            raise CrmError(
                f"more than {search_cap:,} HubSpot records share the modification time "
                f"{restart_at} ms; an incremental read cannot page past them (run a full read)"
            )
        cursor = restart_at
    log.debug("%d %s modified since %s", len(seen), session.object_type, since.isoformat())
    return frame(list(seen.items()), names)


def _search_pass(
    session: HubspotSession, names: list[str], lower: int, upper: int, seen: dict[str, dict[str, Any]], *, cap: int
) -> int | None:
    """Page through one search query; the time to restart from, or None when done."""
    def fetch(after: str | None) -> Answer:
        body = {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": MODIFIED, "operator": "GTE", "value": str(lower)},
                        {"propertyName": MODIFIED, "operator": "LTE", "value": str(upper)},
                    ]
                }
            ],
            "sorts": [{"propertyName": MODIFIED, "direction": "ASCENDING"}],
            "properties": list(dict.fromkeys([*names, MODIFIED])),
            "limit": SEARCH_PAGE_SIZE,
            "after": str(int(after or 0)),
        }
        path = session.paths.objects(session.object_type) + "/search"
        return session.request("search modified records", "POST", path, body=body, search=True)

    total: int | None = None
    last: int | None = None
    for answer in cursor_pages(fetch, lambda answer: next_after(answer.body), what="search modified records"):
        page_total = int(answer.body.get("total") or 0)
        if total is not None and page_total < total:
            # A record left the range (it was modified again), so every later
            # record moved up and this page starts one too far: page again
            # from the last time read before it.
            return last if last is not None else lower
        for item in answer.body.get("results", []):
            properties = item.get("properties") or {}
            seen[str(item["id"])] = properties
            stamp = parse_ms(properties.get(MODIFIED))
            if stamp is not None:
                last = stamp
        total = page_total
        following = next_after(answer.body)
        if following is not None and int(following) >= cap:
            return last if last is not None else lower
    return None
