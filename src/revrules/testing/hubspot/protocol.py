"""The HubSpot API's wire contract: limits, request and reply types, error bodies and parameter parsing."""

from __future__ import annotations

import re
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

JsonObject = dict[str, Any]

DEFAULT_ACCESS_TOKEN = "test-token"  # noqa: S105  # the loopback emulator's own, not a secret
DEFAULT_SEARCH_CAP = 10_000
API_VERSIONS = ("v3", "2026-03")
"""The path families served: legacy `/crm/v3/...` and the date-versioned `/crm/.../2026-03/...`."""
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



Handler = Callable[[_Request, "re.Match[str]"], _Reply]
"""A route handler: the request and its path match → the reply."""

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

