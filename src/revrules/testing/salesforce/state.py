"""The org's data store: the main object's records, the list tables, tokens, loading and snapshots."""

from __future__ import annotations

import copy
import itertools
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from revrules.testing.emulator import Emulator, LogEntry
from revrules.testing.salesforce.describe import (
    _LIST_ID_PREFIXES,
    _LIST_OBJECTS,
    _NUMBER_TYPES,
    ACCOUNT_FIELDS,
    _describe_object,
    describe_field,
    picklist_entry,
)
from revrules.testing.salesforce.faults import Faults
from revrules.testing.salesforce.values import _coerce, _FieldError, _format_datetime, _id18, _make_id, _now

if TYPE_CHECKING:
    from revrules.testing.salesforce.bulk import _Job

MAX_COLLECTION_RECORDS = 200
"""sObject Collections accept at most this many records per request."""


@dataclass(frozen=True)
class LoggedRequest(LogEntry):
    """One request the emulator answered (control endpoints are not logged).

    `call` is the API call number, or None for requests outside `/services/data/vXX.X/`.

    Attributes:
        query: The raw query string.
        body_size: The request body's length in bytes.
    """

    query: str
    body_size: int


_VERSIONS = (
    ("Spring '23", "57.0"),
    ("Summer '23", "58.0"),
    ("Winter '24", "59.0"),
    ("Spring '24", "60.0"),
    ("Summer '24", "61.0"),
    ("Winter '25", "62.0"),
)
_CONVERTED_TYPES = _NUMBER_TYPES | {"boolean", "datetime", "date"}
"""Field types whose values `_coerce` converts; any other type stores a text value as it is."""
_DATA_RE = re.compile(r"^/services/data/v(\d+\.\d+)(?:/(.*))?$")
_ORG_ID = "00D" + "EM" + "0000000001"
_USER_ID = _id18("005" + "EM" + "0000000001")


