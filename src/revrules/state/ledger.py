"""The ledger: a SQLite record of every run and every attempted write (SPEC §5)."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    command TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    pid INTEGER,
    crm TEXT,
    records_read INTEGER DEFAULT 0,
    planned INTEGER DEFAULT 0,
    written INTEGER DEFAULT 0,
    failed INTEGER DEFAULT 0,
    skipped INTEGER DEFAULT 0,
    rulebook_hash TEXT,
    config_hash TEXT,
    message TEXT
);
CREATE TABLE IF NOT EXISTS writes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    record_id TEXT NOT NULL,
    field TEXT NOT NULL,
    before TEXT,
    after TEXT,
    rule TEXT,
    result TEXT NOT NULL,
    error TEXT,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS writes_by_run ON writes(run_id, result);
CREATE INDEX IF NOT EXISTS writes_pending ON writes(result) WHERE result = 'pending';
CREATE TABLE IF NOT EXISTS list_writes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    list_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    action TEXT NOT NULL,
    result TEXT NOT NULL,
    error TEXT,
    at TEXT NOT NULL
);
"""

PENDING, WRITTEN, FAILED, SKIPPED, NOT_WRITTEN = "pending", "written", "failed", "skipped", "not-written"
RUNNING, SUCCEEDED, PARTIAL, INTERRUPTED, REFUSED, ERROR = (
    "running", "succeeded", "partial", "interrupted", "refused", "error"
)


def now() -> str:
    """The current UTC time as ISO 8601."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Run:
    """One row of the runs table."""

    id: int
    command: str
    started_at: str
    finished_at: str | None
    status: str
    pid: int | None
    crm: str | None
    records_read: int
    planned: int
    written: int
    failed: int
    skipped: int
    rulebook_hash: str | None
    config_hash: str | None
    message: str | None


class Ledger:
    """The SQLite ledger in `state_dir`; every write is committed before it is acted on."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def start_run(self, command: str, *, crm: str, rulebook_hash: str, config_hash: str) -> int:
        """Record a new run as running; returns its id."""
        cursor = self.db.execute(
            "INSERT INTO runs (command, started_at, status, pid, crm, rulebook_hash, config_hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (command, now(), RUNNING, os.getpid(), crm, rulebook_hash, config_hash),
        )
        return int(cursor.lastrowid or 0)

    def update_run(self, run_id: int, **values: Any) -> None:
        """Set some columns of a run."""
        columns = ", ".join(f"{name} = ?" for name in values)
        # Column names come from our own code, never from input; values are bound.
        self.db.execute(f"UPDATE runs SET {columns} WHERE id = ?", (*values.values(), run_id))  # noqa: S608

    def finish_run(self, run_id: int, status: str, message: str | None = None) -> None:
        """Close a run, counting its writes by result."""
        counts = dict(self.db.execute(
            "SELECT result, COUNT(*) FROM writes WHERE run_id = ? GROUP BY result", (run_id,)
        ).fetchall())
        self.update_run(
            run_id, status=status, finished_at=now(), message=message,
            written=counts.get(WRITTEN, 0), failed=counts.get(FAILED, 0), skipped=counts.get(SKIPPED, 0),
        )

    def record_pending(self, run_id: int, changes: pl.DataFrame) -> list[int]:
        """Record a batch of changes as pending, in one transaction, before it is sent."""
        at = now()
        rows = [(run_id, c["id"], c["field"], c["before"], c["after"], c["rule"], PENDING, at)
                for c in changes.iter_rows(named=True)]
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO writes (run_id, record_id, field, before, after, rule, result, at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            # One writer at a time (BEGIN IMMEDIATE), so the new ids are the last len(rows).
            last = int(db.execute("SELECT MAX(id) FROM writes").fetchone()[0])
        return list(range(last - len(rows) + 1, last + 1))

    def record_results(self, results: Sequence[tuple[int, str, str | None]]) -> None:
        """Set the result (and error) of written rows, in one transaction."""
        at = now()
        with self._transaction() as db:
            db.executemany("UPDATE writes SET result = ?, error = ?, at = ? WHERE id = ?",
                           [(result, error, at, row) for row, result, error in results])

    def record_skipped(self, run_id: int, changes: pl.DataFrame, reason: str) -> None:
        """Record changes that were not attempted, with why."""
        at = now()
        rows = [(run_id, c["id"], c["field"], c["before"], c["after"], c["rule"], SKIPPED, reason, at)
                for c in changes.iter_rows(named=True)]
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO writes (run_id, record_id, field, before, after, rule, result, error, at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def record_list_writes(self, run_id: int, rows: Sequence[tuple[str, str, str, str, str | None]]) -> None:
        """Record list membership writes: (list, record, action, result, error)."""
        at = now()
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO list_writes (run_id, list_id, record_id, action, result, error, at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)", [(run_id, *row, at) for row in rows])

    def pending(self) -> pl.DataFrame:
        """Writes whose outcome is unknown: their run died between sending and recording."""
        return self._frame("SELECT id AS row, run_id, record_id AS id, field, before, after, rule"
                           " FROM writes WHERE result = 'pending' ORDER BY id")

    def writes(self, run_id: int, result: str | None = None) -> pl.DataFrame:
        """The writes of one run, optionally only those with `result`."""
        query = ("SELECT id AS row, record_id AS id, field, before, after, rule, result, error"
                 " FROM writes WHERE run_id = ?")
        params: tuple[Any, ...] = (run_id,)
        if result:
            query += " AND result = ?"
            params += (result,)
        return self._frame(query + " ORDER BY id", params)

    def list_writes(self, run_id: int) -> pl.DataFrame:
        """The list membership writes of one run."""
        return self._frame("SELECT list_id AS list, record_id AS id, action, result, error FROM list_writes"
                           " WHERE run_id = ? ORDER BY id", (run_id,))

    _RUN_COLUMNS = ", ".join(Run.__dataclass_fields__)

    def runs(self, limit: int = 50) -> list[Run]:
        """The most recent runs, newest first."""
        cursor = self.db.execute("SELECT " + self._RUN_COLUMNS + " FROM runs ORDER BY id DESC LIMIT ?", (limit,))  # noqa: S608
        return [Run(*row) for row in cursor.fetchall()]

    def run(self, run_id: int) -> Run | None:
        """One run by id."""
        cursor = self.db.execute("SELECT " + self._RUN_COLUMNS + " FROM runs WHERE id = ?", (run_id,))  # noqa: S608
        row = cursor.fetchone()
        return Run(*row) if row else None

    def abandoned_runs(self) -> list[Run]:
        """Runs still marked running whose process is gone."""
        return [r for r in self.runs(limit=1000) if r.status == RUNNING and not _alive(r.pid)]

    def _frame(self, query: str, params: tuple[Any, ...] = ()) -> pl.DataFrame:
        cursor = self.db.execute(query, params)
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
        schema = {name: (pl.Int64 if name in ("row", "run_id") else pl.String) for name in names}
        return pl.DataFrame(rows, schema=schema, orient="row")


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def summary_line(run: Run) -> str:
    """One line saying how a run ended, e.g. `run 12 apply succeeded: read 5,000, written 120, ...`."""
    took = ""
    if run.finished_at:
        seconds = (dt.datetime.fromisoformat(run.finished_at) - dt.datetime.fromisoformat(run.started_at))
        took = f" in {seconds.total_seconds():.1f}s"
    return (f"run {run.id} {run.command} {run.status}: read {run.records_read:,}, written {run.written:,}, "
            f"failed {run.failed:,}, skipped {run.skipped:,}{took}")
