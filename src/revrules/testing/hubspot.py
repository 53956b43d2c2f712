"""A loopback HubSpot CRM v3 emulator for companies, with fault injection and a request log.

The emulator speaks the paths, query parameters and JSON shapes that
``hubspot-api-client`` 12 sends and expects, so tests use the real SDK (or plain
HTTP) against it. It is a product in its own right: a small documented
surface, fault switches and a request log that tests assert on.

Pointing the SDK at it::

    from hubspot import HubSpot

    with HubSpotEmulator(companies) as emu:
        client = HubSpot(access_token="test-token", host=emu.url)
        page = client.crm.companies.basic_api.get_page(limit=100, properties=["name"])

``HubSpot(..., host=URL)`` works because the SDK's discovery layer copies every
extra keyword onto each sub-package's ``Configuration`` (``setattr``), and
``Configuration.host`` is a setter that replaces ``https://api.hubapi.com``. An
existing API object can be re-pointed with
``api.api_client.configuration.host = emu.url``.

Endpoints (``companies`` may also be written ``company`` or ``0-2``; a trailing
``/`` is ignored, as the SDK sends ``/crm/v3/owners/`` and ``/crm/v3/lists/``):

* ``GET /crm/v3/objects/companies`` (``limit`` 1..100, default 10; ``after``;
  ``properties`` repeated or comma-separated; ``archived``), ``POST`` (create),
  ``GET``/``PATCH /crm/v3/objects/companies/{id}``,
  ``POST /crm/v3/objects/companies/batch/read``.
* ``POST /crm/v3/objects/companies/search``: filterGroups (OR of ANDs, at most
  5 groups, 10 filters a group, 25 in all) with EQ NEQ LT LTE GT GTE BETWEEN IN
  NOT_IN HAS_PROPERTY NOT_HAS_PROPERTY CONTAINS_TOKEN NOT_CONTAINS_TOKEN; one
  sort, as ``{"propertyName", "direction"}`` or as a string (``"name"``,
  ``"-name"``, or that object JSON-encoded, since the SDK types sorts as
  ``list[str]``); ``limit`` 1..200; ``after`` is an offset; ``total``. Paging
  past ``search_cap`` (10,000) answers HTTP 400. Writes become visible to search
  only ``search_lag_seconds`` after they land.
* ``POST /crm/v3/objects/companies/batch/update``: at most 100 inputs (else 400
  VALIDATION_ERROR); 200 ``BatchResponseSimplePublicObject`` when every input
  succeeds, otherwise 207 with ``errors`` (StandardError with ``context.ids``
  and, when sent, ``context.objectWriteTraceId``) and ``numErrors``.
* ``GET``/``POST /crm/v3/properties/companies``,
  ``GET``/``PATCH /crm/v3/properties/companies/{name}``,
  ``GET``/``POST /crm/v3/properties/companies/groups``,
  ``GET /crm/v3/properties/companies/groups/{name}``.
* ``GET /crm/v3/owners`` (``limit`` up to 500, ``after``, ``email``,
  ``archived``) and ``GET /crm/v3/owners/{id}``.
* Lists v3: ``POST /crm/v3/lists``, ``GET /crm/v3/lists?listIds=``,
  ``POST /crm/v3/lists/search``, ``GET``/``DELETE /crm/v3/lists/{id}``,
  ``GET /crm/v3/lists/object-type-id/{objectTypeId}/name/{name}``,
  ``PUT /crm/v3/lists/{id}/memberships/add|remove|add-and-remove`` and
  ``GET /crm/v3/lists/{id}/memberships``. Membership changes of a contact list
  (``0-1``) report unknown contact ids in ``recordIdsMissing``.
* Contacts (``contacts``, ``contact`` or ``0-1``): ``GET /crm/v3/objects/contacts``
  (``limit`` 1..100, ``after``, ``properties``) and ``GET .../contacts/{id}``.
  Seed them with the ``contacts=`` constructor option: dicts with ``id`` and
  properties, and ``associatedcompanyid`` (one company id, a list, or ids joined
  by ``;``) naming the companies each is associated with (the first is primary);
  or call :meth:`HubSpotEmulator.associate`.
* Associations v4: ``POST /crm/v4/associations/companies/contacts/batch/read``
  (what ``client.crm.associations.v4.batch_api.get_page`` sends) with
  ``{"inputs": [{"id": companyId, "after"?}]}``, at most 1,000 inputs. It answers
  ``{"status", "results": [{"from": {"id"}, "to": [{"toObjectId": <int>,
  "associationTypes": [{"category", "typeId", "label"}]}], "paging"?}]}``, 500
  associations a result before ``paging.next.after``; an input with no
  associated contacts (or no such company) is left out of ``results`` and
  reported in ``errors`` (``NO_ASSOCIATIONS_FOUND``) with HTTP 207, as HubSpot does.

Every property value is stored and served as a string (``"200"``, ``"true"``,
datetimes as ``2024-05-01T10:00:00.000Z``) or null. Error bodies follow the
recorded shape ``{"status": "error", "message", "correlationId", "category"}``;
429 bodies carry ``errorType: RATE_LIMIT`` and ``policyName``.

Control surface (in-process attributes, or HTTP under ``/__emulator/``, which is
neither logged nor rate limited): ``faults`` (``POST /__emulator/faults`` with
any of the :class:`Faults` fields, ``{"clear": true}`` first resets them;
``GET`` reads them), ``request_log`` (``GET /__emulator/log``) and
:meth:`HubSpotEmulator.reset_log` (``POST /__emulator/reset-log``), which also
restarts the call numbering that ``status_on_call`` and ``daily_limit_after``
count (every API request, 1-based).

Loading companies from CSV (``--accounts``): an ``Id``/``ID``/``id``/
``hs_object_id``/``Record ID`` column gives the record id (else ids are
assigned). Other headers become property names: lowercased, runs of
non-alphanumerics turned into ``_``; Salesforce-style ``BillingCountry``,
``BillingState``, ``BillingCity``, ``BillingPostalCode``, ``BillingStreet``,
``OwnerId`` and ``Account Name`` map to ``country``, ``state``, ``city``,
``zip``, ``address``, ``hubspot_owner_id`` and ``name``. Empty cells are null.
A column that is not a known property becomes a custom property, typed
``number`` when every non-empty value is numeric and ``string`` otherwise.

Run standalone: ``python -m revrules.testing.hubspot --port 8080 --accounts
companies.csv``; it prints ``HubSpot emulator listening on URL`` and serves
until interrupted.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import json
import math
import re
import signal
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from revrules.testing.server import LoopbackServer

JsonObject = dict[str, Any]

DEFAULT_ACCESS_TOKEN = "test-token"
DEFAULT_SEARCH_CAP = 10_000
MAX_LIST_PAGE = 100
MAX_SEARCH_PAGE = 200
MAX_BATCH_INPUTS = 100
MAX_MEMBERSHIP_IDS = 100_000
MAX_FILTER_GROUPS = 5
MAX_FILTERS_PER_GROUP = 10
MAX_FILTERS_TOTAL = 25
BURST_WINDOW_SECONDS = 10.0
DEFAULT_DAILY_LIMIT = 500_000
COMPANY_OBJECT_TYPE_ID = "0-2"
CONTACT_OBJECT_TYPE_ID = "0-1"
MAX_ASSOCIATION_INPUTS = 1000
ASSOCIATION_PAGE = 500
"""Associated records one batch-read result carries before it pages (HubSpot: 500)."""
COMPANY_TO_CONTACT_TYPE = 280
COMPANY_TO_CONTACT_PRIMARY_TYPE = 2
DEFAULT_CONTACT_PROPERTIES = ("email", "firstname", "lastname", "createdate", "lastmodifieddate", "hs_object_id")

OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)

# The `industry` options: list A of the realdata enum file (148 values, the one
# that claims validation against a live portal in 2026). It has the disputed
# NON_PROFIT_ spelling and MOBILE_GAMES; labels are derived, not recorded.
INDUSTRY_VALUES: tuple[str, ...] = (
    "ACCOUNTING", "AIRLINES_AVIATION", "ALTERNATIVE_DISPUTE_RESOLUTION", "ALTERNATIVE_MEDICINE",
    "ANIMATION", "APPAREL_FASHION", "ARCHITECTURE_PLANNING", "ARTS_AND_CRAFTS", "AUTOMOTIVE",
    "AVIATION_AEROSPACE", "BANKING", "BIOTECHNOLOGY", "BROADCAST_MEDIA", "BUILDING_MATERIALS",
    "BUSINESS_SUPPLIES_AND_EQUIPMENT", "CAPITAL_MARKETS", "CHEMICALS", "CIVIC_SOCIAL_ORGANIZATION",
    "CIVIL_ENGINEERING", "COMMERCIAL_REAL_ESTATE", "COMPUTER_NETWORK_SECURITY", "COMPUTER_GAMES",
    "COMPUTER_HARDWARE", "COMPUTER_NETWORKING", "COMPUTER_SOFTWARE", "INTERNET", "CONSTRUCTION",
    "CONSUMER_ELECTRONICS", "CONSUMER_GOODS", "CONSUMER_SERVICES", "COSMETICS", "DAIRY",
    "DEFENSE_SPACE", "DESIGN", "EDUCATION_MANAGEMENT", "E_LEARNING",
    "ELECTRICAL_ELECTRONIC_MANUFACTURING", "ENTERTAINMENT", "ENVIRONMENTAL_SERVICES",
    "EVENTS_SERVICES", "EXECUTIVE_OFFICE", "FACILITIES_SERVICES", "FARMING", "FINANCIAL_SERVICES",
    "FINE_ART", "FISHERY", "FOOD_BEVERAGES", "FOOD_PRODUCTION", "FUND_RAISING", "FURNITURE",
    "GAMBLING_CASINOS", "GLASS_CERAMICS_CONCRETE", "GOVERNMENT_ADMINISTRATION",
    "GOVERNMENT_RELATIONS", "GRAPHIC_DESIGN", "HEALTH_WELLNESS_AND_FITNESS", "HIGHER_EDUCATION",
    "HOSPITAL_HEALTH_CARE", "HOSPITALITY", "HUMAN_RESOURCES", "IMPORT_AND_EXPORT",
    "INDIVIDUAL_FAMILY_SERVICES", "INDUSTRIAL_AUTOMATION", "INFORMATION_SERVICES",
    "INFORMATION_TECHNOLOGY_AND_SERVICES", "INSURANCE", "INTERNATIONAL_AFFAIRS",
    "INTERNATIONAL_TRADE_AND_DEVELOPMENT", "INVESTMENT_BANKING", "INVESTMENT_MANAGEMENT",
    "JUDICIARY", "LAW_ENFORCEMENT", "LAW_PRACTICE", "LEGAL_SERVICES", "LEGISLATIVE_OFFICE",
    "LEISURE_TRAVEL_TOURISM", "LIBRARIES", "LOGISTICS_AND_SUPPLY_CHAIN", "LUXURY_GOODS_JEWELRY",
    "MACHINERY", "MANAGEMENT_CONSULTING", "MARITIME", "MARKET_RESEARCH",
    "MARKETING_AND_ADVERTISING", "MECHANICAL_OR_INDUSTRIAL_ENGINEERING", "MEDIA_PRODUCTION",
    "MEDICAL_DEVICES", "MEDICAL_PRACTICE", "MENTAL_HEALTH_CARE", "MILITARY", "MINING_METALS",
    "MOTION_PICTURES_AND_FILM", "MUSEUMS_AND_INSTITUTIONS", "MUSIC", "NANOTECHNOLOGY",
    "NEWSPAPERS", "NON_PROFIT_ORGANIZATION_MANAGEMENT", "OIL_ENERGY", "ONLINE_MEDIA",
    "OUTSOURCING_OFFSHORING", "PACKAGE_FREIGHT_DELIVERY", "PACKAGING_AND_CONTAINERS",
    "PAPER_FOREST_PRODUCTS", "PERFORMING_ARTS", "PHARMACEUTICALS", "PHILANTHROPY", "PHOTOGRAPHY",
    "PLASTICS", "POLITICAL_ORGANIZATION", "PRIMARY_SECONDARY_EDUCATION", "PRINTING",
    "PROFESSIONAL_TRAINING_COACHING", "PROGRAM_DEVELOPMENT", "PUBLIC_POLICY",
    "PUBLIC_RELATIONS_AND_COMMUNICATIONS", "PUBLIC_SAFETY", "PUBLISHING", "RAILROAD_MANUFACTURE",
    "RANCHING", "REAL_ESTATE", "RECREATIONAL_FACILITIES_AND_SERVICES", "RELIGIOUS_INSTITUTIONS",
    "RENEWABLES_ENVIRONMENT", "RESEARCH", "RESTAURANTS", "RETAIL", "SECURITY_AND_INVESTIGATIONS",
    "SEMICONDUCTORS", "SHIPBUILDING", "SPORTING_GOODS", "SPORTS", "STAFFING_AND_RECRUITING",
    "SUPERMARKETS", "TELECOMMUNICATIONS", "TEXTILES", "THINK_TANKS", "TOBACCO",
    "TRANSLATION_AND_LOCALIZATION", "TRANSPORTATION_TRUCKING_RAILROAD", "UTILITIES",
    "VENTURE_CAPITAL_PRIVATE_EQUITY", "VETERINARY", "WAREHOUSING", "WHOLESALE", "WINE_AND_SPIRITS",
    "WIRELESS", "WRITING_AND_EDITING", "MOBILE_GAMES",
)  # fmt: skip

COMPANY_TYPE_VALUES = ("PROSPECT", "PARTNER", "RESELLER", "VENDOR", "OTHER")
LIFECYCLE_STAGE_VALUES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
# Properties returned when a read names none (the spec says name and domain;
# portals also send the system properties).
DEFAULT_READ_PROPERTIES = ("name", "domain", "createdate", "hs_lastmodifieddate", "hs_object_id")
SEARCHABLE_TEXT_PROPERTIES = ("name", "domain", "website", "phone")
SYSTEM_PROPERTIES = ("createdate", "hs_lastmodifieddate", "hs_object_id")

_COLUMN_ALIASES = {
    "billingcountry": "country",
    "billingstate": "state",
    "billingcity": "city",
    "billingpostalcode": "zip",
    "billingstreet": "address",
    "ownerid": "hubspot_owner_id",
    "account_name": "name",
}
_ID_COLUMNS = ("id", "hs_object_id", "record_id")
_FIRST_ASSIGNED_ID = 9_000_000_001


def now_iso() -> str:
    """Return the current UTC time as HubSpot prints it: ISO 8601 with ms and ``Z``."""
    return format_iso(datetime.now(UTC))


def format_iso(moment: datetime) -> str:
    """Format an aware datetime as ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_datetime_ms(value: str) -> int | None:
    """Parse epoch milliseconds, an ISO datetime or an ISO date into epoch ms.

    Args:
        value: The text to parse.

    Returns:
        Milliseconds since the epoch (UTC), or None when the text is not a date.
    """
    text = value.strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def column_to_property(header: str) -> str:
    """Map a CSV header to a HubSpot property name (see the module docstring)."""
    name = re.sub(r"[^0-9a-z]+", "_", header.strip().lower()).strip("_")
    return _COLUMN_ALIASES.get(name, name)


