"""`HubspotConnector`: one thin class over the session, read, write, lists, properties and owners modules."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from revrules.connectors.base import ListWrite, ModifiedRecords, PropertySpec, RecordUpdate, WriteResult
from revrules.connectors.hubspot import budget, export, owners, read, related, scopes, write
from revrules.connectors.hubspot.limits import RateLimiter
from revrules.connectors.hubspot.lists import HubspotLists
from revrules.connectors.hubspot.paths import API_VERSIONS, DEFAULT_API_VERSION, ApiPaths
from revrules.connectors.hubspot.properties import Properties
from revrules.connectors.hubspot.read import SEARCH_CAP
from revrules.connectors.hubspot.session import SEARCH_WINDOW_SECONDS, HubspotSession
from revrules.connectors.hubspot.write import BATCH_SIZE
from revrules.connectors.protocols import Connector, RelatedKind
from revrules.errors import InvalidInputError

if TYPE_CHECKING:
    from revrules.config import HubspotCrm

DEFAULT_BASE_URL = "https://api.hubapi.com"
BURST_WINDOW_SECONDS = 10.0


class HubspotConnector:
    """Reads and writes HubSpot CRM records (companies by default) as revrules records.

    Every request goes through one client-side rate limiter (the burst limit, and
    the search limit for searches) and the shared retry policy: 429 and 5xx answers
    and connection failures are retried with backoff and jitter, honouring
    `Retry-After`, up to `max_retries` times. HubSpot's DAILY limit ends the run
    with `ApiBudgetExhaustedError`; `check_budget` refuses beforehand a write the
    portal's remaining daily requests cannot afford.
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
        api_version: str = DEFAULT_API_VERSION,
        api_reserve: int = budget.DEFAULT_API_RESERVE,
    ) -> None:
        """Describe the portal; the SDK is imported and connected on first use.

        Args:
            access_token: Any bearer token HubSpot issues (a service key, an app
                access token, a legacy private-app token).
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
            api_version: The API family: a date version (`2026-03`) or `v3`.
            api_reserve: Daily requests a write leaves to the portal's other
                integrations (see `check_budget`).
        """
        if not access_token.strip():
            raise InvalidInputError("crm.access_token is empty (set a HubSpot service key or app access token)")
        if api_version not in API_VERSIONS:
            raise InvalidInputError(f"crm.api_version {api_version!r} is not one of {', '.join(API_VERSIONS)}")
        self.base_url = base_url.rstrip("/")
        self.object_type = object_type
        self.write_fields = tuple(dict.fromkeys(write_fields))
        self.max_retries = max_retries
        self.retry_backoff_seconds = retry_backoff_seconds
        self.incremental_lag = timedelta(seconds=incremental_lag_seconds)
        self.timeout_seconds = timeout_seconds
        self.search_cap = search_cap
        self.api_reserve = api_reserve
        self._now = now
        burst = RateLimiter(burst_limit, burst_window_seconds, clock=clock, sleep=sleep) if burst_limit else None
        searches = RateLimiter(search_limit, SEARCH_WINDOW_SECONDS, clock=clock, sleep=sleep) if search_limit else None
        retry = HubspotSession.retry_policy(max_retries=max_retries, backoff_seconds=retry_backoff_seconds,
                                            sleep=sleep, seed=seed)
        self._session = HubspotSession(access_token, base_url=self.base_url, object_type=object_type,
                                       timeout_seconds=timeout_seconds, retry=retry, burst=burst, searches=searches,
                                       paths=ApiPaths(api_version))
        self._properties = Properties(self._session, self.write_fields)
        self._lists = HubspotLists(self._session, contact_lists)
        prefix = uuid.uuid4().hex[:12]
        self._trace_ids = (f"{prefix}-{n}" for n in itertools.count(1))
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
            api_version=crm.api_version,
            api_reserve=crm.api_reserve,
        )

    def __repr__(self) -> str:
        return f"HubspotConnector({self.base_url!r}, object_type={self.object_type!r})"

    @property
    def contact_lists(self) -> set[str]:
        """Rulebook list ids whose contact list `<name> (contacts)` is kept in sync too."""
        return self._lists.contact_lists

    @property
    def membership_chunk(self) -> int:
        """Record ids (added plus removed) one add-and-remove call carries."""
        return self._lists.membership_chunk

    @membership_chunk.setter
    def membership_chunk(self, size: int) -> None:
        self._lists.membership_chunk = size

    # ------------------------------------------------------------------ reading

    def columns(self) -> list[str]:
        """The names of the object's properties.

        Raises:
            CrmError: HubSpot could not be reached or refused the token.
        """
        return list(self._properties.definitions())

    def read(self, fields: Sequence[str]) -> pl.DataFrame:
        """Every record: `__id` plus each asked-for property as HubSpot's raw string.

        Raises:
            InvalidInputError: A field is not a property of the object.
            CrmError: HubSpot failed (`ApiBudgetExhaustedError` when the daily limit is spent).
        """
        return read.read(self._session, self._properties.known(fields))

    def read_records(self, ids: Sequence[str], fields: Sequence[str]) -> pl.DataFrame:
        """The current values of `fields` for `ids`, in the order asked; unknown ids are left out.

        Raises:
            InvalidInputError: A field is not a property of the object.
            CrmError: HubSpot failed.
        """
        return read.read_records(self._session, ids, self._properties.known(fields))

    def read_modified_since(self, fields: Sequence[str], since: datetime) -> ModifiedRecords:
        """Records modified at or after `since`, up to `incremental_lag_seconds` before now.

        The upper bound lags behind now because HubSpot indexes writes for search a
        little after they land; the returned watermark is the next `since`, so
        nothing falls in between (see `read.read_modified_since`).

        Raises:
            InvalidInputError: A field is not a property of the object.
            CrmError: HubSpot failed, or more than `search_cap` records share one
                modification time.
        """
        names = self._properties.known(fields)
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
        until = max(self._now() - self.incremental_lag, since)
        frame = read.read_modified_since(self._session, names, since, until, search_cap=self.search_cap)
        return ModifiedRecords(frame, until)

    # ------------------------------------------------------------------ writing

    def write(self, updates: Sequence[RecordUpdate]) -> list[WriteResult]:
        """Batch-update records, 100 a call; one result per (record, field) (see `write.write`)."""
        return write.write(self._session, updates, self._trace_ids)

    def check_budget(self, records_to_write: int, other_calls: int = 0) -> None:
        """Refuse a write the portal's remaining daily API requests cannot afford, `other_calls` included.

        Keeps `api_reserve` requests free; a portal that sends no daily limit headers
        (an OAuth app's calls) is not checked (see `budget.check_budget`).

        Raises:
            RefusedError: The calls the write needs plus `api_reserve` exceed what is left.
            CrmError: HubSpot failed or refused the read that reports the allowance.
        """
        budget.check_budget(self._session, records_to_write, other_calls, reserve=self.api_reserve)

    # ------------------------------------------------------- records following an owner change

    related_owner_field = related.OWNER_FIELD

    def related_object(self, kind: RelatedKind) -> str:
        """`contacts` for contacts, `deals` for open deals."""
        return "contacts" if kind == "contacts" else "deals"

    def related_owners(self, object_name: str, account_ids: Sequence[str], owner_ids: Sequence[str]) -> pl.DataFrame:
        """Contacts or open deals associated with `account_ids`, held by `owner_ids` (see `related.related_owners`)."""
        return related.related_owners(self._session, object_name, account_ids, owner_ids)

    def related_records(self, object_name: str) -> Connector:
        """`object_name`'s records, read and written by id (see `related.RelatedRecords`)."""
        return related.RelatedRecords(related.sibling(self._session, object_name), self._trace_ids)

    # ------------------------------------------------------------------ lists

    def check_lists(self, names: Mapping[str, str]) -> list[str]:
        """Problems with the CRM lists the rulebook's lists map to (list id -> display name)."""
        return self._lists.check_lists(names)

    def list_members(self, list_id: str, name: str) -> set[str]:
        """The record ids in the MANUAL list named `name` (see `HubspotLists.list_members`)."""
        return self._lists.list_members(list_id, name)

    def write_list_changes(
        self, list_id: str, name: str, adds: Sequence[str], removes: Sequence[str]
    ) -> list[ListWrite]:
        """Add and remove members of the MANUAL list named `name` (see `HubspotLists.write_list_changes`)."""
        return self._lists.write_list_changes(list_id, name, adds, removes)

    def list_write_calls(self, list_id: str, name: str, adds: int, removes: int, members: int) -> int:
        """About the calls `write_list_changes` makes (see `HubspotLists.write_calls`)."""
        return self._lists.write_calls(list_id, name, adds, removes, members)

    # ------------------------------------------------------- checks and schema

    def api_calls(self) -> dict[tuple[str, str], int]:
        """(HTTP method, URL path) -> requests the portal answered so far."""
        return dict(self._session.calls)

    def export_metadata(self, fields: Sequence[str], owner_ids: Sequence[str],
                        list_names: Mapping[str, str], record_ids: Sequence[str]) -> dict[str, Any]:
        """The portal's metadata a rehearsal needs, as plain JSON (see `export.export_metadata`)."""
        return export.export_metadata(self._session, self._lists, self._properties.definitions(), fields=fields,
                                      owner_ids=owner_ids, list_names=list_names, record_ids=record_ids)

    def active_owners(self, ids: Sequence[str]) -> set[str]:
        """Which of `ids` are active (not archived) HubSpot owners."""
        return owners.active_owners(self._session, ids)

    def check_online(
        self,
        read_fields: Sequence[str],
        write_fields: Sequence[str],
        allowed_values: Mapping[str, Iterable[str]],
    ) -> list[str]:
        """Check the config against the portal's properties (see `Properties.check_online`)."""
        return self._properties.check_online(read_fields, write_fields, allowed_values)

    def picklist_options(self, fields: Sequence[str]) -> dict[str, frozenset[str]]:
        """Property -> its option values, for enumerations (see `Properties.picklist_options`)."""
        return self._properties.picklist_options(fields)

    def missing_scopes(self, *, owners: bool, lists: bool, related: Sequence[str] = ()) -> list[str]:
        """One line per scope the access token lacks among those this config needs (see `scopes.missing`).

        Args:
            owners: Territories route owners.
            lists: The rulebook has lists.
            related: Objects whose owners follow a company's (`owner_change`): `contacts`, `deals`.
        """
        lacking = scopes.missing(self._session, contacts=bool(self.contact_lists), owners=owners, lists=lists,
                                 related=related)
        return [f"the HubSpot access token lacks the scope {m.scope} ({m.purpose}); grant it to the app or "
                "service key (the README lists the scopes per feature)" for m in lacking]

    def create_properties(self, specs: Sequence[PropertySpec]) -> list[str]:
        """Create missing output properties in a `revrules` property group (see `Properties.create`)."""
        return self._properties.create(specs)
