"""Salesforce values: record ids, datetimes, per-record errors and conversion to a field's type."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from revrules.testing.salesforce.describe import _NUMBER_TYPES

_ID_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_RE = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


def _id18(id15: str) -> str:
    """The 18-character form of a 15-character Salesforce id (case-safe checksum)."""
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << i for i, char in enumerate(id15[start : start + 5]) if char.isupper())
        suffix += _ID_SUFFIX_ALPHABET[bits]
    return id15 + suffix


def _make_id(prefix: str, number: int) -> str:
    """A deterministic, well-formed 18-character id with a 3-character key prefix."""
    digits = ""
    while number:
        number, rest = divmod(number, 62)
        digits = _BASE62[rest] + digits
    return _id18(prefix + "EM" + digits.rjust(10, "0"))


def _format_datetime(moment: datetime) -> str:
    """A datetime as the REST API writes it: `2024-01-01T00:00:00.000+0000`."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def _parse_datetime(text: str) -> datetime:
    """Parse the datetime forms Salesforce reads and writes (Z, +0000, +00:00, no zone).

    Raises:
        ValueError: The text is not a datetime.
    """
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    value = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", value)
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _now() -> datetime:
    """Now, to the whole second, as Salesforce stamps SystemModstamp."""
    return datetime.now(UTC).replace(microsecond=0)


class _FieldError(Exception):
    """A per-record error: Salesforce's statusCode, message and fields."""

    def __init__(self, code: str, message: str, fields: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = list(fields)

    def as_json(self) -> dict[str, Any]:
        """The error as sObject Collections report it."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}

    def as_bulk(self) -> str:
        """The error as a Bulk API 2.0 `sf__Error` cell."""
        fields = f"{','.join(self.fields)} " if self.fields else ""
        return f"{self.code}:{self.message}:{fields}--"


def _coerce(definition: Mapping[str, Any], raw: Any) -> Any:
    """Convert a JSON or CSV value to the stored type of a field.

    Raises:
        _FieldError: The value does not fit the field's type.
    """
    kind = definition["type"]
    if raw is None:
        # A checkbox is never null: an org stores false (Object Reference, "boolean" field type).
        return False if kind == "boolean" else None
    name = definition["name"]
    try:
        if kind == "int":
            number = float(str(raw).replace(",", "")) if isinstance(raw, str) else float(raw)
            if not number.is_integer():
                raise ValueError(raw)
            return int(number)
        if kind in _NUMBER_TYPES:
            return float(str(raw).replace(",", "")) if isinstance(raw, str) else float(raw)
        if kind == "boolean":
            if isinstance(raw, bool):
                return raw
            lowered = str(raw).strip().lower()
            if lowered not in {"true", "false", "1", "0"}:
                raise ValueError(raw)
            return lowered in {"true", "1"}
        if kind == "datetime":
            return _format_datetime(_parse_datetime(str(raw)))
        if kind == "date":
            return date.fromisoformat(str(raw).strip()[:10]).isoformat()
    except (TypeError, ValueError):
        raise _FieldError(
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            f"{definition['label']}: value not of required type: {raw}",
            [name],
        ) from None
    if isinstance(raw, (dict, list)):
        raise _FieldError("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: bad value", [name])
    return str(raw)