def load_companies_csv(path: str | Path) -> list[dict[str, str]]:
    """Read companies from a CSV export.

    Args:
        path: A UTF-8 CSV file (a BOM is allowed) with a header row.

    Returns:
        One dict a row: ``id`` (when the file has an id column) and property values.
        Empty cells are left out.
    """
    with Path(path).open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        rows: list[dict[str, str]] = []
        for raw in reader:
            row: dict[str, str] = {}
            for header, value in raw.items():
                if header is None or value is None or value == "":
                    continue
                name = column_to_property(header)
                row["id" if name in _ID_COLUMNS else name] = value
            rows.append(row)
    return rows


def _label_for(value: str) -> str:
    return value.replace("_", " ").strip().title()


def _options(values: Iterable[str]) -> list[JsonObject]:
    return [
        {"label": _label_for(value), "value": value, "displayOrder": index, "hidden": False}
        for index, value in enumerate(values)
    ]


def _id_sort_key(record_id: str) -> tuple[int, int, str]:
    return (0, int(record_id), "") if record_id.isdigit() else (1, 0, record_id)


def _is_number(text: str) -> bool:
    try:
        return Decimal(text.strip()).is_finite()
    except InvalidOperation:
        return False


def _as_bool(value: Any) -> bool:
    return str(value).strip().lower() in {"true", "1", "yes"}


@dataclass
class Faults:
    """Fault switches; change them in-process or with ``POST /__emulator/faults``.

    Attributes:
        status_on_call: Call number (1-based, counted since start or the last
            reset of the log) mapped to a status to answer instead: 429 (a
            TEN_SECONDLY_ROLLING body), 500, 502 or 503.
        retry_after: Seconds sent in ``Retry-After`` on every 429, or None to
            send none.
        daily_limit_after: After this many calls, every call answers 429 with the
            DAILY body.
        unauthorized: Answer every call with 401.
        invalid_option_ids: Record ids whose writes fail with INVALID_OPTION.
        delay_seconds: Sleep this long before answering each call.
        search_lag_seconds: How long a write takes to become visible to search.
        missing_list_record_ids: Record ids that list membership changes report in
            ``recordIdsMissing`` (as if the records had been deleted).
    """

    status_on_call: dict[int, int] = field(default_factory=dict)
    retry_after: int | None = None
    daily_limit_after: int | None = None
    unauthorized: bool = False
    invalid_option_ids: set[str] = field(default_factory=set)
    delay_seconds: float = 0.0
    search_lag_seconds: float = 0.0
    missing_list_record_ids: set[str] = field(default_factory=set)

    def update(self, data: Mapping[str, Any]) -> None:
        """Apply switches from JSON (keys as the attribute names).

        Args:
            data: The switches to change; ``clear: true`` resets all first.

        Raises:
            ValueError: A key is unknown or a value has the wrong type.
        """
        if data.get("clear"):
            fresh = Faults()
            for name in fresh.__dataclass_fields__:
                setattr(self, name, getattr(fresh, name))
        for key, value in data.items():
            if key == "clear":
                continue
            if key == "status_on_call":
                self.status_on_call = {int(k): int(v) for k, v in dict(value or {}).items()}
            elif key == "retry_after":
                self.retry_after = None if value is None else math.ceil(float(value))
            elif key == "daily_limit_after":
                self.daily_limit_after = None if value is None else int(value)
            elif key == "unauthorized":
                self.unauthorized = bool(value)
            elif key == "invalid_option_ids":
                self.invalid_option_ids = {str(v) for v in value or ()}
            elif key == "missing_list_record_ids":
                self.missing_list_record_ids = {str(v) for v in value or ()}
            elif key in {"delay_seconds", "search_lag_seconds"}:
                setattr(self, key, float(value))
            else:
                raise ValueError(f"unknown fault switch: {key}")

    def to_json(self) -> JsonObject:
        """Return the switches as JSON."""
        return {
            "status_on_call": {str(k): v for k, v in sorted(self.status_on_call.items())},
            "retry_after": self.retry_after,
            "daily_limit_after": self.daily_limit_after,
            "unauthorized": self.unauthorized,
            "invalid_option_ids": sorted(self.invalid_option_ids),
            "delay_seconds": self.delay_seconds,
            "search_lag_seconds": self.search_lag_seconds,
            "missing_list_record_ids": sorted(self.missing_list_record_ids),
        }


