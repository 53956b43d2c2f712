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
        owners = session.api("owners")
        return session.call("list owners", owners.get_page, limit=OWNERS_PAGE, archived=False, after=after).body

    found: set[str] = set()
    for page in cursor_pages(fetch, next_after, what="list owners"):
        found |= {str(owner.get("id")) for owner in page.get("results", [])}
    return {i for i in ids if i in found}
