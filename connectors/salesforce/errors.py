"""Salesforce's refusals as revrules errors and readable `CODE: message` texts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from revrules.errors import CrmError

LOCKED = "UNABLE_TO_LOCK_ROW"
LIMIT_EXCEEDED = "REQUEST_LIMIT_EXCEEDED"
ALREADY_DELETED = "ENTITY_IS_DELETED"
CONCURRENCY_LIMITS = ("ConcurrentRequests", "ConcurrentPerOrgLongTxn")
"""The `REQUEST_LIMIT_EXCEEDED` limits that count requests in flight, not requests per day."""
DUPLICATES = "DUPLICATES_DETECTED"
RETRIED_STATUSES = frozenset({429, 502, 503, 504})
"""HTTP statuses a call is retried on (throttling and gateways), besides lost connections."""

_BULK_ERROR_RE = re.compile(r"^(?P<code>[A-Z0-9_]+):(?P<message>.*?)(?::[^:]*--)?\s*$", re.DOTALL)


class BulkJobFailedError(CrmError):
    """A Bulk API 2.0 update job ended `Failed` with nothing written."""


@dataclass(frozen=True)
class Failure:
    """A record Salesforce refused: its `CODE: message` and the fields Salesforce named, if any."""

    error: str
    fields: tuple[str, ...] = ()


def error_parts(error: Any) -> tuple[str, str]:
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


def is_concurrency_limit(message: str) -> bool:
    """Whether a `REQUEST_LIMIT_EXCEEDED` message names a concurrency limit.

    Salesforce uses one code for every request limit and tells them apart only by the
    message: "TotalRequests Limit exceeded." (the daily allowance) versus
    "ConcurrentRequests (Concurrent API Requests) Limit exceeded." or
    "ConcurrentPerOrgLongTxn Limit exceeded." (requests in flight).
    """
    return message.strip().startswith(CONCURRENCY_LIMITS)


def error_text(error: Any) -> str:
    """A simple-salesforce error as `CODE: message`."""
    code, message = error_parts(error)
    return f"{code}: {message}" if message else code


def collection_error(item: Mapping[str, Any]) -> str:
    """The first error of one sObject Collections result, as `CODE: message`."""
    errors = item.get("errors") or [{}]
    first = errors[0]
    return f"{first.get('statusCode', 'UNKNOWN_ERROR')}: {first.get('message', '')}".rstrip()


def collection_fields(item: Mapping[str, Any]) -> tuple[str, ...]:
    """The fields the errors of one sObject Collections result name (its `fields` lists)."""
    return tuple(dict.fromkeys(str(name) for error in item.get("errors") or [] for name in error.get("fields") or []))


def bulk_fields(cell: str) -> tuple[str, ...]:
    """The fields a Bulk API 2.0 `sf__Error` names (`CODE:message:Field1,Field2 --`)."""
    match = re.search(r":([A-Za-z0-9_,]*) --\s*$", cell.strip())
    return tuple(name for name in (match.group(1).split(",") if match else []) if name)


def bulk_error(cell: str) -> str:
    """`CODE:message:fields --` (Bulk API 2.0 `sf__Error`) as `CODE: message`."""
    match = _BULK_ERROR_RE.match(cell.strip())
    if match is None:
        return cell.strip() or "UNKNOWN_ERROR"
    return f"{match['code']}: {match['message'].strip()}"