@dataclass(frozen=True)
class LoggedRequest:
    """One API request the emulator answered.

    Attributes:
        method: HTTP verb.
        path: Path without the query string.
        query: Query parameters, each a list of values.
        status: HTTP status answered.
        body: The parsed JSON request body, or None.
        response: The JSON response body, or None.
        call: The 1-based call number.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    body: Any = field(repr=False)
    response: Any = field(repr=False)
    call: int = 0

    def to_json(self) -> JsonObject:
        """Return the entry as JSON."""
        return {
            "call": self.call,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "body": self.body,
            "response": self.response,
        }


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: Any
    base_url: str

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def multi(self, name: str) -> list[str]:
        return [part for value in self.query.get(name, []) for part in value.split(",") if part]


@dataclass
class _Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class _ApiError(Exception):
    """Raised inside a handler to answer with a HubSpot error body."""

    def __init__(self, status: int, message: str, category: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body: JsonObject = {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": category,
            **extra,
        }


@dataclass
class _Company:
    id: str
    properties: dict[str, str | None]
    created_at: str
    updated_at: str

    def copy(self) -> _Company:
        return _Company(self.id, dict(self.properties), self.created_at, self.updated_at)


@dataclass
class _List:
    record: JsonObject
    members: dict[str, str] = field(default_factory=dict)


@dataclass
class _Invalid:
    name: str
    error: str
    message: str


Handler = Callable[[_Request, "re.Match[str]"], _Reply]


class HubSpotEmulator(LoopbackServer):
    """An in-process HubSpot CRM (companies, properties, owners, lists) on loopback HTTP.

    Args:
        companies: Initial companies: dicts of property name to string value,
            with the record id under ``id`` (or ``Id``/``hs_object_id``).
        properties: Company property definitions (HubSpot ``Property`` JSON);
            defaults to a realistic set (see :func:`default_company_properties`).
            Properties found in ``companies`` but not defined are added as custom
            ``string``/``number`` properties.
        owners: Owners (``PublicOwner`` JSON); defaults to four people, one archived.
        access_token: The bearer token every API call must carry; None skips the check.
        burst_limit: Requests allowed per rolling 10 s (TEN_SECONDLY_ROLLING);
            None disables the limit.
        search_limit: Search requests allowed per second; None disables it.
        search_lag_seconds: How long writes take to reach search results.
        search_cap: How deep search may page (HubSpot: 10,000).
        host: Interface to bind.
        port: Port to bind; 0 picks a free one.
        contacts: Initial contacts: dicts of property name to value, the record id
            under ``id``, and ``associatedcompanyid`` naming the associated
            companies (one id, a list of ids, or ids joined by ``;``).
    """

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
    ) -> None:
        self._lock = threading.RLock()
        self.access_token = access_token
        self.burst_limit = burst_limit
        self.search_limit = search_limit
        self.search_cap = search_cap
        self.faults = Faults(search_lag_seconds=search_lag_seconds)
        self._host = host
        self._port = port
        self._log: list[LoggedRequest] = []
        self._calls = 0
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
        self._search_view: dict[str, _Company] = {}
        self._pending: deque[tuple[float, _Company]] = deque()
        self._next_id = _FIRST_ASSIGNED_ID
        self._lists: dict[str, _List] = {}
        self.max_membership_ids = MAX_MEMBERSHIP_IDS
        """Record ids one membership change may carry (adds plus removes); more answers 400."""
        self._next_list_id = 101
        self._contacts: dict[str, _Company] = {}
        self._company_contacts: dict[str, list[str]] = {}
        self.association_page = ASSOCIATION_PAGE
        """Associations one batch-read result carries before paging."""
        rows = companies or []
        self._define_custom_properties(rows)
        for row in rows:
            self.put_company(row)
        for contact in contacts or []:
            self.put_contact(contact)

    # ----------------------------------------------------------------- lifecycle

    @classmethod
    def from_csv(cls, path: str | Path, **kwargs: Any) -> HubSpotEmulator:
        """Build an emulator holding the companies of a CSV file.

        Args:
            path: The CSV file (see :func:`load_companies_csv`).
            **kwargs: Passed to the constructor.

        Returns:
            The emulator, not yet started.
        """
        return cls(load_companies_csv(path), **kwargs)

    def _make_server(self) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer((self._host, self._port), _RequestHandler)
        server.daemon_threads = True
        server.emulator = self  # type: ignore[attr-defined]
        return server

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
            self._contacts[record_id] = _Company(record_id, stored, created, stored["lastmodifieddate"] or created)
            for linked in self._company_contacts.values():
                if record_id in linked:
                    linked.remove(record_id)
            for company_id in company_ids:
                self.associate(company_id, record_id)
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

    # --------------------------------------------------------------------- log

    @property
    def request_log(self) -> list[LoggedRequest]:
        """The API requests answered since start or the last reset, oldest first."""
        with self._lock:
            return list(self._log)

    @property
    def call_count(self) -> int:
        """API calls since start or the last reset (the numbering ``status_on_call`` uses)."""
        with self._lock:
            return self._calls

    def count(
        self, method: str | None = None, path: str | None = None, status: int | None = None
    ) -> int:
        """Count logged requests matching every given criterion.

        Args:
            method: HTTP verb, e.g. ``"POST"``.
            path: Exact path (a trailing ``/`` is ignored), or a regex when it
                starts with ``^``.
            status: HTTP status answered.

        Returns:
            The number of matching requests.
        """

        def matches(entry: LoggedRequest) -> bool:
            if method is not None and entry.method != method.upper():
                return False
            if status is not None and entry.status != status:
                return False
            if path is None:
                return True
            if path.startswith("^"):
                return re.search(path, entry.path) is not None
            return entry.path.rstrip("/") == path.rstrip("/")

        return sum(1 for entry in self.request_log if matches(entry))

    def reset_log(self) -> None:
        """Clear the request log and restart the call numbering."""
        with self._lock:
            self._log.clear()
            self._calls = 0

    # ---------------------------------------------------------------- dispatch

    def handle(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        raw_body: bytes,
        base_url: str = "",
    ) -> _Reply:
        """Answer one HTTP request (the server calls this; tests may too).

        Args:
            method: HTTP verb.
            target: Path with query string.
            headers: Request headers.
            raw_body: The request body bytes.
            base_url: Scheme and authority used to build paging links.

        Returns:
            The reply to send.
        """
        parts = urlsplit(target)
        path = parts.path.rstrip("/") or "/"
        query = parse_qs(parts.query, keep_blank_values=True)
        try:
            body = json.loads(raw_body) if raw_body.strip() else None
        except ValueError:
            body = _UNPARSABLE
        if path.startswith("/__emulator"):
            return self._control(method, path, body)
        request = _Request(method, path, query, headers, body, base_url)
        delay = self.faults.delay_seconds
        if delay > 0:
            time.sleep(delay)
        with self._lock:
            self._calls += 1
            call = self._calls
        try:
            reply = self._gate(request, call)
            if reply is None:
                if body is _UNPARSABLE:
                    raise _ApiError(400, "Invalid input JSON on line 1", "VALIDATION_ERROR")
                reply = self._route(request)
        except _ApiError as error:
            reply = _Reply(error.status, error.body)
        reply.headers.update(self._rate_headers(call))
        with self._lock:
            self._log.append(
                LoggedRequest(
                    method=method,
                    path=path,
                    query=query,
                    status=reply.status,
                    body=None if body is _UNPARSABLE else body,
                    response=reply.body,
                    call=call,
                )
            )
        return reply

    def _control(self, method: str, path: str, body: Any) -> _Reply:
        if path == "/__emulator/faults" and method == "GET":
            return _Reply(200, self.faults.to_json())
        if path == "/__emulator/faults" and method == "POST":
            try:
                with self._lock:
                    self.faults.update(body if isinstance(body, dict) else {})
            except (TypeError, ValueError) as error:
                return _Reply(400, {"status": "error", "message": str(error)})
            return _Reply(200, self.faults.to_json())
        if path == "/__emulator/log" and method == "GET":
            return _Reply(200, {"requests": [entry.to_json() for entry in self.request_log]})
        if path == "/__emulator/reset-log" and method == "POST":
            self.reset_log()
            return _Reply(204)
        return _Reply(404, {"status": "error", "message": f"no control endpoint {method} {path}"})

    def _gate(self, request: _Request, call: int) -> _Reply | None:
        """Apply auth, injected faults and rate limits; None lets the call through."""
        faults = self.faults
        token = request.headers.get("Authorization", "")
        if faults.unauthorized or (
            self.access_token is not None and token != f"Bearer {self.access_token}"
        ):
            raise _ApiError(
                401,
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                "INVALID_AUTHENTICATION",
            )
        if faults.daily_limit_after is not None and call > faults.daily_limit_after:
            return self._rate_limited("DAILY", "You have reached your daily limit.")
        injected = faults.status_on_call.get(call)
        if injected == 429:
            return self._rate_limited(
                "TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit."
            )
        if injected is not None:
            raise _ApiError(injected, _SERVER_MESSAGES.get(injected, "error"), "INTERNAL_ERROR")
        now = time.monotonic()
        with self._lock:
            if self.burst_limit is not None:
                _trim(self._burst, now - BURST_WINDOW_SECONDS)
                if len(self._burst) >= self.burst_limit:
                    return self._rate_limited(
                        "TEN_SECONDLY_ROLLING",
                        "You have reached your ten_secondly_rolling limit.",
                    )
            is_search = request.method == "POST" and request.path.endswith("/search")
            if is_search and self.search_limit is not None:
                _trim(self._searches, now - 1.0)
                if len(self._searches) >= self.search_limit:
                    return self._rate_limited("SECONDLY", "You have reached your secondly limit.")
                self._searches.append(now)
            if self.burst_limit is not None:
                self._burst.append(now)
        return None

    def _rate_limited(self, policy: str, message: str) -> _Reply:
        body = {
            "status": "error",
            "message": message,
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": policy,
            "requestId": uuid.uuid4().hex,
        }
        headers = {}
        if self.faults.retry_after is not None:
            headers["Retry-After"] = str(self.faults.retry_after)
        return _Reply(429, body, headers)

    def _rate_headers(self, call: int) -> dict[str, str]:
        headers: dict[str, str] = {}
        with self._lock:
            daily = self.faults.daily_limit_after or DEFAULT_DAILY_LIMIT
            headers["X-HubSpot-RateLimit-Daily"] = str(daily)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(daily - call, 0))
            if self.burst_limit is not None:
                _trim(self._burst, time.monotonic() - BURST_WINDOW_SECONDS)
                remaining = max(self.burst_limit - len(self._burst), 0)
                headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = "10000"
                headers["X-HubSpot-RateLimit-Max"] = str(self.burst_limit)
                headers["X-HubSpot-RateLimit-Remaining"] = str(remaining)
                headers["X-HubSpot-RateLimit-Secondly"] = str(math.ceil(self.burst_limit / 10))
                headers["X-HubSpot-RateLimit-Secondly-Remaining"] = str(
                    max(math.ceil(remaining / 10), 0)
                )
        return headers

    def _route(self, request: _Request) -> _Reply:
        allowed = False
        for method, pattern, handler in self._routes():
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            if method == request.method:
                return handler(request, match)
            allowed = True
        if allowed:
            raise _ApiError(405, f"HTTP {request.method} is not supported by this URL", "METHOD")
        raise _ApiError(404, f"No route for {request.method} {request.path}", "OBJECT_NOT_FOUND")

    def _routes(self) -> list[tuple[str, re.Pattern[str], Handler]]:
        obj = r"/crm/v3/objects/(?:companies|company|0-2)"
        props = r"/crm/v3/properties/(?:companies|company|0-2)"
        lst = r"/crm/v3/lists/(?P<list_id>\d+)"
        contacts = r"/crm/v3/objects/(?:contacts|contact|0-1)"
        associations = r"/crm/v4/associations/(?:companies|company|0-2)/(?:contacts|contact|0-1)/batch/read"
        table: list[tuple[str, str, Handler]] = [
            ("GET", obj, self._list_companies),
            ("POST", obj, self._create_company),
            ("POST", obj + "/search", self._search_companies),
            ("POST", obj + "/batch/update", self._batch_update),
            ("POST", obj + "/batch/read", self._batch_read),
            ("GET", obj + r"/(?P<record_id>[^/]+)", self._get_company),
            ("PATCH", obj + r"/(?P<record_id>[^/]+)", self._patch_company),
            ("GET", props + "/groups", self._list_groups),
            ("POST", props + "/groups", self._create_group),
            ("GET", props + r"/groups/(?P<name>[^/]+)", self._get_group),
            ("GET", props, self._list_properties),
            ("POST", props, self._create_property),
            ("GET", props + r"/(?P<name>[^/]+)", self._get_property),
            ("PATCH", props + r"/(?P<name>[^/]+)", self._patch_property),
            ("GET", r"/crm/v3/owners", self._list_owners),
            ("GET", r"/crm/v3/owners/(?P<owner_id>[^/]+)", self._get_owner),
            ("POST", r"/crm/v3/lists", self._create_list),
            ("GET", r"/crm/v3/lists", self._get_lists_by_id),
            ("POST", r"/crm/v3/lists/search", self._search_lists),
            (
                "GET",
                r"/crm/v3/lists/object-type-id/(?P<object_type>[^/]+)/name/(?P<name>[^/]+)",
                self._get_list_by_name,
            ),
            ("GET", lst, self._get_list),
            ("DELETE", lst, self._delete_list),
            ("PUT", lst + "/memberships/add", self._add_members),
            ("PUT", lst + "/memberships/remove", self._remove_members),
            ("PUT", lst + "/memberships/add-and-remove", self._add_and_remove_members),
            ("GET", lst + "/memberships", self._list_members),
            ("GET", contacts, self._list_contacts),
            ("GET", contacts + r"/(?P<record_id>[^/]+)", self._get_contact),
            ("POST", associations, self._read_company_contacts),
        ]
        return [(m, re.compile(p), h) for m, p, h in table]

    # ------------------------------------------------------------- companies

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

    def _list_companies(self, request: _Request, _match: re.Match[str]) -> _Reply:
        limit = _int_param(request.param("limit"), "limit", default=10)
        if not 1 <= limit <= MAX_LIST_PAGE:
            raise _ApiError(
                400, f"limit must be between 1 and {MAX_LIST_PAGE}, got {limit}", "VALIDATION_ERROR"
            )
        after = request.param("after")
        with self._lock:
            names = self._requested_properties(request.multi("properties"))
            if _as_bool(request.param("archived") or "false"):
                return _Reply(200, {"results": []})
            ordered = sorted(self._companies.values(), key=lambda c: _id_sort_key(c.id))
            if after:
                start_key = _id_sort_key(after)
                ordered = [c for c in ordered if _id_sort_key(c.id) >= start_key]
            page = ordered[:limit]
            body: JsonObject = {"results": [self._serve(c, names or None) for c in page]}
            if len(ordered) > limit:
                next_after = ordered[limit].id
                body["paging"] = {"next": {"after": next_after, "link": _link(request, next_after)}}
        return _Reply(200, body)

    def _get_company(self, request: _Request, match: re.Match[str]) -> _Reply:
        with self._lock:
            company = self._companies.get(match["record_id"])
            if company is None:
                raise _ApiError(
                    404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND"
                )
            names = self._requested_properties(request.multi("properties"))
            return _Reply(200, self._serve(company, names or None))

    def _create_company(self, request: _Request, _match: re.Match[str]) -> _Reply:
        body = _require_object(request.body)
        values = body.get("properties")
        if not isinstance(values, dict):
            raise _ApiError(400, "Invalid input JSON: properties is required", "VALIDATION_ERROR")
        with self._lock:
            record_id = self._assign_id()
            invalid, changes = self._validate(record_id, values)
            if invalid:
                raise _ApiError(400, _invalid_message(invalid), "VALIDATION_ERROR")
            stamp = now_iso()
            props: dict[str, str | None] = dict(changes)
            props.update({"createdate": stamp, "hs_lastmodifieddate": stamp})
            props["hs_object_id"] = record_id
            company = _Company(record_id, props, stamp, stamp)
            self._companies[record_id] = company
            self._publish(company)
            return _Reply(201, self._serve(company, [*changes, *SYSTEM_PROPERTIES]))

    def _patch_company(self, request: _Request, match: re.Match[str]) -> _Reply:
        body = _require_object(request.body)
        values = body.get("properties")
        if not isinstance(values, dict) or not values:
            raise _ApiError(
                400,
                "No properties found to update, please provide at least one.",
                "VALIDATION_ERROR",
                context={"properties": [json.dumps(values or {})]},
            )
        with self._lock:
            company = self._companies.get(match["record_id"])
            if company is None:
                raise _ApiError(
                    404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND"
                )
            invalid, changes = self._validate(company.id, values)
            if invalid:
                raise _ApiError(400, _invalid_message(invalid), "VALIDATION_ERROR")
            self._apply(company, changes)
            return _Reply(200, self._serve(company, [*changes, *SYSTEM_PROPERTIES]))

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
        if record_id in self.faults.invalid_option_ids and not invalid:
            name = next(
                (n for n in values if self._properties.get(n, {}).get("type") == "enumeration"),
                next(iter(values), "industry"),
            )
            shown = str(values.get(name, ""))
            invalid.append(
                _Invalid(
                    name,
                    "INVALID_OPTION",
                    f"{shown} was not one of the allowed options: "
                    f"{_option_list(self._properties.get(name))}",
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

    def _batch_update(self, request: _Request, _match: re.Match[str]) -> _Reply:
        body = _require_object(request.body)
        inputs = body.get("inputs")
        if not isinstance(inputs, list):
            raise _ApiError(400, "Invalid input JSON: inputs is required", "VALIDATION_ERROR")
        if len(inputs) > MAX_BATCH_INPUTS:
            raise _ApiError(
                400,
                f"The maximum number of inputs supported in a batch request is "
                f"{MAX_BATCH_INPUTS}. Please reduce the number of items and try again",
                "VALIDATION_ERROR",
            )
        ids = [str(item.get("id", "")) if isinstance(item, dict) else "" for item in inputs]
        duplicates = sorted({i for i in ids if ids.count(i) > 1}, key=_id_sort_key)
        if duplicates:
            raise _ApiError(
                400,
                f"Duplicate IDs found in batch input: [{', '.join(duplicates)}]. "
                "IDs must be unique",
                "VALIDATION_ERROR",
            )
        started = now_iso()
        results: list[JsonObject] = []
        errors: list[JsonObject] = []
        missing: list[str] = []
        with self._lock:
            for item in inputs:
                if not isinstance(item, dict) or not isinstance(item.get("properties"), dict):
                    raise _ApiError(
                        400,
                        "Invalid input JSON: each input needs id and properties",
                        "VALIDATION_ERROR",
                    )
                if item.get("idProperty") not in (None, "hs_object_id"):
                    raise _ApiError(
                        400,
                        "The emulator updates by record id only (idProperty unsupported)",
                        "VALIDATION_ERROR",
                    )
                record_id = str(item.get("id"))
                trace = item.get("objectWriteTraceId")
                company = self._companies.get(record_id)
                if company is None:
                    missing.append(record_id)
                    continue
                invalid, changes = self._validate(record_id, item["properties"])
                if invalid:
                    errors.append(_validation_error(record_id, trace, invalid))
                    continue
                self._apply(company, changes)
                served = self._serve(company, [*item["properties"], *SYSTEM_PROPERTIES])
                if trace is not None:
                    served["objectWriteTraceId"] = str(trace)
                results.append(served)
        if missing:
            errors.insert(
                0,
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": "Could not get some COMPANY objects, they may be deleted or not "
                    "exist. Check that ids are valid.",
                    "context": {"ids": missing},
                    "errors": [],
                    "links": {},
                },
            )
        # Key order follows the recorded 207 body: status, results, numErrors, errors.
        reply: JsonObject = {"status": "COMPLETE", "results": results}
        if errors:
            reply["numErrors"] = sum(len(e["context"]["ids"]) for e in errors)
            reply["errors"] = errors
        reply.update({"requestedAt": started, "startedAt": started, "completedAt": now_iso()})
        return _Reply(207 if errors else 200, reply)

    def _batch_read(self, request: _Request, _match: re.Match[str]) -> _Reply:
        body = _require_object(request.body)
        inputs = body.get("inputs")
        if not isinstance(inputs, list):
            raise _ApiError(400, "Invalid input JSON: inputs is required", "VALIDATION_ERROR")
        if len(inputs) > MAX_BATCH_INPUTS:
            raise _ApiError(
                400,
                f"The maximum number of inputs supported in a batch request is "
                f"{MAX_BATCH_INPUTS}. Please reduce the number of items and try again",
                "VALIDATION_ERROR",
            )
        started = now_iso()
        with self._lock:
            names = self._requested_properties([str(n) for n in body.get("properties") or []])
            results, missing = [], []
            for item in inputs:
                record_id = str(item.get("id")) if isinstance(item, dict) else ""
                company = self._companies.get(record_id)
                if company is None:
                    missing.append(record_id)
                else:
                    results.append(self._serve(company, names or None))
        reply: JsonObject = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": now_iso(),
        }
        if not missing:
            return _Reply(200, reply)
        reply["numErrors"] = len(missing)
        reply["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": "Could not get some COMPANY objects, they may be deleted or not exist. "
                "Check that ids are valid.",
                "context": {"ids": missing},
                "errors": [],
                "links": {},
            }
        ]
        return _Reply(207, reply)

    # ---------------------------------------------------------------- search

    def _search_companies(self, request: _Request, _match: re.Match[str]) -> _Reply:
        body = _require_object(request.body if request.body is not None else {})
        limit = _int_param(body.get("limit"), "limit", default=10)
        if not 1 <= limit <= MAX_SEARCH_PAGE:
            raise _ApiError(
                400,
                f"limit must be between 1 and {MAX_SEARCH_PAGE}, got {limit}",
                "VALIDATION_ERROR",
            )
        offset = _int_param(body.get("after"), "after", default=0)
        if offset < 0:
            raise _ApiError(400, "after must not be negative", "VALIDATION_ERROR")
        if offset >= self.search_cap:
            raise _ApiError(
                400,
                f"The search API returns at most {self.search_cap} results for a query; "
                f"after={offset} is past that limit. Narrow the query to page further.",
                "VALIDATION_ERROR",
            )
        with self._lock:
            groups = self._parse_filter_groups(body.get("filterGroups") or [])
            sort = self._parse_sorts(body.get("sorts") or [])
            names = self._requested_properties([str(n) for n in body.get("properties") or []])
            query = str(body.get("query") or "").strip().lower()
            self._flush_pending()
            matched = [
                c
                for c in self._search_view.values()
                if (not groups or any(all(f(c) for f in group) for group in groups))
                and (not query or _matches_query(c, query))
            ]
            matched.sort(key=lambda c: _id_sort_key(c.id))
            if sort is not None:
                prop, descending = sort
                definition = self._properties[prop]
                present = [c for c in matched if c.properties.get(prop) not in (None, "")]
                absent = [c for c in matched if c.properties.get(prop) in (None, "")]
                present.sort(
                    key=lambda c: _sort_key(definition, c.properties.get(prop)), reverse=descending
                )
                matched = present + absent
            end = min(offset + limit, self.search_cap)
            page = matched[offset:end]
            payload: JsonObject = {
                "total": len(matched),
                "results": [self._serve(c, names or None) for c in page],
            }
            if end < len(matched):
                payload["paging"] = {"next": {"after": str(end), "link": f"?after={end}"}}
        return _Reply(200, payload)

    def _parse_filter_groups(self, raw: Any) -> list[list[Callable[[_Company], bool]]]:
        if not isinstance(raw, list):
            raise _ApiError(400, "filterGroups must be a list", "VALIDATION_ERROR")
        if len(raw) > MAX_FILTER_GROUPS:
            raise _ApiError(
                400,
                f"Too many filter groups: {len(raw)}. The maximum is {MAX_FILTER_GROUPS}.",
                "VALIDATION_ERROR",
            )
        total = 0
        groups: list[list[Callable[[_Company], bool]]] = []
        for group in raw:
            filters = group.get("filters") if isinstance(group, dict) else None
            if not isinstance(filters, list):
                raise _ApiError(400, "each filter group needs filters", "VALIDATION_ERROR")
            if len(filters) > MAX_FILTERS_PER_GROUP:
                raise _ApiError(
                    400,
                    f"Too many filters in a group: {len(filters)}. "
                    f"The maximum is {MAX_FILTERS_PER_GROUP}.",
                    "VALIDATION_ERROR",
                )
            total += len(filters)
            groups.append([self._compile_filter(f) for f in filters])
        if total > MAX_FILTERS_TOTAL:
            raise _ApiError(
                400,
                f"Too many filters: {total}. The maximum is {MAX_FILTERS_TOTAL}.",
                "VALIDATION_ERROR",
            )
        return groups

    def _compile_filter(self, raw: Any) -> Callable[[_Company], bool]:
        if not isinstance(raw, dict):
            raise _ApiError(400, "a filter must be an object", "VALIDATION_ERROR")
        name = str(raw.get("propertyName") or "")
        operator = str(raw.get("operator") or "")
        if operator not in OPERATORS:
            raise _ApiError(
                400, f"Invalid operator {operator!r} for property {name}", "VALIDATION_ERROR"
            )
        definition = self._properties.get(name)
        if definition is None:
            raise _ApiError(
                400, f"Invalid property name {name!r}: it does not exist", "VALIDATION_ERROR"
            )
        if operator == "HAS_PROPERTY":
            return lambda c: c.properties.get(name) not in (None, "")
        if operator == "NOT_HAS_PROPERTY":
            return lambda c: c.properties.get(name) in (None, "")
        if operator in {"IN", "NOT_IN"}:
            values = raw.get("values")
            if not isinstance(values, list):
                raise _ApiError(400, f"{operator} needs values", "VALIDATION_ERROR")
            keys = {_compare_key(definition, str(v)) for v in values}
            if operator == "IN":
                return lambda c: _stored_key(definition, c.properties.get(name)) in keys
            return lambda c: _stored_key(definition, c.properties.get(name)) not in keys
        if "value" not in raw or raw.get("value") is None:
            raise _ApiError(400, f"{operator} needs a value", "VALIDATION_ERROR")
        if operator in {"CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}:
            pattern = str(raw["value"]).lower()
            expected = operator == "CONTAINS_TOKEN"
            return lambda c: _contains_token(c.properties.get(name), pattern) is expected
        low = _compare_key(definition, str(raw["value"]))
        if operator == "BETWEEN":
            if raw.get("highValue") is None:
                raise _ApiError(400, "BETWEEN needs highValue", "VALIDATION_ERROR")
            high = _compare_key(definition, str(raw["highValue"]))
            return lambda c: _between(_stored_key(definition, c.properties.get(name)), low, high)
        return _comparison(operator, name, definition, low)

    def _parse_sorts(self, raw: Any) -> tuple[str, bool] | None:
        if not isinstance(raw, list):
            raise _ApiError(400, "sorts must be a list", "VALIDATION_ERROR")
        if not raw:
            return None
        if len(raw) > 1:
            raise _ApiError(400, "Only one sort is supported per search", "VALIDATION_ERROR")
        item = raw[0]
        if isinstance(item, str):
            text = item.strip()
            if text.startswith("{"):
                try:
                    item = json.loads(text)
                except ValueError as error:
                    raise _ApiError(400, f"Invalid sort {text!r}", "VALIDATION_ERROR") from error
            else:
                item = {
                    "propertyName": text.lstrip("-"),
                    "direction": "DESCENDING" if text.startswith("-") else "ASCENDING",
                }
        if not isinstance(item, dict):
            raise _ApiError(400, f"Invalid sort {item!r}", "VALIDATION_ERROR")
        name = str(item.get("propertyName") or "")
        direction = str(item.get("direction") or "ASCENDING").upper()
        if name not in self._properties:
            raise _ApiError(400, f"Invalid sort property {name!r}", "VALIDATION_ERROR")
        if direction not in {"ASCENDING", "DESCENDING"}:
            raise _ApiError(400, f"Invalid sort direction {direction!r}", "VALIDATION_ERROR")
        return name, direction == "DESCENDING"

    # ------------------------------------------------------------ properties

    def _list_properties(self, request: _Request, _match: re.Match[str]) -> _Reply:
        with self._lock:
            archived = _as_bool(request.param("archived") or "false")
            names = set(request.multi("properties"))
            results = [
                p
                for p in self._properties.values()
                if bool(p.get("archived")) == archived and (not names or p["name"] in names)
            ]
            return _Reply(200, {"results": json.loads(json.dumps(results))})

    def _get_property(self, _request: _Request, match: re.Match[str]) -> _Reply:
        name = unquote(match["name"])
        with self._lock:
            definition = self._properties.get(name)
            if definition is None:
                raise _ApiError(
                    404, f"Unable to find property {name} for object type 0-2", "OBJECT_NOT_FOUND"
                )
            return _Reply(200, json.loads(json.dumps(definition)))

    def _create_property(self, request: _Request, _match: re.Match[str]) -> _Reply:
        body = _require_object(request.body)
        missing = [
            k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)
        ]
        if missing:
            raise _ApiError(
                400, f"Missing required fields: {', '.join(missing)}", "VALIDATION_ERROR"
            )
        _check_property_types(body)
        with self._lock:
            name = str(body["name"])
            if name in self._properties:
                raise _ApiError(
                    409,
                    f"A property named '{name}' already exists.",
                    "CONFLICT",
                    context={"name": [name]},
                )
            if body["groupName"] not in self._groups:
                raise _ApiError(
                    400, f"Property group {body['groupName']} does not exist", "VALIDATION_ERROR"
                )
            stamp = now_iso()
            definition = _complete_property(
                {**body, "hubspotDefined": False, "createdAt": stamp, "updatedAt": stamp}
            )
            self._properties[name] = definition
            return _Reply(201, json.loads(json.dumps(definition)))

    def _patch_property(self, request: _Request, match: re.Match[str]) -> _Reply:
        body = _require_object(request.body)
        name = unquote(match["name"])
        _check_property_types(body)
        with self._lock:
            definition = self._properties.get(name)
            if definition is None:
                raise _ApiError(
                    404, f"Unable to find property {name} for object type 0-2", "OBJECT_NOT_FOUND"
                )
            if "groupName" in body and body["groupName"] not in self._groups:
                raise _ApiError(
                    400, f"Property group {body['groupName']} does not exist", "VALIDATION_ERROR"
                )
            editable = {
                "label", "description", "groupName", "options", "displayOrder", "hidden",
                "formField", "type", "fieldType", "calculationFormula",
            }  # fmt: skip
            merged = {**definition, **{k: v for k, v in body.items() if k in editable}}
            merged["updatedAt"] = now_iso()
            self._properties[name] = _complete_property(merged)
            return _Reply(200, json.loads(json.dumps(self._properties[name])))

    def _list_groups(self, _request: _Request, _match: re.Match[str]) -> _Reply:
        with self._lock:
            return _Reply(200, {"results": [dict(g) for g in self._groups.values()]})

    def _get_group(self, _request: _Request, match: re.Match[str]) -> _Reply:
        name = unquote(match["name"])
        with self._lock:
            group = self._groups.get(name)
            if group is None:
                raise _ApiError(404, f"Unable to find property group {name}", "OBJECT_NOT_FOUND")
            return _Reply(200, dict(group))

    def _create_group(self, request: _Request, _match: re.Match[str]) -> _Reply:
        body = _require_object(request.body)
        if not body.get("name") or not body.get("label"):
            raise _ApiError(400, "Missing required fields: name, label", "VALIDATION_ERROR")
        name = str(body["name"])
        with self._lock:
            if name in self._groups:
                raise _ApiError(409, f"A property group named '{name}' already exists.", "CONFLICT")
            group = {
                "name": name,
                "label": str(body["label"]),
                "displayOrder": int(body.get("displayOrder", -1)),
                "archived": False,
            }
            self._groups[name] = group
            return _Reply(201, dict(group))

    # ---------------------------------------------------------------- owners

    def _list_owners(self, request: _Request, _match: re.Match[str]) -> _Reply:
        limit = _int_param(request.param("limit"), "limit", default=100)
        if not 1 <= limit <= 500:
            raise _ApiError(400, "limit must be between 1 and 500", "VALIDATION_ERROR")
        offset = _int_param(request.param("after"), "after", default=0)
        archived = _as_bool(request.param("archived") or "false")
        email = (request.param("email") or "").lower()
        owners = [
            o
            for o in self._owners
            if bool(o["archived"]) == archived
            and (not email or o.get("email", "").lower() == email)
        ]
        body: JsonObject = {"results": owners[offset : offset + limit]}
        if offset + limit < len(owners):
            after = str(offset + limit)
            body["paging"] = {"next": {"after": after, "link": _link(request, after)}}
        return _Reply(200, body)

    def _get_owner(self, _request: _Request, match: re.Match[str]) -> _Reply:
        for owner in self._owners:
            if owner["id"] == match["owner_id"]:
                return _Reply(200, owner)
        raise _ApiError(404, f"Owner {match['owner_id']} not found", "OBJECT_NOT_FOUND")

    # ----------------------------------------------------------------- lists

    def _find_list(self, list_id: str) -> _List:
        entry = self._lists.get(list_id)
        if entry is None:
            raise _ApiError(
                404,
                f"List with id {list_id} does not exist",
                "OBJECT_NOT_FOUND",
                subCategory="ILS.LIST_NOT_FOUND",
            )
        return entry

    def _list_json(self, entry: _List) -> JsonObject:
        return {**entry.record, "size": len(entry.members)}

    def _create_list(self, request: _Request, _match: re.Match[str]) -> _Reply:
        body = _require_object(request.body)
        missing = [k for k in ("name", "objectTypeId", "processingType") if not body.get(k)]
        if missing:
            raise _ApiError(
                400, f"Missing required fields: {', '.join(missing)}", "VALIDATION_ERROR"
            )
        processing = str(body["processingType"])
        if processing not in {"MANUAL", "SNAPSHOT", "DYNAMIC"}:
            raise _ApiError(400, f"Invalid processingType {processing}", "VALIDATION_ERROR")
        name, object_type = str(body["name"]), str(body["objectTypeId"])
        with self._lock:
            for entry in self._lists.values():
                same_type = entry.record["objectTypeId"] == object_type
                if same_type and entry.record["name"].lower() == name.lower():
                    raise _ApiError(
                        409,
                        f"A list named '{name}' already exists.",
                        "CONFLICT",
                        subCategory="ILS.LIST_NAME_ALREADY_EXISTS",
                    )
            list_id = str(self._next_list_id)
            self._next_list_id += 1
            stamp = now_iso()
            record: JsonObject = {
                "listId": list_id,
                "listVersion": 1,
                "name": name,
                "objectTypeId": object_type,
                "processingType": processing,
                "processingStatus": "COMPLETE",
                "createdAt": stamp,
                "updatedAt": stamp,
                "filtersUpdatedAt": stamp,
                "createdById": "2000001",
                "updatedById": "2000001",
            }
            if body.get("listFolderId") is not None:
                record["listFolderId"] = body["listFolderId"]
            entry = _List(record)
            self._lists[list_id] = entry
            return _Reply(200, {"list": self._list_json(entry)})

    def _get_list(self, _request: _Request, match: re.Match[str]) -> _Reply:
        with self._lock:
            return _Reply(200, {"list": self._list_json(self._find_list(match["list_id"]))})

    def _get_lists_by_id(self, request: _Request, _match: re.Match[str]) -> _Reply:
        with self._lock:
            wanted = request.multi("listIds")
            lists = [self._list_json(self._lists[i]) for i in wanted if i in self._lists]
            return _Reply(200, {"lists": lists})

    def _get_list_by_name(self, _request: _Request, match: re.Match[str]) -> _Reply:
        name, object_type = unquote(match["name"]), unquote(match["object_type"])
        with self._lock:
            for entry in self._lists.values():
                same_type = entry.record["objectTypeId"] == object_type
                if same_type and entry.record["name"].lower() == name.lower():
                    return _Reply(200, {"list": self._list_json(entry)})
        raise _ApiError(
            404,
            f"List with name {name} does not exist",
            "OBJECT_NOT_FOUND",
            subCategory="ILS.LIST_NOT_FOUND",
        )

    def _delete_list(self, _request: _Request, match: re.Match[str]) -> _Reply:
        with self._lock:
            self._find_list(match["list_id"])
            del self._lists[match["list_id"]]
        return _Reply(204)

    def _search_lists(self, request: _Request, _match: re.Match[str]) -> _Reply:
        body = _require_object(request.body if request.body is not None else {})
        count = _int_param(body.get("count"), "count", default=20)
        if not 1 <= count <= 500:
            raise _ApiError(400, "count must be between 1 and 500", "VALIDATION_ERROR")
        offset = _int_param(body.get("offset"), "offset", default=0)
        query = str(body.get("query") or "").lower()
        types = set(body.get("processingTypes") or [])
        ids = {str(i) for i in body.get("listIds") or []}
        with self._lock:
            found = [
                entry
                for lid, entry in sorted(self._lists.items(), key=lambda kv: int(kv[0]))
                if (not query or query in entry.record["name"].lower())
                and (not types or entry.record["processingType"] in types)
                and (not ids or lid in ids)
            ]
            page = found[offset : offset + count]
            lists = []
            for entry in page:
                last_added = max(entry.members.values(), default=None)
                extra = {
                    "hs_list_size": str(len(entry.members)),
                    "hs_list_reference_count": "0",
                }
                if last_added is not None:
                    extra["hs_last_record_added_at"] = str(parse_datetime_ms(last_added))
                lists.append({**entry.record, "additionalProperties": extra})
        return _Reply(
            200,
            {
                "lists": lists,
                "hasMore": offset + count < len(found),
                "offset": offset + len(page),
                "total": len(found),
            },
        )

    def _change_members(
        self, list_id: str, add: Iterable[Any], remove: Iterable[Any]
    ) -> JsonObject:
        with self._lock:
            entry = self._find_list(list_id)
            if entry.record["processingType"] == "DYNAMIC":
                raise _ApiError(
                    400,
                    f"List {list_id} is a DYNAMIC list; memberships can only be changed on "
                    "MANUAL or SNAPSHOT lists",
                    "VALIDATION_ERROR",
                    subCategory="ILS.INVALID_LIST_PROCESSING_TYPE",
                )
            known: Mapping[str, Any] | None = {
                COMPANY_OBJECT_TYPE_ID: self._companies,
                CONTACT_OBJECT_TYPE_ID: self._contacts,
            }.get(str(entry.record["objectTypeId"]))
            gone = self.faults.missing_list_record_ids
            add, remove = list(add), list(remove)
            if len(add) + len(remove) > self.max_membership_ids:
                raise _ApiError(
                    400,
                    f"at most {self.max_membership_ids} record ids may be added and removed in one request",
                    "VALIDATION_ERROR",
                )
            added: list[str] = []
            removed: list[str] = []
            missing: list[str] = []
            stamp = now_iso()
            for raw in remove:
                record_id = str(raw)
                if record_id in entry.members:
                    del entry.members[record_id]
                    removed.append(record_id)
                elif known is not None and (record_id not in known or record_id in gone):
                    missing.append(record_id)
            for raw in add:
                record_id = str(raw)
                if known is not None and (record_id not in known or record_id in gone):
                    missing.append(record_id)
                elif record_id not in entry.members:
                    entry.members[record_id] = stamp
                    added.append(record_id)
            if added or removed:
                entry.record["updatedAt"] = stamp
            return {
                "recordIdsRemoved": removed,
                "recordsIdsAdded": added,
                "recordIdsMissing": missing,
            }

    def _add_members(self, request: _Request, match: re.Match[str]) -> _Reply:
        return _Reply(200, self._change_members(match["list_id"], _id_list(request.body), []))

    def _remove_members(self, request: _Request, match: re.Match[str]) -> _Reply:
        return _Reply(200, self._change_members(match["list_id"], [], _id_list(request.body)))

    def _add_and_remove_members(self, request: _Request, match: re.Match[str]) -> _Reply:
        body = _require_object(request.body)
        add = body.get("recordIdsToAdd")
        remove = body.get("recordIdsToRemove")
        if not isinstance(add, list) or not isinstance(remove, list):
            raise _ApiError(
                400, "recordIdsToAdd and recordIdsToRemove are required", "VALIDATION_ERROR"
            )
        return _Reply(200, self._change_members(match["list_id"], add, remove))

    def _list_members(self, request: _Request, match: re.Match[str]) -> _Reply:
        limit = _int_param(request.param("limit"), "limit", default=100)
        if not 1 <= limit <= 250:
            raise _ApiError(400, "limit must be between 1 and 250", "VALIDATION_ERROR")
        offset = _int_param(request.param("after"), "after", default=0)
        with self._lock:
            entry = self._find_list(match["list_id"])
            ordered = sorted(entry.members.items(), key=lambda kv: _id_sort_key(kv[0]))
        page = ordered[offset : offset + limit]
        body: JsonObject = {
            "results": [{"recordId": rid, "membershipTimestamp": ts} for rid, ts in page],
            "total": len(ordered),
        }
        if offset + limit < len(ordered):
            body["paging"] = {"next": {"after": str(offset + limit)}}
        return _Reply(200, body)

    # -------------------------------------------------------------- contacts

    def _serve_contact(self, contact: _Company, names: list[str]) -> JsonObject:
        wanted = names or list(DEFAULT_CONTACT_PROPERTIES)
        return {
            "id": contact.id,
            "properties": {name: contact.properties.get(name) for name in wanted},
            "createdAt": contact.created_at,
            "updatedAt": contact.updated_at,
            "archived": False,
        }

    def _list_contacts(self, request: _Request, _match: re.Match[str]) -> _Reply:
        limit = _int_param(request.param("limit"), "limit", default=10)
        if not 1 <= limit <= MAX_LIST_PAGE:
            raise _ApiError(
                400, f"limit must be between 1 and {MAX_LIST_PAGE}, got {limit}", "VALIDATION_ERROR"
            )
        after = request.param("after")
        names = list(dict.fromkeys(request.multi("properties")))
        with self._lock:
            if _as_bool(request.param("archived") or "false"):
                return _Reply(200, {"results": []})
            ordered = sorted(self._contacts.values(), key=lambda c: _id_sort_key(c.id))
            if after:
                start_key = _id_sort_key(after)
                ordered = [c for c in ordered if _id_sort_key(c.id) >= start_key]
            body: JsonObject = {"results": [self._serve_contact(c, names) for c in ordered[:limit]]}
            if len(ordered) > limit:
                next_after = ordered[limit].id
                body["paging"] = {"next": {"after": next_after, "link": _link(request, next_after)}}
        return _Reply(200, body)

    def _get_contact(self, request: _Request, match: re.Match[str]) -> _Reply:
        with self._lock:
            contact = self._contacts.get(match["record_id"])
            if contact is None:
                raise _ApiError(404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND")
            return _Reply(200, self._serve_contact(contact, list(dict.fromkeys(request.multi("properties")))))

    def _read_company_contacts(self, request: _Request, _match: re.Match[str]) -> _Reply:
        body = _require_object(request.body)
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not all(isinstance(i, dict) and i.get("id") for i in inputs):
            raise _ApiError(400, "Invalid input JSON: inputs must be a list of {id, after}", "VALIDATION_ERROR")
        if len(inputs) > MAX_ASSOCIATION_INPUTS:
            raise _ApiError(
                400, f"at most {MAX_ASSOCIATION_INPUTS} inputs may be read in one request", "VALIDATION_ERROR"
            )
        started = now_iso()
        results: list[JsonObject] = []
        errors: list[JsonObject] = []
        size = max(self.association_page, 1)
        with self._lock:
            for item in inputs:
                company_id = str(item["id"])
                linked = [c for c in self._company_contacts.get(company_id, []) if c in self._contacts]
                offset = _int_param(item.get("after"), "after", default=0)
                page = linked[offset : offset + size]
                if company_id not in self._companies or not page:
                    errors.append({
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                        "message": f"No contacts are associated with company {company_id}.",
                        "context": {"fromObjectId": [company_id], "toObjectType": ["contacts"]},
                        "errors": [],
                        "links": {},
                    })
                    continue
                result: JsonObject = {
                    "from": {"id": company_id},
                    "to": [self._association(company_id, contact_id) for contact_id in page],
                }
                if offset + size < len(linked):
                    result["paging"] = {"next": {"after": str(offset + size), "link": None}}
                results.append(result)
        answer: JsonObject = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": now_iso(),
        }
        if errors:
            answer.update({"numErrors": len(errors), "errors": errors})
            return _Reply(207, answer)
        return _Reply(200, answer)

    def _association(self, company_id: str, contact_id: str) -> JsonObject:
        types = [{"category": "HUBSPOT_DEFINED", "typeId": COMPANY_TO_CONTACT_TYPE, "label": None}]
        if self._contacts[contact_id].properties.get("associatedcompanyid") == company_id:
            types.insert(0, {"category": "HUBSPOT_DEFINED", "typeId": COMPANY_TO_CONTACT_PRIMARY_TYPE,
                             "label": "Primary"})
        to_id: int | str = int(contact_id) if contact_id.isdigit() else contact_id
        return {"toObjectId": to_id, "associationTypes": types}


# ---------------------------------------------------------------- value rules

_UNPARSABLE = object()
_SERVER_MESSAGES = {
    500: "internal error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _trim(window: deque[float], older_than: float) -> None:
    while window and window[0] <= older_than:
        window.popleft()


def _require_object(body: Any) -> JsonObject:
    if not isinstance(body, dict):
        raise _ApiError(400, "Invalid input JSON: expected an object", "VALIDATION_ERROR")
    return body


def _id_list(body: Any) -> list[Any]:
    if not isinstance(body, list):
        raise _ApiError(
            400, "Invalid input JSON: expected a list of record ids", "VALIDATION_ERROR"
        )
    return body


def _int_param(value: Any, name: str, *, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(str(value))
    except ValueError as error:
        raise _ApiError(
            400, f"{name} must be an integer, got {value!r}", "VALIDATION_ERROR"
        ) from error


def _link(request: _Request, after: str) -> str:
    query = {k: v for k, v in request.query.items() if k != "after"}
    pairs = [(k, item) for k, values in query.items() for item in values] + [("after", after)]
    return f"{request.base_url}{request.path}?{urlencode(pairs)}"


def _number_text(value: Decimal) -> str:
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def _normalise(definition: Mapping[str, Any], value: Any) -> tuple[str | None, _Invalid | None]:
    """Turn a written value into HubSpot's stored string, or explain why it is invalid."""
    name = str(definition["name"])
    if value is None or value == "":
        return None, None
    kind = definition.get("type")
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float):
        text = _number_text(Decimal(str(value)))
    else:
        text = str(value)
    if kind == "number":
        try:
            number = Decimal(text.strip())
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite():
            return None, _Invalid(
                name, "INVALID_FLOAT", f"Enter a number. {text} is not a valid number."
            )
        return _number_text(number), None
    if kind == "bool":
        if text.strip().lower() not in {"true", "false"}:
            return None, _Invalid(name, "INVALID_BOOLEAN", f"{text} is not a valid boolean")
        return text.strip().lower(), None
    if kind in {"datetime", "date"}:
        millis = parse_datetime_ms(text)
        if millis is None:
            return None, _Invalid(name, "INVALID_DATE", f"{text} is not a valid date")
        moment = datetime.fromtimestamp(millis / 1000, tz=UTC)
        return (format_iso(moment) if kind == "datetime" else moment.date().isoformat()), None
    if kind == "enumeration":
        allowed = [str(o["value"]) for o in definition.get("options") or []]
        chosen = text.split(";") if definition.get("fieldType") == "checkbox" else [text]
        for item in chosen:
            if item not in allowed:
                return None, _Invalid(
                    name,
                    "INVALID_OPTION",
                    f"{item} was not one of the allowed options: {_option_list(definition)}",
                )
        return text, None
    return text, None


