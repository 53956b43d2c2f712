"""Reading a run's writes gives, row for row, what the ledger's `writes` view holds (SPEC §5).

`Ledger.writes`, `related_writes`, `pending` and `related_pending` read most writes a batch
at a time, as JSON arrays joined to their kinds and batches in polars; the view `writes` is
the plain SQL reading of the same rows. Both must agree on every kind of write: of a kind
or with values of its own, settled with their batch or alone (failed, lost), skipped,
left pending by a killed run, and related records' that followed an owner change, with
record ids and values that JSON must carry exactly.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from revrules.state import readback
from revrules.state.ledger import FAILED, PENDING, SKIPPED, UNKNOWN, WRITTEN, Ledger

_IDS = ['a"1', "b\\2", "c,3", "d\n4", "é5", "null", "[7]", "8"]


def _changes(copies: int) -> pl.DataFrame:
    """Few kinds of change over many records (`copies` of each), or every change its own kind (1)."""
    once = pl.DataFrame({
        "field": ["Segment__c", "Tier__c", "OwnerId", "Segment__c"],
        "before": [None, 'say "hi"', "005A", "Big"],
        "after": ["Big", "é, \\ ü", None, None],
        "rule": ["big", "gold", "follows", None],
        "object": [None, None, "Contact", None],
    })
    records = [record for n in range(copies) for record in (f"{_IDS[n % len(_IDS)]}#{n}",)]
    return pl.concat([once.with_columns(pl.lit(record).alias("id")) for record in records]).select(
        "id", "field", "before", "after", "rule", "object")


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    """Two runs: one settled every way a write can be, one killed with its batch in flight."""
    book = Ledger(tmp_path / "ledger.db")
    first = book.start_run("apply", crm="csv", rulebook_hash="r", config_hash="c")
    book.record_skipped(first, _changes(2), "changed since")
    for copies in (1, 40):
        rows = book.record_pending(first, _changes(copies))
        # Some fail, one's answer is lost; the rest land with their batch.
        book.record_outcome(rows, pl.DataFrame({"row": rows.gather([1, 3]), "result": [FAILED, UNKNOWN],
                                                "error": ["FIELD_CUSTOM_VALIDATION_EXCEPTION", None]}))
    book.finish_run(first, "partial")
    killed = book.start_run("apply", crm="csv", rulebook_hash="r", config_hash="c")
    book.record_pending(killed, _changes(12))
    yield book
    book.close()


def _view(ledger: Ledger, where: str, params: tuple[object, ...], columns: str) -> pl.DataFrame:
    cursor = ledger.db.execute(f"SELECT {columns} FROM writes WHERE {where} ORDER BY row", params)
    names = [name for name, *_ in cursor.description]
    return pl.DataFrame(cursor.fetchall(), schema={n: pl.Int64 if n in ("row", "run_id") else pl.String for n in names},
                        orient="row")


@pytest.mark.parametrize("result", [None, WRITTEN, FAILED, UNKNOWN, SKIPPED, PENDING])
@pytest.mark.parametrize("run", [1, 2])
def test_a_runs_writes_are_the_views_rows(ledger: Ledger, run: int, result: str | None) -> None:
    where, params = ("run_id = ? AND result = ?", (run, result)) if result else ("run_id = ?", (run,))
    change = "id AS row, record_id AS id, field, before, after, rule, result, error"
    assert ledger.writes(run, result).equals(_view(ledger, f"{where} AND object IS NULL", params, change))
    assert ledger.writes(run, result, ("id", "after")).equals(ledger.writes(run, result).select("id", "after"))
    assert ledger.related_writes(run, result).equals(
        _view(ledger, f"{where} AND object IS NOT NULL", params,
              "id AS row, object, record_id AS id, field, before, after, rule, result, error"))


def test_unsettled_writes_are_the_views_pending_and_unknown_ones(ledger: Ledger) -> None:
    where = "result IN ('pending', 'unknown') AND object IS {}NULL"
    change = "id AS row, run_id, {}record_id AS id, field, before, after, rule"
    pending = ledger.pending()
    assert pending.equals(_view(ledger, where.format(""), (), change.format("")))
    assert ledger.related_pending().equals(_view(ledger, where.format("NOT "), (), change.format("object, ")))
    assert set(pending["run_id"]) == {1, 2} and pending.height > 12


def test_a_read_sees_the_writes_as_they_were_when_it_began(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process recording writes of the same run while it is read (a report of an apply in flight):
    the read's two statements see one state of the ledger, never a batch half-counted."""
    before = ledger.writes(2)
    valued = readback._valued
    writer = Ledger(ledger.path)

    recorded: list[int] = []

    def record_meanwhile(db: sqlite3.Connection, *args: Any, **kwargs: Any) -> pl.DataFrame:
        if db is ledger.db and not recorded:  # once, between the read's statements
            rows = writer.record_pending(2, _changes(3))
            writer.record_outcome(rows, pl.DataFrame({"row": rows.gather([0]), "result": [FAILED], "error": ["x"]}))
            recorded.append(rows.len())
        return valued(db, *args, **kwargs)

    monkeypatch.setattr(readback, "_valued", record_meanwhile)
    try:
        assert ledger.writes(2).equals(before)
    finally:
        writer.close()
    monkeypatch.undo()
    assert ledger.writes(2).height > before.height
