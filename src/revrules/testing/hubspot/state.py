"""The portal's data store: companies, contacts, associations, properties, owners and lists, and writes."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from revrules.testing.emulator import Emulator, LogEntry
from revrules.testing.hubspot.defaults import (
    DEFAULT_READ_PROPERTIES,
    _complete_owner,
    _complete_property,
    _default_groups,
    _default_owners,
    _label_for,
    default_company_properties,
)
from revrules.testing.hubspot.faults import Faults
from revrules.testing.hubspot.protocol import (
    API_VERSIONS,
    ASSOCIATION_PAGE,
    DEFAULT_ACCESS_TOKEN,
    DEFAULT_SEARCH_CAP,
    MAX_MEMBERSHIP_IDS,
    JsonObject,
)
from revrules.testing.hubspot.values import (
    _id_sort_key,
    _Invalid,
    _is_number,
    _normalise,
    _option_list,
    now_iso,
)

_FIRST_ASSIGNED_ID = 9_000_000_001


@dataclass(frozen=True)
class LoggedRequest(LogEntry):
    """One API request the emulator answered (`call` is its 1-based call number).

    Attributes:
        query: Query parameters, each a list of values.
        body: The parsed JSON request body, or None.
        response: The JSON response body, or None.
    """

    query: dict[str, list[str]]
    body: Any = field(repr=False)
    response: Any = field(repr=False)


@dataclass
class _Company:
    id: str
    properties: dict[str, str | None]
    created_at: str
    updated_at: str

    def copy(self) -> _Company:
        return _Company(self.id, dict(self.properties), self.created_at, self.updated_at)


CLOSED_STAGES = ("closedwon", "closedlost")
"""The default pipeline's closed stages (HubSpot's Deals API guide: default pipeline stage ids)."""


def closed_stage(stage: str | None) -> str:
    """`hs_is_closed` as HubSpot calculates it: whether the deal's stage is a closed one."""
    return "true" if stage in CLOSED_STAGES else "false"


@dataclass
class _List:
    record: JsonObject
    members: dict[str, str] = field(default_factory=dict)



DEFAULT_PORTAL_ID = 123456
"""The portal id of an emulated portal (the Account information API reference's example)."""