def _option_list(definition: Mapping[str, Any] | None) -> str:
    options = (definition or {}).get("options") or []
    return "[" + ", ".join(str(o["value"]) for o in options) + "]"


def _invalid_message(invalid: list[_Invalid]) -> str:
    details = [
        {
            "isValid": False,
            "message": item.message,
            "error": item.error,
            "name": item.name,
            "localizedErrorMessage": item.message,
        }
        for item in invalid
    ]
    return "Property values were not valid: " + json.dumps(details, separators=(",", ":"))


def _validation_error(record_id: str, trace: Any, invalid: list[_Invalid]) -> JsonObject:
    context: dict[str, list[str]] = {"ids": [record_id]}
    if trace is not None:
        context["objectWriteTraceId"] = [str(trace)]
    return {
        "status": "error",
        "category": "VALIDATION_ERROR",
        "message": _invalid_message(invalid),
        "context": context,
        "errors": [
            {
                "message": item.message,
                "code": item.error,
                "in": item.name,
                "context": {"propertyName": [item.name]},
            }
            for item in invalid
        ],
        "links": {},
    }


def _compare_key(definition: Mapping[str, Any], text: str) -> Any:
    kind = definition.get("type")
    if kind in {"datetime", "date"}:
        millis = parse_datetime_ms(text)
        if millis is None:
            raise _ApiError(
                400, f"{text} is not a valid date for {definition['name']}", "VALIDATION_ERROR"
            )
        return millis
    if kind == "number":
        if not _is_number(text):
            raise _ApiError(
                400, f"{text} is not a valid number for {definition['name']}", "VALIDATION_ERROR"
            )
        return Decimal(text.strip())
    return text.strip().lower()