class OrgState(Emulator[LoggedRequest, Faults]):
    """The state behind `SalesforceEmulator` (whose docstring lists the constructor's arguments)."""

    def __init__(
        self,
        records: Sequence[Mapping[str, object]] | None = None,
        *,
        object_name: str = "Account",
        fields: Sequence[Mapping[str, Any]] | None = None,
        picklists: Mapping[str, Sequence[str]] | None = None,
        api_version: str = "59.0",
        page_size: int = 2000,
        port: int = 0,
        session_id: str | None = None,
        users: Sequence[Mapping[str, object]] = (),
        contacts: Sequence[Mapping[str, object]] = (),
        opportunities: Sequence[Mapping[str, object]] = (),
        marketing_lists: bool = False,
        null_invalid: bool = False,
        currencies: Mapping[str, float] | None = None,
        record_types: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    ) -> None:
        super().__init__()
        # Record types beyond Master: name -> picklist field -> the values that record type offers.
        self.record_types: dict[str, tuple[str, dict[str, list[str]]]] = {
            f"012EM{index:010d}AAA": (name, {f: list(v) for f, v in fields_values.items()})
            for index, (name, fields_values) in enumerate((record_types or {}).items(), start=1)
        }
        # A multi-currency org: CurrencyIsoCode on the object and a CurrencyType table; the
        # first currency is the corporate one (its rate is 1 by definition).
        self.currency_types: dict[str, dict[str, Any]] = {
            f"01L{index:015d}": {"Id": f"01L{index:015d}", "IsoCode": iso, "IsActive": True,
                                 "ConversionRate": 1.0 if index == 0 else float(rate), "IsCorporate": index == 0}
            for index, (iso, rate) in enumerate((currencies or {}).items())
        }
        self._null_invalid = null_invalid
        self.nulled_on_load = 0
        """Seed values an org could not hold, loaded as null (only with `null_invalid`)."""
        self.object_name = object_name
        # Users answer owner lookups (`SELECT Id FROM User WHERE IsActive = true ...`).
        self.users: dict[str, dict[str, Any]] = {str(u["Id"]): {"IsActive": True, **u} for u in users}
        if self.users:
            # The user the API logs in as is an active User of every org, and owns what it creates.
            self.users.setdefault(_USER_ID, {"Id": _USER_ID, "IsActive": True})
        self.api_version = api_version
        self.page_size = page_size
        self.faults = Faults()
        self._port = port
        self._records: dict[str, dict[str, Any]] = {}
        self._deleted: set[str] = set()
        self._api_used = 0
        self._ids = itertools.count(1)
        # The marketing-list tables, keyed by object name, then by record id.
        self._tables: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in _LIST_OBJECTS}
        # Served only when asked for, so that an Account-only org refuses `FROM Contact` as before.
        self._serves_lists = marketing_lists or bool(contacts) or bool(opportunities)
        for kind, rows in (("Contact", contacts), ("Opportunity", opportunities)):
            for seeded in rows:
                row = dict.fromkeys(_LIST_OBJECTS[kind]) | dict(seeded)
                record_id = str(row["Id"] or self._new_id(_LIST_ID_PREFIXES[kind]))
                row["Id"] = record_id
                self._tables[kind][record_id] = row
        # Query locator -> (API version, the rows selected, their fields, object name).
        self._cursors: dict[str, tuple[str, list[dict[str, Any]], tuple[str, ...], str]] = {}
        self._jobs: dict[str, _Job] = {}
        self.session_id = session_id or self._new_token()
        self._tokens: set[str] = {self.session_id}
        self._fields: dict[str, dict[str, Any]] = {}
        for spec in fields if fields is not None else ACCOUNT_FIELDS:
            self._fields[str(spec["name"])] = describe_field(spec)
        for name, values in (picklists or {}).items():
            self._fields[name] = describe_field(
                {
                    **self._fields.get(name, {"name": name}),
                    "type": "picklist",
                    "values": values,
                    "restricted": True,
                    "picklistValues": [picklist_entry(v) for v in values],
                }
            )
        if self.currency_types:
            isos = [str(c["IsoCode"]) for c in self.currency_types.values()]
            self._fields["CurrencyIsoCode"] = describe_field({
                "name": "CurrencyIsoCode", "type": "picklist", "length": 3, "values": isos, "restricted": True,
                "picklistValues": [picklist_entry(v) for v in isos], "defaultValue": isos[0]})
        self._add_columns(records or [])
        loaded_at = _format_datetime(_now())
        # Text kept as text needs no conversion: loading 50,000 snapshot rows spent most of its time there.
        as_text = {name for name, definition in self._fields.items() if definition["type"] not in _CONVERTED_TYPES}
        for record in records or []:
            self._load(record, loaded_at, as_text)

    # -- state for tests -----------------------------------------------------------------
    @property
    def records(self) -> dict[str, dict[str, Any]]:
        """A snapshot of the stored records: id → field values."""
        with self._lock:
            return {rid: dict(values) for rid, values in self._records.items()}

    @property
    def contacts(self) -> dict[str, dict[str, Any]]:
        """A snapshot of the `Contact` table: id → field values."""
        return self._snapshot("Contact")

    @property
    def opportunities(self) -> dict[str, dict[str, Any]]:
        """A snapshot of the `Opportunity` table: id → field values."""
        return self._snapshot("Opportunity")

    @property
    def campaigns(self) -> dict[str, dict[str, Any]]:
        """A snapshot of the `Campaign` table: id → field values."""
        return self._snapshot("Campaign")

    @property
    def campaign_members(self) -> dict[str, dict[str, Any]]:
        """A snapshot of the `CampaignMember` table: id → field values."""
        return self._snapshot("CampaignMember")

    def seed_rows(self, object_name: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Store rows of a marketing-list table (`Campaign`, `CampaignMember`) as they are, ids kept."""
        with self._lock:
            for row in rows:
                self._tables[object_name][str(row["Id"])] = dict(row)

    def _snapshot(self, object_name: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {rid: dict(values) for rid, values in self._tables[object_name].items()}

    def calls(self, path_prefix: str = "", method: str | None = None) -> int:
        """Count logged requests whose path starts with `path_prefix` (a shorthand over `requests()`).

        Args:
            path_prefix: An absolute path prefix (`/services/oauth2/token`), or one relative to
                the data API (`composite/sobjects` means `/services/data/vXX.X/composite/...`).
            method: Only count this HTTP method.

        Returns:
            The number of matching requests.
        """
        count = 0
        for entry in self.requests(method):
            path = entry.path
            if not path_prefix.startswith("/"):
                match = _DATA_RE.match(path)
                path = (match.group(2) or "") if match else ""
            if path.startswith(path_prefix):
                count += 1
        return count

    def issue_token(self) -> str:
        """Issue a new valid access token (what the token endpoint does)."""
        token = self._new_token()
        with self._lock:
            self._tokens.add(token)
        return token

    def expire_sessions(self) -> None:
        """Invalidate every issued token; clients must log in again."""
        with self._lock:
            self._tokens.clear()

    def describe(self, version: str | None = None) -> dict[str, Any]:
        """The object's describe, as `GET sobjects/{obj}/describe` returns it."""
        base = self.url if self._server is not None else "http://127.0.0.1"
        result = _describe_object(self.object_name, version or self.api_version, base)
        with self._lock:
            result["fields"] = [copy.deepcopy(f) for f in self._fields.values()]
        data = f"/services/data/v{version or self.api_version}/sobjects/{self.object_name}"
        for type_id, (name, _values) in self.record_types.items():
            result["recordTypeInfos"].append({
                "active": True, "available": True, "defaultRecordTypeMapping": False, "developerName": name,
                "master": False, "name": name, "recordTypeId": type_id,
                "urls": {"layout": f"{data}/describe/layouts/{type_id}"}})
        return result

    def picklist_values(self, record_type_id: str) -> dict[str, Any] | None:
        """`GET ui-api/object-info/{object}/picklist-values/{recordTypeId}`; None for an unknown id.

        The shape is the User Interface API's Picklist Values Collection: field name ->
        `{controllerValues, defaultValue, values: [{attributes, label, validFor, value}]}`.
        """
        master = record_type_id == "012000000000000AAA"
        if not master and record_type_id not in self.record_types:
            return None
        offered = {} if master else self.record_types[record_type_id][1]
        collection: dict[str, Any] = {}
        with self._lock:
            for name, definition in self._fields.items():
                if definition["type"] not in ("picklist", "multipicklist"):
                    continue
                values = offered.get(name, [p["value"] for p in definition["picklistValues"] if p["active"]])
                collection[name] = {"controllerValues": {}, "defaultValue": None, "values": [
                    {"attributes": None, "label": v, "validFor": [], "value": v} for v in values]}
        return {"picklistFieldValues": collection}

    @property
    def daily_api_remaining(self) -> int:
        """The remaining `DailyApiRequests` allowance."""
        with self._lock:
            return max(0, self.faults.daily_api_max - self._api_used)

    # -- loading -------------------------------------------------------------------------
    @staticmethod
    def _new_token() -> str:
        return f"{_ORG_ID}!AQ{secrets.token_urlsafe(40)}"

    def _new_id(self, prefix: str | None = None) -> str:
        key = prefix or ("001" if self.object_name == "Account" else "a00")
        return _make_id(key, next(self._ids))

    def _add_columns(self, records: Sequence[Mapping[str, object]]) -> None:
        names: dict[str, None] = {}  # in order of first appearance
        for record in records:
            if not names.keys() >= record.keys():
                names.update(dict.fromkeys(record))
        columns: dict[str, list[object]] = {name: [] for name in names
                                            if name not in self._fields and name != "attributes"}
        if columns:
            for record in records:
                for name, values in columns.items():
                    if name in record:
                        values.append(record[name])
        for name, values in columns.items():
            present = [v for v in values if v not in (None, "")]
            kind = "string"
            scale = 0
            try:
                numbers = [float(str(v).replace(",", "")) for v in present]
                if numbers:
                    kind = "double"
                    scale = 0 if all(n.is_integer() for n in numbers) else 2
            except ValueError:
                kind = "string"
            longest = max((len(str(v)) for v in present), default=0)
            spec: dict[str, Any] = {"name": name, "type": kind}
            if kind == "double":
                spec["scale"] = scale
            elif longest > 255:
                spec["type"] = "textarea"
            self._fields[name] = describe_field(spec)

    def _load(self, record: Mapping[str, object], loaded_at: str, as_text: set[str]) -> None:
        values: dict[str, Any] = dict.fromkeys(self._fields)
        for key, raw in record.items():
            if key == "attributes":
                continue
            if key in as_text and isinstance(raw, str):
                values[key] = raw or None
                continue
            definition = self._fields[key]
            try:
                values[key] = _coerce(definition, None if raw == "" else raw)
            except _FieldError as problem:
                if self._null_invalid:
                    self.nulled_on_load += 1
                    values[key] = None
                    continue
                where = record.get("Id") or "a record without Id"
                raise ValueError(f"{where}: {key}: {problem.message}") from None
        record_id = str(values.get("Id") or self._new_id())
        values["Id"] = record_id
        for stamp in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
            if stamp in self._fields and values.get(stamp) is None:
                values[stamp] = loaded_at
        if "OwnerId" in self._fields and values.get("OwnerId") is None:
            values["OwnerId"] = _USER_ID
        for name, definition in self._fields.items():
            if definition["type"] == "boolean" and values.get(name) is None:
                values[name] = False
        if self.currency_types and values.get("CurrencyIsoCode") is None:
            values["CurrencyIsoCode"] = next(iter(self.currency_types.values()))["IsoCode"]
        self._records[record_id] = values

    def _record_json(
        self, version: str, record: Mapping[str, Any], fields: Sequence[str], object_name: str | None = None
    ) -> dict[str, Any]:
        kind = object_name or self.object_name
        url = f"/services/data/v{version}/sobjects/{kind}/{record['Id']}"
        result: dict[str, Any] = {"attributes": {"type": kind, "url": url}}
        for name in fields:
            result[name] = record.get(name)
        return result

    def _find(self, record_id: str) -> str | None:
        with self._lock:
            if record_id in self._records:
                return record_id
            if len(record_id) == 15:
                return next((rid for rid in self._records if rid[:15] == record_id), None)
        return None

