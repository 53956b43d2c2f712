"""HubSpot owners: which owner ids are active (not archived)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from revrules.connectors.hubspot.session import HubspotSession, next_after
from revrules.connectors.paging import cursor_pages

OWNERS_PAGE = 100


def active_owners(session: HubspotSession, ids: Sequence[str]) -> set[str]:
    """Which of `ids` are active (not archived) HubSpot owners.

    Raises:
        CrmError: HubSpot failed or refused.
    """
    def fetch(after: str | None) -> Any:
        query = [("limit", OWNERS_PAGE), ("archived", "false"), ("after", after)]
        return session.request("list owners", "GET", session.paths.owners(), query=query).body

    found: set[str] = set()
    for page in cursor_pages(fetch, next_after, what="list owners"):
        found |= {str(owner.get("id")) for owner in page.get("results", [])}
    return {i for i in ids if i in found}