def _stored_key(definition: Mapping[str, Any], value: str | None) -> Any:
    if value in (None, ""):
        return None
    try:
        return _compare_key(definition, str(value))
    except _ApiError:
        return None


def _sort_key(definition: Mapping[str, Any], value: str | None) -> Any:
    key = _stored_key(definition, value)
    return key if key is not None else ""


def _between(key: Any, low: Any, high: Any) -> bool:
    return key is not None and low <= key <= high


def _comparison(
    operator: str, name: str, definition: Mapping[str, Any], target: Any
) -> Callable[[_Company], bool]:
    def test(company: _Company) -> bool:
        key = _stored_key(definition, company.properties.get(name))
        if operator == "EQ":
            return key is not None and key == target
        if operator == "NEQ":
            return key is None or key != target
        if key is None:
            return False
        if operator == "LT":
            return bool(key < target)
        if operator == "LTE":
            return bool(key <= target)
        if operator == "GT":
            return bool(key > target)
        return bool(key >= target)

    return test


def _contains_token(value: str | None, pattern: str) -> bool:
    if value in (None, ""):
        return False
    tokens = re.split(r"[^0-9a-z]+", str(value).lower())
    return any(fnmatch.fnmatchcase(token, pattern) for token in tokens if token)


def _matches_query(company: _Company, query: str) -> bool:
    return any(
        query in str(company.properties.get(name) or "").lower()
        for name in SEARCHABLE_TEXT_PROPERTIES
    )


