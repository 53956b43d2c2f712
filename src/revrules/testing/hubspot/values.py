"""Property values as HubSpot stores and compares them: datetimes, numbers, options and validation errors."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from revrules.testing.hubspot.protocol import JsonObject, _ApiError


def now_iso() -> str:
    """Return the current UTC time as HubSpot prints it: ISO 8601 with ms and ``Z``."""
    return format_iso(datetime.now(UTC))


def format_iso(moment: datetime) -> str:
    """Format an aware datetime as ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_datetime_ms(value: str) -> int | None:
    """Parse epoch milliseconds, an ISO datetime or an ISO date into epoch ms.

    Args:
        value: The text to parse.

    Returns:
        Milliseconds since the epoch (UTC), or None when the text is not a date.
    """
    text = value.strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)



def _id_sort_key(record_id: str) -> tuple[int, int, str]:
    return (0, int(record_id), "") if record_id.isdigit() else (1, 0, record_id)


def _is_number(text: str) -> bool:
    try:
        return Decimal(text.strip()).is_finite()
    except InvalidOperation:
        return False


def _as_bool(value: Any) -> bool:
    return str(value).strip().lower() in {"true", "1", "yes"}



@dataclass
class _Invalid:
    name: str
    error: str
    message: str



def _number_text(value: Decimal) -> str:
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def _normalise(definition: Mapping[str, Any], value: Any) -> tuple[str | None, _Invalid | None]:
    """Turn a written value into HubSpot's stored string, or explain why it is invalid."""
    name = str(definition["name"])
    if value is None or value == "":
        return None, None
    kind = definition.get("type")
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float):
        text = _number_text(Decimal(str(value)))
    else:
        text = str(value)
    if kind == "number":
        try:
            number = Decimal(text.strip())
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite():
            return None, _Invalid(
                name, "INVALID_FLOAT", f"Enter a number. {text} is not a valid number."
            )
        return _number_text(number), None
    if kind == "bool":
        if text.strip().lower() not in {"true", "false"}:
            return None, _Invalid(name, "INVALID_BOOLEAN", f"{text} is not a valid boolean")
        return text.strip().lower(), None
    if kind in {"datetime", "date"}:
        millis = parse_datetime_ms(text)
        if millis is None:
            return None, _Invalid(name, "INVALID_DATE", f"{text} is not a valid date")
        moment = datetime.fromtimestamp(millis / 1000, tz=UTC)
        return (format_iso(moment) if kind == "datetime" else moment.date().isoformat()), None
    if kind == "enumeration":
        allowed = [str(o["value"]) for o in definition.get("options") or []]
        chosen = text.split(";") if definition.get("fieldType") == "checkbox" else [text]
        for item in chosen:
            if item not in allowed:
                return None, _Invalid(
                    name,
                    "INVALID_OPTION",
                    f"{item} was not one of the allowed options: {_option_list(definition)}",
                )
        return text, None
    return text, None


def _option_list(definition: Mapping[str, Any] | None) -> str:
    options = (definition or {}).get("options") or []
    return "[" + ", ".join(str(o["value"]) for o in options) + "]"


def _invalid_message(invalid: list[_Invalid]) -> str:
    details = [
        {
            "isValid": False,
            "message": item.message,
            "error": item.error,
            "name": item.name,
            "localizedErrorMessage": item.message,
        }
        for item in invalid
    ]
    return "Property values were not valid: " + json.dumps(details, separators=(",", ":"))


def _validation_error(record_id: str, trace: Any, invalid: list[_Invalid]) -> JsonObject:
    context: dict[str, list[str]] = {"ids": [record_id]}
    if trace is not None:
        context["objectWriteTraceId"] = [str(trace)]
    return {
        "status": "error",
        "category": "VALIDATION_ERROR",
        "message": _invalid_message(invalid),
        "context": context,
        "errors": [
            {
                "message": item.message,
                "code": item.error,
                "in": item.name,
                "context": {"propertyName": [item.name]},
            }
            for item in invalid
        ],
        "links": {},
    }


def _compare_key(definition: Mapping[str, Any], text: str) -> Any:
    kind = definition.get("type")
    if kind in {"datetime", "date"}:
        millis = parse_datetime_ms(text)
        if millis is None:
            raise _ApiError(
                400, f"{text} is not a valid date for {definition['name']}", "VALIDATION_ERROR"
            )
        return millis
    if kind == "number":
        if not _is_number(text):
            raise _ApiError(
                400, f"{text} is not a valid number for {definition['name']}", "VALIDATION_ERROR"
            )
        return Decimal(text.strip())
    return text.strip().lower()


def _stored_key(definition: Mapping[str, Any], value: str | None) -> Any:
    if value in (None, ""):
        return None
    try:
        return _compare_key(definition, str(value))
    except _ApiError:
        return None


def _sort_key(definition: Mapping[str, Any], value: str | None) -> Any:
    key = _stored_key(definition, value)
    return key if key is not None else ""


def _between(key: Any, low: Any, high: Any) -> bool:
    return key is not None and low <= key <= high

