"""Apply's batches: whole records in record order, slices of a plan's changes or gathered when a record is split."""

from __future__ import annotations

import polars as pl
import pytest

from revrules.run.apply import _batches


def _records(batches: list[pl.DataFrame]) -> list[list[str]]:
    return [batch["id"].unique(maintain_order=True).to_list() for batch in batches]


def test_a_plans_batches_are_slices_of_whole_records_in_record_order() -> None:
    changes = pl.DataFrame({"id": ["a", "a", "b", "c", "c", "c", "d"], "field": list("xyxxyzx")})
    batches = _batches(changes, 2)
    assert _records(batches) == [["a", "b"], ["c", "d"]]
    assert pl.concat(batches).equals(changes)


@pytest.mark.parametrize("size", [1, 2, 5])
def test_a_record_whose_changes_are_apart_is_sent_whole_in_the_batch_of_its_first_change(size: int) -> None:
    changes = pl.DataFrame({"id": ["b", "a", "b", "c", "a"], "field": list("xxyxy")})
    batches = _batches(changes, size)
    ids = ["b", "a", "c"]
    assert _records(batches) == [ids[start:start + size] for start in range(0, len(ids), size)]
    for batch in batches:
        for record in batch["id"].unique().to_list():
            assert batch.filter(pl.col("id") == record).height == changes.filter(pl.col("id") == record).height
