"""The Salesforce emulator itself: request routing, injected faults, `/limits`, and its HTTP handler."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from urllib.parse import parse_qs, unquote, urlsplit

import requests

from revrules.connectors.salesforce import http_session
from revrules.testing.emulator import CONTROL_PREFIX, JsonRequestHandler
from revrules.testing.salesforce.auth import AuthApi
from revrules.testing.salesforce.bulk import BulkApi
from revrules.testing.salesforce.campaigns import CampaignsApi
from revrules.testing.salesforce.objects import ObjectsApi
from revrules.testing.salesforce.responses import (
    _bearer,
    _error,
    _header,
    _json,
    _not_found,
    _Response,
    _session_expired,
)
from revrules.testing.salesforce.state import _DATA_RE, _VERSIONS, LoggedRequest


class _Handler(JsonRequestHandler):
    """The Salesforce emulator's request handler (all behaviour is the shared one)."""


class SalesforceEmulator(AuthApi, ObjectsApi, CampaignsApi, BulkApi):
    """An in-process Salesforce org holding one object's records, served over loopback HTTP.

    Args:
        records: Initial records; each may carry `Id` (else one is generated). Values are
            converted to the describe's types (strings such as "1200" are accepted).
        object_name: The sObject served (`Account` by default).
        fields: Field specs for `describe_field` (default: `ACCOUNT_FIELDS`). Columns found in
            `records` but not here are added: `*__c` as custom fields, numeric columns as
            `double`, others as `string`.
        picklists: Field → allowed values; each becomes a restricted picklist (added if absent).
        api_version: The version used in URLs the emulator builds (`59.0`).
        page_size: Records per REST query page before `nextRecordsUrl` (2000, like Salesforce).
        port: The TCP port to bind on 127.0.0.1 (0 picks a free one).
        session_id: The first valid access token (default: a random one).
        users: `User` rows answering owner lookups; when any are given, writing an `OwnerId`
            that is not an active one fails with `INVALID_CROSS_REFERENCE_KEY`, as in an org.
        contacts: `Contact` rows (`Id` optional, `AccountId`, `OwnerId`, names); `Campaign` and
            `CampaignMember` start empty (`campaigns`, `campaign_members` hold them).
        opportunities: `Opportunity` rows (`Id` optional, `AccountId`, `OwnerId`, `Name`,
            `StageName`, `CloseDate`, `IsClosed`); served like `contacts` (`opportunities` holds them).
        marketing_lists: Serve `Contact`, `Campaign` and `CampaignMember` even without
            `contacts` (they are served whenever `contacts` is given).
        null_invalid: Load seed values an org could not hold (e.g. `~100` in a number field)
            as null and count them in `nulled_on_load`, instead of refusing to start.
        currencies: A multi-currency org: ISO code -> conversion rate, the first being the
            corporate currency; adds `CurrencyIsoCode` and serves `CurrencyType`.
        record_types: Record type name -> picklist field -> the values it offers; listed in
            the describe and served by `ui-api/object-info/{object}/picklist-values/{id}`.
    """


    handler_class = _Handler

    def _control_error(self, status: int, message: str) -> _Response:
        if status == 404:
            return _not_found()
        return _error(status, "INVALID_FAULTS", message)

    def _control(self, method: str, path: str, body: bytes) -> _Response:
        if path == "/__emulator/records" and method == "GET":
            return _json(200, list(self.records.values()))
        return super()._control(method, path, body)

    # -- request entry point ---------------------------------------------------------------
    def _respond(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> _Response:
        parts = urlsplit(raw_path)
        path = unquote(parts.path)
        if path.startswith(CONTROL_PREFIX):
            return self._control(method, path, body)
        delay = float(self.faults.delay_seconds or 0)
        if delay > 0:
            time.sleep(delay)
        call: int | None = None
        match = _DATA_RE.match(path)
        if match and match.group(2) is not None:
            with self._lock:
                call = self._next_call()
                self._api_used += 1
        try:
            response = self._route(
                method, path, parse_qs(parts.query), headers=headers, body=body, call=call
            )
        except Exception as problem:  # noqa: BLE001  # a bug in the emulator: answer like Salesforce would
            response = _error(500, "UNKNOWN_EXCEPTION", f"emulator error: {problem!r}")
        if call is not None and call in self.faults.truncate_body_on_calls:
            # The connection drops half-way through the body: what arrives is not JSON.
            response = _Response(response.status, response.body[: len(response.body) // 2],
                                 response.content_type, response.headers)
        if call is not None:
            response.headers.setdefault(
                "Sforce-Limit-Info", f"api-usage={self._api_used}/{self.faults.daily_api_max}"
            )
        self._record(
            LoggedRequest(
                method=method, path=path, status=response.status, call=call, query=parts.query, body_size=len(body)
            )
        )
        return response

    def _route(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        *,
        headers: Mapping[str, str],
        body: bytes,
        call: int | None,
    ) -> _Response:
        if path == "/services/oauth2/token" and method == "POST":
            return self._token(headers, body)
        soap = re.fullmatch(r"/services/Soap/u/(\d+)\.\d+(/.*)?", path)
        if soap and method == "POST":
            return self._soap_login(body, int(soap.group(1)))
        if path.rstrip("/") == "/services/data" and method == "GET":
            return _json(
                200,
                [
                    {"label": label, "url": f"/services/data/v{v}", "version": v}
                    for label, v in _VERSIONS
                ],
            )
        match = _DATA_RE.match(path)
        if match is None or call is None:
            return _not_found()
        refused = self._refuse(call, headers)
        if refused is not None:
            return refused
        version = match.group(1)
        rest = (match.group(2) or "").strip("/")
        return self._data(method, version, rest, query, headers=headers, body=body)

    def _refuse(self, call: int, headers: Mapping[str, str]) -> _Response | None:
        """Injected faults and authentication, in that order."""
        with self._lock:
            faults = self.faults
            if faults.daily_api_remaining is not None:
                self._api_used = faults.daily_api_max - int(faults.daily_api_remaining) + 1
                faults.daily_api_remaining = None
            status = faults.status_on_call.get(call)
            over_limit = (
                faults.daily_limit_after is not None and call > faults.daily_limit_after
            ) or self._api_used > faults.daily_api_max
            expire = faults.expire_session_on_call == call
            if expire:
                self._tokens.clear()
            token = _bearer(headers)
            valid = token is not None and token in self._tokens
        if status is not None:
            extra = (
                {"Retry-After": str(faults.retry_after)} if faults.retry_after is not None else {}
            )
            if status == 503:
                return _json(
                    503,
                    [{"message": "Service Unavailable", "errorCode": "SERVER_UNAVAILABLE"}],
                    **extra,
                )
            return _json(
                status,
                [{"message": "Too many requests, retry later", "errorCode": "TOO_MANY_REQUESTS"}],
                **extra,
            )
        if call in faults.concurrency_limit_on_calls:
            return _error(403, "REQUEST_LIMIT_EXCEEDED",
                          "ConcurrentRequests (Concurrent API Requests) Limit exceeded.")
        if over_limit:
            return _error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        if expire or not valid:
            return _session_expired()
        return None


    # -- data API routing ------------------------------------------------------------------
    def _data(
        self,
        method: str,
        version: str,
        rest: str,
        query: Mapping[str, list[str]],
        *,
        headers: Mapping[str, str],
        body: bytes,
    ) -> _Response:
        parts = rest.split("/") if rest else []
        head = parts[0] if parts else ""
        if not parts and method == "GET":
            base = f"/services/data/v{version}"
            return _json(
                200,
                {
                    name: f"{base}/{name}"
                    for name in ("sobjects", "query", "queryAll", "limits", "composite", "jobs")
                },
            )
        picklists_path = ["ui-api", "object-info", self.object_name, "picklist-values"]
        if method == "GET" and len(parts) == 5 and parts[:4] == picklists_path:
            values = self.picklist_values(parts[4])
            return _not_found() if values is None else _json(200, values)
        if head == "limits" and method == "GET":
            return self._limits(parts[1:], query)
        if head in {"query", "queryAll"} and method == "GET":
            if len(parts) == 1:
                return self._query(version, query.get("q", [""])[0], headers)
            if len(parts) == 2:
                return self._query_more(parts[1])
        if head == "sobjects" and method == "GET" and parts[2:] == ["describe"] and parts[1] != self.object_name:
            listed = self.list_describe(parts[1], version)
            if listed is not None:
                return _json(200, listed)
        if head == "sobjects":
            return self._sobjects(method, version, parts[1:], query, body)
        if parts == ["composite", "sobjects"] and method in {"PATCH", "POST"}:
            list_response = self._list_collection(method, body)
            if list_response is not None:
                return list_response
            return self._collection(method, body, allow_save=_allows_save(headers))
        if parts == ["composite", "sobjects"] and method == "DELETE" and self._serves_lists:
            return self._list_delete(query)
        if head == "jobs" and len(parts) >= 2 and parts[1] in {"query", "ingest"}:
            return self._jobs_route(method, version, parts[1], parts[2:], query=query, body=body)
        if head in {"query", "queryAll", "limits", "composite", "jobs"}:
            allowed = "GET" if head != "composite" else "PATCH, POST, DELETE"
            return _error(
                405,
                "METHOD_NOT_ALLOWED",
                f"HTTP Method '{method}' not allowed. Allowed are {allowed}",
            )
        return _not_found()

    def _limits(self, parts: list[str], query: Mapping[str, list[str]]) -> _Response:
        if parts == ["recordCount"]:
            wanted = query.get("sObjects", [self.object_name])[0].split(",")
            with self._lock:
                count = len(self._records)
            return _json(
                200,
                {
                    "sObjects": [
                        {"count": count, "name": self.object_name}
                        for name in wanted
                        if name == self.object_name
                    ]
                },
            )
        if parts:
            return _not_found()
        maximum = self.faults.daily_api_max
        with self._lock:
            used = self._api_used
        return _json(
            200,
            {
                "DailyApiRequests": {"Max": maximum, "Remaining": max(0, maximum - used)},
                "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
                "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
                "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
                "DataStorageMB": {"Max": 5, "Remaining": 5},
                "FileStorageMB": {"Max": 20, "Remaining": 20},
            },
        )



def _allows_save(headers: Mapping[str, str]) -> bool:
    """Whether `Sforce-Duplicate-Rule-Header` holds `allowSave=true` (REST API Developer Guide)."""
    value = (_header(headers, "Sforce-Duplicate-Rule-Header") or "").replace(" ", "").lower()
    return "allowsave=true" in value.split(";")


# ---------------------------------------------------------------------------
# Pointing simple-salesforce (which always builds https:// URLs) at the emulator.
# ---------------------------------------------------------------------------


def loopback_session(url: str) -> requests.Session:
    """A `requests.Session` that reaches an emulator at `url`; for tests and offline rehearsal.

    simple-salesforce always builds `https://` URLs from the instance host and logs in at
    `https://{domain}.salesforce.com`. This session rewrites `https://127.0.0.1:PORT/...` to
    plain `http://`, sends `https://*.salesforce.com/...` (login, token) to the emulator, and
    refuses every other https host, so a rehearsal cannot reach a real org.

    Args:
        url: The emulator's instance URL, e.g. `http://127.0.0.1:8123`.

    Returns:
        A session to pass as `Salesforce(..., session=...)`.
    """
    return http_session(url, timeout=60.0)

