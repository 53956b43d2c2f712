"""A batch recorded pending keeps its changes' order, values and object, row for row.

A batch of few kinds of change (field, before, after, rule) and one of many reach SQLite
differently (`Ledger._insert`): each test records both.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from revrules.state.ledger import Ledger


@pytest.mark.parametrize("copies", [1, 3], ids=["every-change-its-own-kind", "few-kinds"])
def test_a_batch_is_recorded_in_its_order_with_nulls_quotes_and_objects(tmp_path: Path, copies: int) -> None:
    once = pl.DataFrame({
        "id": ["b", "a", "c", "a"],
        "field": ["Segment__c", "Segment__c", "OwnerId", "Tier__c"],
        "before": [None, 'say "hi"', "005A", None],
        "after": ["Big", "é, \\ ü", None, "Gold"],
        "rule": ["big", "big", None, "gold"],
        "object": [None, None, "Contact", None],
    })
    changes = pl.concat([once.with_columns(pl.format("{}{}", "id", pl.lit(n)).alias("id")) for n in range(copies)])
    ledger = Ledger(tmp_path / "ledger.db")
    try:
        run = ledger.start_run("apply", crm="csv", rulebook_hash="r", config_hash="c")
        ledger.record_skipped(run, changes.head(1), "not attempted")
        rows = ledger.record_pending(run, changes)
        recorded = pl.concat([ledger.writes(run, "pending"), ledger.related_writes(run, "pending").drop("object")])
        assert rows.to_list() == list(range(2, 2 + changes.height))
        assert recorded.sort("row").select(changes.drop("object").columns).equals(changes.drop("object"))
        assert ledger.related_pending()["row"].to_list() == list(range(4, 2 + changes.height, 4))
    finally:
        ledger.close()


def test_columns_with_one_value_throughout_a_batch_are_recorded_on_every_row(tmp_path: Path) -> None:
    """A first sync's empty `before`, one field and one rule for every change: each row still holds them."""
    changes = pl.DataFrame({"id": ["b", "a", "c", "d", "e"], "field": ["Segment__c"] * 5, "before": [None] * 5,
                            "after": ["Big", "Small", "Big", "Big", "Small"], "rule": ["big"] * 5},
                           schema={"id": pl.String, "field": pl.String, "before": pl.String, "after": pl.String,
                                   "rule": pl.String})
    ledger = Ledger(tmp_path / "ledger.db")
    try:
        run = ledger.start_run("apply", crm="csv", rulebook_hash="r", config_hash="c")
        first = ledger.record_pending(run, changes.head(1))
        rows = ledger.record_pending(run, changes)
        assert first.to_list() == [1] and rows.to_list() == [2, 3, 4, 5, 6]
        assert ledger.writes(run).select(changes.columns).equals(pl.concat([changes.head(1), changes]))
    finally:
        ledger.close()
