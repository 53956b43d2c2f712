"""The Salesforce connector: SOQL and Bulk 2.0 reads, sObject Collections and Bulk 2.0 writes.

Every call goes through simple-salesforce and through one retry boundary
(`SalesforceConnector._call`) that re-authenticates on `INVALID_SESSION_ID`, backs off
on 429/503 and connection errors, and stops on `REQUEST_LIMIT_EXCEEDED`. Bulk API 2.0
jobs are driven one step at a time so that a re-login in the middle of a job resumes the
job instead of uploading it again.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import math
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

import polars as pl
import requests
from requests.adapters import HTTPAdapter
from simple_salesforce.api import Salesforce

# The step-by-step Bulk API 2.0 client: the high-level helpers upload, close and poll in
# one call, so a re-login half-way would upload the job again.
from simple_salesforce.bulk2 import Operation, _Bulk2Client
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceOperationError,
)
from simple_salesforce.login import SalesforceLogin

from revrules.connectors.base import ID, CrmValue, ListWrite, RecordUpdate, WriteResult
from revrules.errors import CrmError, InvalidInputError, RefusedError, RetriableCrmError, RevrulesError, did_you_mean

if TYPE_CHECKING:
    from revrules.config import SalesforceCrm

log = logging.getLogger(__name__)

T = TypeVar("T")
Auth = Literal["jwt", "client_credentials", "password", "session"]

COLLECTION_SIZE = 200
"""sObject Collections take at most 200 records per call."""
BULK_RESULTS_PAGE = 50_000
"""Rows per Bulk API 2.0 query-results call."""
BULK_WRITE_CALLS = 6
"""Calls one Bulk API 2.0 update job costs at least: create, upload, close, poll, results."""
ID_CHUNK = 300
"""Ids per `Id IN (...)` query: about 6,500 characters, well inside the URL limit."""
FULL_READ_ABOVE = 3_000
"""Above this many ids, reading every record costs fewer calls than `Id IN` chunks."""
MAX_RELOGINS = 2
"""Logins tried in a row when the CRM keeps answering `INVALID_SESSION_ID`."""
MAX_BACKOFF_SECONDS = 60.0
BULK_POLL_FIRST_SECONDS = 0.2
BULK_POLL_MAX_SECONDS = 10.0
BULK_JOB_TIMEOUT_SECONDS = 4 * 3600.0

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_RECORD_ID_RE = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_STRING_LITERAL_RE = re.compile(r"'(?:[^'\\]|\\.)*'")
_WHERE_FORBIDDEN_RE = re.compile(
    r"\b(?:SELECT|FROM|LIMIT|OFFSET|ORDER|GROUP|HAVING|FOR|WITH|UPDATE|USING)\b", re.IGNORECASE
)
_BULK_ERROR_RE = re.compile(r"^(?P<code>[A-Z0-9_]+):(?P<message>.*?)(?::[^:]*--)?\s*$", re.DOTALL)
_INTEGRAL_TEXT_RE = r"^([+-]?\d+)\.0*$"

_NUMBER_TYPES = frozenset({"int", "double", "currency", "percent"})
_TEXT_TYPES = frozenset(
    {
        "string", "picklist", "multipicklist", "textarea", "url", "email", "phone",
        "reference", "id", "combobox", "encryptedstring",
    }
)
_UNSUPPORTED_TYPES = frozenset({"address", "location", "base64", "complexvalue"})
_RETRIED_STATUSES = frozenset({429, 502, 503, 504})
_LOCKED = "UNABLE_TO_LOCK_ROW"
_LIMIT_EXCEEDED = "REQUEST_LIMIT_EXCEEDED"
_BULK_NULL = "#N/A"
MEMBER_MARKER = "revrules:"
"""Marker prefix (then the list id) in the `campaign_member_marker_field` of the members revrules added.

