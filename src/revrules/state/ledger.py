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

from revrules.errors import RevrulesError
from revrules.state.readback import WRITES_VIEW, read_writes, rows_frame

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    command TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    pid INTEGER,
    pid_start TEXT,
    crm TEXT,
    records_read INTEGER DEFAULT 0,
    planned INTEGER DEFAULT 0,
    written INTEGER DEFAULT 0,
    failed INTEGER DEFAULT 0,
    skipped INTEGER DEFAULT 0,
    unknown INTEGER DEFAULT 0,
    rulebook_hash TEXT,
    config_hash TEXT,
    message TEXT
);
-- A batch of writes inserted together: the rows first_row..last_row of `write_rows`, consecutive.
-- Its result, error and time are those of each of its rows that has none of its own, so a batch
-- that landed is settled by one UPDATE of this row instead of one per write.
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    first_row INTEGER NOT NULL UNIQUE,
    last_row INTEGER NOT NULL,
    result TEXT NOT NULL,
    error TEXT,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS batches_of_run ON batches(run_id);
-- One attempted write; result, error and at only for a write that did not simply take its batch's.
-- A write of a kind that writes of its batch share names it (`kind`): its field is then '' and its
-- before, after, rule and object are the kind's (layout 3).
CREATE TABLE IF NOT EXISTS write_rows (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id TEXT NOT NULL,
    field TEXT NOT NULL,
    before TEXT,
    after TEXT,
    rule TEXT,
    object TEXT,
    result TEXT,
    error TEXT,
    at TEXT,
    kind INTEGER
);
-- A field, before, after, rule and object that writes of one batch share, held once for them all.
CREATE TABLE IF NOT EXISTS write_kinds (
    id INTEGER PRIMARY KEY,
    field TEXT NOT NULL,
    before TEXT,
    after TEXT,
    rule TEXT,
    object TEXT
);
-- The kinds of the related records' writes (contacts, deals), few: a read of a run's writes to the
-- configured object leaves them out by this index without looking up the kind of each write.
CREATE INDEX IF NOT EXISTS write_kinds_related ON write_kinds(id) WHERE object IS NOT NULL;
-- Only the writes with a result of their own enter it: those that failed, were lost or settled later.
CREATE INDEX IF NOT EXISTS write_rows_settled_alone ON write_rows(id) WHERE result IS NOT NULL;
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

PENDING, WRITTEN, FAILED, UNKNOWN, SKIPPED, NOT_WRITTEN = (
    "pending", "written", "failed", "unknown", "skipped", "not-written"
)
"""A write's result: `pending` while in flight; `written` or `failed` once the CRM said so;
`unknown` when its answer was lost and reading the CRM back could not settle it yet;
`not-written` when a settle found it had not landed."""
RUNNING, SUCCEEDED, PARTIAL, INTERRUPTED, REFUSED, ERROR = (
    "running", "succeeded", "partial", "interrupted", "refused", "error"
)
RUN_FAILED = "failed"
"""A run that wrote nothing and failed something."""
_UNSETTLED = (PENDING, UNKNOWN)
_ADDED_COLUMNS = {"pid_start": "TEXT", "unknown": "INTEGER DEFAULT 0"}
"""Columns of `runs` added after the first release: a ledger made before them gains them on open."""
_CHANGE_COLUMNS = ("id", "field", "before", "after", "rule")
"""The columns of a change that every write records; `id` is the write's `record_id`."""
_VERSION = 3
"""`PRAGMA user_version` of this ledger layout: 1 finds unsettled writes through their run, not an index;
2 records a batch's result once, in `batches`, and a write's own only when it differs (`writes` is a view);
3 holds the field, before, after and rule that writes of a batch share once, in `write_kinds`."""
_UNSETTLED_RUNS = "SELECT id FROM runs WHERE status = 'running' OR unknown > 0"
"""The runs that may hold unsettled writes: those still running (or killed), and those whose count of
unknown writes (pending ones included, see `_counts`) is not zero. Every run that ends is counted
(`finish_run`), and so is every run whose writes are settled later (`recount`)."""
_STATE_DIR_MODE, _FILE_MODE = 0o700, 0o600


def outcome_status(written: int, failed: int) -> str:
    """How a run that ran to its end went: `partial` only when it both wrote and failed."""
    if failed and written:
        return PARTIAL
    return RUN_FAILED if failed else SUCCEEDED


def private_dir(path: Path) -> Path:
    """`path` created (with its parents) readable by its owner only, since state files hold CRM values."""
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True, mode=_STATE_DIR_MODE)
        path.chmod(_STATE_DIR_MODE)  # mkdir's mode is filtered by the umask
    return path


