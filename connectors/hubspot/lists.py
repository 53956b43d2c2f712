"""Marketing lists as MANUAL HubSpot lists, found by name; optionally a contact list following a company list."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import quote

from revrules.connectors.base import ListWrite
from revrules.connectors.hubspot.session import HubspotSession, next_after
from revrules.connectors.paging import cursor_pages
from revrules.errors import CrmError, InvalidInputError

log = logging.getLogger(__name__)

MEMBERSHIP_PAGE = 250
"""List memberships read per call (the memberships endpoint's maximum)."""
MEMBERSHIP_CHUNK = 100_000
"""Record ids (added plus removed) one add-and-remove call carries."""
ASSOCIATION_BATCH = 1000
"""Companies per associations v4 batch read (HubSpot's maximum)."""
CONTACT_LIST_SUFFIX = " (contacts)"
"""Appended to a list's name to name its contact list (`include_contacts`)."""
OBJECT_TYPE_IDS = {"companies": "0-2", "company": "0-2", "contacts": "0-1", "contact": "0-1", "deals": "0-3"}

Action = Literal["add", "remove"]


class HubspotLists:
    """The portal's lists, found by name once and kept in a cache."""

    def __init__(self, session: HubspotSession, contact_lists: Iterable[str] = ()) -> None:
        """Use `session`; `contact_lists` are the rulebook list ids whose contact list follows."""
        self.session = session
        self.contact_lists: set[str] = set(contact_lists)
        self.membership_chunk = MEMBERSHIP_CHUNK
        self._ids: dict[tuple[str, str], str] = {}

    def check_lists(self, names: Mapping[str, str]) -> list[str]:
        """Problems with the CRM lists the rulebook's lists map to (list id -> display name)."""
        problems = []
        for list_id, name in names.items():
            try:
                self._find(list_id, name)
                if self._syncs_contacts(list_id):
                    self._find(list_id, name + CONTACT_LIST_SUFFIX, OBJECT_TYPE_IDS["contacts"])
            except InvalidInputError as problem:
                problems.append(str(problem))
        return problems

    def exists(self, list_id: str, name: str) -> bool:
        """Whether the portal has a list named `name` for this object type."""
        return self._find(list_id, name) is not None

    def syncs_contacts(self, list_id: str) -> bool:
        """Whether the rulebook list `list_id` keeps a contact list `<name> (contacts)` too."""
        return self._syncs_contacts(list_id)

    def contact_list_members(self, list_id: str, name: str) -> set[str] | None:
        """The contact ids in the contact list of the list named `name`; None when it does not exist yet."""
        found = self._find(list_id, name + CONTACT_LIST_SUFFIX, OBJECT_TYPE_IDS["contacts"])
        return None if found is None else self._members(found)

    def company_contacts(self, companies: Sequence[str]) -> dict[str, set[str]]:
        """Company id -> the ids of its associated contacts; companies without contacts are left out."""
        return self._company_contacts(companies)

    def list_members(self, list_id: str, name: str) -> set[str]:
        """The record ids in the MANUAL list named `name`; empty when there is no such list yet.

        Raises:
            InvalidInputError: The list named `name` is a DYNAMIC list (its members
                cannot be written).
            CrmError: HubSpot failed.
        """
        found = self._find(list_id, name)
        return set() if found is None else self._members(found)

    def write_list_changes(
        self, list_id: str, name: str, adds: Sequence[str], removes: Sequence[str]
    ) -> list[ListWrite]:
        """Add and remove members of the MANUAL list named `name`, creating it when missing.

        Adds and removes travel together in add-and-remove calls of at most
        `membership_chunk` ids. A record HubSpot reports missing fails; one already
        in (or already out of) the list is a success.

        When `list_id` is one of `contact_lists` (and the records are companies), the
        MANUAL contact list `<name> (contacts)` follows, found by name or created:
        contacts of added companies are added, and contacts of removed companies are
        removed unless still associated with another member company, diffed against
        the contact list's current members (so an unchanged contact list gets no
        membership call). Contact-list failures do not change the company results:
        each adds a failed `ListWrite` for the company id it concerns, its error
        starting `contacts: `.

        Raises:
            InvalidInputError: The list named `name` is a DYNAMIC list.
            CrmError: The first call did not land (later failures fail the ids they carried
                and the rest, which are reported as not attempted).
        """
        hubspot_id = self._find(list_id, name) or self._create(list_id, name)
        pending: list[tuple[str, Action]] = [(str(i), "add") for i in adds]
        pending += [(str(i), "remove") for i in removes]
        results = self._change_members(list_id, hubspot_id, pending, self.session.object_type)
        if self._syncs_contacts(list_id) and results:
            results += self._sync_contacts(list_id, name, hubspot_id, results)
        return results

    def write_calls(self, list_id: str, name: str, adds: int, removes: int, members: int) -> int:
        """About the calls `write_list_changes` makes, without making any.

        Add-and-remove calls of `membership_chunk` ids; a list not found yet is looked up
        again and created. A contact list that follows companies also costs reads of the
        company list's members (pages of `MEMBERSHIP_PAGE`), of their contacts (batches of
        `ASSOCIATION_BATCH`) and of its own members, counted as one contact per company:
        the contacts are not known before they are read.
        """
        changes = adds + removes
        if changes <= 0:
            return 0
        chunk = max(self.membership_chunk, 1)
        calls = math.ceil(changes / chunk) + self._lookups(name, self._object_type_id())
        if self._syncs_contacts(list_id):
            after = max(members - removes, 0) + adds
            calls += (math.ceil(max(after, 1) / MEMBERSHIP_PAGE)  # the company list, after the change
                      + math.ceil((after + removes) / ASSOCIATION_BATCH)  # their contacts
                      + math.ceil(max(after, 1) / MEMBERSHIP_PAGE)  # the contact list
                      + math.ceil(changes / chunk)
                      + self._lookups(name + CONTACT_LIST_SUFFIX, OBJECT_TYPE_IDS["contacts"]))
        return calls

    def _lookups(self, name: str, object_type_id: str) -> int:
        """Calls to find a list not found yet (a miss is not kept) and create it: none once found."""
        return 0 if (object_type_id, name) in self._ids else 2

    def _members(self, found: str) -> set[str]:
        """The record ids in the HubSpot list with id `found`."""
        path = f"{self.session.paths.lists()}/{found}/memberships"

        def fetch(after: str | None) -> Any:
            query = [("limit", MEMBERSHIP_PAGE), ("after", after)]
            return self.session.request("read list members", "GET", path, query=query).body

        members: set[str] = set()
        for page in cursor_pages(fetch, next_after, what="read list members"):
            members.update(str(item["recordId"]) for item in page.get("results", []))
        return members

    def _change_members(
        self, list_id: str, hubspot_id: str, pending: Sequence[tuple[str, Action]], kind: str
    ) -> list[ListWrite]:
        """Send `pending` in add-and-remove calls of at most `membership_chunk` ids."""
        path = f"{self.session.paths.lists()}/{hubspot_id}/memberships/add-and-remove"
        results: list[ListWrite] = []
        size = max(self.membership_chunk, 1)
        for start in range(0, len(pending), size):
            chunk = pending[start : start + size]
            body = {
                "recordIdsToAdd": [i for i, action in chunk if action == "add"],
                "recordIdsToRemove": [i for i, action in chunk if action == "remove"],
            }
            try:
                answer = self.session.request("change list members", "PUT", path, body=body)
            except CrmError as error:
                if not results:
                    raise
                results += [ListWrite(list_id, i, action, False, f"not attempted: {error}")
                            for i, action in pending[start:]]
                return results
            missing = {str(i) for i in answer.body.get("recordIdsMissing") or []}
            for record, action in chunk:
                error_text = f"OBJECT_NOT_FOUND: no {kind} record {record}" if record in missing else None
                results.append(ListWrite(list_id, record, action, error_text is None, error_text))
        return results

    def _syncs_contacts(self, list_id: str) -> bool:
        return list_id in self.contact_lists and self._object_type_id() == OBJECT_TYPE_IDS["companies"]

    def _sync_contacts(
        self, list_id: str, name: str, hubspot_id: str, company_writes: Sequence[ListWrite]
    ) -> list[ListWrite]:
        """Bring the contact list of `list_id` in line with its companies' changes; failures per company."""
        changed: list[tuple[str, Action]] = [(w.record_id, w.action) for w in company_writes if w.ok]
        added = {company for company, action in changed if action == "add"}
        removed = {company for company, action in changed if action == "remove"}
        if not changed:
            return []
        try:
            contact_name = name + CONTACT_LIST_SUFFIX
            contacts_type = OBJECT_TYPE_IDS["contacts"]
            contact_list = self._find(list_id, contact_name, contacts_type)
            members = (self._members(hubspot_id) - removed) | added
            linked = self._company_contacts(sorted(members | removed))
            wanted = {contact for company in members for contact in linked.get(company, ())}
            current = self._members(contact_list) if contact_list is not None else set()
            # contact -> the changed companies it moves with
            because: dict[str, list[tuple[str, Action]]] = {}
            for company, action in changed:
                for contact in linked.get(company, ()):
                    joins = action == "add" and contact not in current
                    leaves = action == "remove" and contact in current and contact not in wanted
                    if joins or leaves:
                        because.setdefault(contact, []).append((company, action))
            if not because:
                return []
            if contact_list is None:
                contact_list = self._create(list_id, contact_name, contacts_type)
            pending: list[tuple[str, Action]] = [
                (contact, reasons[0][1]) for contact, reasons in sorted(because.items())
            ]
            writes = self._change_members(list_id, contact_list, pending, "contacts")
        except (CrmError, InvalidInputError) as error:
            return [ListWrite(list_id, company, action, False, f"contacts: {error}") for company, action in changed]
        failed: dict[tuple[str, Action], list[str]] = {}
        for write in writes:
            if not write.ok:
                for reason in because[write.record_id]:
                    failed.setdefault(reason, []).append(f"{write.error}")
        return [ListWrite(list_id, company, action, False, "contacts: " + "; ".join(errors))
                for (company, action), errors in failed.items()]

    def _company_contacts(self, companies: Sequence[str]) -> dict[str, set[str]]:
        """Company id -> the ids of its associated contacts (associations v4 batch reads)."""
        found: dict[str, set[str]] = {}
        path = self.session.paths.associations("companies", "contacts") + "/batch/read"
        queue: list[dict[str, str]] = [{"id": company} for company in companies]
        while queue:
            chunk, queue = queue[:ASSOCIATION_BATCH], queue[ASSOCIATION_BATCH:]
            answer = self.session.request("read company contacts", "POST", path, body={"inputs": chunk})
            for item in answer.body.get("results", []):
                company = str((item.get("from") or {}).get("id"))
                found.setdefault(company, set()).update(str(to["toObjectId"]) for to in item.get("to") or [])
                following = next_after(item)
                if following is not None:
                    queue.append({"id": company, "after": following})
            # Companies without contacts come back as NO_ASSOCIATIONS_FOUND errors (HTTP 207): none.
        return found

    def _object_type_id(self) -> str:
        return OBJECT_TYPE_IDS.get(self.session.object_type, self.session.object_type)

    def _find(self, list_id: str, name: str, object_type_id: str | None = None) -> str | None:
        """The HubSpot id of the list named `name` for the object type (default: this one), or None."""
        object_type_id = object_type_id or self._object_type_id()
        if (object_type_id, name) in self._ids:
            return self._ids[object_type_id, name]
        # 404 is the answer "no list of that name".
        by_name = f"object-type-id/{quote(object_type_id, safe='')}/name/{quote(name, safe='')}"
        path = f"{self.session.paths.lists()}/{by_name}"
        answer = self.session.request("find list", "GET", path, accept_statuses={404})
        found = answer.body.get("list")
        if not isinstance(found, Mapping):
            return None
        if str(found.get("processingType", "")).upper() == "DYNAMIC":
            raise InvalidInputError(
                f"list {list_id}: the HubSpot list {name!r} is a DYNAMIC (active) list, whose members revrules "
                "cannot write; rename it in HubSpot or give the rulebook list another name"
            )
        self._ids[object_type_id, name] = str(found["listId"])
        return self._ids[object_type_id, name]

    def _create(self, list_id: str, name: str, object_type_id: str | None = None) -> str:
        object_type_id = object_type_id or self._object_type_id()
        body = {"name": name, "objectTypeId": object_type_id, "processingType": "MANUAL"}
        answer = self.session.request("create list", "POST", self.session.paths.lists(), body=body)
        created = answer.body.get("list") or {}
        if "listId" not in created:
            raise CrmError(f"list {list_id}: HubSpot answered the list creation without a list id")
        log.info("created HubSpot list %r for list %s", name, list_id)
        self._ids[object_type_id, name] = str(created["listId"])
        return self._ids[object_type_id, name]
