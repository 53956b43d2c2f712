"""A buffering connector's writes are recorded written only once flushed; the CSV file is rewritten once per apply."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from revrules.connectors import csvfile
from revrules.connectors.base import RecordUpdate
from revrules.connectors.csvfile import CsvConnector
from revrules.errors import CrmError
from revrules.run.apply import RowChanges, apply_changes
from revrules.run.changes import CHANGE_SCHEMA
from revrules.run.landing import landing
from revrules.state.ledger import Ledger

EXPORT = "Id,Name,Segment__c\n001A,Acme,SMB\n001B,Globex,\n001C,Initech,Mid-Market\n"


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "accounts.csv"
    path.write_text(EXPORT, encoding="utf-8")
    return path


def _changes(*segments: tuple[str, str]) -> pl.DataFrame:
    return pl.DataFrame([(i, "Segment__c", None, after, "r") for i, after in segments], schema=CHANGE_SCHEMA,
                        orient="row")


def _results(ledger: Ledger, run_id: int) -> list[str]:
    return ledger.writes(run_id)["result"].to_list()


def test_buffered_writes_stay_in_memory_until_flushed(export: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.csv"
    source = CsvConnector(export, "Id", output=output, write_fields=["Segment__c"])
    source.buffer_writes()
    source.write([RecordUpdate("001A", {"Segment__c": "One"})])
    source.write([RecordUpdate("001B", {"Segment__c": "Two"})])
    assert not output.exists()
    assert source.read(["Segment__c"])["Segment__c"].to_list() == ["One", "Two", "Mid-Market"]
    source.flush()
    fresh = CsvConnector(export, "Id", output=output, write_fields=["Segment__c"])
    assert fresh.read(["Segment__c"])["Segment__c"].to_list() == ["One", "Two", "Mid-Market"]


def test_an_apply_rewrites_the_csv_once_and_records_writes_after_it(
    export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = Ledger(tmp_path / "ledger.db")
    run_id = ledger.start_run("apply", crm="csv", rulebook_hash="b", config_hash="c")
    source = CsvConnector(export, "Id", write_fields=["Segment__c"], batch_size=1)
    rewrites: list[Path] = []
    real = csvfile._write_atomically

    def counted(target: Path, write: Callable[..., object]) -> None:
        rewrites.append(target)
        real(target, write)

    monkeypatch.setattr(csvfile, "_write_atomically", counted)
    changes = RowChanges(_changes(("001A", "One"), ("001B", "Two"), ("001C", "Three")))
    written, failed = apply_changes(ledger, source, run_id, changes)
    assert (written, failed.height) == (3, 0)
    assert rewrites == [export]
    assert _results(ledger, run_id) == ["written"] * 3
    assert "001C,Initech,Three" in export.read_text(encoding="utf-8")
    ledger.close()


def test_writes_stay_pending_until_the_flush_and_fail_with_it(
    export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = Ledger(tmp_path / "ledger.db")
    run_id = ledger.start_run("apply", crm="csv", rulebook_hash="b", config_hash="c")
    source = CsvConnector(export, "Id", write_fields=["Segment__c"])
    rows = ledger.record_pending(run_id, _changes(("001A", "One"), ("999", "Two")))

    def full(*_: object) -> None:
        raise CrmError("cannot write accounts.csv: No space left on device")

    monkeypatch.setattr(csvfile, "_write_atomically", full)
    with pytest.raises(CrmError), landing(ledger, source) as land:
        results = source.write([RecordUpdate("001A", {"Segment__c": "One"}),
                                RecordUpdate("999", {"Segment__c": "Two"})])
        outcome = pl.DataFrame([(row, "failed", r.error) for row, r in zip(rows, results, strict=True) if not r.ok],
                               schema={"row": pl.Int64, "result": pl.String, "error": pl.String}, orient="row")
        land(rows, outcome)
        # The unknown id failed for good; the landed write waits for the file.
        assert _results(ledger, run_id) == ["pending", "failed"]
    assert _results(ledger, run_id) == ["failed", "failed"]
    assert export.read_text(encoding="utf-8") == EXPORT
    ledger.close()