Only members carrying it are ever removed, so members a person added are left alone. The marker
lives in a custom text field on CampaignMember (default `Revrules_List__c`): the standard
`Description` of a CampaignMember is read-only, copied from the Contact."""
REMEMBERED_PREFIX = "revrules members without added contacts:"
"""A `Campaign.Description` line naming the member accounts revrules could add no contact of."""
_REMEMBERED_RE = re.compile(r"^" + re.escape(REMEMBERED_PREFIX) + r"(?P<ids>[A-Za-z0-9 ]*)$", re.MULTILINE)
_DESCRIPTION_MAX = 32_000
_ALREADY_DELETED = "ENTITY_IS_DELETED"


class ApiLimitExceededError(CrmError):
    """Salesforce refused a call with `REQUEST_LIMIT_EXCEEDED`: nothing more is sent today."""


class _BulkJobFailedError(CrmError):
    """A Bulk API 2.0 update job ended `Failed` with nothing written."""


@dataclass(frozen=True)
class FieldInfo:
    """What the describe says about one field."""

    name: str
    type: str
    updateable: bool
    restricted_values: frozenset[str] | None
    """The active values of a restricted (multi-)picklist; None for any other field."""


@dataclass(frozen=True)
class Credentials:
    """How to log in; secrets are held only here and only for the login call."""

    auth: Auth
    domain: str = "login"
    instance_url: str | None = None
    username: str | None = None
    consumer_key: str | None = None
    consumer_secret: str | None = None
    private_key_file: Path | None = None
    password: str | None = None
    security_token: str | None = None
    session_id: str | None = None

    def __repr__(self) -> str:
        return f"Credentials(auth={self.auth!r}, domain={self.domain!r})"


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


@dataclass(frozen=True)
class Tuning:
    """Thresholds and retry bounds (the `crm:` keys of the same names)."""

    bulk_read_threshold: int = 10_000
    bulk_write_threshold: int = 2_000
    api_reserve: int = 1_000
    max_retries: int = 5
    retry_backoff_seconds: float = 1.0
    timeout_seconds: float = 120.0


class _HttpAdapter(HTTPAdapter):
    """Gives every request a timeout and, for a loopback rehearsal, keeps traffic on loopback.

    simple-salesforce always builds `https://` URLs. When the configured instance is an
    `http://127.0.0.1:PORT` (or localhost) server, this adapter sends its `https://`
    URLs there as plain HTTP, sends the `https://*.salesforce.com` login endpoints to the
    same server (in a rehearsal the loopback server is the login server too), and refuses
    every other host, so a rehearsal config can never reach a real org.
    """

    def __init__(self, timeout: float, loopback: str | None = None) -> None:
        super().__init__()
        self._timeout = timeout
        self._loopback = loopback

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        if self._loopback is None:
            return super().send(request, *args, **kwargs)
        parts = urlsplit(request.url or "")
        host = (parts.hostname or "").lower()
        if parts.netloc != self._loopback and not host.endswith(".salesforce.com"):
            raise requests.ConnectionError(
                f"a loopback instance_url only reaches {self._loopback}, not {host}",
                request=request,
            )
        routed = request.copy()
        routed.url = urlunsplit(("http", self._loopback, parts.path, parts.query, ""))
        return super().send(routed, *args, **kwargs)


def http_session(instance_url: str | None, timeout: float) -> requests.Session:
    """A requests session with timeouts, routed to plain HTTP for a loopback instance_url."""
    session = requests.Session()
    loopback = None
    if instance_url is not None:
        parts = urlsplit(instance_url)
        if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost"):
            loopback = parts.netloc
    session.mount("https://", _HttpAdapter(timeout, loopback))
    session.mount("http://", _HttpAdapter(timeout))
    return session


class SalesforceConnector:
    """Reads one sObject's records and writes field changes back, through simple-salesforce.

    Nothing is sent until records are asked for. Field and object names are checked
    against a strict pattern and the object's describe before they reach SOQL; record
    ids are checked against the Salesforce id pattern; the configured `where` is the
    user's own condition, checked minimally and ANDed in parentheses.
    """

    kind = "salesforce"

    def __init__(
        self,
        credentials: Credentials,
        *,
        object_name: str = "Account",
        where: str | None = None,
        api_version: str = "59.0",
        write_fields: Sequence[str] = (),
        tuning: Tuning | None = None,
        campaigns: CampaignSettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Describe the org and object; no call is made yet.

        Raises:
            InvalidInputError: The object name or `where` condition is not acceptable.
        """
        if not _NAME_RE.match(object_name):
            raise InvalidInputError(f"crm.object: {object_name!r} is not a Salesforce object name")
        self.credentials = credentials
        self.object_name = object_name
        self.where = _checked_where(where)
        self.api_version = api_version.removeprefix("v")
        self.write_fields = tuple(dict.fromkeys(write_fields))
        self.tuning = tuning or Tuning()
        self.campaigns = campaigns or CampaignSettings()
        self._campaign_cache: dict[str, _Campaign] = {}
        self._sleep = sleep
        self._http = http_session(credentials.instance_url, self.tuning.timeout_seconds)
        self._sf: Salesforce | None = None
        self._fields: dict[str, FieldInfo] | None = None
        self._planned_records = 0
        self._stopped: ApiLimitExceededError | None = None

    @classmethod
    def from_config(
        cls, crm: SalesforceCrm, *, base: Path, write_fields: Sequence[str] = ()
    ) -> SalesforceConnector:
        """A connector for the `crm:` section of a config; relative paths are against `base`.

        Raises:
            InvalidInputError: A key the chosen `auth` needs is missing.
        """
        def secret(value: Any) -> str | None:
            return None if value is None else str(value.get_secret_value())

        key_file = None
        if crm.private_key_file:
            key_file = Path(crm.private_key_file)
            key_file = key_file if key_file.is_absolute() else base / key_file
        credentials = Credentials(
            auth=crm.auth,
            domain=crm.domain,
            instance_url=crm.instance_url,
            username=crm.username,
            consumer_key=crm.consumer_key,
            consumer_secret=secret(crm.consumer_secret),
            private_key_file=key_file,
            password=secret(crm.password),
            security_token=secret(crm.security_token),
            session_id=secret(crm.session_id),
        )
        missing = _missing_keys(credentials)
        if missing:
            raise InvalidInputError(
                f"crm: auth {crm.auth} needs {', '.join(missing)} (secrets may come from ${{VAR}})"
            )
        tuning = Tuning(
            bulk_read_threshold=crm.bulk_read_threshold,
            bulk_write_threshold=crm.bulk_write_threshold,
            api_reserve=crm.api_reserve,
            max_retries=crm.max_retries,
            retry_backoff_seconds=crm.retry_backoff_seconds,
            timeout_seconds=crm.timeout_seconds,
        )
        campaigns = CampaignSettings(type=crm.campaign_type, status=crm.campaign_status,
                                     member_status=crm.campaign_member_status,
                                     marker_field=crm.campaign_member_marker_field)
        return cls(credentials, object_name=crm.object, where=crm.where,
                   api_version=crm.api_version, write_fields=write_fields, tuning=tuning,
                   campaigns=campaigns)

    # -- the Connector protocol ---------------------------------------------------------

    @property
    def batch_size(self) -> int:
        """Records per `write` call: one Collections call, or one Bulk job for a large plan.

        A plan announced through `check_budget` with at least `bulk_write_threshold`
        records is written as a single Bulk API 2.0 job.
        """
        if self._planned_records >= self.tuning.bulk_write_threshold:
            return self._planned_records
        return COLLECTION_SIZE

    def read(self, fields: Sequence[str]) -> pl.DataFrame:
        """Every record matching `where`: `__id` plus each field as text, null when empty.

        Raises:
            InvalidInputError: A field is not on the object or cannot be read as text.
            CrmError: Salesforce failed or refused.
        """
        return self._read_all(self._checked_fields(fields), self.where)

    def read_records(self, ids: Sequence[str], fields: Sequence[str]) -> pl.DataFrame:
        """The current values of `fields` for `ids`, in the order asked; unknown ids are left out.

        Raises:
            InvalidInputError: A field is not on the object.
            CrmError: Salesforce failed or refused.
        """
        names = self._checked_fields(fields)
        wanted = [i for i in dict.fromkeys(ids) if _RECORD_ID_RE.match(i)]
        order = pl.DataFrame({ID: wanted}, schema={ID: pl.String})
        if not wanted:
            return self._empty(names)
        if len(wanted) > FULL_READ_ABOVE:
            found = self._read_all(names, None)
        else:
            parts = []
            for start in range(0, len(wanted), ID_CHUNK):
                listed = ", ".join(f"'{i}'" for i in wanted[start : start + ID_CHUNK])
                parts.append(self._rest_read(self._soql(names, f"Id IN ({listed})"), names))
            found = pl.concat(parts)
        # Salesforce answers 18-character ids; a 15-character id asked for matches its prefix.
        found = found.with_columns(pl.col(ID).str.slice(0, 15).alias("__id15"))
        by_15 = order.with_columns(pl.col(ID).str.slice(0, 15).alias("__id15"))
        joined = by_15.join(found.drop(ID), on="__id15", how="inner", maintain_order="left")
        return joined.drop("__id15").select(ID, *names)

    def active_owners(self, ids: Sequence[str]) -> set[str]:
        """Which of `ids` are active Salesforce Users (15- or 18-character ids both match).

        Raises:
            CrmError: Salesforce failed or refused.
        """
        wanted = [i for i in dict.fromkeys(ids) if _RECORD_ID_RE.match(i)]
        active: set[str] = set()
        for start in range(0, len(wanted), ID_CHUNK):
            listed = ", ".join(f"'{i}'" for i in wanted[start : start + ID_CHUNK])
            soql = f"SELECT Id FROM User WHERE IsActive = true AND Id IN ({listed})"
            first = self._call("query users", partial(_run_soql, soql))
            active |= {str(r["Id"])[:15] for r in self._pages(first)}
        return {i for i in wanted if i[:15] in active}

    def write(self, updates: Sequence[RecordUpdate]) -> list[WriteResult]:
        """Write one batch: sObject Collections, or one Bulk API 2.0 job above the threshold.

        Returns:
            One result per (record, field), in the order of `updates`; a failed record's
            fields carry the CRM's `"CODE: message"`.

        Raises:
            ApiLimitExceededError: The org's daily request limit is exhausted and nothing
                of this batch was written.
            CrmError: The batch did not land.
        """
        info = self._describe()
        problems: dict[tuple[str, str], str] = {}
        payload: list[tuple[str, dict[str, CrmValue]]] = []
        for update in updates:
            values: dict[str, CrmValue] = {}
            for name, value in update.values.items():
                problem = _write_problem(update.record_id, info.get(name), name)
                if problem is None:
                    try:
                        values[name] = _typed(info[name], value)
                    except ValueError:
                        problem = f"INVALID_VALUE: not a valid {info[name].type} value"
                if problem is not None:
                    problems[(update.record_id, name)] = problem
            if values:
                payload.append((update.record_id, values))
        outcome: dict[str, str | None] = {}
        if payload:
            if len(payload) >= self.tuning.bulk_write_threshold:
                outcome = self._bulk_write(payload)
            else:
                outcome = self._collections_write(payload)
        return [
            WriteResult(update.record_id, name, error is None, error)
            for update in updates
            for name in update.values
            for error in [problems.get((update.record_id, name), outcome.get(update.record_id))]
        ]

    # -- marketing lists: one Campaign per rulebook list ---------------------------------

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
        campaign = self._find_campaign(list_id, name)
        if campaign is None:
            return set()
        soql = (f"SELECT Id, ContactId FROM CampaignMember WHERE CampaignId = '{campaign.id}' "
                f"AND {self.campaigns.marker_field} = {_soql_string(MEMBER_MARKER + list_id)}")
        first = self._call("read campaign members", partial(_run_soql, soql))
        contacts = [str(r["ContactId"]) for r in self._pages(first) if r.get("ContactId")]
        accounts = self._query_chunks("read contacts", "SELECT Id, AccountId FROM Contact WHERE Id IN", contacts)
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
        campaign = self._find_campaign(list_id, name) or self._create_campaign(list_id, name)
        add_ids = [str(i) for i in dict.fromkeys(adds)]
        remove_ids = [str(i) for i in dict.fromkeys(removes)]
        errors: dict[tuple[str, str], str] = {}
        for action, ids in (("add", add_ids), ("remove", remove_ids)):
            for account in ids:
                if not _RECORD_ID_RE.match(account):
                    errors[(account, action)] = "MALFORMED_ID: not a Salesforce record id"
        wanted = [i for i in dict.fromkeys([*add_ids, *remove_ids]) if _RECORD_ID_RE.match(i)]
        contacts: dict[str, list[str]] = {}
        for row in self._query_chunks("read contacts", "SELECT Id, AccountId FROM Contact WHERE AccountId IN", wanted):
            contacts.setdefault(str(row["AccountId"])[:15], []).append(str(row["Id"]))
        members = self._campaign_members(campaign.id, [c for found in contacts.values() for c in found], list_id)

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

    def check_lists(self, names: Mapping[str, str]) -> list[str]:
        """Problems with the Campaigns the rulebook's lists map to (list id -> display name)."""
        field = self.campaigns.marker_field
        try:
            self._call("check campaign members", partial(
                _run_soql, f"SELECT Id FROM CampaignMember WHERE {field} = null LIMIT 1"))
        except RevrulesError as problem:
            return [f"CampaignMember needs a text field {field} to mark the members revrules adds "
                    f"(create it, or set crm.campaign_member_marker_field): {problem}"]
        problems = []
        for list_id, name in names.items():
            try:
                self._find_campaign(list_id, name)
            except InvalidInputError as problem:
                problems.append(str(problem))
        return problems

    def _find_campaign(self, list_id: str, name: str) -> _Campaign | None:
        if name in self._campaign_cache:
            return self._campaign_cache[name]
        soql = f"SELECT Id, Description FROM Campaign WHERE Name = {_soql_string(name)}"
        first = self._call("find campaign", partial(_run_soql, soql))
        found = list(self._pages(first))
        if not found:
            return None
        if len(found) > 1:
            raise InvalidInputError(
                f"list {list_id}: {len(found)} Salesforce campaigns are named {name!r}; rename all but "
                "one, or give the rulebook list another name"
            )
        description = str(found[0].get("Description") or "")
        campaign = _Campaign(str(found[0]["Id"]), description, _remembered(description))
        self._campaign_cache[name] = campaign
        return campaign

    def _create_campaign(self, list_id: str, name: str) -> _Campaign:
        description = f"Marketing list {list_id}, kept in sync by revrules."
        record = {"attributes": {"type": "Campaign"}, "Name": name, "Type": self.campaigns.type,
                  "Status": self.campaigns.status, "IsActive": True, "Description": description}
        answer = self._collection_insert("create campaign", [record])[0]
        if isinstance(answer, _Failure):
            raise CrmError(f"list {list_id}: cannot create the Salesforce campaign {name!r}: {answer.error}")
        log.info("created Salesforce campaign %r for list %s", name, list_id)
        campaign = _Campaign(answer, description, frozenset())
        self._campaign_cache[name] = campaign
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
        answer = self._call("update campaign",
                            lambda sf: sf.restful("composite/sobjects", method="PATCH", json=body))
        if not isinstance(answer, list) or len(answer) != 1:
            raise CrmError("Salesforce answered a campaign update unexpectedly")
        if not answer[0].get("success"):
            raise CrmError(_collection_error(answer[0]))
        self._campaign_cache[name] = _Campaign(campaign.id, description, accounts)

    def _campaign_members(self, campaign_id: str, contacts: Sequence[str], list_id: str) -> dict[str, _Member]:
        """Contact id → its CampaignMember in this campaign, for the contacts that are members."""
        field = self.campaigns.marker_field
        prefix = f"SELECT Id, ContactId, {field} FROM CampaignMember WHERE CampaignId = '{campaign_id}' " \
                 "AND ContactId IN"
        marker = MEMBER_MARKER + list_id
        return {str(r["ContactId"]): _Member(str(r["Id"]), r.get(field) == marker)
                for r in self._query_chunks("read campaign members", prefix, contacts)}

    def _query_chunks(self, action: str, prefix: str, ids: Sequence[str]) -> list[Mapping[str, Any]]:
        """The rows of `<prefix> (<ids>)`, asked `ID_CHUNK` ids at a time; ids are checked first."""
        wanted = [i for i in dict.fromkeys(ids) if _RECORD_ID_RE.match(i)]
        rows: list[Mapping[str, Any]] = []
        for start in range(0, len(wanted), ID_CHUNK):
            listed = ", ".join(f"'{i}'" for i in wanted[start : start + ID_CHUNK])
            first = self._call(action, partial(_run_soql, f"{prefix} ({listed})"))
            rows.extend(self._pages(first))
        return rows

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
                 "Status": self.campaigns.member_status, self.campaigns.marker_field: MEMBER_MARKER + list_id}
                for contact, _ in chunk
            ]
            try:
                answers: list[str | _Failure] = self._collection_insert("add campaign members", records)
            except CrmError as error:
                answers = [_Failure(str(error))] * len(chunk)
            for (_, account), answer in zip(chunk, answers, strict=True):
                if isinstance(answer, _Failure):
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
                answer = self._call("remove campaign members", partial(_delete_call, params))
                if not isinstance(answer, list) or len(answer) != len(chunk):
                    raise CrmError("Salesforce answered an sObject Collections delete unexpectedly")
                errors = [None if item.get("success") else _collection_error(item) for item in answer]
            except CrmError as error:
                errors = [str(error)] * len(chunk)
            for (_, account), error_text in zip(chunk, errors, strict=True):
                if error_text is not None and not error_text.startswith(_ALREADY_DELETED):
                    failed.setdefault(account, error_text)
        return failed

    def _collection_insert(self, action: str, records: list[dict[str, Any]]) -> list[str | _Failure]:
        """Create records in one sObject Collections call; per record its new id or its failure."""
        body = {"allOrNone": False, "records": records}
        answer = self._call(action, lambda sf: sf.restful("composite/sobjects", method="POST", json=body))
        if not isinstance(answer, list) or len(answer) != len(records):
            raise CrmError(f"{action}: Salesforce answered an sObject Collections insert unexpectedly")
        return [str(item["id"]) if item.get("success") else _Failure(_collection_error(item)) for item in answer]

    # -- optional abilities -------------------------------------------------------------

    def read_modified_since(self, fields: Sequence[str], since: dt.datetime) -> pl.DataFrame:
        """Records matching `where` whose `SystemModstamp` is after `since`, oldest first.

        Pages by (SystemModstamp, Id) so that no query cursor has to stay open and records
        sharing a timestamp are neither skipped nor read twice.

        Raises:
            InvalidInputError: A field is not on the object.
            CrmError: Salesforce failed or refused.
        """
        names = self._checked_fields(fields)
        stamp_field = "SystemModstamp"
        if stamp_field not in self._describe():
            raise InvalidInputError(f"{self.object_name} has no {stamp_field} field")
        selected = list(dict.fromkeys([*names, stamp_field]))
        moment = since.astimezone(dt.UTC) if since.tzinfo else since.replace(tzinfo=dt.UTC)
        cursor: tuple[str, str | None] = (moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", None)
        parts: list[pl.DataFrame] = []
        page = 2_000
        while True:
            stamp, last_id = cursor
            after = f"{stamp_field} > {stamp}"
            if last_id is not None:
                after = f"({after} OR ({stamp_field} = {stamp} AND Id > '{last_id}'))"
            condition = after if self.where is None else f"({self.where}) AND {after}"
            soql = (
                f"{self._soql(selected, condition)} ORDER BY {stamp_field} ASC, Id ASC LIMIT {page}"
            )
            frame = self._rest_read(soql, selected)
            parts.append(frame)
            if frame.height < page:
                break
            cursor = (str(frame[stamp_field][-1]), str(frame[ID][-1]))
        result = pl.concat(parts) if parts else self._empty(selected)
        return result.select(ID, *names)

    def check_budget(self, records_to_write: int) -> None:
        """Refuse a write the org's remaining daily API requests cannot afford.

        Also fixes the write mode: a plan of at least `bulk_write_threshold` records is
        written as one Bulk API 2.0 job (see `batch_size`).

        Raises:
            RefusedError: The calls the write needs plus `api_reserve` exceed what is left.
            CrmError: The limits could not be read.
        """
        self._planned_records = max(records_to_write, 0)
        limits = self._call("read the org's API limits", lambda sf: sf.limits())
        try:
            remaining = int(limits["DailyApiRequests"]["Remaining"])
        except (KeyError, TypeError, ValueError) as error:
            raise CrmError("the org's limits do not report DailyApiRequests") from error
        needed = self.write_calls(records_to_write)
        reserve = self.tuning.api_reserve
        if needed + reserve > remaining:
            raise RefusedError(
                f"the write needs about {needed:,} API call(s) and api_reserve keeps {reserve:,}, "
                f"but the org has {remaining:,} daily API request(s) left; nothing was written "
                "(wait for the daily allowance to recover, or lower crm.api_reserve)"
            )
        log.info("API budget: %d call(s) needed, %d left today, %d reserved", needed, remaining,
                 reserve)

    def write_calls(self, records: int) -> int:
        """The API calls writing `records` records costs without faults."""
        if records <= 0:
            return 0
        if records >= self.tuning.bulk_write_threshold:
            return BULK_WRITE_CALLS
        return math.ceil(records / COLLECTION_SIZE)

    def check_online(
        self,
        read_fields: Sequence[str],
        write_fields: Sequence[str],
        allowed_values: Mapping[str, set[str]],
    ) -> list[str]:
        """Problems with the config against the org: missing fields, read-only outputs, bad values.

        Args:
            read_fields: Every field a run reads.
            write_fields: Every field a run may write.
            allowed_values: CRM field -> every value the rulebook may write to it.

        Returns:
            One readable line per problem; empty when everything fits.

        Raises:
            CrmError: The describe could not be read.
        """
        info = self._describe()
        problems: list[str] = []
        for name in dict.fromkeys([*read_fields, *write_fields]):
            field = info.get(name)
            if field is None:
                problems.append(
                    f"{self.object_name}.{name}: no such field{did_you_mean(name, list(info))}"
                )
            elif field.type in _UNSUPPORTED_TYPES:
                problems.append(f"{self.object_name}.{name}: {field.type} fields cannot be read")
        for name in dict.fromkeys(write_fields):
            field = info.get(name)
            if field is not None and not field.updateable:
                problems.append(f"{self.object_name}.{name}: the field is not updateable")
        for name, values in allowed_values.items():
            field = info.get(name)
            if field is None or field.restricted_values is None:
                continue
            written = {part for value in values for part in _picklist_parts(field, value)}
            for value in sorted(written - field.restricted_values):
                problems.append(
                    f"{self.object_name}.{name}: the rulebook can write {value!r}, which is not a "
                    f"value of this restricted picklist"
                    f"{did_you_mean(value, sorted(field.restricted_values))}"
                )
        return problems

    def columns(self) -> list[str]:
        """The object's field names, as the describe lists them."""
        return list(self._describe())

    # -- reading ------------------------------------------------------------------------

    def _soql(self, names: Sequence[str], condition: str | None) -> str:
        selected = ", ".join(dict.fromkeys(["Id", *names]))
        where = f" WHERE {condition}" if condition else ""
        return f"SELECT {selected} FROM {self.object_name}{where}"

    def _read_all(self, names: list[str], condition: str | None) -> pl.DataFrame:
        soql = self._soql(names, condition)
        first = self._call("query", lambda sf: sf.query(soql))
        total = int(first.get("totalSize", 0))
        if total > self.tuning.bulk_read_threshold and not first.get("done", True):
            log.info("reading %d %s records through Bulk API 2.0", total, self.object_name)
            return self._bulk_read(soql, names)
        return self._frame(self._pages(first), names)

    def _rest_read(self, soql: str, names: list[str]) -> pl.DataFrame:
        first = self._call("query", lambda sf: sf.query(soql))
        return self._frame(self._pages(first), names)

    def _pages(self, first: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
        page = first
        while True:
            yield from page.get("records", [])
            following = page.get("nextRecordsUrl")
            if page.get("done", True) or not following:
                return
            page = self._call("query", _query_more(str(following)))

    def _frame(self, records: Iterator[Mapping[str, Any]], names: list[str]) -> pl.DataFrame:
        info = self._describe()
        ids: list[str] = []
        columns: dict[str, list[str | None]] = {name: [] for name in names}
        for record in records:
            ids.append(str(record["Id"]))
            for name in names:
                columns[name].append(_render(record.get(name), info[name].type))
        schema = {ID: pl.String, **dict.fromkeys(names, pl.String)}
        return pl.DataFrame({ID: ids, **columns}, schema=schema)

    def _empty(self, names: Sequence[str]) -> pl.DataFrame:
        return pl.DataFrame(schema={ID: pl.String, **dict.fromkeys(names, pl.String)})

    def _bulk_read(self, soql: str, names: list[str]) -> pl.DataFrame:
        job = self._call("create a Bulk query job",
                         lambda sf: self._bulk(sf).create_job(Operation.query, soql))
        job_id = str(job["id"])
        self._wait_for_job(job_id, is_query=True)
        parts: list[pl.DataFrame] = []
        locator = ""
        while True:
            page = self._call("read Bulk query results", self._results_page(job_id, locator))
            parts.append(self._csv_frame(str(page["records"]), names))
            locator = str(page.get("locator") or "")
            if not locator:
                break
        return pl.concat(parts) if parts else self._empty(names)

    def _results_page(self, job_id: str, locator: str) -> Callable[[Salesforce], Any]:
        def fetch(sf: Salesforce) -> Any:
            return self._bulk(sf).get_query_results(job_id, locator, BULK_RESULTS_PAGE)

        return fetch

    def _csv_frame(self, text: str, names: list[str]) -> pl.DataFrame:
        if not text.strip():
            return self._empty(names)
        raw = pl.read_csv(io.StringIO(text), infer_schema=False)
        info = self._describe()
        exprs = [pl.col("Id").alias(ID)]
        for name in names:
            column: pl.Expr = pl.when(pl.col(name) != "").then(pl.col(name))
            kind = info[name].type
            if kind in _NUMBER_TYPES:
                column = column.str.replace(_INTEGRAL_TEXT_RE, "${1}")
            elif kind == "boolean":
                column = column.str.to_lowercase()
            elif kind == "datetime":
                column = column.str.replace(r"\+0000$", "Z")
            exprs.append(column.alias(name))
        return raw.select(exprs)

    # -- writing ------------------------------------------------------------------------

    def _collections_write(
        self, payload: list[tuple[str, dict[str, CrmValue]]]
    ) -> dict[str, str | None]:
        """Write in calls of 200; retry only the records that were locked."""
        outcome: dict[str, str | None] = {}
        pending = payload
        attempt = 0
        while pending:
            locked: list[tuple[str, dict[str, CrmValue]]] = []
            for start in range(0, len(pending), COLLECTION_SIZE):
                chunk = pending[start : start + COLLECTION_SIZE]
                try:
                    answers = self._collection_call(chunk)
                except CrmError as error:
                    if not outcome and not locked:
                        raise  # nothing of this batch landed
                    rest = [rid for rid, _ in pending[start:]] + [rid for rid, _ in locked]
                    outcome.update(dict.fromkeys(rest, f"not attempted: {error}"))
                    return outcome
                for (record_id, values), answer in zip(chunk, answers, strict=True):
                    if answer is not None and answer.startswith(_LOCKED) and (
                        attempt < self.tuning.max_retries
                    ):
                        locked.append((record_id, values))
                    else:
                        outcome[record_id] = answer
            if locked:
                log.info("%d record(s) were locked; retrying them", len(locked))
                self._sleep(self._backoff(attempt))
            pending = locked
            attempt += 1
        return outcome

    def _collection_call(self, chunk: list[tuple[str, dict[str, CrmValue]]]) -> list[str | None]:
        body = {
            "allOrNone": False,
            "records": [
                {"attributes": {"type": self.object_name}, "id": record_id, **values}
                for record_id, values in chunk
            ],
        }
        answer = self._call(
            "update records",
            lambda sf: sf.restful("composite/sobjects", method="PATCH", json=body),
        )
        if not isinstance(answer, list) or len(answer) != len(chunk):
            raise CrmError("Salesforce answered an sObject Collections update unexpectedly")
        return [None if item.get("success") else _collection_error(item) for item in answer]

    def _bulk_write(self, payload: list[tuple[str, dict[str, CrmValue]]]) -> dict[str, str | None]:
        """Write as one Bulk API 2.0 update job; retry locked records through Collections."""
        info = self._describe()
        columns = list(dict.fromkeys(name for _, values in payload for name in values))
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["Id", *columns])
        for record_id, values in payload:
            cells = (_bulk_cell(info[c], values[c]) if c in values else "" for c in columns)
            writer.writerow([record_id, *cells])
        data = buffer.getvalue()
        job = self._call("create a Bulk update job",
                         lambda sf: self._bulk(sf).create_job(Operation.update))
        job_id = str(job["id"])
        try:
            self._call("upload Bulk data", lambda sf: self._bulk(sf).upload_job_data(job_id, data))
            self._call("close the Bulk job", lambda sf: self._bulk(sf).close_job(job_id))
        except CrmError:
            self._abort(job_id)
            raise  # the job was never closed: nothing landed
        try:
            state = self._wait_for_job(job_id, is_query=False)
            outcome = self._ingest_outcome(job_id, state, [rid for rid, _ in payload])
        except _BulkJobFailedError:
            raise
        except CrmError as error:
            # The job was closed and may be running: its outcome is unknown, not absent.
            message = f"Bulk job {job_id} outcome unknown: {error}"
            return dict.fromkeys((rid for rid, _ in payload), message)
        locked = [item for item in payload if (outcome.get(item[0]) or "").startswith(_LOCKED)]
        if locked and self.tuning.max_retries > 0:
            log.info("%d record(s) were locked during the Bulk job; retrying them", len(locked))
            self._sleep(self._backoff(0))
            try:
                outcome.update(self._collections_write(locked))
            except CrmError as error:
                outcome.update(dict.fromkeys((rid for rid, _ in locked), f"not retried: {error}"))
        return outcome

    def _ingest_outcome(
        self, job_id: str, state: Mapping[str, Any], record_ids: list[str]
    ) -> dict[str, str | None]:
        total = len(record_ids)
        processed = int(state.get("numberRecordsProcessed") or 0)
        failed_count = int(state.get("numberRecordsFailed") or 0)
        outcome: dict[str, str | None] = {}
        if failed_count:
            failed_text = self._call(
                "read Bulk failures",
                lambda sf: self._bulk(sf).get_ingest_results(job_id, "failedResults"),
            )
            for row in _csv_rows(failed_text):
                record_id = row.get("Id") or row.get("sf__Id") or ""
                outcome[record_id] = _bulk_error(row.get("sf__Error") or "")
        if processed < total:
            unprocessed_text = self._call(
                "read Bulk unprocessed records",
                lambda sf: self._bulk(sf).get_ingest_results(job_id, "unprocessedrecords"),
            )
            reason = str(state.get("errorMessage") or "the Bulk job did not process it")
            for row in _csv_rows(unprocessed_text):
                outcome[row.get("Id") or ""] = f"NOT_PROCESSED: {reason}"
        succeeded: set[str] | None = None
        if len(outcome) != total - processed + failed_count:
            # The counts do not account for every record: ask which ones succeeded.
            success_text = self._call(
                "read Bulk successes",
                lambda sf: self._bulk(sf).get_ingest_results(job_id, "successfulResults"),
            )
            succeeded = {
                row.get("Id") or row.get("sf__Id") or "" for row in _csv_rows(success_text)
            }
        if str(state.get("state")) == "Failed" and processed - failed_count <= 0:
            reason = state.get("errorMessage") or "no reason given"
            raise _BulkJobFailedError(f"Bulk job {job_id} failed: {reason}")
        result: dict[str, str | None] = {}
        for record_id in record_ids:
            if record_id in outcome:
                result[record_id] = outcome[record_id]
            elif succeeded is None or record_id in succeeded:
                result[record_id] = None
            else:
                result[record_id] = "NO_RESULT: the Bulk job reported no result for this record"
        return result

    def _wait_for_job(self, job_id: str, *, is_query: bool) -> Mapping[str, Any]:
        delay = BULK_POLL_FIRST_SECONDS
        deadline = time.monotonic() + BULK_JOB_TIMEOUT_SECONDS
        while True:
            state = self._call("check the Bulk job",
                               lambda sf: self._bulk(sf).get_job(job_id, is_query))
            status = str(state.get("state"))
            if status == "JobComplete" or (status == "Failed" and not is_query):
                return dict(state)
            if status in ("Failed", "Aborted"):
                reason = state.get("errorMessage") or "no reason given"
                raise CrmError(f"Bulk job {job_id} ended {status}: {reason}")
            if time.monotonic() > deadline:
                raise RetriableCrmError(f"Bulk job {job_id} did not finish in time ({status})")
            self._sleep(delay)
            delay = min(delay * 2, BULK_POLL_MAX_SECONDS)

    def _abort(self, job_id: str) -> None:
        try:
            self._call("abort the Bulk job", lambda sf: self._bulk(sf).abort_job(job_id, False))
        except CrmError as error:
            log.warning("could not abort Bulk job %s: %s", job_id, error)

    # -- the session and the retry boundary ---------------------------------------------

    def _client(self) -> Salesforce:
        if self._sf is None:
            self._sf = self._login()
        return self._sf

    def _login(self) -> Salesforce:
        c = self.credentials
        if c.auth == "session":
            return Salesforce(instance_url=c.instance_url, session_id=c.session_id,
                              session=self._http, version=self.api_version, object_pairs_hook=dict)
        options: dict[str, Any] = {"session": self._http, "domain": c.domain}
        if c.auth == "jwt":
            options.update(username=c.username, consumer_key=c.consumer_key,
                           privatekey_file=str(c.private_key_file))
        elif c.auth == "client_credentials":
            options.update(consumer_key=c.consumer_key, consumer_secret=c.consumer_secret)
        elif c.security_token is not None:
            options.update(username=c.username, password=c.password,
                           security_token=c.security_token, sf_version=self.api_version)
        else:
            options.update(username=c.username, password=c.password,
                           consumer_key=c.consumer_key, consumer_secret=c.consumer_secret)
        attempt = 0
        while True:
            try:
                session_id, instance = SalesforceLogin(**options)
                break
            except SalesforceAuthenticationFailed as error:
                raise CrmError(
                    f"Salesforce login failed (auth {c.auth}): {error.code}: {error.message}"
                ) from None
            except OSError as error:
                # requests' connection errors and an unreadable key file are both OSErrors.
                if not isinstance(error, requests.RequestException):
                    raise InvalidInputError(
                        f"cannot read crm.private_key_file {c.private_key_file}: {error.strerror}"
                    ) from None
                if attempt >= self.tuning.max_retries:
                    raise RetriableCrmError(f"cannot reach Salesforce to log in: {error}") from None
                self._sleep(self._backoff(attempt))
                attempt += 1
        log.debug("logged in to Salesforce (auth %s)", c.auth)
        return Salesforce(instance=instance, session_id=session_id, session=self._http,
                          version=self.api_version, object_pairs_hook=dict)

    def _bulk(self, sf: Salesforce) -> _Bulk2Client:
        """A Bulk API 2.0 client bound to the current session (rebuilt after a re-login)."""
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {sf.session_id}",
                   "X-PrettyPrint": "1"}
        return _Bulk2Client(self.object_name, sf.bulk2_url, headers, sf.session)

    def _call(self, action: str, operation: Callable[[Salesforce], T]) -> T:
        """Run one API call: re-login on an expired session, back off on throttling.

        Raises:
            ApiLimitExceededError: `REQUEST_LIMIT_EXCEEDED`.
            RetriableCrmError: Throttling or connection errors outlasted `max_retries`.
            CrmError: Any other refusal or failure.
        """
        if self._stopped is not None:
            # After REQUEST_LIMIT_EXCEEDED nothing more is sent in this run.
            raise self._stopped
        attempt = 0
        relogins = 0
        while True:
            try:
                return operation(self._client())
            except SalesforceExpiredSession as error:
                if self.credentials.auth == "session":
                    raise CrmError(
                        f"{action}: the Salesforce session expired or is invalid "
                        f"({_error_text(error)}); auth session cannot log in again: provide a "
                        "fresh crm.session_id or use jwt or client_credentials"
                    ) from None
                if relogins >= MAX_RELOGINS:
                    raise CrmError(f"{action}: Salesforce keeps refusing new sessions") from None
                relogins += 1
                log.info("the Salesforce session expired; logging in again")
                self._sf = None
            except SalesforceGeneralError as error:
                if error.status not in _RETRIED_STATUSES:
                    raise CrmError(f"{action}: {_error_text(error)}") from None
                attempt = self._retry_or_raise(action, attempt, f"HTTP {error.status}")
            except SalesforceError as error:
                code, _ = _error_parts(error)
                if code == _LIMIT_EXCEEDED:
                    self._stopped = ApiLimitExceededError(
                        f"{action}: Salesforce refused the call with REQUEST_LIMIT_EXCEEDED: the "
                        "org's API request limit is exhausted; stopped without sending more"
                    )
                    raise self._stopped from None
                raise CrmError(f"{action}: {_error_text(error)}") from None
            except SalesforceOperationError as error:
                raise CrmError(f"{action}: {error}") from None
            except (requests.ConnectionError, requests.Timeout) as error:
                attempt = self._retry_or_raise(action, attempt, type(error).__name__)

    def _retry_or_raise(self, action: str, attempt: int, reason: str) -> int:
        if attempt >= self.tuning.max_retries:
            raise RetriableCrmError(
                f"{action}: gave up after {attempt + 1} attempt(s) ({reason}); try again later"
            )
        delay = self._backoff(attempt)
        log.info("%s: %s; retrying in %.1fs", action, reason, delay)
        self._sleep(delay)
        return attempt + 1

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter, capped."""
        ceiling = min(self.tuning.retry_backoff_seconds * 2**attempt, MAX_BACKOFF_SECONDS)
        return random.uniform(ceiling / 2, ceiling)  # jitter, not security

    # -- describe and names -------------------------------------------------------------

    def _describe(self) -> dict[str, FieldInfo]:
        if self._fields is None:
            path = f"sobjects/{self.object_name}/describe"
            answer = self._call(f"describe {self.object_name}", lambda sf: sf.restful(path))
            self._fields = {
                str(f["name"]): FieldInfo(
                    name=str(f["name"]),
                    type=str(f.get("type", "string")),
                    updateable=bool(f.get("updateable")),
                    restricted_values=(
                        frozenset(str(p["value"]) for p in f.get("picklistValues") or []
                                  if p.get("active", True))
                        if f.get("restrictedPicklist") else None
                    ),
                )
                for f in (answer or {}).get("fields", [])
            }
        return self._fields

    def _checked_fields(self, fields: Sequence[str]) -> list[str]:
        """Field names safe to paste into SOQL: strict pattern, present in the describe."""
        info = self._describe()
        problems: list[str] = []
        names: list[str] = []
        for name in dict.fromkeys(fields):
            if not _NAME_RE.match(name):
                problems.append(f"{name!r} is not a field name (relationship fields are not read)")
            elif name not in info:
                problems.append(f"{self.object_name} has no field {name!r}"
                                f"{did_you_mean(name, list(info))}")
            elif info[name].type in _UNSUPPORTED_TYPES:
                problems.append(f"{self.object_name}.{name} is a compound {info[name].type} field; "
                                "map its parts (e.g. BillingCountry) instead")
            else:
                names.append(name)
        if problems:
            raise InvalidInputError("\n".join(problems))
        return names


# -- values ------------------------------------------------------------------------------


def _render(value: Any, kind: str) -> str | None:
    """A REST value as the text the engine converts: integral numbers without `.0`."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if kind == "datetime" and text.endswith("+0000"):
        return text[:-5] + "Z"
    if kind in _NUMBER_TYPES:
        return re.sub(_INTEGRAL_TEXT_RE, r"\1", text)
    return text if text != "" else None