def _check_property_types(body: Mapping[str, Any]) -> None:
    kinds = {"string", "number", "date", "datetime", "enumeration", "bool"}
    fields = {
        "textarea", "text", "date", "file", "number", "select", "radio", "checkbox",
        "booleancheckbox", "calculation_equation", "html", "phonenumber",
    }  # fmt: skip
    if "type" in body and body["type"] not in kinds:
        raise _ApiError(400, f"Invalid property type {body['type']!r}", "VALIDATION_ERROR")
    if "fieldType" in body and body["fieldType"] not in fields:
        raise _ApiError(400, f"Invalid fieldType {body['fieldType']!r}", "VALIDATION_ERROR")
    for option in body.get("options") or []:
        if not isinstance(option, dict) or "label" not in option or "value" not in option:
            raise _ApiError(400, "Each option needs a label and a value", "VALIDATION_ERROR")


# ---------------------------------------------------------------- default data


def _complete_property(definition: Mapping[str, Any]) -> JsonObject:
    """Fill a property definition to the ``Property`` schema's full shape."""
    stamp = "2019-08-06T02:41:52.000Z"
    read_only = bool(definition.get("_readOnly")) or definition.get("name") in SYSTEM_PROPERTIES
    metadata = definition.get("modificationMetadata") or {
        "archivable": not read_only and not definition.get("hubspotDefined", False),
        "readOnlyDefinition": bool(definition.get("hubspotDefined", False)),
        "readOnlyValue": read_only,
    }
    options = [
        {
            "label": str(o["label"]),
            "value": str(o["value"]),
            "displayOrder": int(o.get("displayOrder", index)),
            "hidden": bool(o.get("hidden", False)),
            **({"description": o["description"]} if o.get("description") else {}),
        }
        for index, o in enumerate(definition.get("options") or [])
    ]
    complete: JsonObject = {
        "name": str(definition["name"]),
        "label": str(definition.get("label") or _label_for(str(definition["name"]))),
        "type": str(definition.get("type") or "string"),
        "fieldType": str(definition.get("fieldType") or "text"),
        "description": str(definition.get("description") or ""),
        "groupName": str(definition.get("groupName") or "companyinformation"),
        "options": options,
        "displayOrder": int(definition.get("displayOrder", -1)),
        "calculated": bool(definition.get("calculated", False)),
        "externalOptions": bool(definition.get("externalOptions", False)),
        "hasUniqueValue": bool(definition.get("hasUniqueValue", False)),
        "hidden": bool(definition.get("hidden", False)),
        "hubspotDefined": bool(definition.get("hubspotDefined", False)),
        "showCurrencySymbol": bool(definition.get("showCurrencySymbol", False)),
        "modificationMetadata": dict(metadata),
        "formField": bool(definition.get("formField", False)),
        "createdAt": str(definition.get("createdAt") or stamp),
        "updatedAt": str(definition.get("updatedAt") or stamp),
        "archived": bool(definition.get("archived", False)),
    }
    if definition.get("calculationFormula"):
        complete["calculationFormula"] = str(definition["calculationFormula"])
    return complete


