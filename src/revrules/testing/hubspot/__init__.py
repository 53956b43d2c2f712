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
* Contacts' and deals' owners (``contacts``/``0-1``, ``deals``/``0-3``): ``POST .../batch/read``
  and ``.../batch/update`` (at most 100 inputs; 207 with per-record errors; a
  ``hubspot_owner_id`` that is no unarchived owner fails with ``INVALID_OPTION``; a
  deal's ``hs_is_closed`` is calculated from ``dealstage`` and read-only). Seed deals
  with ``deals=`` like contacts; ``POST /crm/v4/associations/companies/deals/batch/read``
  answers like the contacts one (type id 342).
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
any of the :class:`Faults` fields, ``{"reset": true}`` first resets them;
``GET`` reads them), ``request_log`` (``GET /__emulator/log``) and
:meth:`HubSpotEmulator.reset_log` (``POST /__emulator/reset-log``), which also
restarts the call numbering that ``status_on_call`` and ``daily_limit_after``
count (every API request, 1-based).

Fault switches (``emulator.faults``, a :class:`Faults`); the first six have the same
names on the Salesforce emulator:

* ``status_on_call``: call number → status to answer instead: 429 (a
  TEN_SECONDLY_ROLLING body), 500, 502 or 503.
* ``daily_limit_after``: after this many calls, every call answers 429 with the DAILY body.
  Every answer but a search's reports it in ``X-HubSpot-RateLimit-Daily`` (500,000 when
  unset) and what is left, this call counted, in ``X-HubSpot-RateLimit-Daily-Remaining``.
* ``auth_failure``: answer every call with 401.
* ``delay_seconds``: sleep this long before answering each call.
* ``retry_after``: seconds sent in ``Retry-After`` on every 429, or None to send none.
* ``record_errors``: record ids whose writes fail with INVALID_OPTION (a set of ids, or
  id → message to use instead of "... was not one of the allowed options").
* ``field_errors``: record id → property → message of an INVALID_OPTION naming that
  property only; the record's other properties land when sent without it.
* ``search_lag_seconds``: how long a write takes to become visible to search.
* ``missing_list_record_ids``: record ids that list membership changes report in
  ``recordIdsMissing`` (as if the records had been deleted).
* ``no_daily_headers``: answer without the daily headers, as HubSpot answers an OAuth
  app's calls (no daily limit).

Request log: ``emulator.requests(method=None, path_contains=None)`` returns the logged
:class:`LoggedRequest` entries (``request_log`` all of them), ``emulator.reset_log()``
forgets them; ``emulator.count(method, path, status)`` counts them by exact path.

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

Modules: ``state`` (the data store and writes), ``objects``, ``batch``, ``search``,
``properties``, ``owners``, ``lists``, ``contacts``, ``associations``, ``faults``,
``protocol`` (request/reply types and limits), ``values``, ``defaults``, ``loading``,
``emulator`` (authentication, rate limits and routing) and ``cli``.
"""

from revrules.testing.hubspot.cli import main
from revrules.testing.hubspot.defaults import (
    COMPANY_TYPE_VALUES,
    DEFAULT_READ_PROPERTIES,
    INDUSTRY_VALUES,
    LIFECYCLE_STAGE_VALUES,
    SEARCHABLE_TEXT_PROPERTIES,
    SYSTEM_PROPERTIES,
    default_company_properties,
)
from revrules.testing.hubspot.emulator import HubSpotEmulator, _RequestHandler
from revrules.testing.hubspot.faults import Faults
from revrules.testing.hubspot.loading import column_to_property, load_companies_csv
from revrules.testing.hubspot.protocol import (
    ASSOCIATION_PAGE,
    BURST_WINDOW_SECONDS,
    COMPANY_OBJECT_TYPE_ID,
    COMPANY_TO_CONTACT_PRIMARY_TYPE,
    COMPANY_TO_CONTACT_TYPE,
    CONTACT_OBJECT_TYPE_ID,
    DEFAULT_ACCESS_TOKEN,
    DEFAULT_CONTACT_PROPERTIES,
    DEFAULT_DAILY_LIMIT,
    DEFAULT_SEARCH_CAP,
    MAX_ASSOCIATION_INPUTS,
    MAX_BATCH_INPUTS,
    MAX_FILTER_GROUPS,
    MAX_FILTERS_PER_GROUP,
    MAX_FILTERS_TOTAL,
    MAX_LIST_PAGE,
    MAX_MEMBERSHIP_IDS,
    MAX_SEARCH_PAGE,
    JsonObject,
)
from revrules.testing.hubspot.search import OPERATORS
from revrules.testing.hubspot.state import LoggedRequest
from revrules.testing.hubspot.values import format_iso, now_iso, parse_datetime_ms

__all__ = [
    "ASSOCIATION_PAGE",
    "BURST_WINDOW_SECONDS",
    "COMPANY_OBJECT_TYPE_ID",
    "COMPANY_TO_CONTACT_PRIMARY_TYPE",
    "COMPANY_TO_CONTACT_TYPE",
    "COMPANY_TYPE_VALUES",
    "CONTACT_OBJECT_TYPE_ID",
    "DEFAULT_ACCESS_TOKEN",
    "DEFAULT_CONTACT_PROPERTIES",
    "DEFAULT_DAILY_LIMIT",
    "DEFAULT_READ_PROPERTIES",
    "DEFAULT_SEARCH_CAP",
    "INDUSTRY_VALUES",
    "LIFECYCLE_STAGE_VALUES",
    "MAX_ASSOCIATION_INPUTS",
    "MAX_BATCH_INPUTS",
    "MAX_FILTERS_PER_GROUP",
    "MAX_FILTERS_TOTAL",
    "MAX_FILTER_GROUPS",
    "MAX_LIST_PAGE",
    "MAX_MEMBERSHIP_IDS",
    "MAX_SEARCH_PAGE",
    "OPERATORS",
    "SEARCHABLE_TEXT_PROPERTIES",
    "SYSTEM_PROPERTIES",
    "Faults",
    "HubSpotEmulator",
    "JsonObject",
    "LoggedRequest",
    "_RequestHandler",
    "column_to_property",
    "default_company_properties",
    "format_iso",
    "load_companies_csv",
    "main",
    "now_iso",
    "parse_datetime_ms",
]