def _typed(field: FieldInfo, value: CrmValue) -> CrmValue:
    """A value as JSON of the field's type: numbers as numbers, booleans as booleans.

    Raises:
        ValueError: The value does not fit the field's type.
    """
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if field.type in _NUMBER_TYPES:
        if isinstance(value, bool):
            raise ValueError(value)
        number = float(value.replace(",", "")) if isinstance(value, str) else float(value)
        if not math.isfinite(number):
            raise ValueError(value)
        if field.type == "int" and not number.is_integer():
            raise ValueError(value)
        return int(number) if number.is_integer() else number
    if field.type == "boolean":
        if isinstance(value, bool):
            return value
        lowered = str(value).strip().lower()
        if lowered not in ("true", "false", "1", "0"):
            raise ValueError(value)
        return lowered in ("true", "1")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _bulk_cell(field: FieldInfo, value: CrmValue) -> str:
    """A typed value as Bulk API 2.0 CSV text; `#N/A` empties a field (blank leaves it)."""
    if value is None:
        return _BULK_NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _picklist_parts(field: FieldInfo, value: str) -> list[str]:
    if field.type == "multipicklist":
        return [part for part in value.split(";") if part]
    return [value]


def _write_problem(record_id: str, field: FieldInfo | None, name: str) -> str | None:
    if not _RECORD_ID_RE.match(record_id):
        return "MALFORMED_ID: not a Salesforce record id"
    if field is None:
        return f"INVALID_FIELD: no such field {name}"
    if not field.updateable:
        return f"INVALID_FIELD_FOR_INSERT_UPDATE: {name} is not updateable"
    return None


