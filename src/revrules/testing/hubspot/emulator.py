"""The HubSpot emulator itself: authentication, injected faults, rate limits, routing and its HTTP handler."""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import revrules.testing.hubspot as hubspot_package
from revrules.testing.emulator import Answer, JsonRequestHandler, json_answer
from revrules.testing.hubspot.associations import AssociationsApi
from revrules.testing.hubspot.batch import BatchApi
from revrules.testing.hubspot.contacts import ContactsApi
from revrules.testing.hubspot.lists import ListsApi
from revrules.testing.hubspot.loading import load_companies_csv
from revrules.testing.hubspot.objects import CompaniesApi
from revrules.testing.hubspot.owners import OwnersApi
from revrules.testing.hubspot.properties import PropertiesApi
from revrules.testing.hubspot.protocol import (
    _SERVER_MESSAGES,
    _UNPARSABLE,
    DEFAULT_DAILY_LIMIT,
    Handler,
    _ApiError,
    _Reply,
    _Request,
    _trim,
)
from revrules.testing.hubspot.related import RelatedApi
from revrules.testing.hubspot.scopes import missing_scopes_body, required_scopes
from revrules.testing.hubspot.search import SearchApi
from revrules.testing.hubspot.state import LoggedRequest

_CONTENT_TYPE = "application/json;charset=utf-8"


def _burst_window() -> float:
    """The burst limit's rolling window in seconds.

    Read from the package at call time, where `BURST_WINDOW_SECONDS` is published, so that
    patching `revrules.testing.hubspot.BURST_WINDOW_SECONDS` (as tests do) shortens it.
    """
    return float(hubspot_package.BURST_WINDOW_SECONDS)


class _RequestHandler(JsonRequestHandler):
    """The HubSpot emulator's request handler (all behaviour is the shared one)."""

    server_version = "HubSpotEmulator/1.0"


