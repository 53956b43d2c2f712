"""What a rehearsal needs from a portal besides the companies: properties, owners, lists and the daily budget."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from revrules.connectors.hubspot.limits import daily_allowance
from revrules.connectors.hubspot.lists import CONTACT_LIST_SUFFIX, HubspotLists
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
        `portal_id`, `properties`, `owners`, `lists` (`{id, name, object, members}`, only lists that exist;
        a list with `include_contacts` adds its contact list, object `contacts`), `contacts`
        (`{id, companies}`: the copied companies' contacts, only when a list includes contacts)
        and `api` (the daily limit and what is left of it, when HubSpot says).

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
    kept_lists: list[dict[str, Any]] = []
    for list_id, name in list_names.items():
        if lists.exists(list_id, name):
            members = sorted(lists.list_members(list_id, name) & copied)
            kept_lists.append({"id": list_id, "name": name, "object": "companies", "members": members})
    contacts: dict[str, set[str]] = {}
    if any(lists.syncs_contacts(list_id) for list_id in list_names):
        # A contact list follows its companies: the rehearsal needs their contacts and the list.
        contacts = lists.company_contacts(sorted(copied))
        known = {contact for linked in contacts.values() for contact in linked}
        for list_id, name in list_names.items():
            members_of = lists.contact_list_members(list_id, name) if lists.syncs_contacts(list_id) else None
            if members_of is not None:
                kept_lists.append({"id": list_id, "name": name + CONTACT_LIST_SUFFIX, "object": "contacts",
                                   "members": sorted(members_of & known)})
    daily = daily_allowance({key.lower(): value for key, value in last.items()})
    # The portal id names the copy; a token HubSpot refuses it to (403) still copies the rest.
    account = session.request("read account details", "GET", session.paths.account_details(),
                              accept_statuses={403, 404})
    portal = account.body.get("portalId") if account.status == 200 else None
    return {
        "portal_id": str(portal) if portal is not None else None,
        "properties": [dict(definitions[name]) for name in fields if name in definitions],
        "owners": owners,
        "lists": kept_lists,
        "contacts": _contacts(contacts),
        "api": {"daily_max": daily.limit if daily else None, "daily_remaining": daily.remaining if daily else None},
    }


def _contacts(by_company: Mapping[str, set[str]]) -> list[dict[str, Any]]:
    """`{id, companies}` per contact, from company id -> contact ids."""
    companies: dict[str, list[str]] = {}
    for company, linked in sorted(by_company.items()):
        for contact in sorted(linked):
            companies.setdefault(contact, []).append(company)
    return [{"id": contact, "companies": ids} for contact, ids in sorted(companies.items())]