# -- marketing lists ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Failure:
    """A record Salesforce refused: its `CODE: message`."""

    error: str


def _delete_call(params: dict[str, str], sf: Salesforce) -> Any:
    return sf.restful("composite/sobjects", method="DELETE", params=params)


def _soql_string(value: str) -> str:
    """`value` as a quoted SOQL string literal (backslashes, quotes and control characters escaped)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    escaped = escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f"'{escaped}'"


def _remembered(description: str) -> frozenset[str]:
    match = _REMEMBERED_RE.search(description)
    return frozenset(match["ids"].split()) if match else frozenset()


# -- errors ------------------------------------------------------------------------------


def _run_soql(soql: str, sf: Salesforce) -> Any:
    return sf.query(soql)


def _query_more(url: str) -> Callable[[Salesforce], Any]:
    def fetch(sf: Salesforce) -> Any:
        return sf.query_more(url, identifier_is_url=True)

    return fetch


def _error_parts(error: Any) -> tuple[str, str]:
    """The errorCode and message of a simple-salesforce error's content."""
    content = getattr(error, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], Mapping):
        first = content[0]
        return str(first.get("errorCode", "")), str(first.get("message", ""))
    if isinstance(content, Mapping):
        code = content.get("errorCode") or content.get("error") or ""
        message = content.get("message") or content.get("error_description") or ""
        return str(code), str(message)
    status = getattr(error, "status", "")
    return f"HTTP_{status}", "unexpected answer"


