"""Whether the CRM holds a value: CRM text equality (blank and null alike, surrounding spaces aside), in bulk."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revrules.run.settle import holds, same_value, split

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
