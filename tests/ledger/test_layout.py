"""The ledger's writes are found through their batches, never by reading every write (layout 2).

A write carries no run and enters no index: SQLite must go from the few rows of `batches`
(by run, through `batches_of_run`) into `write_rows` by id range. The query plans are read
with EXPLAIN QUERY PLAN (https://www.sqlite.org/eqp.html): `SCAN w` would mean every write
is read for each batch. A write's kind (layout 3) is found by its id.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from revrules.state.ledger import Ledger


@pytest.mark.parametrize("where", ["run_id = 1", "result = 'pending'", "run_id = 1 AND result = 'written'"])
def test_the_view_reads_writes_by_the_id_range_of_their_batch(tmp_path: Path, where: str) -> None:
    ledger = Ledger(tmp_path / "ledger.db")
    try:
        plan = [row[3] for row in ledger.db.execute(f"EXPLAIN QUERY PLAN SELECT * FROM writes WHERE {where}")]
    finally:
        ledger.close()
    assert plan[-2:] == ["SEARCH w USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)",
                         "SEARCH k USING INTEGER PRIMARY KEY (rowid=?) LEFT-JOIN"]  # each write's kind, by its id
    assert not any(step.startswith(("SCAN w", "SCAN k")) for step in plan)
    if "run_id" in where:
        assert plan[0] == "SEARCH b USING INDEX batches_of_run (run_id=?)"


def test_the_kinds_of_related_records_writes_are_found_by_their_own_index(tmp_path: Path) -> None:
    """A read of related writes starts from their kinds, a few among all: never a scan of every kind."""
    ledger = Ledger(tmp_path / "ledger.db")
    try:
        plan = [row[3] for row in ledger.db.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM write_kinds WHERE object IS NOT NULL")]
    finally:
        ledger.close()
    assert plan == ["SCAN write_kinds USING INDEX write_kinds_related"]
