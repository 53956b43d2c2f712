"""HubSpot transport: the SDK's API objects, the rate limiters, and the retry boundary every request goes through.

Requests are named by what they do: `call` (JSON), `search` (JSON, also under the
search limit), `call_model` (an SDK model, for batch writes); `accept_statuses` names
the error statuses an operation takes as an answer (a 404 "no such list").
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import hubspot.crm.associations.v4.exceptions as association_errors
import hubspot.crm.lists.exceptions as list_errors
import hubspot.crm.objects.exceptions as object_errors
import hubspot.crm.owners.exceptions as owner_errors
import hubspot.crm.properties.exceptions as property_errors
import urllib3
from hubspot import HubSpot
from hubspot.crm import lists as sdk_lists
from hubspot.crm import objects as sdk_objects
from hubspot.crm import properties as sdk_properties

from revrules.connectors.hubspot.errors import error_body, retry_reason
from revrules.connectors.hubspot.limits import RateLimiter
from revrules.connectors.retry import Retry, RetryPolicy
from revrules.errors import CrmError, WriteOutcomeUnknownError

log = logging.getLogger(__name__)

SEARCH_WINDOW_SECONDS = 1.0
MAX_RETRY_WAIT_SECONDS = 60.0
"""The longest single wait before a retry; a longer `Retry-After` ends the run instead."""
_API_ERRORS: tuple[type[Exception], ...] = (
    object_errors.ApiException, property_errors.ApiException, list_errors.ApiException,
    owner_errors.ApiException, association_errors.ApiException,
)


@dataclass(frozen=True)
class Answer:
    """A successful response (or an accepted error status): its decoded body and headers."""

    body: Any
    headers: Mapping[str, str]


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
    ) -> None:
        """Hold the settings; the SDK is connected on first use."""
        self._token = access_token
        self.base_url = base_url
        self.object_type = object_type
        self.timeout_seconds = timeout_seconds
        self.retry = retry
        self.burst = burst
        self.searches = searches
        self.apis: dict[str, Any] = {}

    @staticmethod
    def retry_policy(
        *, max_retries: int, backoff_seconds: float, sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
    ) -> RetryPolicy:
        """HubSpot's retry policy: `backoff_seconds` is the shortest first wait (the policy's ceiling is twice it)."""
        return RetryPolicy("HubSpot", max_retries=max_retries, backoff_seconds=2 * backoff_seconds,
                           max_wait_seconds=MAX_RETRY_WAIT_SECONDS, sleep=sleep, rng=random.Random(seed))

    def api(self, which: str) -> Any:
        """The SDK API object, built once: each one holds its own connection pool."""
        if which not in self.apis:
            self._connect()
        return self.apis[which]

    def call(
        self, what: str, method: Callable[..., Any], *args: Any, accept_statuses: Collection[int] = (), **kwargs: Any
    ) -> Answer:
        """Send one request and decode its JSON answer.

        Args:
            what: What the request does, for messages.
            method: An SDK `*_with_http_info` method.
            *args: Its positional arguments.
            accept_statuses: Error statuses that are an answer for this operation (their
                JSON body is returned) rather than a failure.
            **kwargs: Its keyword arguments.

        Raises:
            ApiBudgetExhaustedError: HubSpot's daily limit is spent.
            RetriableCrmError: 429, 5xx or connection failures outlasted the retries.
            CrmError: HubSpot refused the request (401, 403, other 4xx).
        """
        def send() -> Answer:
            raw = method(*args, _preload_content=False, _request_timeout=self.timeout_seconds, **kwargs)
            return _json_response(raw)

        return self._send(what, send, self._limiters(), accept_statuses)

    def search(self, what: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Answer:
        """`call` for a search request, which also waits for the search rate limit."""
        def send() -> Answer:
            raw = method(*args, _preload_content=False, _request_timeout=self.timeout_seconds, **kwargs)
            return _json_response(raw)

        limiters = self._limiters() + ([self.searches] if self.searches is not None else [])
        return self._send(what, send, limiters, ())

    def call_model(self, what: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Answer:
        """`call` that keeps the SDK's model of the answer (batch writes read `errors` from it)."""
        def send() -> Answer:
            model, _status, headers = method(*args, _return_http_data_only=False,
                                             _request_timeout=self.timeout_seconds, **kwargs)
            return Answer(model, _headers(headers))

        return self._send(what, send, self._limiters(), ())

    def write_model(self, what: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Answer:
        """`call_model` for a request that changes data: once it may have reached HubSpot it is not sent again.

        A connection that failed before the request went out is retried like any call;
        an answer lost after it (a timeout, a reset, a truncated body) is raised as
        `WriteOutcomeUnknownError`, for the caller to read the records back.

        Raises:
            WriteOutcomeUnknownError: The request may have been carried out; its answer was lost.
        """
        def send() -> Answer:
            try:
                model, _status, headers = method(*args, _return_http_data_only=False,
                                                 _request_timeout=self.timeout_seconds, **kwargs)
            except (urllib3.exceptions.HTTPError, OSError, ValueError) as error:
                if _not_sent(error):
                    raise
                raise WriteOutcomeUnknownError(f"{what}: the answer was lost ({type(error).__name__})") from None
            return Answer(model, _headers(headers))

        return self._send(what, send, self._limiters(), ())

    def _limiters(self) -> list[RateLimiter]:
        return [self.burst] if self.burst is not None else []

    def _send(
        self, what: str, send: Callable[[], Answer], limiters: Sequence[RateLimiter], accept_statuses: Collection[int]
    ) -> Answer:
        if not self.apis:
            self._connect()

        def attempt() -> Answer:
            for limiter in limiters:
                limiter.acquire()
            try:
                answer = send()
            except _API_ERRORS as error:
                headers = _headers(getattr(error, "headers", None))
                self._observe(headers)
                if int(getattr(error, "status", 0) or 0) in accept_statuses:
                    return Answer(error_body(getattr(error, "body", None)), headers)
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

    def _connect(self) -> None:
        client = HubSpot(access_token=self._token, host=self.base_url)
        basic = client.crm.objects.basic_api
        core = client.crm.properties.core_api
        # One pool per SDK package: the batch and search APIs share the basic API's
        # client, and the groups API shares the properties client.
        self.apis = {
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

    def _observe(self, headers: Mapping[str, str]) -> None:
        """Fold HubSpot's view of the burst window into the limiter."""
        if self.burst is None:
            return
        remaining = _int_header(headers.get("x-hubspot-ratelimit-remaining"))
        if remaining is not None:
            self.burst.observe(_int_header(headers.get("x-hubspot-ratelimit-max")), remaining)


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
    return Answer(body, _headers(response.headers))


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
