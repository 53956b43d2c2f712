"""A run killed half-way leaves a ledger and file that agree; the next run completes it once."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from revrules.testing.harness import by_id, ledger_rows
from tests.cli.projects import write_project

ROWS = 12_000
BATCH = 400
ATTEMPTS = 3
OUTPUT_FIELDS = ("Segment__c", "Arr__c", "Anti__c", "Dq__c", "Score__c")

def _accounts() -> str:
    rng = random.Random(7)
    rows = "".join(
        f"A{i:06d},{rng.randint(0, 5000)},{rng.choice(['', rng.randint(0, 900)])},"
        f"{rng.choice(['a.edu', 'b.com'])}\n"
        for i in range(ROWS)
    )
    return "Id,Emp,Mrr,Domain\n" + rows


def _start_apply(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "revrules", "apply", "--yes", "-c", str(config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _ledgered_so_far(ledger: Path) -> int:
    if not ledger.exists():
        return 0
    try:
        db = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=5)
        try:
            # Pending counts: the CSV connector lands all batches at once at the end of the run.
            return int(db.execute("SELECT COUNT(*) FROM writes").fetchone()[0])
        finally:
            db.close()
    except sqlite3.OperationalError:
        return 0  # the schema is not there yet


def _kill_mid_write(process: subprocess.Popen[bytes], ledger: Path, timeout: float = 60) -> bool:
    """SIGKILL the apply once its first batch is ledgered; False when it finished first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            process.communicate()
            return False
        if _ledgered_so_far(ledger) > 0:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            return _written_records(ledger) < ROWS
        time.sleep(0.01)
    process.kill()
    process.wait()
    pytest.fail(f"no write was ledgered within {timeout} s")


def _written_records(ledger: Path) -> int:
    db = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=5)
    try:
        return int(db.execute("SELECT COUNT(DISTINCT record_id) FROM writes WHERE result = 'written'").fetchone()[0])
    finally:
        db.close()


def _cell(row: dict[str, str] | None, field: str) -> str | None:
    value = (row or {}).get(field)
    return value or None


def test_sigkill_mid_apply_then_apply_again_writes_each_field_once(tmp_path: Path) -> None:
    accounts = _accounts()
    reference_config = write_project(
        tmp_path / "clean", accounts, extra_crm=f", batch_size: {BATCH * 40}"
    )
    reference = _start_apply(reference_config)  # a clean single run, alongside
    # A busy machine may let a run finish before the poll sees its first batch: try again, never skip.
    for attempt in range(ATTEMPTS):
        config = write_project(tmp_path / f"killed-{attempt}", accounts, extra_crm=f", batch_size: {BATCH}")
        state = config.parent / ".revrules"
        victim = _start_apply(config)
        if _kill_mid_write(victim, state / "ledger.db"):
            break
    else:
        pytest.fail(f"the apply was never killed mid-write in {ATTEMPTS} attempts")
    assert victim.returncode == -signal.SIGKILL
    output = config.parent / "out.csv"

    # The file holds exactly the batches that completed.
    runs = ledger_rows(state, "SELECT id, status FROM runs")
    assert runs == [(1, "running")]
    rows = ledger_rows(
        state, "SELECT record_id, field, after, result, at FROM writes WHERE run_id = 1"
    )
    results = {r[3] for r in rows}
    assert results <= {"written", "pending"}, results
    written = [r for r in rows if r[3] == "written"]
    pending = [r for r in rows if r[3] == "pending"]
    # Killed before its one rewrite of the file, a run leaves no output file yet.
    out = by_id(output) if output.is_file() else {}
    assert len(out) in (0, ROWS)
    for record, field, after, _, _ in written:
        assert _cell(out.get(record), field) == after, (record, field)
    landed_records = {r[0] for r in written}
    for at in {r[4] for r in pending}:
        batch = [r for r in pending if r[4] == at]
        landed = [_cell(out.get(record), field) == after for record, field, after, _, _ in batch]
        assert all(landed) or not any(landed), "a batch landed partly"
        if all(landed):
            landed_records |= {r[0] for r in batch}
    untouched = [
        record
        for record, row in out.items()
        if record not in landed_records and any(_cell(row, field) for field in OUTPUT_FIELDS)
    ]
    assert untouched == [], "the file holds values of batches the ledger does not know about"
    assert len(landed_records) < ROWS, "the kill came too late to be meaningful"

    # The next run settles the pending rows and completes the rest, writing nothing twice.
    again = subprocess.run(
        [sys.executable, "-m", "revrules", "apply", "--yes", "-c", str(config)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert "run 1 was interrupted" in again.stderr
    statuses = ledger_rows(state, "SELECT id, command, status FROM runs ORDER BY id")
    assert statuses == [(1, "apply", "interrupted"), (2, "apply", "succeeded")]
    assert ledger_rows(state, "SELECT COUNT(*) FROM writes WHERE result = 'pending'") == [(0,)]
    settled = ledger_rows(state, "SELECT DISTINCT result FROM writes WHERE run_id = 1")
    assert {r[0] for r in settled} <= {"written", "not-written"}
    twice = ledger_rows(
        state,
        "SELECT record_id, field, COUNT(*) FROM writes WHERE result = 'written'"
        " GROUP BY record_id, field HAVING COUNT(*) > 1",
    )
    assert twice == []

    reference.wait(timeout=120)
    assert reference.returncode == 0, reference.stderr.read().decode() if reference.stderr else ""
    assert reference.stderr is not None
    reference.stderr.close()
    assert by_id(output) == by_id(reference_config.parent / "out.csv")
    total = ledger_rows(state, "SELECT COUNT(*) FROM writes WHERE result = 'written'")[0][0]
    clean_total = ledger_rows(
        reference_config.parent / ".revrules",
        "SELECT COUNT(*) FROM writes WHERE result = 'written'",
    )[0][0]
    assert total == clean_total
