"""HubSpot transport: one SDK API client, the rate limiters, and the retry boundary every request goes through.

Every request is `request(what, verb, path, ...)`: a path of the configured API
family (see `paths.ApiPaths`) sent through hubspot-api-client's own `ApiClient`,
so the date-versioned paths the SDK's generated APIs lack go through the same
HTTP stack, authentication and connection pool. `accept_statuses` names the
error statuses an operation takes as an answer (a 404 "no such list", a 400
batch refusal).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import hubspot.crm.objects.exceptions as object_errors
import urllib3
from hubspot import HubSpot

from revrules.connectors.hubspot.errors import error_body, retry_reason
from revrules.connectors.hubspot.limits import RateLimiter
from revrules.connectors.hubspot.paths import ApiPaths
from revrules.connectors.retry import Retry, RetryPolicy
from revrules.errors import CrmError, WriteOutcomeUnknownError

log = logging.getLogger(__name__)

SEARCH_WINDOW_SECONDS = 1.0
MAX_RETRY_WAIT_SECONDS = 60.0
"""The longest single wait before a retry; a longer `Retry-After` ends the run instead."""
_API_ERRORS: tuple[type[Exception], ...] = (object_errors.ApiException,)


@dataclass(frozen=True)
class Answer:
    """A successful response (or an accepted error status): its decoded body and headers."""

    body: Any
    headers: Mapping[str, str]
    status: int = 200


def next_after(body: Mapping[str, Any]) -> str | None:
    """The `paging.next.after` cursor of a HubSpot answer; None on the last page."""
    after = ((body.get("paging") or {}).get("next") or {}).get("after")
    return str(after) if after not in (None, "") else None


class HubspotSession:
    """One portal: the SDK API objects (built once), the limiters and the retry policy."""

    def __init__(
        self,
        access_token: str,
        *,
        base_url: str,
        object_type: str,
        timeout_seconds: float,
        retry: RetryPolicy,
        burst: RateLimiter | None,
        searches: RateLimiter | None,
        paths: ApiPaths | None = None,
    ) -> None:
        """Hold the settings; the SDK is connected on first use."""
        self._token = access_token
        self.base_url = base_url
        self.object_type = object_type
        self.timeout_seconds = timeout_seconds
        self.retry = retry
        self.burst = burst
        self.searches = searches
        self.paths = paths or ApiPaths()
        self.client: Any = None
        self._calls_lock = threading.Lock()
        self.calls: Counter[tuple[str, str]] = Counter()
        """(method, path) -> requests answered: every HTTP call goes through `_call_api`."""

    @staticmethod
    def retry_policy(
        *, max_retries: int, backoff_seconds: float, sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
    ) -> RetryPolicy:
        """HubSpot's retry policy: `backoff_seconds` is the shortest first wait (the policy's ceiling is twice it)."""
        return RetryPolicy("HubSpot", max_retries=max_retries, backoff_seconds=2 * backoff_seconds,
                           max_wait_seconds=MAX_RETRY_WAIT_SECONDS, sleep=sleep, rng=random.Random(seed))

    def request(
        self,
        what: str,
        verb: str,
        path: str,
        *,
        body: Any = None,
        query: Sequence[tuple[str, Any]] = (),
        accept_statuses: Collection[int] = (),
        search: bool = False,
    ) -> Answer:
        """Send one request and decode its JSON answer.

        Args:
            what: What the request does, for messages.
            verb: The HTTP method.
            path: The path, from `self.paths`.
            body: The JSON body (plain dicts and lists), or None.
            query: Query parameters; a name may repeat.
            accept_statuses: Error statuses that are an answer for this operation (their
                JSON body is returned with the status) rather than a failure.
            search: The request is a search, which also waits for the search limit.

        Raises:
            ApiBudgetExhaustedError: HubSpot's daily limit is spent.
            RetriableCrmError: 429, 5xx or connection failures outlasted the retries.
            CrmError: HubSpot refused the request (401, 403, other 4xx).
        """
        def send() -> Answer:
            return _json_response(self._call_api(verb, path, body, query))

        limiters = self._limiters()
        if search and self.searches is not None:
            limiters.append(self.searches)
        return self._send(what, send, limiters, accept_statuses)

    def write(self, what: str, path: str, body: Any, *, accept_statuses: Collection[int] = ()) -> Answer:
        """POST a request that changes data: once it may have reached HubSpot it is never sent again.

        A connection that failed before the request went out is retried like any call;
        an answer lost after it (a timeout, a reset, a truncated or non-JSON body) is
        raised as `WriteOutcomeUnknownError`, for the caller to read the records back.

        Raises:
            WriteOutcomeUnknownError: The request may have been carried out; its answer was lost.
            ApiBudgetExhaustedError: HubSpot's daily limit is spent.
            CrmError: HubSpot refused the request.
        """
        def send() -> Answer:
            try:
                raw = self._call_api("POST", path, body, ())
            except (urllib3.exceptions.HTTPError, OSError) as error:
                if _not_sent(error):
                    raise
                raise WriteOutcomeUnknownError(f"{what}: the answer was lost ({type(error).__name__})") from None
            try:
                return _json_response(raw)
            except (CrmError, urllib3.exceptions.HTTPError, OSError) as error:
                raise WriteOutcomeUnknownError(f"{what}: the answer was unreadable ({type(error).__name__})") from None

        return self._send(what, send, self._limiters(), accept_statuses)

    def _call_api(self, verb: str, path: str, body: Any, query: Sequence[tuple[str, Any]]) -> Any:
        """One HTTP call through the SDK's own ApiClient; the raw urllib3 response."""
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            answer = self._client().call_api(
                path, verb, query_params=[(k, v) for k, v in query if v is not None], header_params=headers,
                body=body, auth_settings=["oauth2"], _preload_content=False, _request_timeout=self.timeout_seconds,
            )
        except _API_ERRORS:
            self._count(verb, path)  # answered, with an error status
            raise
        self._count(verb, path)
        return answer

    def _count(self, verb: str, path: str) -> None:
        with self._calls_lock:
            self.calls[(verb.upper(), urlsplit(path).path)] += 1

    def _limiters(self) -> list[RateLimiter]:
        return [self.burst] if self.burst is not None else []

    def _send(
        self, what: str, send: Callable[[], Answer], limiters: Sequence[RateLimiter], accept_statuses: Collection[int]
    ) -> Answer:
        def attempt() -> Answer:
            for limiter in limiters:
                limiter.acquire()
            try:
                answer = send()
            except _API_ERRORS as error:
                headers = _headers(getattr(error, "headers", None))
                self._observe(headers)
                status = int(getattr(error, "status", 0) or 0)
                if status in accept_statuses:
                    return Answer(error_body(getattr(error, "body", None)), headers, status)
                raise
            self._observe(answer.headers)
            return answer

        def classify(error: Exception) -> Retry | None:
            if isinstance(error, _API_ERRORS):
                status = int(getattr(error, "status", 0) or 0)
                body = error_body(getattr(error, "body", None))
                reason = retry_reason(what, status, body, self.object_type)
                secondly = status == 429 and str(body.get("policyName") or "").upper() == "SECONDLY"
                retry_after = _headers(getattr(error, "headers", None)).get("retry-after")
                return Retry(reason, retry_after=retry_after, at_least=SEARCH_WINDOW_SECONDS if secondly else 0.0)
            if isinstance(error, urllib3.exceptions.HTTPError | OSError):
                return Retry(f"{what}: cannot reach HubSpot at {self.base_url} ({type(error).__name__})")
            return None

        return self.retry.run(attempt, classify)

    def _client(self) -> Any:
        """The SDK's API client, built once: it holds the connection pool and the token."""
        if self.client is None:
            self.client = HubSpot(access_token=self._token, host=self.base_url).crm.objects.basic_api.api_client
        return self.client

    def _observe(self, headers: Mapping[str, str]) -> None:
        """Fold HubSpot's view of the burst window into the limiter."""
        if self.burst is None:
            return
        remaining = _int_header(headers.get("x-hubspot-ratelimit-remaining"))
        if remaining is not None:
            interval = _int_header(headers.get("x-hubspot-ratelimit-interval-milliseconds"))
            self.burst.observe(_int_header(headers.get("x-hubspot-ratelimit-max")), remaining,
                               interval / 1000 if interval else None)


def _not_sent(error: Exception) -> bool:
    """Whether a request failed before any of it reached HubSpot (so sending it again is safe)."""
    if isinstance(error, urllib3.exceptions.MaxRetryError):
        error = error.reason or error
    return isinstance(error, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError
                      | ConnectionRefusedError)


def _json_response(response: Any) -> Answer:
    """A raw urllib3 response (`_preload_content=False`) as decoded JSON and headers."""
    data = response.data
    try:
        body = json.loads(data) if data else {}
    except ValueError as error:
        raise CrmError("HubSpot answered with a body that is not JSON") from error
    return Answer(body, _headers(response.headers), int(response.status))


def _headers(raw: Any) -> dict[str, str]:
    """Response headers with lowercase names."""
    if not raw:
        return {}
    return {str(name).lower(): str(value) for name, value in dict(raw).items()}


def _int_header(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
