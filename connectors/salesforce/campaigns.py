"""Marketing lists as Salesforce Campaigns: one Campaign per rulebook list, member accounts through their contacts."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from simple_salesforce.api import Salesforce

from revrules.connectors.base import ListWrite
from revrules.connectors.salesforce.errors import ALREADY_DELETED, Failure, collection_error
from revrules.connectors.salesforce.read import query, query_chunks
from revrules.connectors.salesforce.session import SalesforceSession
from revrules.connectors.salesforce.soql import ID_CHUNK, RECORD_ID_RE, record_ids, soql_string
from revrules.connectors.salesforce.write import COLLECTION_SIZE, collection_insert
from revrules.errors import CrmError, InvalidInputError, RevrulesError

log = logging.getLogger(__name__)

MEMBER_MARKER = "revrules:"
"""Marker prefix (then the list id) in the `campaign_member_marker_field` of the members revrules added.

Only members carrying it are ever removed, so members a person added are left alone. The marker
lives in a custom text field on CampaignMember (default `Revrules_List__c`): the standard
`Description` of a CampaignMember is read-only, copied from the Contact."""
REMEMBERED_PREFIX = "revrules members without added contacts:"
"""A `Campaign.Description` line naming the member accounts revrules could add no contact of."""
_REMEMBERED_RE = re.compile(r"^" + re.escape(REMEMBERED_PREFIX) + r"(?P<ids>[A-Za-z0-9 ]*)$", re.MULTILINE)
_DESCRIPTION_MAX = 32_000


@dataclass(frozen=True)
class CampaignSettings:
    """What the Campaigns and CampaignMembers revrules creates carry (the `crm.campaign_*` keys)."""

    type: str = "Other"
    status: str = "Planned"
    member_status: str = "Sent"
    marker_field: str = "Revrules_List__c"


@dataclass(frozen=True)
class _Campaign:
    """A Campaign found by name: its id, description and the accounts remembered there."""

    id: str
    description: str
    remembered: frozenset[str]


@dataclass(frozen=True)
class _Member:
    id: str
    managed: bool


class Campaigns:
    """The Campaigns of one org, found by name once and kept in a cache."""

    def __init__(self, session: SalesforceSession, settings: CampaignSettings) -> None:
        """Use `session` for every call; nothing is sent yet."""
        self.session = session
        self.settings = settings
        self._cache: dict[str, _Campaign] = {}

    def list_members(self, list_id: str, name: str) -> set[str]:
        """The account ids that are members of the Campaign named `name`; empty when it does not exist.

        An account is a member when one of its contacts is a CampaignMember revrules added
        for this list, or when the Campaign remembers it: an account revrules was asked to
        add but could add no contact of (it has none, or a person added all of them).
        Members a person added are not counted, so they are never removed.

        Raises:
            InvalidInputError: Several Campaigns are named `name`.
            CrmError: Salesforce failed or refused.
        """
        campaign = self._find(list_id, name)
        if campaign is None:
            return set()
        soql = (f"SELECT Id, ContactId FROM CampaignMember WHERE CampaignId = '{campaign.id}' "
                f"AND {self.settings.marker_field} = {soql_string(MEMBER_MARKER + list_id)}")
        contacts = [str(r["ContactId"]) for r in query(self.session, "read campaign members", soql)
                    if r.get("ContactId")]
        accounts = query_chunks(self.session, "read contacts", "SELECT Id, AccountId FROM Contact WHERE Id IN",
                                contacts)
        return {str(r["AccountId"]) for r in accounts if r.get("AccountId")} | set(campaign.remembered)

    def write_list_changes(
        self, list_id: str, name: str, adds: Sequence[str], removes: Sequence[str]
    ) -> list[ListWrite]:
        """Add and remove member accounts of the Campaign named `name`, creating it when missing.

        Adding an account adds those of its contacts that are not members yet (whoever
        added them) as CampaignMembers marked `revrules:<list id>`; removing one deletes
        only the marked CampaignMembers of its contacts. An account with no contact to add
        is remembered on the Campaign (see `list_members`). One result per account: a
        failure carries the CRM's `CODE: message` of its first failed contact; the rest lands.

        Raises:
            InvalidInputError: Several Campaigns are named `name`.
            CrmError: The Campaign could not be found or created, or its members not read.
        """
        campaign = self._find(list_id, name) or self._create(list_id, name)
        add_ids = [str(i) for i in dict.fromkeys(adds)]
        remove_ids = [str(i) for i in dict.fromkeys(removes)]
        errors: dict[tuple[str, str], str] = {}
        for action, ids in (("add", add_ids), ("remove", remove_ids)):
            for account in ids:
                if not RECORD_ID_RE.match(account):
                    errors[(account, action)] = "MALFORMED_ID: not a Salesforce record id"
        contacts: dict[str, list[str]] = {}
        for row in query_chunks(self.session, "read contacts", "SELECT Id, AccountId FROM Contact WHERE AccountId IN",
                                record_ids([*add_ids, *remove_ids])):
            contacts.setdefault(str(row["AccountId"])[:15], []).append(str(row["Id"]))
        members = self._members(campaign.id, [c for found in contacts.values() for c in found], list_id)

        def contacts_of(account: str) -> list[str]:
            return contacts.get(account[:15], [])

        doomed = [(members[c].id, account) for account in remove_ids if (account, "remove") not in errors
                  for c in contacts_of(account) if c in members and members[c].managed]
        for account, error in self._delete_members(doomed).items():
            errors[(account, "remove")] = error
        new = [(c, account) for account in add_ids if (account, "add") not in errors
               for c in contacts_of(account) if c not in members]
        failed, landed = self._create_members(campaign.id, list_id, new)
        for account, error in failed.items():
            errors[(account, "add")] = error
        remembered = set(campaign.remembered) - set(remove_ids)
        for account in add_ids:
            managed = any(members[c].managed for c in contacts_of(account) if c in members)
            if (account, "add") not in errors and account not in landed and not managed:
                remembered.add(account)
        if remembered != campaign.remembered:
            try:
                self._remember(campaign, name, frozenset(remembered))
            except CrmError as error:
                for account in remembered - campaign.remembered:
                    errors[(account, "add")] = f"NOT_REMEMBERED: {error}"
                for account in campaign.remembered - remembered:
                    errors[(account, "remove")] = f"NOT_REMEMBERED: {error}"
        results: list[ListWrite] = []
        for action, ids in (("add", add_ids), ("remove", remove_ids)):
            for account in ids:
                problem = errors.get((account, action))
                results.append(ListWrite(list_id, account, "add" if action == "add" else "remove",
                                         problem is None, problem))
        return results

    def write_calls(self, name: str, adds: int, removes: int) -> int:
        """About the calls `write_list_changes` makes, without making any, counting one contact per account.

        The accounts' contacts, then those contacts' CampaignMembers, are read `ID_CHUNK` ids a
        query; members are created and deleted `COLLECTION_SIZE` a call; the remembered accounts
        may be updated once; a Campaign not found yet is looked up again and created.
        """
        accounts = adds + removes
        if accounts <= 0:
            return 0
        return (2 * math.ceil(accounts / ID_CHUNK) + math.ceil(adds / COLLECTION_SIZE)
                + math.ceil(removes / COLLECTION_SIZE) + 1 + (0 if name in self._cache else 2))

    def check_lists(self, names: Mapping[str, str]) -> list[str]:
        """Problems with the Campaigns the rulebook's lists map to (list id -> display name)."""
        field = self.settings.marker_field
        try:
            next(query(self.session, "check campaign members",
                       f"SELECT Id FROM CampaignMember WHERE {field} = null LIMIT 1"), None)
        except RevrulesError as problem:
            return [f"CampaignMember needs a text field {field} to mark the members revrules adds "
                    f"(create it, or set crm.campaign_member_marker_field): {problem}"]
        problems = self._picklist_problems()
        for list_id, name in names.items():
            try:
                self._find(list_id, name)
            except InvalidInputError as problem:
                problems.append(str(problem))
        return problems

    def _picklist_problems(self) -> list[str]:
        """The `crm.campaign_*` values the org's restricted picklists would refuse, one line each.

        `Campaign.Type`, `Campaign.Status` and `CampaignMember.Status` take the org's standard
        value sets (CampaignType, CampaignStatus, CampaignMemberStatus), which an admin edits;
        when one is restricted, an unknown value fails every create with
        `INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST`.
        """
        sent = (("campaign_type", "Campaign", "Type", self.settings.type),
                ("campaign_status", "Campaign", "Status", self.settings.status),
                ("campaign_member_status", "CampaignMember", "Status", self.settings.member_status))
        described: dict[str, dict[str, Any]] = {}
        problems = []
        for key, kind, field, value in sent:
            if kind not in described:
                path = f"sobjects/{kind}/describe"
                answer = self.session.call(f"describe {kind}", partial(_restful, path))
                described[kind] = {str(f["name"]): f for f in (answer or {}).get("fields", [])}
            found = described[kind].get(field)
            if found is None or not found.get("restrictedPicklist"):
                continue
            allowed = [str(p["value"]) for p in found.get("picklistValues") or [] if p.get("active", True)]
            if value not in allowed:
                problems.append(f"crm.{key}: {value!r} is not a value of the restricted picklist {kind}.{field} "
                                f"in this org (it has: {', '.join(allowed)})")
        return problems

    def _find(self, list_id: str, name: str) -> _Campaign | None:
        if name in self._cache:
            return self._cache[name]
        soql = f"SELECT Id, Description FROM Campaign WHERE Name = {soql_string(name)}"
        found = list(query(self.session, "find campaign", soql))
        if not found:
            return None
        if len(found) > 1:
            raise InvalidInputError(
                f"list {list_id}: {len(found)} Salesforce campaigns are named {name!r}; rename all but "
                "one, or give the rulebook list another name"
            )
        description = str(found[0].get("Description") or "")
        campaign = _Campaign(str(found[0]["Id"]), description, _remembered(description))
        self._cache[name] = campaign
        return campaign

    def _create(self, list_id: str, name: str) -> _Campaign:
        description = f"Marketing list {list_id}, kept in sync by revrules."
        record = {"attributes": {"type": "Campaign"}, "Name": name, "Type": self.settings.type,
                  "Status": self.settings.status, "IsActive": True, "Description": description}
        answer = collection_insert(self.session, "create campaign", [record])[0]
        if isinstance(answer, Failure):
            raise CrmError(f"list {list_id}: cannot create the Salesforce campaign {name!r}: {answer.error}")
        log.info("created Salesforce campaign %r for list %s", name, list_id)
        campaign = _Campaign(answer, description, frozenset())
        self._cache[name] = campaign
        return campaign

    def _remember(self, campaign: _Campaign, name: str, accounts: frozenset[str]) -> None:
        """Store the remembered accounts in a line of the Campaign's description (other text is kept)."""
        line = f"{REMEMBERED_PREFIX} {' '.join(sorted(accounts))}".rstrip() if accounts else ""
        kept = _REMEMBERED_RE.sub("", campaign.description).rstrip("\n")
        description = "\n".join(part for part in (kept, line) if part)
        if len(description) > _DESCRIPTION_MAX:
            raise CrmError("the campaign description cannot hold that many accounts without contacts")
        body = {"allOrNone": False, "records": [
            {"attributes": {"type": "Campaign"}, "id": campaign.id, "Description": description or None}
        ]}
        answer = self.session.call("update campaign",
                                   lambda sf: sf.restful("composite/sobjects", method="PATCH", json=body))
        if not isinstance(answer, list) or len(answer) != 1:
            raise CrmError("Salesforce answered a campaign update unexpectedly")
        if not answer[0].get("success"):
            raise CrmError(collection_error(answer[0]))
        self._cache[name] = _Campaign(campaign.id, description, accounts)

    def _members(self, campaign_id: str, contacts: Sequence[str], list_id: str) -> dict[str, _Member]:
        """Contact id → its CampaignMember in this campaign, for the contacts that are members."""
        field = self.settings.marker_field
        prefix = f"SELECT Id, ContactId, {field} FROM CampaignMember WHERE CampaignId = '{campaign_id}' " \
                 "AND ContactId IN"
        marker = MEMBER_MARKER + list_id
        return {str(r["ContactId"]): _Member(str(r["Id"]), r.get(field) == marker)
                for r in query_chunks(self.session, "read campaign members", prefix, contacts)}

    def _create_members(
        self, campaign_id: str, list_id: str, new: Sequence[tuple[str, str]]
    ) -> tuple[dict[str, str], set[str]]:
        """Add (contact, account) pairs as marked CampaignMembers; (account → first error, accounts that landed)."""
        failed: dict[str, str] = {}
        landed: set[str] = set()
        for start in range(0, len(new), COLLECTION_SIZE):
            chunk = new[start : start + COLLECTION_SIZE]
            records: list[dict[str, Any]] = [
                {"attributes": {"type": "CampaignMember"}, "CampaignId": campaign_id, "ContactId": contact,
                 "Status": self.settings.member_status, self.settings.marker_field: MEMBER_MARKER + list_id}
                for contact, _ in chunk
            ]
            try:
                answers = collection_insert(self.session, "add campaign members", records)
            except CrmError as error:
                answers = [Failure(str(error))] * len(chunk)
            for (_, account), answer in zip(chunk, answers, strict=True):
                if isinstance(answer, Failure):
                    failed.setdefault(account, answer.error)
                else:
                    landed.add(account)
        return failed, landed

    def _delete_members(self, doomed: Sequence[tuple[str, str]]) -> dict[str, str]:
        """Delete (member id, account) CampaignMembers; account → first error."""
        failed: dict[str, str] = {}
        for start in range(0, len(doomed), COLLECTION_SIZE):
            chunk = doomed[start : start + COLLECTION_SIZE]
            params = {"ids": ",".join(member for member, _ in chunk), "allOrNone": "false"}
            try:
                answer = self.session.call("remove campaign members", partial(_delete_call, params))
                if not isinstance(answer, list) or len(answer) != len(chunk):
                    raise CrmError("Salesforce answered an sObject Collections delete unexpectedly")
                errors = [None if item.get("success") else collection_error(item) for item in answer]
            except CrmError as error:
                errors = [str(error)] * len(chunk)
            for (_, account), error_text in zip(chunk, errors, strict=True):
                if error_text is not None and not error_text.startswith(ALREADY_DELETED):
                    failed.setdefault(account, error_text)
        return failed


def _restful(path: str, sf: Salesforce) -> Any:
    return sf.restful(path)


def _delete_call(params: dict[str, str], sf: Salesforce) -> Any:
    return sf.restful("composite/sobjects", method="DELETE", params=params)


def _remembered(description: str) -> frozenset[str]:
    match = _REMEMBERED_RE.search(description)
    return frozenset(match["ids"].split()) if match else frozenset()
