"""The HubSpot connector: CRM records read, searched and batch-written with hubspot-api-client."""

from __future__ import annotations

import email.utils
import itertools
import json
import logging
import math
import random
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import hubspot.crm.associations.v4.exceptions as association_errors
import hubspot.crm.lists.exceptions as list_errors
import hubspot.crm.objects.exceptions as object_errors
import hubspot.crm.owners.exceptions as owner_errors
import hubspot.crm.properties.exceptions as property_errors
import polars as pl
import urllib3
from hubspot import HubSpot
from hubspot.crm import lists as sdk_lists
from hubspot.crm import objects as sdk_objects
from hubspot.crm import properties as sdk_properties
from hubspot.crm.objects import (
    BatchInputSimplePublicObjectBatchInput,
    BatchResponseSimplePublicObjectWithErrors,
    SimplePublicObjectBatchInput,
)

from revrules.connectors.base import ID, CrmValue, ListWrite, PropertySpec, RecordUpdate, WriteResult
from revrules.errors import CrmError, InvalidInputError, RetriableCrmError, did_you_mean

if TYPE_CHECKING:
    from revrules.config import HubspotCrm

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.hubapi.com"
PAGE_SIZE = 100
"""Records per list page and per batch read (HubSpot's maximum)."""
SEARCH_PAGE_SIZE = 200
"""Records per search page (HubSpot's maximum)."""
BATCH_SIZE = 100
"""Inputs per batch update (HubSpot's maximum)."""
SEARCH_CAP = 10_000
"""How deep one search query may page."""
BURST_WINDOW_SECONDS = 10.0
SEARCH_WINDOW_SECONDS = 1.0
MAX_RETRY_WAIT_SECONDS = 60.0
"""The longest single wait before a retry; a longer `Retry-After` ends the run instead."""
MEMBERSHIP_PAGE = 250
"""List memberships read per call (the memberships endpoint's maximum)."""
MEMBERSHIP_CHUNK = 100_000
"""Record ids (added plus removed) one add-and-remove call carries."""
ASSOCIATION_BATCH = 1000
"""Companies per associations v4 batch read (HubSpot's maximum)."""
CONTACT_LIST_SUFFIX = " (contacts)"
"""Appended to a list's name to name its contact list (`include_contacts`)."""
OBJECT_TYPE_IDS = {"companies": "0-2", "company": "0-2", "contacts": "0-1", "contact": "0-1", "deals": "0-3"}
GROUP_NAME = "revrules"
MODIFIED = "hs_lastmodifieddate"

# The limiter's window is a little longer than HubSpot's, because HubSpot counts a
# request when it arrives and the limiter when it leaves; a slow earlier request
# would otherwise still be inside HubSpot's window when the limiter thinks it left.
_WINDOW_MARGIN_SECONDS = 0.25
_PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_LISTED_OPTIONS = 12
_CREATE_HINT = "; create output properties with `revrules check --online --create-properties`"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIELD_TYPES = {"enumeration": "select", "string": "text", "number": "number"}


class DailyLimitError(CrmError):
    """HubSpot's daily API limit is spent: nothing more can be sent until it resets."""


@dataclass(frozen=True)
class _Answer:
    """A successful response: its decoded body and headers."""

    body: Any
    headers: Mapping[str, str]


class RateLimiter:
    """At most `limit` requests in any rolling `window` seconds, waiting when needed.

    HubSpot's own counters (the `X-HubSpot-RateLimit-*` headers) include other
    clients of the same app; `observe` folds them in so this process slows down
    when others use the shared budget.
    """

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Set the budget.

        Args:
            limit: Requests allowed per window.
            window: The window, in seconds.
            clock: A monotonic clock (seconds).
            sleep: How to wait.
        """
        self.limit = limit
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Wait until one more request fits in the window, then count it."""
        while True:
            with self._lock:
                now = self._clock()
                self._trim(now)
                if len(self._sent) < self.limit:
                    self._sent.append(now)
                    return
                wait = self._sent[0] + self.window + _WINDOW_MARGIN_SECONDS - now
            self._sleep(max(wait, 0.001))

    def observe(self, limit: int | None, remaining: int | None) -> None:
        """Adopt HubSpot's count when it says more of the window is used than we sent.

        Args:
            limit: `X-HubSpot-RateLimit-Max`, the portal's limit per window.
            remaining: `X-HubSpot-RateLimit-Remaining`, what is left in the window.
        """
        with self._lock:
            if limit is not None and 0 < limit < self.limit:
                self.limit = limit
            if remaining is None:
                return
            now = self._clock()
            self._trim(now)
            used = max(self.limit - remaining, 0)
            # Other clients' requests are counted as if sent now: later than they
            # were, so the window frees up no sooner than HubSpot's does.
            self._sent.extend([now] * max(used - len(self._sent), 0))

    def _trim(self, now: float) -> None:
        horizon = now - self.window - _WINDOW_MARGIN_SECONDS
        while self._sent and self._sent[0] <= horizon:
            self._sent.popleft()