class PortalState(Emulator[LoggedRequest, Faults]):
    """The state behind `HubSpotEmulator` (whose docstring lists the constructor's arguments)."""

    def __init__(
        self,
        companies: list[dict[str, str]] | None = None,
        *,
        properties: list[JsonObject] | None = None,
        owners: list[JsonObject] | None = None,
        access_token: str | None = DEFAULT_ACCESS_TOKEN,
        burst_limit: int | None = 190,
        search_limit: int | None = 5,
        search_lag_seconds: float = 0.0,
        search_cap: int = DEFAULT_SEARCH_CAP,
        host: str = "127.0.0.1",
        port: int = 0,
        contacts: list[dict[str, Any]] | None = None,
        deals: list[dict[str, Any]] | None = None,
        api_versions: Iterable[str] = API_VERSIONS,
        scopes: Iterable[str] | None = None,
    ) -> None:
        super().__init__()
        self.api_versions = set(api_versions)
        """The path families served (`v3` and date versions); others answer 404 as a portal does."""
        self.scopes = set(scopes) if scopes is not None else None
        """The token's scopes; None grants every scope."""
        self.access_token = access_token
        self.burst_limit = burst_limit
        self.search_limit = search_limit
        self.search_cap = search_cap
        self.faults = Faults(search_lag_seconds=search_lag_seconds)
        self._host = host
        self._port = port
        self._burst: deque[float] = deque()
        self._searches: deque[float] = deque()
        self._owners = [_complete_owner(o, i) for i, o in enumerate(owners or _default_owners())]
        self._groups: dict[str, JsonObject] = {g["name"]: g for g in _default_groups()}
        defined = properties if properties is not None else default_company_properties(self._owners)
        self._properties: dict[str, JsonObject] = {}
        for definition in defined:
            complete = _complete_property(definition)
            self._properties[complete["name"]] = complete
        self._companies: dict[str, _Company] = {}
        # The companies' ids in id order with their sort keys, kept between pages of a list read
        # (sorting every company for each page of 100 made a read of 50,000 quadratic).
        self._order: tuple[list[tuple[int, int, str]], list[str]] | None = None
        self._search_view: dict[str, _Company] = {}
        self._pending: deque[tuple[float, _Company]] = deque()
        self._next_id = _FIRST_ASSIGNED_ID
        self._lists: dict[str, _List] = {}
        self.max_membership_ids = MAX_MEMBERSHIP_IDS
        """Record ids one membership change may carry (adds plus removes); more answers 400."""
        self._next_list_id = 101
        self.portal_id = DEFAULT_PORTAL_ID
        """The portal (Hub) id `GET /account-info/{version}/details` answers."""
        self._contacts: dict[str, _Company] = {}
        self._company_contacts: dict[str, list[str]] = {}
        self.association_page = ASSOCIATION_PAGE
        """Associations one batch-read result carries before paging."""
        rows = companies or []
        self._define_custom_properties(rows)
        # Seeded values repeat (industries, countries, numbers): each is normalised once while loading.
        self._loading: dict[tuple[str, str], str | None] | None = {}
        for row in rows:
            self.put_company(row)
        self._loading = None
        for contact in contacts or []:
            self.put_contact(contact)
        self._deals: dict[str, _Company] = {}
        self._company_deals: dict[str, list[str]] = {}
        for deal in deals or []:
            self.put_deal(deal)


    # ------------------------------------------------------------------- state

    @property
    def companies(self) -> dict[str, dict[str, str | None]]:
        """A snapshot of every company: id -> properties (strings or None)."""
        with self._lock:
            return {cid: dict(c.properties) for cid, c in self._companies.items()}

    @property
    def properties(self) -> dict[str, JsonObject]:
        """A snapshot of the property definitions by name."""
        with self._lock:
            return json.loads(json.dumps(self._properties))  # type: ignore[no-any-return]

    @property
    def lists(self) -> dict[str, JsonObject]:
        """A snapshot of the lists by id, each with a ``members`` list of record ids."""
        with self._lock:
            return {
                lid: {**entry.record, "members": sorted(entry.members, key=_id_sort_key)}
                for lid, entry in self._lists.items()
            }

    def seed_list(self, entry: _List) -> None:
        """Store a list as it is, members included (no validation, no log entry)."""
        with self._lock:
            self._lists[str(entry.record["listId"])] = entry
            self._next_list_id = max(self._next_list_id, int(entry.record["listId"]) + 1)

    def put_company(self, values: Mapping[str, Any]) -> str:
        """Create or replace a company directly (no validation, no log entry).

        Args:
            values: Property values; the id under ``id``, ``Id`` or ``hs_object_id``.

        Returns:
            The record id.
        """
        with self._lock:
            props = {k: v for k, v in values.items() if k not in {"id", "Id", "ID"}}
            raw_id = values.get("id", values.get("Id", values.get("ID", props.get("hs_object_id"))))
            record_id = str(raw_id) if raw_id not in (None, "") else self._assign_id()
            stamp = now_iso()
            stored: dict[str, str | None] = {}
            for name, value in props.items():
                stored[name] = self._store_loaded(name, value)
            created = stored.get("createdate") or stamp
            modified = stored.get("hs_lastmodifieddate") or created
            stored.update({"createdate": created, "hs_lastmodifieddate": modified})
            stored["hs_object_id"] = record_id
            company = _Company(record_id, stored, created, modified)
            self._companies[record_id] = company
            self._order = None
            self._search_view[record_id] = company.copy()
            return record_id

    @property
    def contacts(self) -> dict[str, dict[str, str | None]]:
        """A snapshot of every contact: id -> properties (strings or None)."""
        with self._lock:
            return {cid: dict(c.properties) for cid, c in self._contacts.items()}

    @property
    def associations(self) -> dict[str, list[str]]:
        """A snapshot of the company -> contact associations (company id -> contact ids)."""
        with self._lock:
            return {cid: list(ids) for cid, ids in self._company_contacts.items() if ids}

    def put_contact(self, values: Mapping[str, Any]) -> str:
        """Create or replace a contact directly (no validation, no log entry).

        Args:
            values: Property values, the id under ``id`` (else one is assigned) and
                ``associatedcompanyid``: the associated company ids (one id, a
                list, or ids joined by ``;``; the first is the primary company).

        Returns:
            The contact id.
        """
        with self._lock:
            links = values.get("associatedcompanyid")
            if isinstance(links, str):
                company_ids = [part.strip() for part in links.split(";") if part.strip()]
            elif isinstance(links, Iterable):
                company_ids = [str(part) for part in links]
            else:
                company_ids = [] if links in (None, "") else [str(links)]
            props = {k: v for k, v in values.items() if k not in {"id", "Id", "ID"}}
            raw_id = values.get("id", values.get("Id", values.get("ID")))
            record_id = str(raw_id) if raw_id not in (None, "") else self._assign_id()
            stamp = now_iso()
            stored: dict[str, str | None] = {
                name: None if value in (None, "") else str(value)
                for name, value in props.items()
                if name != "associatedcompanyid"
            }
            if company_ids:
                stored["associatedcompanyid"] = company_ids[0]
            stored.setdefault("createdate", stamp)
            stored.setdefault("lastmodifieddate", stored["createdate"])
            stored["hs_object_id"] = record_id
            created = stored["createdate"] or stamp
            replaced = record_id in self._contacts
            self._contacts[record_id] = _Company(record_id, stored, created, stored["lastmodifieddate"] or created)
            # Only a replaced contact can have links to drop (a scan of every company otherwise).
            for linked in self._company_contacts.values() if replaced else ():
                if record_id in linked:
                    linked.remove(record_id)
            for company_id in company_ids:
                self.associate(company_id, record_id)
            return record_id

    @property
    def deals(self) -> dict[str, dict[str, str | None]]:
        """A snapshot of every deal: id -> properties (strings or None)."""
        with self._lock:
            return {did: dict(d.properties) for did, d in self._deals.items()}

    def put_deal(self, values: Mapping[str, Any]) -> str:
        """Create or replace a deal directly (no validation, no log entry).

        Args:
            values: Property values (`dealname`, `dealstage`, `hubspot_owner_id`, ...), the id
                under ``id`` (else one is assigned) and ``associatedcompanyid`` (one company id
                or a list). `hs_is_closed` is calculated from `dealstage`, as HubSpot calculates it.

        Returns:
            The deal id.
        """
        with self._lock:
            links = values.get("associatedcompanyid")
            company_ids = [str(i) for i in links] if isinstance(links, list) else [] if links in (None, "") else [
                str(links)]
            raw_id = values.get("id", values.get("Id"))
            record_id = str(raw_id) if raw_id not in (None, "") else self._assign_id()
            stamp = now_iso()
            stored: dict[str, str | None] = {
                name: None if value in (None, "") else str(value)
                for name, value in values.items() if name not in {"id", "Id", "associatedcompanyid", "hs_is_closed"}
            }
            stored["hs_is_closed"] = closed_stage(stored.get("dealstage"))
            stored.setdefault("createdate", stamp)
            stored["hs_object_id"] = record_id
            self._deals[record_id] = _Company(record_id, stored, stored["createdate"] or stamp, stamp)
            for company_id in company_ids:
                linked = self._company_deals.setdefault(company_id, [])
                if record_id not in linked:
                    linked.append(record_id)
            return record_id

    def associate(self, company_id: str, contact_id: str) -> None:
        """Associate a contact with a company (no log entry); a repeat is a no-op."""
        with self._lock:
            linked = self._company_contacts.setdefault(str(company_id), [])
            if str(contact_id) not in linked:
                linked.append(str(contact_id))

    def dissociate(self, company_id: str, contact_id: str) -> None:
        """Remove a company-contact association (no log entry); a missing one is a no-op."""
        with self._lock:
            linked = self._company_contacts.get(str(company_id), [])
            if str(contact_id) in linked:
                linked.remove(str(contact_id))

    def _company_order(self) -> tuple[list[tuple[int, int, str]], list[str]]:
        """Every company id in id order, with its sort key; call with the lock held."""
        if self._order is None:
            ids = sorted(self._companies, key=_id_sort_key)
            self._order = ([_id_sort_key(i) for i in ids], ids)
        return self._order

    def _assign_id(self) -> str:
        while str(self._next_id) in self._companies:
            self._next_id += 1
        self._next_id += 1
        return str(self._next_id - 1)

    def _define_custom_properties(self, rows: list[dict[str, str]]) -> None:
        seen: dict[str, list[str]] = {}
        for row in rows:
            for name, value in row.items():
                if name in {"id", "Id", "ID"} or name in self._properties:
                    continue
                seen.setdefault(name, [])
                if value not in (None, ""):
                    seen[name].append(str(value))
        for name, values in seen.items():
            numeric = bool(values) and all(_is_number(v) for v in values)
            self._properties[name] = _complete_property(
                {
                    "name": name,
                    "label": _label_for(name),
                    "type": "number" if numeric else "string",
                    "fieldType": "number" if numeric else "text",
                    "groupName": "companyinformation",
                    "hubspotDefined": False,
                }
            )

    def _store_loaded(self, name: str, value: Any) -> str | None:
        """Normalise a seeded value without rejecting it (imports may hold anything)."""
        if value is None or value == "":
            return None
        if self._loading is not None and isinstance(value, str):
            key = (name, value)
            if key not in self._loading:
                self._loading[key] = self._normalised_seed(name, value)
            return self._loading[key]
        return self._normalised_seed(name, value)

    def _normalised_seed(self, name: str, value: Any) -> str | None:
        definition = self._properties.get(name)
        if definition is not None:
            normal, problem = _normalise(definition, value)
            if problem is None:
                return normal
        return str(value)

    def _serve(self, company: _Company, names: list[str] | None) -> JsonObject:
        wanted = names if names else list(DEFAULT_READ_PROPERTIES)
        return {
            "id": company.id,
            "properties": {name: company.properties.get(name) for name in wanted},
            "createdAt": company.created_at,
            "updatedAt": company.updated_at,
            "archived": False,
        }

    def _requested_properties(self, names: list[str]) -> list[str]:
        """Keep names in order, dropping duplicates and properties that do not exist."""
        known = []
        for name in names:
            if name in self._properties and name not in known:
                known.append(name)
        return known

    def _validate(
        self, record_id: str, values: Mapping[str, Any]
    ) -> tuple[list[_Invalid], dict[str, str | None]]:
        invalid: list[_Invalid] = []
        changes: dict[str, str | None] = {}
        for name, value in values.items():
            definition = self._properties.get(name)
            if definition is None:
                invalid.append(
                    _Invalid(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
                )
                continue
            if definition["modificationMetadata"]["readOnlyValue"]:
                invalid.append(
                    _Invalid(name, "READ_ONLY_VALUE", f'Property "{name}" is a read only property')
                )
                continue
            normal, problem = _normalise(definition, value)
            if problem is not None:
                invalid.append(problem)
            else:
                changes[name] = normal
        for name in values:
            message = self.faults.field_error(record_id, name)
            if message is not None:
                # One property refused (a validation error naming it, in the 207's `errors[].in`).
                changes.pop(name, None)
                invalid.append(_Invalid(name, "INVALID_OPTION", message))
        refusal = self.faults.record_error(record_id)
        if refusal is not None and not invalid:
            name = next(
                (n for n in values if self._properties.get(n, {}).get("type") == "enumeration"),
                next(iter(values), "industry"),
            )
            shown = str(values.get(name, ""))
            invalid.append(
                _Invalid(
                    name,
                    "INVALID_OPTION",
                    refusal
                    or f"{shown} was not one of the allowed options: {_option_list(self._properties.get(name))}",
                )
            )
        return invalid, changes

    def _apply(self, company: _Company, changes: Mapping[str, str | None]) -> None:
        stamp = now_iso()
        company.properties.update(changes)
        company.properties["hs_lastmodifieddate"] = stamp
        company.updated_at = stamp
        self._publish(company)

    def _publish(self, company: _Company) -> None:
        """Make a write visible to search now, or after the configured lag."""
        lag = self.faults.search_lag_seconds
        if lag <= 0 and not self._pending:
            self._search_view[company.id] = company.copy()
        else:
            self._pending.append((time.monotonic() + max(lag, 0.0), company.copy()))

    def _flush_pending(self) -> None:
        now = time.monotonic()
        while self._pending and self._pending[0][0] <= now:
            _due, company = self._pending.popleft()
            self._search_view[company.id] = company

