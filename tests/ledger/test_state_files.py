"""State files are readable by their owner only, whatever the umask (issue 15, "Files only their owner reads").

The ledger, the run lock and saved plans hold CRM values (before and after of every
field written), so `state_dir` is created 0700 and those files 0600. The test runs
under umask 000, where files a program does not restrict come out world-readable
(umask(2)); SQLite's `-wal` and `-shm` files take the database file's mode.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from revrules.errors import RevrulesError
from revrules.schedule.heartbeat import SchedulerRecord, record_path, write_record
from revrules.schedule.scheduler import JobState
from revrules.state.ledger import Ledger
from revrules.testing.harness import Cli, ledger_rows
from tests.ledger.projects import Crm


def mode(path: Path) -> int:
    """The permission bits of a file or folder."""
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """Umask 000 for the test: nothing is restricted unless the program restricts it."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("open_umask")
@pytest.mark.parametrize("kind", ["salesforce", "hubspot"])
def test_state_dir_is_0700_and_the_ledger_lock_and_saved_plans_are_0600(
    two_field_crm: Callable[..., Crm], cli: Cli, kind: str
) -> None:
    crm = two_field_crm(kind)
    saved = crm.config.parent / "plans" / "next.json"

    planned = cli("plan", "-c", crm.config, "-o", saved)
    applied = cli("apply", "-c", crm.config, "--yes")
    rolled = cli("rollback", "1", "-c", crm.config, "--yes")

    assert planned.code == 0 and applied.code == 0 and rolled.code == 0, applied.err + rolled.err
    assert mode(crm.state) == 0o700
    assert mode(crm.state / "ledger.db") == 0o600
    assert mode(crm.state / "run.lock") == 0o600
    assert mode(saved) == 0o600
    files = [p for p in crm.state.iterdir() if p.is_file()]
    assert {p.name for p in files} >= {"ledger.db", "run.lock"}
    assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}


def test_a_ledger_made_before_related_records_gains_their_object_column(tmp_path: Path) -> None:
    """The `writes` of an older ledger keep their rows and read as the configured object's."""
    path = tmp_path / "ledger.db"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, command TEXT NOT NULL, started_at TEXT NOT NULL,"
            " finished_at TEXT, status TEXT NOT NULL, pid INTEGER, crm TEXT, records_read INTEGER DEFAULT 0,"
            " planned INTEGER DEFAULT 0, written INTEGER DEFAULT 0, failed INTEGER DEFAULT 0,"
            " skipped INTEGER DEFAULT 0, rulebook_hash TEXT, config_hash TEXT, message TEXT);"
            "CREATE TABLE writes (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL,"
            " record_id TEXT NOT NULL, field TEXT NOT NULL, before TEXT, after TEXT, rule TEXT,"
            " result TEXT NOT NULL, error TEXT, at TEXT NOT NULL);"
            "INSERT INTO runs (command, started_at, status) VALUES ('apply', '2026-01-01', 'succeeded');"
            "INSERT INTO writes (run_id, record_id, field, before, after, rule, result, at)"
            " VALUES (1, 'a', 'OwnerId', 'x', 'y', 'r', 'written', '2026-01-01');")
    ledger = Ledger(path)
    try:
        assert ledger.writes(1)["id"].to_list() == ["a"]
        assert ledger.related_writes(1).is_empty()
    finally:
        ledger.close()


REPO = Path(__file__).resolve().parents[2]