class HubspotConnector:
    """Reads and writes HubSpot CRM records (companies by default) as revrules records.

    Every request goes through one client-side rate limiter (the burst limit, and
    the search limit for searches) and one retry loop: 429 and 5xx answers and
    connection failures are retried with backoff and jitter, honouring
    `Retry-After`, up to `max_retries` times. HubSpot's DAILY limit ends the run
    with `DailyLimitError`.
    """

    kind = "hubspot"
    batch_size = BATCH_SIZE

    def __init__(
        self,
        access_token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        object_type: str = "companies",
        write_fields: Sequence[str] = (),
        burst_limit: int | None = 190,
        search_limit: int | None = 5,
        max_retries: int = 5,
        retry_backoff_seconds: float = 1.0,
        incremental_lag_seconds: float = 60.0,
        timeout_seconds: float = 60.0,
        burst_window_seconds: float = BURST_WINDOW_SECONDS,
        search_cap: int = SEARCH_CAP,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        seed: int | None = None,
        contact_lists: Iterable[str] = (),
    ) -> None:
        """Describe the portal; the SDK is imported and connected on first use.

        Args:
            access_token: A private-app access token.
            base_url: The API host (an emulator may be `http://127.0.0.1:PORT`).
            object_type: The CRM object, e.g. `companies`.
            write_fields: The properties revrules writes (outputs, provenance).
            burst_limit: Requests per `burst_window_seconds`; None or 0 turns the
                limiter off.
            search_limit: Searches per second; None or 0 turns it off.
            max_retries: Retries of one request after 429, 5xx or a lost connection.
            retry_backoff_seconds: The first backoff; it doubles per retry, plus jitter.
            incremental_lag_seconds: How far behind now incremental reads stop,
                covering HubSpot's search indexing delay.
            timeout_seconds: Per-request timeout.
            burst_window_seconds: The burst limit's window.
            search_cap: How deep one search query may page.
            clock: Monotonic clock for the limiters.
            sleep: How to wait (limiters and backoff).
            now: The wall clock for incremental reads.
            seed: Seed for the backoff jitter.
            contact_lists: Rulebook list ids with `include_contacts`: writing one
                also syncs its contact list (see `write_list_changes`).
        """
        if not access_token.strip():
            raise InvalidInputError("crm.access_token is empty (set the HubSpot private-app token)")
        self._token = access_token
        self.base_url = base_url.rstrip("/")
        self.object_type = object_type
        self.write_fields = tuple(dict.fromkeys(write_fields))
        self.max_retries = max_retries
        self.retry_backoff_seconds = retry_backoff_seconds
        self.incremental_lag = timedelta(seconds=incremental_lag_seconds)
        self.timeout_seconds = timeout_seconds
        self.search_cap = search_cap
        self._sleep = sleep
        self._now = now
        self._random = random.Random(seed)
        self._burst = RateLimiter(burst_limit, burst_window_seconds, clock=clock, sleep=sleep) if burst_limit else None
        self._searches = (
            RateLimiter(search_limit, SEARCH_WINDOW_SECONDS, clock=clock, sleep=sleep) if search_limit else None
        )
        self._apis: dict[str, Any] = {}
        self._api_errors: tuple[type[Exception], ...] = ()
        self._properties: dict[str, dict[str, Any]] | None = None
        self._list_ids: dict[tuple[str, str], str] = {}
        self.contact_lists: set[str] = set(contact_lists)
        """Rulebook list ids whose contact list `<name> (contacts)` is kept in sync too."""
        self.membership_chunk = MEMBERSHIP_CHUNK
        self._trace_prefix = uuid.uuid4().hex[:12]
        self._traces = itertools.count(1)
        self.incremental_until: datetime | None = None
        """Where the last `read_modified_since` stopped: the `since` of the next one."""

    @classmethod
    def from_config(
        cls, crm: HubspotCrm, *, write_fields: Sequence[str] = (), contact_lists: Iterable[str] = ()
    ) -> HubspotConnector:
        """The connector a config's `crm:` section describes (`contact_lists`: see `__init__`)."""
        return cls(
            crm.access_token.get_secret_value(),
            base_url=crm.base_url,
            object_type=crm.object,
            write_fields=write_fields,
            burst_limit=crm.burst_limit,
            search_limit=crm.search_limit,
            max_retries=crm.max_retries,
            retry_backoff_seconds=crm.retry_backoff_seconds,
            incremental_lag_seconds=crm.incremental_lag_seconds,
            timeout_seconds=crm.timeout_seconds,
            contact_lists=contact_lists,
        )

    def __repr__(self) -> str:
        return f"HubspotConnector({self.base_url!r}, object_type={self.object_type!r})"

    # ------------------------------------------------------------------ reading

    def columns(self) -> list[str]:
        """The names of the object's properties.

        Raises:
            CrmError: HubSpot could not be reached or refused the token.
        """
        return list(self._property_definitions())

    def read(self, fields: Sequence[str]) -> pl.DataFrame:
        """Every record: `__id` plus each asked-for property as HubSpot's raw string.

        Pages through the list endpoint, 100 records a call, asking only for
        `fields`.

        Raises:
            InvalidInputError: A field is not a property of the object.
            CrmError: HubSpot failed (`DailyLimitError` when the daily limit is spent).
        """
        names = self._known(fields)
        rows: list[tuple[str, dict[str, Any]]] = []
        after: str | None = None
        basic = self._api("basic")
        while True:
            answer = self._request(
                "read records",
                basic.get_page_with_http_info,
                self.object_type,
                limit=PAGE_SIZE,
                after=after,
                properties=names or None,
                archived=False,
            )
            rows += [(str(item["id"]), item.get("properties") or {}) for item in answer.body.get("results", [])]
            following = _next_after(answer.body)
            if following is None:
                break
            if following == after:
                raise CrmError(f"HubSpot returned the paging cursor {following!r} twice; stopping the read")
            after = following
        log.debug("read %d %s from HubSpot", len(rows), self.object_type)
        return _frame(rows, names)

    def read_records(self, ids: Sequence[str], fields: Sequence[str]) -> pl.DataFrame:
        """The current values of `fields` for `ids`, in the order asked; unknown ids are left out.

        Raises:
            InvalidInputError: A field is not a property of the object.
            CrmError: HubSpot failed.
        """
        names = self._known(fields)
        wanted = list(dict.fromkeys(str(record) for record in ids))
        found: dict[str, dict[str, Any]] = {}
        batch = self._api("batch")
        for start in range(0, len(wanted), PAGE_SIZE):
            chunk = wanted[start : start + PAGE_SIZE]
            body = {"inputs": [{"id": record} for record in chunk], "properties": names}
            answer = self._request(
                "read records by id",
                batch.read_with_http_info,
                self.object_type,
                body,
                archived=False,
            )
            for item in answer.body.get("results", []):
                found[str(item["id"])] = item.get("properties") or {}
        return _frame([(record, found[record]) for record in wanted if record in found], names)

    def read_modified_since(self, fields: Sequence[str], since: datetime) -> pl.DataFrame:
        """Records modified at or after `since`, up to `incremental_lag_seconds` before now.

        Searches by `hs_lastmodifieddate`, 200 records a page, oldest first. A
        query can page only `search_cap` records deep, so past that the search
        restarts from the last modification time seen; records seen twice are
        kept once, with their latest values. The upper bound lags behind now
        because HubSpot indexes writes for search a little after they land; pass
        `incremental_until` as the next `since` so nothing falls in between.

        Raises:
            InvalidInputError: A field is not a property of the object.
            CrmError: HubSpot failed, or more than `search_cap` records share one
                modification time.
        """
        names = self._known(fields)
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
        until = max(self._now() - self.incremental_lag, since)
        self.incremental_until = until
        upper = _epoch_ms(until)
        cursor = _epoch_ms(since)
        seen: dict[str, dict[str, Any]] = {}
        while True:
            before = len(seen)
            restart_at = self._search_pass(names, cursor, upper, seen)
            if restart_at is None:
                break
            if len(seen) == before and restart_at <= cursor:
                raise CrmError(
                    f"more than {self.search_cap:,} HubSpot records share the modification time "
                    f"{restart_at} ms; an incremental read cannot page past them (run a full read)"
                )
            cursor = restart_at
        log.debug("%d %s modified since %s", len(seen), self.object_type, since.isoformat())
        return _frame(list(seen.items()), names)

    def _search_pass(self, names: list[str], lower: int, upper: int, seen: dict[str, dict[str, Any]]) -> int | None:
        """Page through one search query; the time to restart from, or None when done."""
        search = self._api("search")
        after = 0
        total: int | None = None
        last: int | None = None
        while True:
            body = {
                "filterGroups": [
                    {
                        "filters": [
                            {"propertyName": MODIFIED, "operator": "GTE", "value": str(lower)},
                            {"propertyName": MODIFIED, "operator": "LTE", "value": str(upper)},
                        ]
                    }
                ],
                "sorts": [{"propertyName": MODIFIED, "direction": "ASCENDING"}],
                "properties": list(dict.fromkeys([*names, MODIFIED])),
                "limit": SEARCH_PAGE_SIZE,
                "after": str(after),
            }
            answer = self._request(
                "search modified records",
                search.do_search_with_http_info,
                self.object_type,
                body,
                search=True,
            )
            page_total = int(answer.body.get("total") or 0)
            if total is not None and page_total < total:
                # A record left the range (it was modified again), so every later
                # record moved up and this page starts one too far: page again
                # from the last time read before it.
                return last if last is not None else lower
            for item in answer.body.get("results", []):
                properties = item.get("properties") or {}
                seen[str(item["id"])] = properties
                stamp = _parse_ms(properties.get(MODIFIED))
                if stamp is not None:
                    last = stamp
            total = page_total
            following = _next_after(answer.body)
            if following is None:
                return None
            after = int(following)
            if after >= self.search_cap:
                return last if last is not None else lower

    # ------------------------------------------------------------------ writing

    def write(self, updates: Sequence[RecordUpdate]) -> list[WriteResult]:
        """Batch-update records, 100 a call; one result per (record, field).

        Per-record failures from a 207 answer (`INVALID_OPTION`, other validation
        errors, records not found) fail that record's fields with
        `"CODE: message"`; the rest of the batch lands.

        Raises:
            CrmError: A batch did not land (retries exhausted, token refused,
                daily limit spent); earlier batches of this call did.
        """
        merged: dict[str, dict[str, CrmValue]] = {}
        for update in updates:
            merged.setdefault(str(update.record_id), {}).update(update.values)
        results: list[WriteResult] = []
        records = list(merged.items())
        for start in range(0, len(records), BATCH_SIZE):
            results += self._write_batch(records[start : start + BATCH_SIZE])
        return results

    def _write_batch(self, records: list[tuple[str, dict[str, CrmValue]]]) -> list[WriteResult]:
        traces = {f"{self._trace_prefix}-{next(self._traces)}": record for record, _ in records}
        inputs = [
            SimplePublicObjectBatchInput(
                id=record,
                properties={field: _text(value) for field, value in values.items()},
                object_write_trace_id=trace,
            )
            for trace, (record, values) in zip(traces, records, strict=True)
        ]
        batch = self._api("batch")
        request = BatchInputSimplePublicObjectBatchInput(inputs=inputs)
        answer = self._request(
            "write records",
            batch.update_with_http_info,
            self.object_type,
            request,
            model=True,
        )
        response = answer.body
        landed = {str(item.id) for item in response.results or []}
        failures: dict[str, tuple[dict[str, str], str]] = {}
        if isinstance(response, BatchResponseSimplePublicObjectWithErrors):
            for error in response.errors or []:
                context = error.context or {}
                ids = [str(i) for i in context.get("ids") or []]
                ids += [traces[t] for t in context.get("objectWriteTraceId") or [] if t in traces]
                failures.update(dict.fromkeys(ids, _failure(error)))
        results: list[WriteResult] = []
        for record, values in records:
            for field in values:
                if record in failures:
                    by_field, overall = failures[record]
                    results.append(WriteResult(record, field, False, by_field.get(field, overall)))
                elif record in landed:
                    results.append(WriteResult(record, field, True))
                else:
                    results.append(WriteResult(record, field, False, "UNCONFIRMED: HubSpot did not report this record"))
        return results

    # ------------------------------------------------------------------ lists

    def check_lists(self, names: Mapping[str, str]) -> list[str]:
        """Problems with the CRM lists the rulebook's lists map to (list id -> display name)."""
        problems = []
        for list_id, name in names.items():
            try:
                self._find_list(list_id, name)
                if self._syncs_contacts(list_id):
                    self._find_list(list_id, name + CONTACT_LIST_SUFFIX, OBJECT_TYPE_IDS["contacts"])
            except InvalidInputError as problem:
                problems.append(str(problem))
        return problems

    def list_members(self, list_id: str, name: str) -> set[str]:
        """The record ids in the MANUAL list named `name`; empty when there is no such list yet.

        Raises:
            InvalidInputError: The list named `name` is a DYNAMIC list (its members
                cannot be written).
            CrmError: HubSpot failed.
        """
        found = self._find_list(list_id, name)
        return set() if found is None else self._members(found)

    def _members(self, found: str) -> set[str]:
        """The record ids in the HubSpot list with id `found`."""
        members: set[str] = set()
        after: str | None = None
        memberships = self._api("memberships")
        while True:
            answer = self._request(
                "read list members", memberships.get_page_with_http_info, found, limit=MEMBERSHIP_PAGE, after=after
            )
            members.update(str(item["recordId"]) for item in answer.body.get("results", []))
            following = _next_after(answer.body)
            if following is None:
                return members
            if following == after:
                raise CrmError(f"HubSpot returned the paging cursor {following!r} twice; stopping the list read")
            after = following

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
        hubspot_id = self._find_list(list_id, name) or self._create_list(list_id, name)
        pending: list[tuple[str, Literal["add", "remove"]]] = [(str(i), "add") for i in adds]
        pending += [(str(i), "remove") for i in removes]
        results = self._change_members(list_id, hubspot_id, pending, self.object_type)
        if self._syncs_contacts(list_id) and results:
            results += self._sync_contacts(list_id, name, hubspot_id, results)
        return results

    def _change_members(
        self,
        list_id: str,
        hubspot_id: str,
        pending: Sequence[tuple[str, Literal["add", "remove"]]],
        kind: str,
    ) -> list[ListWrite]:
        """Send `pending` in add-and-remove calls of at most `membership_chunk` ids."""
        memberships = self._api("memberships")
        results: list[ListWrite] = []
        size = max(self.membership_chunk, 1)
        for start in range(0, len(pending), size):
            chunk = pending[start : start + size]
            body = {
                "recordIdsToAdd": [i for i, action in chunk if action == "add"],
                "recordIdsToRemove": [i for i, action in chunk if action == "remove"],
            }
            try:
                answer = self._request(
                    "change list members", memberships.add_and_remove_with_http_info, hubspot_id, body
                )
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
        changed: list[tuple[str, Literal["add", "remove"]]] = [(w.record_id, w.action) for w in company_writes if w.ok]
        added = {company for company, action in changed if action == "add"}
        removed = {company for company, action in changed if action == "remove"}
        if not changed:
            return []
        try:
            contact_name = name + CONTACT_LIST_SUFFIX
            contacts_type = OBJECT_TYPE_IDS["contacts"]
            contact_list = self._find_list(list_id, contact_name, contacts_type)
            members = (self._members(hubspot_id) - removed) | added
            linked = self._company_contacts(sorted(members | removed))
            wanted = {contact for company in members for contact in linked.get(company, ())}
            current = self._members(contact_list) if contact_list is not None else set()
            # contact -> the changed companies it moves with
            because: dict[str, list[tuple[str, Literal["add", "remove"]]]] = {}
            for company, action in changed:
                for contact in linked.get(company, ()):
                    joins = action == "add" and contact not in current
                    leaves = action == "remove" and contact in current and contact not in wanted
                    if joins or leaves:
                        because.setdefault(contact, []).append((company, action))
            if not because:
                return []
            if contact_list is None:
                contact_list = self._create_list(list_id, contact_name, contacts_type)
            pending: list[tuple[str, Literal["add", "remove"]]] = [
                (contact, reasons[0][1]) for contact, reasons in sorted(because.items())
            ]
            writes = self._change_members(list_id, contact_list, pending, "contacts")
        except (CrmError, InvalidInputError) as error:
            return [ListWrite(list_id, company, action, False, f"contacts: {error}") for company, action in changed]
        failed: dict[tuple[str, Literal["add", "remove"]], list[str]] = {}
        for write in writes:
            if not write.ok:
                for reason in because[write.record_id]:
                    failed.setdefault(reason, []).append(f"{write.error}")
        return [ListWrite(list_id, company, action, False, "contacts: " + "; ".join(errors))
                for (company, action), errors in failed.items()]

    def _company_contacts(self, companies: Sequence[str]) -> dict[str, set[str]]:
        """Company id -> the ids of its associated contacts (associations v4 batch reads)."""
        found: dict[str, set[str]] = {}
        batch = self._api("associations")
        queue: list[dict[str, str]] = [{"id": company} for company in companies]
        while queue:
            chunk, queue = queue[:ASSOCIATION_BATCH], queue[ASSOCIATION_BATCH:]
            answer = self._request(
                "read company contacts", batch.get_page_with_http_info, "companies", "contacts", {"inputs": chunk}
            )
            for item in answer.body.get("results", []):
                company = str((item.get("from") or {}).get("id"))
                found.setdefault(company, set()).update(str(to["toObjectId"]) for to in item.get("to") or [])
                following = _next_after(item)
                if following is not None:
                    queue.append({"id": company, "after": following})
            # Companies without contacts come back as NO_ASSOCIATIONS_FOUND errors (HTTP 207): none.
        return found

    def _object_type_id(self) -> str:
        return OBJECT_TYPE_IDS.get(self.object_type, self.object_type)

    def _find_list(self, list_id: str, name: str, object_type_id: str | None = None) -> str | None:
        """The HubSpot id of the list named `name` for the object type (default: this one), or None."""
        object_type_id = object_type_id or self._object_type_id()
        if (object_type_id, name) in self._list_ids:
            return self._list_ids[object_type_id, name]
        answer = self._request(
            "find list", self._api("lists").get_by_name_with_http_info, name, object_type_id, missing_ok=True
        )
        found = answer.body.get("list")
        if not isinstance(found, Mapping):
            return None
        if str(found.get("processingType", "")).upper() == "DYNAMIC":
            raise InvalidInputError(
                f"list {list_id}: the HubSpot list {name!r} is a DYNAMIC (active) list, whose members revrules "
                "cannot write; rename it in HubSpot or give the rulebook list another name"
            )
        self._list_ids[object_type_id, name] = str(found["listId"])
        return self._list_ids[object_type_id, name]

    def _create_list(self, list_id: str, name: str, object_type_id: str | None = None) -> str:
        object_type_id = object_type_id or self._object_type_id()
        body = {"name": name, "objectTypeId": object_type_id, "processingType": "MANUAL"}
        answer = self._request("create list", self._api("lists").create_with_http_info, body)
        created = answer.body.get("list") or {}
        if "listId" not in created:
            raise CrmError(f"list {list_id}: HubSpot answered the list creation without a list id")
        log.info("created HubSpot list %r for list %s", name, list_id)
        self._list_ids[object_type_id, name] = str(created["listId"])
        return self._list_ids[object_type_id, name]

    # ------------------------------------------------------- checks and schema

    def active_owners(self, ids: Sequence[str]) -> set[str]:
        """Which of `ids` are active (not archived) HubSpot owners.

        Raises:
            CrmError: HubSpot failed or refused.
        """
        owners_api = self._api("owners")
        found: set[str] = set()
        after = None
        while True:
            page = self._request("list owners", owners_api.get_page, limit=100, archived=False, after=after).body
            found |= {str(owner.get("id")) for owner in page.get("results", [])}
            after = (page.get("paging") or {}).get("next", {}).get("after")
            if not after:
                return {i for i in ids if i in found}

    def check_online(
        self,
        read_fields: Sequence[str],
        write_fields: Sequence[str],
        allowed_values: Mapping[str, Iterable[str]],
    ) -> list[str]:
        """Check the config against the portal's properties; one line per problem.

        Args:
            read_fields: Every property a run reads.
            write_fields: The properties revrules writes.
            allowed_values: Property -> the values revrules may write to it.

        Returns:
            Problems: a missing property (with "did you mean"), an output that is
            read-only or calculated, a value that is not an option of an
            enumeration. Empty when all is well.

        Raises:
            CrmError: HubSpot could not be reached or refused the token.
        """
        definitions = self._property_definitions(refresh=True)
        problems: list[str] = []
        outputs = set(write_fields)
        for name in dict.fromkeys([*read_fields, *write_fields]):
            definition = definitions.get(name)
            if definition is None:
                hint = _CREATE_HINT if name in outputs else ""
                problems.append(f"{self._no_property(name)}{hint}")
                continue
            if name not in outputs:
                continue
            metadata = definition.get("modificationMetadata") or {}
            if metadata.get("readOnlyValue") or definition.get("calculated"):
                why = "calculated" if definition.get("calculated") else "read-only"
                problems.append(f"output property {name!r} is {why} in HubSpot and cannot be written")
                continue
            problems += _option_problems(name, definition, allowed_values.get(name, ()))
        return problems

    def create_properties(self, specs: Sequence[PropertySpec]) -> list[str]:
        """Create missing output properties in a `revrules` property group; idempotent.

        An enumeration that revrules created earlier gets any option it lacks;
        properties created by someone else are left as they are.

        Returns:
            One line per change made; empty when nothing was missing.

        Raises:
            InvalidInputError: A name HubSpot cannot take (lowercase letters,
                digits and `_`, starting with a letter).
            CrmError: HubSpot failed.
        """
        bad = [spec.name for spec in specs if not _PROPERTY_NAME.match(spec.name)]
        definitions = self._property_definitions(refresh=True)
        bad = [name for name in bad if name not in definitions]
        if bad:
            raise InvalidInputError(
                "\n".join(
                    f"cannot create HubSpot property {name!r}: internal names are lowercase "
                    "letters, digits and '_', starting with a letter"
                    for name in bad
                )
            )
        done: list[str] = []
        missing = [spec for spec in specs if spec.name not in definitions]
        if missing:
            done += self._ensure_group()
        properties = self._api("properties")
        for spec in missing:
            body: dict[str, Any] = {
                "name": spec.name,
                "label": spec.label,
                "type": spec.type,
                "fieldType": "checkbox" if spec.multiple else _FIELD_TYPES[spec.type],
                "groupName": GROUP_NAME,
                "description": "Written by revrules.",
            }
            if spec.type == "enumeration":
                body["options"] = _option_inputs(spec.options)
            self._request(
                f"create property {spec.name}",
                properties.create_with_http_info,
                self.object_type,
                body,
            )
            kind = f"{spec.type}, {len(spec.options)} options" if spec.options else spec.type
            done.append(f"created property {spec.name} ({kind}) in group {GROUP_NAME}")
        for spec in specs:
            definition = definitions.get(spec.name)
            if definition is None or spec.type != "enumeration":
                continue
            if definition.get("groupName") != GROUP_NAME or definition.get("type") != "enumeration":
                continue
            present = [str(option["value"]) for option in definition.get("options") or []]
            extra = [value for value in spec.options if value not in present]
            if not extra:
                continue
            body = {
                "options": [
                    *(definition.get("options") or []),
                    *_option_inputs(extra, len(present)),
                ]
            }
            self._request(
                f"update property {spec.name}",
                properties.update_with_http_info,
                self.object_type,
                spec.name,
                body,
            )
            done.append(f"added {len(extra)} option(s) to property {spec.name}")
        if done:
            self._properties = None
        return done

    def _ensure_group(self) -> list[str]:
        groups = self._api("groups")
        answer = self._request(
            "read property groups",
            groups.get_all_with_http_info,
            self.object_type,
        )
        if any(group.get("name") == GROUP_NAME for group in answer.body.get("results", [])):
            return []
        body = {"name": GROUP_NAME, "label": "revrules", "displayOrder": -1}
        self._request(
            "create property group",
            groups.create_with_http_info,
            self.object_type,
            body,
            conflict_ok=True,
        )
        return [f"created property group {GROUP_NAME}"]

    def _property_definitions(self, *, refresh: bool = False) -> dict[str, dict[str, Any]]:
        """The object's property definitions by name, fetched once per connector."""
        if self._properties is None or refresh:
            properties = self._api("properties")
            answer = self._request(
                "read property definitions",
                properties.get_all_with_http_info,
                self.object_type,
                archived=False,
            )
            self._properties = {str(p["name"]): p for p in answer.body.get("results", [])}
        return self._properties

    def _known(self, fields: Sequence[str]) -> list[str]:
        """The fields, once each, after checking each is a property of the object."""
        names = list(dict.fromkeys(fields))
        definitions = self._property_definitions()
        unknown = [name for name in names if name not in definitions]
        if unknown:
            lines = []
            for name in unknown:
                hint = _CREATE_HINT if name in self.write_fields else ""
                lines.append(f"{self._no_property(name)}{hint}")
            raise InvalidInputError("\n".join(lines))
        return names

    def _no_property(self, name: str) -> str:
        candidates = list(self._properties or {})
        return f"HubSpot {self.object_type} have no property {name!r}{did_you_mean(name, candidates)}"

    # ------------------------------------------------------------- transport

    def _api(self, which: str) -> Any:
        """The SDK API object, built once: each one holds its own connection pool."""
        if which not in self._apis:
            self._connect()
        return self._apis[which]

    def _connect(self) -> None:
        client = HubSpot(access_token=self._token, host=self.base_url)
        basic = client.crm.objects.basic_api
        core = client.crm.properties.core_api
        # One pool per SDK package: the batch and search APIs share the basic API's
        # client, and the groups API shares the properties client.
        self._apis = {
            "basic": basic,
            "batch": sdk_objects.BatchApi(api_client=basic.api_client),
            "search": sdk_objects.SearchApi(api_client=basic.api_client),
            "properties": core,
            "groups": sdk_properties.GroupsApi(api_client=core.api_client),
            "lists": client.crm.lists.lists_api,
            "memberships": sdk_lists.MembershipsApi(api_client=client.crm.lists.lists_api.api_client),
            "owners": client.crm.owners.owners_api,
            "associations": client.crm.associations.v4.batch_api,
        }
        self._api_errors = (object_errors.ApiException, property_errors.ApiException, list_errors.ApiException,
                            owner_errors.ApiException, association_errors.ApiException)

    def _request(
        self,
        what: str,
        method: Callable[..., Any],
        *args: Any,
        search: bool = False,
        conflict_ok: bool = False,
        missing_ok: bool = False,
        model: bool = False,
        **kwargs: Any,
    ) -> _Answer:
        """Send one request through the limiters and the retry loop.

        Raises:
            DailyLimitError: HubSpot's daily limit is spent.
            RetriableCrmError: 429, 5xx or connection failures outlasted the retries.
            CrmError: HubSpot refused the request (401, 403, other 4xx).
        """
        if not self._apis:
            self._connect()
        attempt = 0
        while True:
            if self._burst is not None:
                self._burst.acquire()
            if search and self._searches is not None:
                self._searches.acquire()
            try:
                if model:
                    answer = _model_response(
                        method(
                            *args,
                            _return_http_data_only=False,
                            _request_timeout=self.timeout_seconds,
                            **kwargs,
                        )
                    )
                else:
                    answer = _json_response(
                        method(
                            *args,
                            _preload_content=False,
                            _request_timeout=self.timeout_seconds,
                            **kwargs,
                        )
                    )
            except self._api_errors as error:
                status = int(getattr(error, "status", 0) or 0)
                headers = _headers(getattr(error, "headers", None))
                self._observe(headers)
                body = _error_body(getattr(error, "body", None))
                if (status == 409 and conflict_ok) or (status == 404 and missing_ok):
                    return _Answer(body, headers)
                reason = self._retry_reason(what, status, body)
                wait = self._backoff(attempt, headers, body if status == 429 else None)
            except (urllib3.exceptions.HTTPError, OSError) as error:
                reason = f"{what}: cannot reach HubSpot at {self.base_url} ({type(error).__name__})"
                wait = self._backoff(attempt, {}, None)
            else:
                self._observe(answer.headers)
                return answer
            attempt += 1
            if attempt > self.max_retries:
                raise RetriableCrmError(f"{reason}; gave up after {self.max_retries} retries")
            log.warning("%s; retrying in %.1f s (%d/%d)", reason, wait, attempt, self.max_retries)
            self._sleep(wait)

    def _retry_reason(self, what: str, status: int, body: Mapping[str, Any]) -> str:
        """Why a failed request may be retried; raises when retrying cannot help."""
        category = str(body.get("category") or body.get("errorType") or "")
        message = str(body.get("message") or "").strip()
        if status == 429:
            policy = str(body.get("policyName") or "")
            if policy.upper() == "DAILY":
                raise DailyLimitError(
                    f"{what}: HubSpot's DAILY API limit is spent; stopped cleanly, nothing more "
                    "was sent (the limit resets at midnight in the portal's time zone)"
                )
            return f"{what}: HubSpot rate limit {policy or 'unknown'} (429)"
        if status >= 500 or status == 0:
            return f"{what}: HubSpot answered {status or 'no response'}{_detail(category, message)}"
        if status == 401:
            raise CrmError(
                f"{what}: HubSpot rejected the access token (401{_detail(category, '')}); "
                "check crm.access_token (a private-app token with CRM scopes)"
            )
        if status == 403:
            raise CrmError(
                f"{what}: the access token lacks a scope this needs "
                f"(403{_detail(category, message)}); grant the private app read and write "
                f"scopes for {self.object_type} and its schemas"
            )
        raise CrmError(f"{what}: HubSpot refused the request ({status}{_detail(category, message)})")

    def _backoff(self, attempt: int, headers: Mapping[str, str], limited: Mapping[str, Any] | None) -> float:
        """How long to wait before retry `attempt + 1`."""
        retry_after = _retry_after(headers.get("retry-after"))
        if retry_after is not None:
            if retry_after > MAX_RETRY_WAIT_SECONDS:
                raise RetriableCrmError(f"HubSpot asks to wait {retry_after:.0f} s before retrying; try again later")
            return retry_after
        base = self.retry_backoff_seconds * 2.0**attempt
        wait = min(base + self._random.uniform(0, base), MAX_RETRY_WAIT_SECONDS)
        if limited is not None and str(limited.get("policyName") or "").upper() == "SECONDLY":
            wait = max(wait, SEARCH_WINDOW_SECONDS)
        return wait

    def _observe(self, headers: Mapping[str, str]) -> None:
        """Fold HubSpot's view of the burst window into the limiter."""
        if self._burst is None:
            return
        remaining = _int_header(headers.get("x-hubspot-ratelimit-remaining"))
        if remaining is not None:
            self._burst.observe(_int_header(headers.get("x-hubspot-ratelimit-max")), remaining)