def private_file(path: Path) -> Path:
    """`path` created empty when missing, readable and writable by its owner only."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, _FILE_MODE))
    path.chmod(_FILE_MODE)
    return path


def process_start(pid: int | None) -> str | None:
    """A token for the process `pid` that a later process reusing the PID will not share.

    The start time in clock ticks since boot (field 22 of `/proc/PID/stat`); None when
    there is no such process or no `/proc` to ask.
    """
    if not pid:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return stat[stat.rindex(")") + 2:].split()[19]


def alive(pid: int | None, start: str | None) -> bool:
    """Whether the process that recorded (`pid`, `start`) still runs, not another that reuses its PID."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return start is None or process_start(pid) in (None, start)


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
    pid_start: str | None
    crm: str | None
    records_read: int
    planned: int
    written: int
    failed: int
    skipped: int
    unknown: int
    rulebook_hash: str | None
    config_hash: str | None
    message: str | None


class Ledger:
    """The SQLite ledger in `state_dir`; every write is committed before it is acted on."""

    def __init__(self, path: Path) -> None:
        private_dir(path.parent)
        self.path = private_file(path)
        self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > _VERSION:
            self.db.close()
            raise RevrulesError(f"{path}: this ledger has layout {version}, made by a newer revrules than this one "
                                f"(layout {_VERSION}); upgrade revrules to use it")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)
        # Where `_insert` puts a batch's records and kinds of change; in memory, as they hold CRM values.
        self.db.execute("PRAGMA temp_store = MEMORY")
        for column in (*_CHANGE_COLUMNS, "object"):
            self.db.execute(f"CREATE TEMP TABLE IF NOT EXISTS change_{column} (position INTEGER PRIMARY KEY, value)")
        present = {row[1] for row in self.db.execute("PRAGMA table_info(runs)")}
        for column, kind in _ADDED_COLUMNS.items():
            if column not in present:
                self.db.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")
        if version < _VERSION:
            self._upgrade()
        self.db.execute(WRITES_VIEW)

    def _upgrade(self) -> None:
        """Bring a ledger of an older layout to this one, in one transaction: its writes read the same after.

        A ledger older than version 1 found unsettled writes through an index on `result`, and
        a run that ended before the `unknown` column existed may not count them yet: each run
        counts them once. Before version 2 every write was a row of the table `writes` with its
        own run and result: each run's consecutive rows become one batch, and every write keeps
        its own result, error and time. Version 3 gave each write a `kind` (none for those made
        before it), and the view `writes` reads a write's values from its kind.
        """
        with self._transaction() as db:
            if "kind" not in {row[1] for row in db.execute("PRAGMA table_info(write_rows)")}:
                db.execute("ALTER TABLE write_rows ADD COLUMN kind INTEGER")
            if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'writes'").fetchone():
                if db.execute("PRAGMA user_version").fetchone()[0] < 1:
                    db.execute(
                        "UPDATE runs SET unknown = (SELECT COUNT(*) FROM writes WHERE writes.run_id = runs.id AND"
                        " writes.result IN (?, ?)) WHERE id IN (SELECT run_id FROM writes WHERE result IN (?, ?))",
                        _UNSETTLED * 2)
                self._move_writes(db)
            db.execute("DROP VIEW IF EXISTS writes")  # made again, reading kinds
            db.execute(f"PRAGMA user_version = {_VERSION}")

    @staticmethod
    def _move_writes(db: sqlite3.Connection) -> None:
        """Move the rows of a version-1 `writes` table into `batches` and `write_rows`, and drop it."""
        present = {row[1] for row in db.execute("PRAGMA table_info(writes)")}
        # A ledger made before related records has no `object`: all its writes are the configured object's.
        related = "object" if "object" in present else "NULL"
        db.execute("INSERT INTO write_rows (id, record_id, field, before, after, rule, object, result, error, at)"  # noqa: S608
                   f" SELECT id, record_id, field, before, after, rule, {related}, result, error, at FROM writes"
                   " ORDER BY id")
        # Gaps and islands: within a run, consecutive ids keep the same id minus their rank.
        db.execute(
            "INSERT INTO batches (run_id, first_row, last_row, result, error, at)"
            " SELECT run_id, MIN(id), MAX(id), ?, NULL, MAX(at) FROM"
            " (SELECT id, run_id, at, id - ROW_NUMBER() OVER (PARTITION BY run_id ORDER BY id) AS island"
            " FROM writes) GROUP BY run_id, island ORDER BY MIN(id)", (WRITTEN,))
        db.execute("DROP TABLE writes")

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
            "INSERT INTO runs (command, started_at, status, pid, pid_start, crm, rulebook_hash, config_hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (command, now(), RUNNING, os.getpid(), process_start(os.getpid()), crm, rulebook_hash, config_hash),
        )
        return int(cursor.lastrowid or 0)

    def update_run(self, run_id: int, **values: Any) -> None:
        """Set some columns of a run."""
        columns = ", ".join(f"{name} = ?" for name in values)
        # Column names come from our own code, never from input; values are bound.
        self.db.execute(f"UPDATE runs SET {columns} WHERE id = ?", (*values.values(), run_id))  # noqa: S608

    def finish_run(self, run_id: int, status: str, message: str | None = None) -> None:
        """Close a run, counting its writes by result."""
        self.update_run(run_id, status=status, finished_at=now(), message=message, **self._counts(run_id))

    def recount(self, run_id: int) -> None:
        """Count a closed run's writes again after some were settled; a finished run's status follows."""
        run = self.run(run_id)
        if run is None or run.status == RUNNING:
            return
        counts = self._counts(run_id)
        status = run.status
        if status in (SUCCEEDED, PARTIAL, RUN_FAILED) and not counts["unknown"]:
            status = outcome_status(counts["written"], counts["failed"])
        self.update_run(run_id, status=status, **counts)

    def _counts(self, run_id: int) -> dict[str, int]:
        """A run's writes counted by result: its batches' sizes, less the writes settled apart.

        The writes that took their batch's result are never read, only those with their
        own (through the partial index `write_rows_settled_alone`).
        """
        counts: dict[str, int] = {}
        for result, count in self.db.execute(
                "SELECT result, SUM(last_row - first_row + 1) FROM batches WHERE run_id = ? GROUP BY result",
                (run_id,)):
            counts[result] = counts.get(result, 0) + count
        for batch, own, count in self.db.execute(
                "SELECT b.result, w.result, COUNT(*) FROM batches AS b CROSS JOIN write_rows AS w"
                " ON w.id BETWEEN b.first_row AND b.last_row AND w.result IS NOT NULL"
                " WHERE b.run_id = ? GROUP BY b.result, w.result", (run_id,)):
            counts[batch] -= count
            counts[own] = counts.get(own, 0) + count
        return {"written": counts.get(WRITTEN, 0), "failed": counts.get(FAILED, 0) + counts.get(NOT_WRITTEN, 0),
                "skipped": counts.get(SKIPPED, 0), "unknown": counts.get(UNKNOWN, 0) + counts.get(PENDING, 0)}

    def record_pending(self, run_id: int, changes: pl.DataFrame) -> pl.Series:
        """Record a batch of changes as pending, in one statement and transaction, before it is sent.

        Returns:
            The ledger row of each change, in the order of `changes`.
        """
        if changes.is_empty():
            return pl.Series("row", [], pl.Int64)
        last = self._insert(run_id, changes, PENDING, None)
        return pl.int_range(last - changes.height + 1, last + 1, eager=True).alias("row")

    def record_outcome(self, rows: pl.Series, outcome: pl.DataFrame) -> None:
        """Settle a batch in one transaction: a result of their own for `outcome`, one row for the batch.

        Args:
            rows: The batch's ledger rows, as `record_pending` returned them. Rows of a batch
                that `rows` holds only in part stay pending, to be read back by the next run.
            outcome: Row, result and error of each write that did not simply land; every
                other write of the batch is written.
        """
        at = now()
        with self._transaction() as db:
            self._set_results(db, outcome, at)
            if rows.len():
                first, last = int(rows.min()), int(rows.max())  # type: ignore[arg-type]
                db.execute("UPDATE batches SET result = ?, error = NULL, at = ? WHERE first_row BETWEEN ? AND ?"
                           " AND last_row <= ? AND result = ?", (WRITTEN, at, first, last, last, PENDING))

    def record_results(self, outcome: pl.DataFrame) -> None:
        """Set the result and error of some rows: `outcome` has columns row, result, error."""
        with self._transaction() as db:
            self._set_results(db, outcome, now())

    @staticmethod
    def _set_results(db: sqlite3.Connection, outcome: pl.DataFrame, at: str) -> None:
        if outcome.is_empty():
            return
        payload = outcome.select("row", "result", "error").write_json()
        db.execute(
            "UPDATE write_rows SET result = j.result, error = j.error, at = ? FROM (SELECT"
            " json_extract(value, '$.row') AS row, json_extract(value, '$.result') AS result,"
            " json_extract(value, '$.error') AS error FROM json_each(?)) AS j WHERE write_rows.id = j.row",
            (at, payload))

    def record_skipped(self, run_id: int, changes: pl.DataFrame, reason: str) -> None:
        """Record changes that were not attempted, with why."""
        if not changes.is_empty():
            self._insert(run_id, changes, SKIPPED, reason)

    def _insert(self, run_id: int, changes: pl.DataFrame, result: str, error: str | None) -> int:
        """Insert `changes` as one batch of writes of one result, in `changes` order, in one transaction.

        Each column reaches SQLite as one JSON array, read into a temporary table keyed by
        position (reading each field of an array of objects, `value ->> 'id'`, cost more than
        the insert itself). Each write's id is set from its position, so the rows follow
        `changes` whatever order SQLite inserts them in.

        Returns:
            The ledger row of the last change (the rows are consecutive).
        """
        # A related record's change names its object; the configured object's changes have none.
        columns = [*_CHANGE_COLUMNS[1:], *(["object"] if "object" in changes.columns else [])]
        kinds = changes.select(columns).unique(maintain_order=True)
        with self._transaction() as db:
            # One writer at a time (BEGIN IMMEDIATE) and AUTOINCREMENT: no row has an id past `seq`.
            seq = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'write_rows'").fetchone()
            first = (int(seq[0]) if seq else 0) + 1
            if 2 * kinds.height <= changes.height:
                self._insert_by_kind(db, first, changes, columns, kinds)
            else:
                self._insert_by_column(db, first, changes, columns)
            last = first + changes.height - 1
            db.execute("INSERT INTO batches (run_id, first_row, last_row, result, error, at) VALUES (?, ?, ?, ?, ?, ?)",
                       (run_id, first, last, result, error, now()))
            return last

    @staticmethod
    def _fill(db: sqlite3.Connection, frame: pl.DataFrame, column: str) -> None:
        """`frame[column]` into its temporary table, keyed by position; nulls are left out."""
        db.execute(f"INSERT INTO temp.change_{column} (position, value)"  # noqa: S608
                   f" SELECT key, value FROM json_each(?, '$[0].{column}') WHERE type <> 'null'",
                   (frame.select(pl.col(column).implode()).write_json(),))

    @classmethod
    def _insert_by_kind(cls, db: sqlite3.Connection, first: int, changes: pl.DataFrame, columns: list[str],
                        kinds: pl.DataFrame) -> None:
        """Insert a batch of few kinds of change (field, before, after, rule), as a rulebook's usually are.

        Each kind is held once, in `write_kinds`, and each write names its kind: SQLite is
        given each record once, each kind once, and each change as one number naming its
        record and its kind (reading a number from a JSON array costs a fraction of reading a
        text, and a write then copies no text but its record's id).
        """
        records = changes.select(pl.col("id").unique(maintain_order=True))
        # The record's number times the kinds, plus the kind's: below 2^62 for any batch under 2^31 changes.
        numbers = (changes.select("id", *columns)
                   .join(records.with_row_index("record"), on="id", how="left", maintain_order="left")
                   .join(kinds.with_row_index("kind"), on=columns, how="left", maintain_order="left", nulls_equal=True)
                   .select((pl.col("record").cast(pl.Int64) * kinds.height + pl.col("kind")).alias("number").implode()))
        cls._fill(db, records, "id")
        for column in columns:
            cls._fill(db, kinds, column)
        first_kind = db.execute("SELECT coalesce(max(id), 0) + 1 FROM write_kinds").fetchone()[0]
        db.execute("INSERT INTO write_kinds (id, " + ", ".join(columns) + ")"  # noqa: S608
                   " SELECT :first_kind + position.key, " + ", ".join(f"change_{c}.value" for c in columns)
                   + " FROM json_each(:kinds, '$[0].field') AS position "
                   + " ".join(f"LEFT JOIN temp.change_{c} ON change_{c}.position = position.key" for c in columns),
                   {"first_kind": first_kind, "kinds": kinds.select(pl.col("field").implode()).write_json()})
        # CROSS JOIN reads the numbers first, then their record by position.
        db.execute(
            "INSERT INTO write_rows (id, record_id, field, kind)"
            " SELECT :first + number.key, change_id.value, '', :first_kind + number.value % :kinds"
            " FROM json_each(:numbers, '$[0].number') AS number"
            " CROSS JOIN temp.change_id ON change_id.position = number.value / :kinds",
            {"first": first, "first_kind": first_kind, "numbers": numbers.write_json(), "kinds": kinds.height})
        for column in ("id", *columns):
            db.execute(f"DELETE FROM temp.change_{column}")  # noqa: S608

    @classmethod
    def _insert_by_column(cls, db: sqlite3.Connection, first: int, changes: pl.DataFrame, columns: list[str]) -> None:
        """Insert a batch of many kinds of change: every column of every change through its temporary table."""
        for column in columns:
            cls._fill(db, changes, column)
        # LEFT JOIN reads the ids' array first, then each other column by position.
        db.execute(
            "INSERT INTO write_rows (id, record_id, " + ", ".join(columns) + ")"  # noqa: S608
            " SELECT :first + change_id.key, change_id.value, " + ", ".join(f"change_{c}.value" for c in columns)
            + " FROM json_each(:ids, '$[0].id') AS change_id "
            + " ".join(f"LEFT JOIN temp.change_{c} ON change_{c}.position = change_id.key" for c in columns),
            {"first": first, "ids": changes.select(pl.col("id").implode()).write_json()})
        for column in columns:
            db.execute(f"DELETE FROM temp.change_{column}")  # noqa: S608

    def record_list_writes(self, run_id: int, rows: Sequence[tuple[str, str, str, str, str | None]]) -> None:
        """Record list membership writes: (list, record, action, result, error)."""
        at = now()
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO list_writes (run_id, list_id, record_id, action, result, error, at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)", [(run_id, *row, at) for row in rows])

    def pending(self) -> pl.DataFrame:
        """Writes whose outcome is not settled: their run died in flight, or the CRM could not be read back.

        Only the configured object's; `related_pending` has the records that followed an owner change.
        """
        return self._unsettled((), related=False)

    def related_pending(self) -> pl.DataFrame:
        """Like `pending`, for the related records (contacts, deals), with their `object`."""
        return self._unsettled(("object",), related=True)

    def _unsettled(self, columns: tuple[str, ...], related: bool) -> pl.DataFrame:
        # Through the runs that may hold them (`_UNSETTLED_RUNS`): no index on `result` for every write
        # to enter when recorded pending and leave when settled.
        return read_writes(self.db, ("row", "run_id", *columns, "id", *_CHANGE_COLUMNS[1:]),
                           f"b.run_id IN ({_UNSETTLED_RUNS})", (), _UNSETTLED, related=related)

    def writes(self, run_id: int, result: str | None = None, columns: Sequence[str] | None = None) -> pl.DataFrame:
        """The writes of one run to the configured object, optionally only those with `result`.

        Their columns are row, id, field, before, after, rule, result and error, or only `columns` of them.
        """
        return self._writes(run_id, result, related=False, columns=columns)

    def related_writes(self, run_id: int, result: str | None = None) -> pl.DataFrame:
        """Like `writes`, for the related records that followed an owner change, with their `object`."""
        return self._writes(run_id, result, related=True)

    def _writes(self, run_id: int, result: str | None, *, related: bool,
                columns: Sequence[str] | None = None) -> pl.DataFrame:
        every = ("row", *(("object",) if related else ()), *_CHANGE_COLUMNS, "result", "error")
        return read_writes(self.db, tuple(columns or every), "b.run_id = ?", (run_id,), (result,) if result else (),
                           related=related)

    def list_writes(self, run_id: int) -> pl.DataFrame:
        """The list membership writes of one run."""
        return rows_frame(self.db, "SELECT list_id AS list, record_id AS id, action, result, error FROM list_writes"
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
        """Runs still marked running whose process is gone; called by the holder of the run lock.

        A run is its process's by PID and start time, so a PID reused by another process does
        not keep a dead run `running`. A run of this very process is abandoned too: it holds
        the run lock and has not started its own run yet, so such a run was left by an earlier
        command of the same process (the scheduler, or tests in-process).
        """
        return [r for r in self.runs(limit=1000)
                if r.status == RUNNING and (r.pid == os.getpid() or not alive(r.pid, r.pid_start))]



def summary_line(run: Run) -> str:
    """One line saying how a run ended, e.g. `run 12 apply succeeded: read 5,000, written 120, ...`."""
    took = ""
    if run.finished_at:
        seconds = (dt.datetime.fromisoformat(run.finished_at) - dt.datetime.fromisoformat(run.started_at))
        took = f" in {seconds.total_seconds():.1f}s"
    unknown = f", unknown {run.unknown:,}" if run.unknown else ""
    return (f"run {run.id} {run.command} {run.status}: read {run.records_read:,}, written {run.written:,}, "
            f"failed {run.failed:,}{unknown}, skipped {run.skipped:,}{took}")
