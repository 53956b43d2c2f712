"""What a rehearsal needs from an org besides the records: describe, users, campaigns, currency and limits."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import partial
from typing import Any

from revrules.connectors.salesforce.describe import _get
from revrules.connectors.salesforce.read import query, query_chunks
from revrules.connectors.salesforce.session import SalesforceSession
from revrules.connectors.salesforce.soql import soql_string

_ALWAYS = ("Id", "OwnerId", "RecordTypeId", "CurrencyIsoCode")
"""Fields a write touches implicitly: the id, owner lookups, record-type picklists, currency."""


def export_metadata(session: SalesforceSession, *, fields: Sequence[str], owner_ids: Sequence[str],
                    list_names: Sequence[str], record_ids: Sequence[str],
                    marker_field: str = "Revrules_List__c") -> dict[str, Any]:
    """The org's metadata a rehearsal of `fields` needs, as plain JSON.

    Args:
        session: The org.
        fields: The fields the config reads or writes; other fields of the describe are left out.
        owner_ids: User ids that own records or sit in pools; inactive ones are kept with
            `IsActive` false (a contact or opportunity handed back to one is refused as
            `INACTIVE_OWNER_OR_USER`, which a rehearsal should say).
        list_names: Campaign names the rulebook's lists use.
        record_ids: The records copied, whose contacts campaign membership needs.
        marker_field: The CampaignMember field marking the members revrules added.

    Returns:
        `describe` (object keys and the kept fields), `record_type_picklists`, `users`,
        `currencies`, `campaigns`, `campaign_members`, `contacts` and `api` (daily limits).

    Raises:
        CrmError: Salesforce failed or refused.
    """
    name = session.object_name
    answer = session.call(f"describe {name}", lambda sf: sf.restful(f"sobjects/{name}/describe")) or {}
    keep = set(fields) | set(_ALWAYS)
    described = {key: value for key, value in answer.items() if key != "fields"}
    described["fields"] = [f for f in answer.get("fields", []) if f.get("name") in keep]
    present = {str(f["name"]) for f in described["fields"]}
    picklists = [f["name"] for f in described["fields"] if f.get("type") in ("picklist", "multipicklist")]
    record_types: dict[str, Any] = {}
    for info in answer.get("recordTypeInfos", []):
        if info.get("master") or not info.get("active", True):
            continue
        path = f"ui-api/object-info/{name}/picklist-values/{info['recordTypeId']}"
        offered = (session.call("read record type picklists", partial(_get, path)) or {}).get(
            "picklistFieldValues", {})
        record_types[str(info.get("name"))] = {
            f: [str(v.get("value")) for v in (offered.get(f) or {}).get("values", [])] for f in picklists
            if f in offered}
    users = query_chunks(session, "read users", "SELECT Id, Name, IsActive FROM User WHERE Id IN",
                         sorted(set(owner_ids)))
    currencies: list[dict[str, Any]] = []
    if "CurrencyIsoCode" in present:
        soql = "SELECT IsoCode, ConversionRate, IsCorporate FROM CurrencyType WHERE IsActive = true"
        currencies = [dict(r) for r in query(session, "read currencies", soql)]
    campaigns: list[dict[str, Any]] = []
    members: list[dict[str, Any]] = []
    contacts: list[dict[str, Any]] = []
    if list_names:
        listed = ", ".join(soql_string(n) for n in sorted(set(list_names)))
        soql = f"SELECT Id, Name, Type, Status, Description FROM Campaign WHERE Name IN ({listed})"
        campaigns = [_plain(r) for r in query(session, "read campaigns", soql)]
        contacts = [_plain(r) for r in query_chunks(
            session, "read contacts", "SELECT Id, AccountId FROM Contact WHERE AccountId IN", record_ids)]
        members = [_plain(r) for r in query_chunks(
            session, "read campaign members", "SELECT Id, CampaignId, ContactId, Status, "
            f"{marker_field} FROM CampaignMember WHERE CampaignId IN", [c["Id"] for c in campaigns])]
    limits = session.call("read the org's API limits", lambda sf: sf.limits()) or {}
    daily = limits.get("DailyApiRequests") or {}
    return {"org_id": org_id(session.client().session_id), "describe": described, "record_type_picklists": record_types,
            "users": [_plain(u) for u in users], "currencies": [_plain(c) for c in currencies],
            "campaigns": campaigns, "campaign_members": members, "contacts": contacts,
            "api": {"daily_max": daily.get("Max"), "daily_remaining": daily.get("Remaining")}}


def _plain(row: Any) -> dict[str, Any]:
    """A query row without its `attributes`."""
    return {key: value for key, value in dict(row).items() if key != "attributes"}


def org_id(access_token: str | None) -> str | None:
    """The 15-character org id an access token starts with (`00D...!...`); None for another shape.

    Only the prefix before `!` is kept: it names the org and is no secret.
    """
    match = re.match(r"(00D[0-9A-Za-z]{12})!", access_token or "")
    return match.group(1) if match else None