# ----------------------------------------------------------------- helpers


def _json_response(response: Any) -> _Answer:
    """A raw urllib3 response (`_preload_content=False`) as decoded JSON and headers."""
    data = response.data
    try:
        body = json.loads(data) if data else {}
    except ValueError as error:
        raise CrmError("HubSpot answered with a body that is not JSON") from error
    return _Answer(body, _headers(response.headers))


def _model_response(response: tuple[Any, int, Any]) -> _Answer:
    """An SDK `*_with_http_info` result as the model and headers."""
    model, _status, headers = response
    return _Answer(model, _headers(headers))


def _headers(raw: Any) -> dict[str, str]:
    """Response headers with lowercase names."""
    if not raw:
        return {}
    return {str(name).lower(): str(value) for name, value in dict(raw).items()}


def _error_body(raw: Any) -> dict[str, Any]:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _detail(category: str, message: str) -> str:
    parts = [part for part in (category, message) if part]
    return f" {': '.join(parts)}" if parts else ""


def _retry_after(value: str | None) -> float | None:
    """`Retry-After` in seconds: a number, or an HTTP date."""
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = (moment - datetime.now(UTC)).total_seconds()
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def _int_header(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _next_after(body: Mapping[str, Any]) -> str | None:
    after = ((body.get("paging") or {}).get("next") or {}).get("after")
    return str(after) if after not in (None, "") else None


def _frame(rows: Sequence[tuple[str, Mapping[str, Any]]], names: Sequence[str]) -> pl.DataFrame:
    """Records as a frame of strings: `__id` then each property; empty is null."""
    columns: dict[str, list[str | None]] = {ID: [record for record, _ in rows]}
    for name in names:
        columns[name] = [_raw(properties.get(name)) for _, properties in rows]
    return pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.String))


