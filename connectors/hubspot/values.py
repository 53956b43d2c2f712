"""HubSpot values to and from revrules text: property strings, frames of records, modification times."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from revrules.connectors.base import ID, CrmValue

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def frame(rows: Sequence[tuple[str, Mapping[str, Any]]], names: Sequence[str]) -> pl.DataFrame:
    """Records as a frame of strings: `__id` then each property; empty is null."""
    columns: dict[str, list[str | None]] = {ID: [record for record, _ in rows]}
    for name in names:
        columns[name] = [_raw(properties.get(name)) for _, properties in rows]
    return pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.String))


def text(value: CrmValue) -> str:
    """A value as HubSpot takes it: always a string, and an empty one clears the property."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
    return str(value)


def epoch_ms(moment: datetime) -> int:
    """A moment in epoch milliseconds, as HubSpot's search filters take it."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def parse_ms(value: Any) -> int | None:
    """HubSpot's modification time (ISO text or epoch ms) in epoch milliseconds."""
    if value in (None, ""):
        return None
    raw = str(value).strip()
    if raw.lstrip("-").isdigit():
        return int(raw)
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return epoch_ms(moment)


def _raw(value: Any) -> str | None:
    if value is None:
        return None
    shown = value if isinstance(value, str) else str(value)
    return shown if shown != "" else None