def _error_text(error: Any) -> str:
    code, message = _error_parts(error)
    return f"{code}: {message}" if message else code


def _collection_error(item: Mapping[str, Any]) -> str:
    errors = item.get("errors") or [{}]
    first = errors[0]
    return f"{first.get('statusCode', 'UNKNOWN_ERROR')}: {first.get('message', '')}".rstrip()


def _bulk_error(cell: str) -> str:
    """`CODE:message:fields --` (Bulk API 2.0 `sf__Error`) as `CODE: message`."""
    match = _BULK_ERROR_RE.match(cell.strip())
    if match is None:
        return cell.strip() or "UNKNOWN_ERROR"
    return f"{match['code']}: {match['message'].strip()}"


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# -- config checks -----------------------------------------------------------------------


def _missing_keys(c: Credentials) -> list[str]:
    needed: dict[str, object] = {}
    if c.auth == "session":
        needed = {"instance_url": c.instance_url, "session_id": c.session_id}
    elif c.auth == "jwt":
        needed = {"username": c.username, "consumer_key": c.consumer_key,
                  "private_key_file": c.private_key_file}
    elif c.auth == "client_credentials":
        needed = {"consumer_key": c.consumer_key, "consumer_secret": c.consumer_secret}
        if c.domain in ("login", "test"):
            needed["domain (your My Domain, e.g. acme.my)"] = None
    else:
        needed = {"username": c.username, "password": c.password}
        if c.security_token is None and (c.consumer_key is None or c.consumer_secret is None):
            needed["security_token (or consumer_key and consumer_secret)"] = None
    return [key for key, value in needed.items() if value in (None, "")]


def _checked_where(where: str | None) -> str | None:
    """The user's own SOQL condition, checked so it stays one parenthesised condition.

    Raises:
        InvalidInputError: It holds `;`, unbalanced parentheses or a clause keyword.
    """
    if where is None or not where.strip():
        return None
    outside = _STRING_LITERAL_RE.sub("''", where)
    depth = 0
    for char in outside:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            break
    problem = None
    if ";" in outside:
        problem = "must not contain ';'"
    elif "'" in _STRING_LITERAL_RE.sub("", outside):
        problem = "has an unterminated string literal"
    elif depth != 0:
        problem = "has unbalanced parentheses"
    elif _WHERE_FORBIDDEN_RE.search(outside):
        problem = "must be a condition only (no SELECT, LIMIT, ORDER BY, ...)"
    if problem:
        raise InvalidInputError(f"crm.where {problem}")
    return f"({where.strip()})"