def _raw(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text if text != "" else None


def _text(value: CrmValue) -> str:
    """A value as HubSpot takes it: always a string, and an empty one clears the property."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
    return str(value)


def _failure(error: Any) -> tuple[dict[str, str], str]:
    """A 207 error as (property -> "CODE: message", "CODE: message" for the record)."""
    category = str(error.category or "ERROR")
    by_field: dict[str, str] = {}
    for detail in error.errors or []:
        text = f"{detail.code or category}: {detail.message or ''}".rstrip(": ")
        names = [detail._in] if detail._in else list((detail.context or {}).get("propertyName") or [])
        for name in names:
            by_field.setdefault(str(name), text)
    if by_field:
        first_name, first_text = next(iter(by_field.items()))
        overall = f"{first_text} (on {first_name}; HubSpot rejected the whole record)"
    else:
        overall = f"{category}: {error.message or ''}".rstrip(": ")
    return by_field, overall


def _option_problems(name: str, definition: Mapping[str, Any], values: Iterable[str]) -> list[str]:
    """Values that an enumeration or boolean property would reject."""
    kind = definition.get("type")
    if kind == "bool":
        options = ["true", "false"]
    elif kind == "enumeration":
        options = [str(option.get("value")) for option in definition.get("options") or []]
    else:
        return []
    bad = sorted({str(value) for value in values} - set(options))
    if not bad:
        return []
    shown = ", ".join(repr(value) for value in bad)
    listed = ", ".join(options[:_LISTED_OPTIONS])
    if len(options) > _LISTED_OPTIONS:
        listed += f", ... ({len(options) - _LISTED_OPTIONS} more)"
    return [f"output property {name!r} has no option(s) {shown}; its options are: {listed}"]


def _option_inputs(values: Sequence[str], start: int = 0) -> list[dict[str, Any]]:
    return [
        {"label": value, "value": value, "displayOrder": start + index, "hidden": False}
        for index, value in enumerate(values)
    ]




def _epoch_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _parse_ms(value: Any) -> int | None:
    """HubSpot's modification time (ISO text or epoch ms) in epoch milliseconds."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _epoch_ms(moment)