@pytest.mark.usefixtures("open_umask")
def test_the_list_names_of_the_shipped_sample_are_0600(tmp_path: Path, cli: Cli) -> None:
    """`lists.json` (the names lists were synced under) sits beside the ledger and is as private."""
    text = (REPO / "config.example.yaml").read_text(encoding="utf-8")
    for old, new in (("path: examples/accounts.csv", f"path: {REPO / 'examples' / 'accounts.csv'}"),
                     ("output: out/accounts.csv", f"output: {tmp_path / 'out.csv'}"),
                     ("lists_dir: out/lists", f"lists_dir: {tmp_path / 'lists'}"),
                     ("  - rules/", f"  - {REPO / 'rules'}"),
                     ("state_dir: .revrules", f"state_dir: {tmp_path / 'state'}")):
        text = text.replace(old, new)
    (tmp_path / "revrules.yaml").write_text(text, encoding="utf-8")

    applied = cli("apply", "-c", tmp_path / "revrules.yaml", "--yes")

    assert applied.code == 0, applied.err
    state = tmp_path / "state"
    assert (state / "lists.json").exists()
    assert {p.name: mode(p) for p in state.iterdir()} == {p.name: 0o600 for p in state.iterdir()}


@pytest.mark.usefixtures("open_umask")
def test_the_schedulers_records_are_0600(tmp_path: Path) -> None:
    """The scheduler's job state and heartbeat name the jobs and their runs; they are state files too."""
    state = tmp_path / "state"
    JobState(state / "jobs.json").update("nightly", last_started="2026-12-02T00:00:00+00:00")
    write_record(record_path(state), SchedulerRecord(pid=1, started_at="now", heartbeat="now"))

    assert mode(state) == 0o700
    assert {p.name: mode(p) for p in state.iterdir()} == {"jobs.json": 0o600, "scheduler.json": 0o600}


VERSION_1 = """
CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, command TEXT NOT NULL, started_at TEXT NOT NULL,
    finished_at TEXT, status TEXT NOT NULL, pid INTEGER, crm TEXT, records_read INTEGER DEFAULT 0,
    planned INTEGER DEFAULT 0, written INTEGER DEFAULT 0, failed INTEGER DEFAULT 0, skipped INTEGER DEFAULT 0,
    rulebook_hash TEXT, config_hash TEXT, message TEXT, pid_start TEXT, unknown INTEGER DEFAULT 0);
CREATE TABLE writes (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL REFERENCES runs(id),
    record_id TEXT NOT NULL, field TEXT NOT NULL, before TEXT, after TEXT, rule TEXT, result TEXT NOT NULL,
    error TEXT, at TEXT NOT NULL, object TEXT);
CREATE INDEX writes_of_run ON writes(run_id);
CREATE TABLE list_writes (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL REFERENCES runs(id),
    list_id TEXT NOT NULL, record_id TEXT NOT NULL, action TEXT NOT NULL, result TEXT NOT NULL, error TEXT,
    at TEXT NOT NULL);
"""
"""The ledger's layout at version 1, where every write was a row of the table `writes`."""


def opened_then_applied(crm: Crm, cli: Cli) -> None:
    """Open an older ledger, then apply: its writes read the same once opened, run 1's stay as they
    were, and run 2's three pending writes are read back, the two that set `SMB` having landed."""
    old = ledger_rows(crm.state, "SELECT * FROM writes ORDER BY id")

    Ledger(crm.state / "ledger.db").close()
    seen = ledger_rows(crm.state, "SELECT * FROM writes ORDER BY id")
    applied = cli("apply", "-c", crm.config, "--yes", "--json")

    assert seen == old
    assert applied.code == 0, applied.err
    assert ledger_rows(crm.state, "SELECT result, error FROM writes WHERE run_id = 2 ORDER BY id") == [
        ("written", None), ("not-written", "it had not landed when the CRM was read back"), ("written", None)]
    assert ledger_rows(crm.state, "SELECT * FROM writes WHERE run_id = 1 ORDER BY id") == old[:2]


