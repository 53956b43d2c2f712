"""Whether the CRM holds a value: CRM text equality (blank and null alike, surrounding spaces aside), in bulk."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revrules.connectors.base import ID
from revrules.connectors.protocols import Connector
from revrules.run.settle import current_values, holds, same_value, split

_texts = st.sampled_from([None, "", "  ", "SMB", " SMB", "SMB ", "smb", "Mid-Market", "é \"q\"", "a\nb"])


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(_texts, _texts), max_size=30))
def test_holds_is_same_value_row_by_row(pairs: list[tuple[str | None, str | None]]) -> None:
    """Exact matches are found first and only the rest trimmed: the answer is `same_value`'s for every row."""
    checked = pl.DataFrame(pairs, schema={"current": pl.String, "after": pl.String}, orient="row")
    expected = checked.select(same_value(pl.col("current"), pl.col("after"))).to_series()
    assert holds(checked, "after").to_list() == expected.to_list()


@pytest.mark.parametrize("mask", [[True, True, True], [True, False, True], [False, False, False]])
def test_split_gives_the_rows_that_hold_and_the_others_in_order(mask: list[bool]) -> None:
    frame = pl.DataFrame({"id": ["a", "b", "c"]})
    kept, others = split(frame, pl.Series(mask))
    assert kept["id"].to_list() == [i for i, m in zip("abc", mask, strict=True) if m]
    assert others["id"].to_list() == [i for i, m in zip("abc", mask, strict=True) if not m]
    assert kept.schema == others.schema == frame.schema


class _Crm:
    """The records a CRM holds, read by id as a connector reads them (`Connector.read_records`)."""

    kind = "test"

    def __init__(self, records: dict[str, dict[str, str | None]]) -> None:
        self.records = records

    def read_records(self, ids: Sequence[str], fields: Sequence[str]) -> pl.DataFrame:
        found = [i for i in ids if i in self.records]
        return pl.DataFrame({ID: found, **{f: [self.records[i].get(f) for i in found] for f in fields}},
                            schema={ID: pl.String, **dict.fromkeys(fields, pl.String)})


@pytest.mark.parametrize("held", [{"a": {"Tier__c": "Gold", "Segment__c": " SMB"}, "b": {"Tier__c": None}}, {}],
                         ids=["some-records-held", "none-held"])
def test_current_values_are_each_changes_field_of_its_record_or_nothing(
        held: dict[str, dict[str, str | None]]) -> None:
    """Changes in any order; a record or field the CRM does not hold reads as null."""
    changes = pl.DataFrame({"id": ["b", "a", "c", "a"], "field": ["Tier__c", "Tier__c", "Tier__c", "Segment__c"],
                            "after": ["x", "y", "z", "w"]})
    checked = current_values(cast(Connector, _Crm(held)), changes)
    expected = [held.get(i, {}).get(f) for i, f in zip(changes["id"], changes["field"], strict=True)]
    assert checked.drop("current").equals(changes)
    assert checked["current"].to_list() == expected
