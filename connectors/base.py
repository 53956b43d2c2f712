"""The connector contract: plain data in and out, a small Protocol per ability."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

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


@dataclass(frozen=True)
class PropertySpec:
    """An output field revrules may create in a CRM that lacks it (`check --create-properties`)."""

    name: str
    label: str
    type: Literal["enumeration", "string", "number"]
    options: tuple[str, ...] = ()
    multiple: bool = False
    """An enumeration that holds several options (a `collect` decision)."""


class Connector(Protocol):
    """What every CRM connector does."""

    kind: str

    def read(self, fields: Sequence[str]) -> pl.DataFrame:
        """All records: column `__id` plus each asked-for CRM field, raw, as strings.

        A field the CRM does not have is an error; a missing value is null.
        """
        ...

    def read_records(self, ids: Sequence[str], fields: Sequence[str]) -> pl.DataFrame:
        """The current values of `fields` for the given records, same shape as `read`."""
        ...

    def write(self, updates: Sequence[RecordUpdate]) -> list[WriteResult]:
        """Write one batch; one result per (record, field) in `updates`."""
        ...

    @property
    def batch_size(self) -> int:
        """How many records one `write` call takes."""
        ...


@dataclass(frozen=True)
class ListWrite:
    """The outcome of adding a record to, or removing it from, one marketing list."""

    list_id: str
    record_id: str
    action: Literal["add", "remove"]
    ok: bool
    error: str | None = None


class ListSync(Protocol):
    """A CRM whose marketing lists are found by name and changed by diff (HubSpot, Salesforce)."""

    def list_members(self, list_id: str, name: str) -> set[str]:
        """The record ids in the CRM list named `name`; empty when it does not exist yet."""
        ...

    def write_list_changes(
        self, list_id: str, name: str, adds: Sequence[str], removes: Sequence[str]
    ) -> list[ListWrite]:
        """Add and remove members of the list named `name` (created when missing); one result per id."""
        ...
