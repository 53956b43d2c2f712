"""The data connectors take and give: record updates, write results, list writes, property specs.

What connectors can do is declared in `revrules.connectors.protocols`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import polars as pl

ID = "__id"
"""Name of the record-id column in every frame a connector returns."""

CrmValue = str | int | float | bool | None
"""A value as the CRM represents it (a CSV cell is always a string or None)."""


@dataclass(frozen=True)
class RecordUpdate:
    """The new values of some fields of one record."""

    record_id: str
    values: dict[str, CrmValue]


@dataclass(frozen=True)
class WriteResult:
    """The outcome of writing one field of one record."""

    record_id: str
    field: str
    ok: bool
    error: str | None = None
    named: bool = False
    """The CRM named this field as a reason it refused the record (Salesforce `fields`,
    HubSpot's property errors): the record's other fields can be sent again without it."""


@dataclass(frozen=True)
class PropertySpec:
    """An output field revrules may create in a CRM that lacks it (`check --create-properties`)."""

    name: str
    label: str
    type: Literal["enumeration", "string", "number", "bool"]
    options: tuple[str, ...] = ()
    multiple: bool = False
    """An enumeration that holds several options (a `collect` decision)."""


@dataclass(frozen=True)
class ListWrite:
    """The outcome of adding a record to, or removing it from, one marketing list."""

    list_id: str
    record_id: str
    action: Literal["add", "remove"]
    ok: bool
    error: str | None = None


@dataclass(frozen=True)
class ModifiedRecords:
    """What an incremental read found, and where the next incremental read continues from."""

    frame: pl.DataFrame
    """Shaped like `Connector.read`."""
    watermark: dt.datetime | None
    """The moment the read covered up to; None when it reached the present (the run's start is the mark)."""
