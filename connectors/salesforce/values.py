"""Salesforce values to and from the text revrules works with: REST JSON, Bulk CSV cells, typed writes."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from revrules.connectors.base import ID, CrmValue

NUMBER_TYPES = frozenset({"int", "double", "currency", "percent"})
TEXT_TYPES = frozenset({"string", "textarea", "picklist", "multipicklist", "url", "email", "phone",
                        "encryptedstring", "combobox"})
"""Types whose describe `length` bounds the characters a value may have."""
UNSUPPORTED_TYPES = frozenset({"address", "location", "base64", "complexvalue"})
_INTEGRAL_TEXT_RE = r"^([+-]?\d+)\.0*$"
_BULK_NULL = "#N/A"


@dataclass(frozen=True)
class FieldInfo:
    """What the describe says about one field."""

    name: str
    type: str
    updateable: bool
    restricted_values: frozenset[str] | None
    """The active values of a restricted (multi-)picklist; None for any other field."""
    length: int = 0
    """The most characters a text field holds; 0 for a field the describe gives no length."""
    options: frozenset[str] | None = None
    """The active values of any (multi-)picklist, restricted or not; None for any other field."""


def render(value: Any, kind: str) -> str | None:
    """A REST value as the text the engine converts: integral numbers without `.0`."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if kind == "datetime" and text.endswith("+0000"):
        return text[:-5] + "Z"
    if kind in NUMBER_TYPES:
        return re.sub(_INTEGRAL_TEXT_RE, r"\1", text)
    return text if text != "" else None


def bulk_column(name: str, kind: str) -> pl.Expr:
    """A Bulk API 2.0 CSV column rendered like `render` renders REST values; empty is null."""
    column: pl.Expr = pl.when(pl.col(name) != "").then(pl.col(name))
    if kind in NUMBER_TYPES:
        column = column.str.replace(_INTEGRAL_TEXT_RE, "${1}")
    elif kind == "boolean":
        column = column.str.to_lowercase()
    elif kind == "datetime":
        column = column.str.replace(r"\+0000$", "Z")
    return column.alias(name)


def typed(field: FieldInfo, value: CrmValue) -> CrmValue:
    """A value as JSON of the field's type: numbers as numbers, booleans as booleans.

    Raises:
        ValueError: The value does not fit the field's type.
    """
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if field.type in NUMBER_TYPES:
        if isinstance(value, bool):
            raise ValueError(value)
        number = float(value.replace(",", "")) if isinstance(value, str) else float(value)
        if not math.isfinite(number):
            raise ValueError(value)
        if field.type == "int" and not number.is_integer():
            raise ValueError(value)
        return int(number) if number.is_integer() else number
    if field.type == "boolean":
        if isinstance(value, bool):
            return value
        lowered = str(value).strip().lower()
        if lowered not in ("true", "false", "1", "0"):
            raise ValueError(value)
        return lowered in ("true", "1")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def bulk_cell(value: CrmValue) -> str:
    """A typed value as Bulk API 2.0 CSV text; `#N/A` empties a field (blank leaves it)."""
    if value is None:
        return _BULK_NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def picklist_parts(field: FieldInfo, value: str) -> list[str]:
    """The values one written value holds: the `;`-separated parts of a multi-select picklist."""
    if field.type == "multipicklist":
        return [part for part in value.split(";") if part]
    return [value]


def empty_frame(names: Sequence[str]) -> pl.DataFrame:
    """A frame with no records: `__id` plus each field, all text."""
    return pl.DataFrame(schema={ID: pl.String, **dict.fromkeys(names, pl.String)})