def test_a_ledger_that_found_unsettled_writes_by_index_still_finds_them(tmp_path: Path) -> None:
    """An older ledger's unsettled write of a run that counted none is found once the index is gone."""
    path = tmp_path / "ledger.db"
    with sqlite3.connect(path) as db:
        db.executescript(
            VERSION_1 + "PRAGMA user_version = 0;"
            "CREATE INDEX writes_unsettled ON writes(result) WHERE result IN ('pending', 'unknown');"
            "INSERT INTO runs (command, started_at, status) VALUES ('apply', '2026-01-01', 'interrupted');"
            "INSERT INTO writes (run_id, record_id, field, before, after, rule, result, at)"
            " VALUES (1, 'a', 'Segment__c', 'x', 'y', 'r', 'written', '2026-01-01'),"
            " (1, 'b', 'Segment__c', 'x', 'y', 'r', 'pending', '2026-01-01');")
    ledger = Ledger(path)
    try:
        assert ledger.pending()["id"].to_list() == ["b"]
        assert ledger.db.execute("SELECT name FROM sqlite_master WHERE name = 'writes_unsettled'").fetchone() is None
    finally:
        ledger.close()


def test_a_version_1_ledger_reads_the_same_and_its_pending_writes_are_settled_by_the_next_apply(
    two_field_crm: Callable[..., Crm], cli: Cli
) -> None:
    """Version 2 moves each write into a batch by run; what `writes` says, and what is still pending, stay.

    Run 1 ended with a write the CRM refused; run 2 was killed with three writes in flight, of
    which the two that set `SMB` had landed (the CRM holds it). The next apply reads them back
    (SPEC §5).
    """
    crm = two_field_crm("salesforce")
    big, small, other = crm.ids[1], crm.ids[2], crm.ids[4]
    crm.state.mkdir(mode=0o700)
    with sqlite3.connect(crm.state / "ledger.db") as db:
        db.executescript(VERSION_1 + "PRAGMA user_version = 1;")
        db.executemany("INSERT INTO runs (command, started_at, status, written, failed) VALUES (?, ?, ?, ?, ?)",
                       [("apply", "2026-01-01", "partial", 1, 1), ("apply", "2026-01-02", "running", 0, 0)])
        db.executemany(
            "INSERT INTO writes (run_id, record_id, field, before, after, rule, result, error, at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(1, small, "Segment__c", "SMB", "Enterprise", "old", "written", None, "2026-01-01T00:00:01"),
             (1, small, "Size__c", None, "Huge", "old", "failed", "locked", "2026-01-01T00:00:02"),
             (2, small, "Segment__c", "Enterprise", "SMB", None, "pending", None, "2026-01-02"),
             (2, big, "Size__c", None, "Large", "large", "pending", None, "2026-01-02"),
             (2, other, "Segment__c", "Enterprise", "SMB", None, "pending", None, "2026-01-02")])

    opened_then_applied(crm, cli)  # opening it moves the writes

    runs = {r["id"]: r for r in cli("history", "-c", crm.config, "--json").json()["runs"]}
    assert (runs[2]["status"], runs[2]["written"], runs[2]["failed"]) == ("interrupted", 2, 1)
    assert crm.values()[(big, "Size__c")] == "Large"  # written by the new run
    assert ledger_rows(crm.state, "PRAGMA user_version") == [(3,)]
    assert ledger_rows(crm.state, "SELECT type FROM sqlite_master WHERE name = 'writes'") == [("view",)]