class HubSpotEmulator(
    CompaniesApi, BatchApi, SearchApi, PropertiesApi, OwnersApi, ListsApi, ContactsApi, AssociationsApi, RelatedApi
):
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
        deals: Initial deals, like ``contacts`` (``dealname``, ``dealstage``,
            ``hubspot_owner_id``); ``hs_is_closed`` is calculated from ``dealstage``.
        api_versions: The path families served (``v3``, ``2026-03``); a path of
            another family answers 404.
        scopes: The token's scopes (see `scopes.ALL_SCOPES`); a request needing one
            it lacks answers 403 MISSING_SCOPES. None grants every scope.
    """


    handler_class = _RequestHandler

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

    def count(
        self, method: str | None = None, path: str | None = None, status: int | None = None
    ) -> int:
        """Count logged requests matching every given criterion (a shorthand over `requests()`).

        Args:
            method: HTTP verb, e.g. ``"POST"``.
            path: Exact path (a trailing ``/`` is ignored), or a regex when it
                starts with ``^``.
            status: HTTP status answered.

        Returns:
            The number of matching requests.
        """

        def matches(entry: LoggedRequest) -> bool:
            if status is not None and entry.status != status:
                return False
            if path is None:
                return True
            if path.startswith("^"):
                return re.search(path, entry.path) is not None
            return entry.path.rstrip("/") == path.rstrip("/")

        return sum(1 for entry in self.requests(method) if matches(entry))

    def _respond(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Answer:
        path = urlsplit(target).path.rstrip("/") or "/"
        if path.startswith("/__emulator"):
            return self._control(method, path, body)
        reply = self.handle(method, target, headers, body, self.url)
        return json_answer(reply.status, reply.body, content_type=_CONTENT_TYPE, headers=reply.headers)

    def _control_json(self, status: int, payload: Any) -> Answer:
        return json_answer(status, payload, content_type=_CONTENT_TYPE)

    def _control_error(self, status: int, message: str) -> Answer:
        return self._control_json(status, {"status": "error", "message": message})

    def _log_json(self) -> Any:
        return {"requests": [entry.to_json() for entry in self.request_log]}

    def handle(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        raw_body: bytes,
        base_url: str = "",
    ) -> _Reply:
        """Answer one API request (the server calls this for every path outside ``/__emulator/``).

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
        request = _Request(method, path, query, headers, body, base_url)
        delay = self.faults.delay_seconds
        if delay > 0:
            time.sleep(delay)
        call = self._next_call()
        try:
            reply = self._gate(request, call)
            if reply is None:
                if body is _UNPARSABLE:
                    raise _ApiError(400, "Invalid input JSON on line 1", "VALIDATION_ERROR")
                reply = self._route(request)
        except _ApiError as error:
            reply = _Reply(error.status, error.body)
        if not request.path.endswith("/search"):
            # HubSpot answers searches with no X-HubSpot-RateLimit-* headers at all (developer community,
            # "Rate limit headers will now appear for OAuth authenticated calls", replies).
            reply.headers.update(self._rate_headers(call))
        self._record(
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

    def _gate(self, request: _Request, call: int) -> _Reply | None:
        """Apply auth, injected faults and rate limits; None lets the call through."""
        faults = self.faults
        token = request.headers.get("Authorization", "")
        if faults.auth_failure or (
            self.access_token is not None and token != f"Bearer {self.access_token}"
        ):
            raise _ApiError(
                401,
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                "INVALID_AUTHENTICATION",
            )
        if self.scopes is not None:
            lacking = [s for s in required_scopes(request.method, request.path) if s not in self.scopes]
            if lacking:
                return _Reply(403, missing_scopes_body(lacking))
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
                _trim(self._burst, now - _burst_window())
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
            if not self.faults.no_daily_headers:
                # What is left counts this call: the last call `daily_limit_after` lets through reports 0.
                daily = self.faults.daily_limit_after
                daily = DEFAULT_DAILY_LIMIT if daily is None else daily
                headers["X-HubSpot-RateLimit-Daily"] = str(daily)
                headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(daily - call, 0))
            if self.burst_limit is not None:
                _trim(self._burst, time.monotonic() - _burst_window())
                remaining = max(self.burst_limit - len(self._burst), 0)
                # The interval follows a scaled window (tests shorten it) so clients pace to it.
                headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(round(_burst_window() * 1000))
                headers["X-HubSpot-RateLimit-Max"] = str(self.burst_limit)
                headers["X-HubSpot-RateLimit-Remaining"] = str(remaining)
                headers["X-HubSpot-RateLimit-Secondly"] = str(math.ceil(self.burst_limit / _burst_window()))
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
        """Both path families with the same handlers: legacy `/crm/v3/...` and date-versioned `/crm/.../2026-03`."""
        routes: list[tuple[str, re.Pattern[str], Handler]] = []
        for version in sorted(self.api_versions):
            routes += [(m, re.compile(p), h) for m, p, h in self._family(version)]
        return routes

    def _family(self, version: str) -> list[tuple[str, str, Handler]]:
        def crm(api: str) -> str:
            return f"/crm/v3/{api}" if version == "v3" else f"/crm/{api}/{re.escape(version)}"

        obj = crm("objects") + "/(?:companies|company|0-2)"
        props = crm("properties") + "/(?:companies|company|0-2)"
        lists = crm("lists")
        lst = lists + r"/(?P<list_id>\d+)"
        contacts = crm("objects") + "/(?:contacts|contact|0-1)"
        associations = "/crm/v4/associations" if version == "v3" else f"/crm/associations/{re.escape(version)}"
        deal_associations = associations + "/(?:companies|company|0-2)/(?:deals|deal|0-3)/batch/read"
        associations += "/(?:companies|company|0-2)/(?:contacts|contact|0-1)/batch/read"
        related = crm("objects") + "/(?P<kind>contacts|contact|0-1|deals|deal|0-3)"
        owners = crm("owners")
        return [
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
            ("GET", owners, self._list_owners),
            ("GET", owners + r"/(?P<owner_id>[^/]+)", self._get_owner),
            ("POST", lists, self._create_list),
            ("GET", lists, self._get_lists_by_id),
            ("POST", lists + "/search", self._search_lists),
            ("GET", lists + r"/object-type-id/(?P<object_type>[^/]+)/name/(?P<name>[^/]+)", self._get_list_by_name),
            ("GET", lst, self._get_list),
            ("DELETE", lst, self._delete_list),
            ("PUT", lst + "/memberships/add", self._add_members),
            ("PUT", lst + "/memberships/remove", self._remove_members),
            ("PUT", lst + "/memberships/add-and-remove", self._add_and_remove_members),
            ("GET", lst + "/memberships", self._list_members),
            ("POST", related + "/batch/read", self._related_batch_read),
            ("POST", related + "/batch/update", self._related_batch_update),
            ("POST", deal_associations, self._read_company_deals),
            ("GET", contacts, self._list_contacts),
            ("GET", contacts + r"/(?P<record_id>[^/]+)", self._get_contact),
            ("POST", associations, self._read_company_contacts),
            ("GET", f"/account-info/{re.escape(version)}/details", self._account_details),
        ]
