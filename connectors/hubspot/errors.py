"""HubSpot's refusals: which are retried, which end the run, and per-record 207 failures as `CODE: message`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from revrules.errors import ApiBudgetExhaustedError, CrmError


def retry_reason(what: str, status: int, body: Mapping[str, Any], object_type: str) -> str:
    """Why a failed request may be retried (429, 5xx, no answer); raises when retrying cannot help.

    Raises:
        ApiBudgetExhaustedError: A 429 for HubSpot's DAILY limit.
        CrmError: 401, 403 or another 4xx.
    """
    category = str(body.get("category") or body.get("errorType") or "")
    message = str(body.get("message") or "").strip()
    if status == 429:
        policy = str(body.get("policyName") or "")
        if policy.upper() == "DAILY":
            raise ApiBudgetExhaustedError(
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
            f"scopes for {object_type} and its schemas"
        )
    raise CrmError(f"{what}: HubSpot refused the request ({status}{_detail(category, message)})")


def error_body(raw: Any) -> dict[str, Any]:
    """An error answer's JSON body; empty when there is none or it is not a JSON object."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def record_failure(error: Any) -> tuple[dict[str, str], str]:
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


def _detail(category: str, message: str) -> str:
    parts = [part for part in (category, message) if part]
    return f" {': '.join(parts)}" if parts else ""