VERSION_2 = """
CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, command TEXT NOT NULL, started_at TEXT NOT NULL,
    finished_at TEXT, status TEXT NOT NULL, pid INTEGER, pid_start TEXT, crm TEXT, records_read INTEGER DEFAULT 0,
    planned INTEGER DEFAULT 0, written INTEGER DEFAULT 0, failed INTEGER DEFAULT 0, skipped INTEGER DEFAULT 0,
    unknown INTEGER DEFAULT 0, rulebook_hash TEXT, config_hash TEXT, message TEXT);
CREATE TABLE batches (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id),
    first_row INTEGER NOT NULL UNIQUE, last_row INTEGER NOT NULL, result TEXT NOT NULL, error TEXT, at TEXT NOT NULL);
CREATE INDEX batches_of_run ON batches(run_id);
CREATE TABLE write_rows (id INTEGER PRIMARY KEY AUTOINCREMENT, record_id TEXT NOT NULL, field TEXT NOT NULL,
    before TEXT, after TEXT, rule TEXT, object TEXT, result TEXT, error TEXT, at TEXT);
CREATE INDEX write_rows_settled_alone ON write_rows(id) WHERE result IS NOT NULL;
CREATE TABLE list_writes (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL REFERENCES runs(id),
    list_id TEXT NOT NULL, record_id TEXT NOT NULL, action TEXT NOT NULL, result TEXT NOT NULL, error TEXT,
    at TEXT NOT NULL);
CREATE VIEW writes AS
SELECT w.id AS id, b.run_id AS run_id, w.record_id AS record_id, w.field AS field, w.before AS before,
       w.after AS after, w.rule AS rule, coalesce(w.result, b.result) AS result,
       CASE WHEN w.result IS NULL THEN b.error ELSE w.error END AS error, coalesce(w.at, b.at) AS at,
       w.object AS object
FROM batches AS b CROSS JOIN write_rows AS w ON w.id BETWEEN b.first_row AND b.last_row;
PRAGMA user_version = 2;
"""
"""The ledger's layout at version 2, where every write held its own field, before, after and rule."""


def test_a_version_2_ledger_reads_the_same_and_its_pending_writes_are_settled_by_the_next_apply(
    two_field_crm: Callable[..., Crm], cli: Cli
) -> None:
    """Version 3 holds the values writes of a batch share once; the writes made before it keep theirs.

    Run 1 landed one batch, one of its writes refused; run 2 was killed with three writes in
    flight, of which the two that set `SMB` had landed. Opening the ledger reads them the
    same; the next apply reads them back (SPEC §5) and ledgers its own writes by kind.
    """
    crm = two_field_crm("salesforce")
    big, small, other = crm.ids[1], crm.ids[2], crm.ids[4]
    crm.state.mkdir(mode=0o700)
    with sqlite3.connect(crm.state / "ledger.db") as db:
        db.executescript(VERSION_2)
        db.executemany("INSERT INTO runs (command, started_at, status, written, failed) VALUES (?, ?, ?, ?, ?)",
                       [("apply", "2026-01-01", "partial", 1, 1), ("apply", "2026-01-02", "running", 0, 0)])
        db.executemany("INSERT INTO batches (run_id, first_row, last_row, result, at) VALUES (?, ?, ?, ?, ?)",
                       [(1, 1, 2, "written", "2026-01-01T00:00:01"), (2, 3, 5, "pending", "2026-01-02")])
        db.executemany(
            "INSERT INTO write_rows (record_id, field, before, after, rule, result, error, at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(small, "Segment__c", "SMB", "Enterprise", "old", None, None, None),
             (small, "Size__c", None, "Huge", "old", "failed", "locked", "2026-01-01T00:00:02"),
             (small, "Segment__c", "Enterprise", "SMB", None, None, None, None),
             (big, "Size__c", None, "Large", "large", None, None, None),
             (other, "Segment__c", "Enterprise", "SMB", None, None, None, None)])

    opened_then_applied(crm, cli)  # opening it gives each write a kind column

    assert ledger_rows(crm.state, "PRAGMA user_version") == [(3,)]
    new = ledger_rows(crm.state, "SELECT record_id, field, after FROM writes WHERE run_id = 3 ORDER BY id")
    assert (big, "Size__c", "Large") in new  # written again by the new run, and read back through its kind


def test_a_ledger_of_a_newer_layout_is_refused_untouched(tmp_path: Path) -> None:
    """A ledger a newer revrules made is never read by the layout of this one, nor changed."""
    path = tmp_path / "ledger.db"
    with sqlite3.connect(path) as db:
        db.executescript(VERSION_2.replace("PRAGMA user_version = 2", "PRAGMA user_version = 9"))
    before = path.read_bytes()

    with pytest.raises(RevrulesError, match="layout 9, made by a newer revrules"):
        Ledger(path)

    assert path.read_bytes() == before
