"""HubSpot's refusals: which are retried, which end the run, and per-record 207 failures as `CODE: message`."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from revrules.errors import ApiBudgetExhaustedError, CrmError


class MissingScopesError(CrmError):
    """HubSpot answered 403 MISSING_SCOPES, naming the scopes the token lacks."""

    def __init__(self, message: str, scopes: list[str]) -> None:
        """Keep the scopes HubSpot named."""
        super().__init__(message)
        self.scopes = scopes


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
            "check crm.access_token (a service key, app access token or private-app token)"
        )
    if status == 403:
        scopes = missing_scopes(body)
        if scopes:
            raise MissingScopesError(
                f"{what}: the access token lacks the scope(s) {', '.join(scopes)} (403 MISSING_SCOPES); "
                "grant them to the app or service key (see the README's HubSpot scopes)", scopes)
        raise CrmError(
            f"{what}: the access token lacks a scope this needs (403{_detail(category, message)}); "
            f"grant the {object_type} read and write scopes (see the README's HubSpot scopes)"
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


def record_failure(error: Mapping[str, Any]) -> tuple[dict[str, str], str]:
    """A batch error (a 207 `errors[]` item or a 400 body) as (property -> "CODE: message", the record's text)."""
    category = str(error.get("category") or "ERROR")
    by_field: dict[str, str] = {}
    for detail in error.get("errors") or []:
        if not isinstance(detail, Mapping):
            continue
        text = f"{detail.get('code') or category}: {detail.get('message') or ''}".rstrip(": ")
        context = detail.get("context")
        names = [detail["in"]] if detail.get("in") else list((context or {}).get("propertyName") or []) \
            if isinstance(context, Mapping) else []
        for name in names:
            by_field.setdefault(str(name), text)
    if by_field:
        first_name, first_text = next(iter(by_field.items()))
        overall = f"{first_text} (on {first_name}; HubSpot rejected the whole record)"
    else:
        overall = f"{category}: {error.get('message') or ''}".rstrip(": ")
    return by_field, overall


def named_inputs(error: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The record ids and `objectWriteTraceId`s a batch error names (in its context or its details')."""
    ids: list[str] = []
    traces: list[str] = []
    contexts = [error.get("context")]
    contexts += [d.get("context") for d in error.get("errors") or [] if isinstance(d, Mapping)]
    for context in contexts:
        if not isinstance(context, Mapping):
            continue
        ids += [str(i) for i in _as_list(context.get("ids")) + _as_list(context.get("id"))]
        traces += [str(t) for t in _as_list(context.get("objectWriteTraceId"))]
    return ids, traces


def missing_scopes(body: Mapping[str, Any]) -> list[str]:
    """The scopes a 403 `MISSING_SCOPES` answer names (`requiredGranularScopes`, `missingScopes`, ...)."""
    found: list[str] = []
    for detail in [body, *[d for d in body.get("errors") or [] if isinstance(d, Mapping)]]:
        context = detail.get("context")
        if isinstance(context, Mapping):
            for key in ("requiredGranularScopes", "requiredScopes", "missingScopes"):
                found += [str(s) for s in _as_list(context.get(key))]
        elif isinstance(context, str):
            # The API reference shows the context as text: "{missingScopes=[scope1, scope2]}".
            match = re.search(r"missingScopes=\[([^\]]*)\]", context)
            if match:
                found += [s.strip() for s in match.group(1).split(",") if s.strip()]
    return list(dict.fromkeys(found))


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _detail(category: str, message: str) -> str:
    parts = [part for part in (category, message) if part]
    return f" {': '.join(parts)}" if parts else ""