def default_company_properties(owners: list[JsonObject] | None = None) -> list[JsonObject]:
    """Return the default company property definitions.

    Args:
        owners: Owners whose ids become the ``hubspot_owner_id`` options.

    Returns:
        Property definitions (partial ``Property`` JSON; the emulator completes them).
    """

    def prop(name: str, label: str, kind: str, field_type: str, **extra: Any) -> JsonObject:
        return {
            "name": name,
            "label": label,
            "type": kind,
            "fieldType": field_type,
            "groupName": "companyinformation",
            "hubspotDefined": True,
            **extra,
        }

    owner_options = [
        {
            "label": f"{o.get('firstName', '')} {o.get('lastName', '')}".strip() or o["id"],
            "value": o["id"],
            "displayOrder": index,
            "hidden": False,
        }
        for index, o in enumerate(owners or [])
        if not o.get("archived")
    ]
    return [
        prop("name", "Name", "string", "text"),
        prop("domain", "Company Domain Name", "string", "text"),
        prop("website", "Website URL", "string", "text"),
        prop("industry", "Industry", "enumeration", "select", options=_options(INDUSTRY_VALUES)),
        prop("numberofemployees", "Number of Employees", "number", "number"),
        prop("annualrevenue", "Annual Revenue", "number", "number", showCurrencySymbol=True),
        prop("country", "Country/Region", "string", "text"),
        prop("state", "State/Region", "string", "text"),
        prop("city", "City", "string", "text"),
        prop("zip", "Postal Code", "string", "text"),
        prop("address", "Street Address", "string", "text"),
        prop("phone", "Phone Number", "string", "phonenumber"),
        prop("description", "Description", "string", "textarea"),
        prop("type", "Type", "enumeration", "select", options=_options(COMPANY_TYPE_VALUES)),
        prop(
            "lifecyclestage",
            "Lifecycle Stage",
            "enumeration",
            "radio",
            options=_options(LIFECYCLE_STAGE_VALUES),
        ),
        prop("hubspot_owner_id", "Company owner", "enumeration", "select", options=owner_options),
        prop(
            "is_public",
            "Is Public",
            "bool",
            "booleancheckbox",
            options=[
                {"label": "True", "value": "true", "displayOrder": 0, "hidden": False},
                {"label": "False", "value": "false", "displayOrder": 1, "hidden": False},
            ],
        ),
        prop("createdate", "Create Date", "datetime", "date"),
        prop("hs_lastmodifieddate", "Last Modified Date", "datetime", "date"),
        prop("hs_object_id", "Record ID", "number", "number"),
    ]


