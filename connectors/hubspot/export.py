"""What a rehearsal needs from a portal besides the companies: properties, owners, lists and the daily budget."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from revrules.connectors.hubspot.lists import HubspotLists
from revrules.connectors.hubspot.owners import OWNERS_PAGE
from revrules.connectors.hubspot.session import HubspotSession, next_after
from revrules.connectors.paging import cursor_pages


def export_metadata(session: HubspotSession, lists: HubspotLists, definitions: Mapping[str, Mapping[str, Any]], *,
                    fields: Sequence[str], owner_ids: Sequence[str], list_names: Mapping[str, str],
                    record_ids: Sequence[str]) -> dict[str, Any]:
    """The portal's metadata a rehearsal of `fields` needs, as plain JSON.

    Args:
        session: The portal.
        lists: The list reader (finds lists by name, reads memberships).
        definitions: The object's property definitions by name.
        fields: The properties the config reads or writes; other properties are left out.
        owner_ids: Owner ids that own records or sit in pools; only the active ones are kept.
        list_names: Rulebook list id -> the HubSpot list name it keeps.
        record_ids: The records copied; list members outside them are left out.

    Returns:
        `properties`, `owners`, `lists` (`{id, name, members}`, only lists that exist) and
        `api` (the daily limit and what is left of it, when HubSpot says).

    Raises:
        CrmError: HubSpot failed or refused.
    """
    wanted = set(owner_ids)
    owners: list[dict[str, Any]] = []
    last: Mapping[str, str] = {}

    def fetch(after: str | None) -> Any:
        nonlocal last
        query = [("limit", OWNERS_PAGE), ("archived", "false"), ("after", after)]
        answer = session.request("list owners", "GET", session.paths.owners(), query=query)
        last = answer.headers
        return answer.body

    for page in cursor_pages(fetch, next_after, what="list owners"):
        owners += [dict(o) for o in page.get("results", []) if str(o.get("id")) in wanted]
    copied = set(record_ids)
    kept_lists = []
    for list_id, name in list_names.items():
        if lists.exists(list_id, name):
            members = sorted(lists.list_members(list_id, name) & copied)
            kept_lists.append({"id": list_id, "name": name, "members": members})
    headers = {key.lower(): value for key, value in last.items()}
    return {
        "properties": [dict(definitions[name]) for name in fields if name in definitions],
        "owners": owners,
        "lists": kept_lists,
        "api": {"daily_max": _number(headers.get("x-hubspot-ratelimit-daily")),
                "daily_remaining": _number(headers.get("x-hubspot-ratelimit-daily-remaining"))},
    }


def _number(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None
