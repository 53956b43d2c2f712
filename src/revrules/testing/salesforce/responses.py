"""Salesforce-shaped answers (whole-request errors, expired sessions) and request-header reading."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from revrules.testing.emulator import Answer

_Response = Answer
"""Every Salesforce handler answers with the shared `Answer` (status, bytes, content type, headers)."""


def _json(status: int, payload: Any, **headers: str) -> _Response:
    return _Response(status, json.dumps(payload).encode(), headers=dict(headers))


def _error(status: int, code: str, message: str, fields: Sequence[str] | None = None) -> _Response:
    """Salesforce's whole-request error: a list of `{message, errorCode}`."""
    item: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        item["fields"] = list(fields)
    return _json(status, [item])


def _not_found() -> _Response:
    return _error(404, "NOT_FOUND", "The requested resource does not exist")


def _session_expired() -> _Response:
    response = _error(401, "INVALID_SESSION_ID", "Session expired or invalid")
    response.headers["WWW-Authenticate"] = "Token"
    return response


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def _bearer(headers: Mapping[str, str]) -> str | None:
    value = _header(headers, "Authorization") or ""
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() in {"bearer", "oauth"} and token.strip() else None