def _default_groups() -> list[JsonObject]:
    return [
        {"name": "companyinformation", "label": "Company information", "displayOrder": 0,
         "archived": False},
        {"name": "analyticsinformation", "label": "Web analytics history", "displayOrder": 3,
         "archived": False},
        {"name": "target_account_information", "label": "Target account information",
         "displayOrder": 5, "archived": False},
    ]  # fmt: skip


def _default_owners() -> list[JsonObject]:
    people = [
        ("1000001", "Avery", "Stone", False),
        ("1000002", "Blake", "Moreno", False),
        ("1000003", "Casey", "Nakamura", False),
        ("1000004", "Devon", "Okafor", True),
    ]
    return [
        {
            "id": oid,
            "firstName": first,
            "lastName": last,
            "email": f"{first.lower()}.{last.lower()}@example.com",
            "archived": archived,
        }
        for oid, first, last, archived in people
    ]


def _complete_owner(owner: Mapping[str, Any], index: int) -> JsonObject:
    stamp = "2021-03-01T09:00:00.000Z"
    user_id = int(owner.get("userId", 2000001 + index))
    return {
        "id": str(owner["id"]),
        "email": str(owner.get("email", f"owner{index}@example.com")),
        "firstName": str(owner.get("firstName", "")),
        "lastName": str(owner.get("lastName", "")),
        "type": str(owner.get("type", "PERSON")),
        "userId": user_id,
        "userIdIncludingInactive": int(owner.get("userIdIncludingInactive", user_id)),
        "createdAt": str(owner.get("createdAt", stamp)),
        "updatedAt": str(owner.get("updatedAt", stamp)),
        "archived": bool(owner.get("archived", False)),
        "teams": list(owner.get("teams", [])),
    }


# --------------------------------------------------------------------- server


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "HubSpotEmulator/1.0"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        emulator: HubSpotEmulator = self.server.emulator  # type: ignore[attr-defined]
        reply = emulator.handle(
            self.command, self.path, dict(self.headers.items()), raw, emulator.url
        )
        payload = b"" if reply.body is None else json.dumps(reply.body).encode("utf-8")
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.status != 204:
            self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    def do_GET(self) -> None:
        """Answer a GET."""
        self._answer()

    def do_POST(self) -> None:
        """Answer a POST."""
        self._answer()

    def do_PUT(self) -> None:
        """Answer a PUT."""
        self._answer()

    def do_PATCH(self) -> None:
        """Answer a PATCH."""
        self._answer()

    def do_DELETE(self) -> None:
        """Answer a DELETE."""
        self._answer()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet; the request log is the record."""


def main(argv: list[str] | None = None) -> int:
    """Run the emulator until SIGINT or SIGTERM.

    Args:
        argv: Command-line arguments (default: ``sys.argv[1:]``).

    Returns:
        The process exit code.
    """
    parser = argparse.ArgumentParser(
        prog="python -m revrules.testing.hubspot", description="HubSpot CRM v3 emulator"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--accounts", type=Path, help="CSV of companies to load")
    parser.add_argument("--access-token", default=DEFAULT_ACCESS_TOKEN)
    parser.add_argument("--burst-limit", type=int, default=190, help="per 10 s; 0 disables")
    parser.add_argument("--search-limit", type=int, default=5, help="per second; 0 disables")
    parser.add_argument("--search-lag-seconds", type=float, default=0.0)
    parser.add_argument("--search-cap", type=int, default=DEFAULT_SEARCH_CAP)
    args = parser.parse_args(argv)
    companies = load_companies_csv(args.accounts) if args.accounts else []
    emulator = HubSpotEmulator(
        companies,
        access_token=args.access_token or None,
        burst_limit=args.burst_limit or None,
        search_limit=args.search_limit or None,
        search_lag_seconds=args.search_lag_seconds,
        search_cap=args.search_cap,
        host=args.host,
        port=args.port,
    )
    stop = threading.Event()

    def request_stop(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    with emulator:
        print(f"HubSpot emulator listening on {emulator.url}", flush=True)
        print(f"{len(companies)} companies loaded", file=sys.stderr, flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
