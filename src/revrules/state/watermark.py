"""Incremental-run watermarks kept in the ledger: where the next incremental read continues from."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

from revrules.state.ledger import Ledger

_SCHEMA = """
CREATE TABLE IF NOT EXISTS watermarks (
    run_id INTEGER PRIMARY KEY REFERENCES runs(id),
    mode TEXT NOT NULL,
    read_from TEXT,
    watermark TEXT NOT NULL,
    rulebook_hash TEXT,
    config_hash TEXT
);
"""

FULL: Final = "full"
INCREMENTAL: Final = "incremental"


@dataclass(frozen=True)
class Mark:
    """One successful run's watermark."""

    run_id: int
    mode: str
    watermark: dt.datetime
    rulebook_hash: str | None
    config_hash: str | None


def _table(ledger: Ledger) -> None:
    ledger.db.executescript(_SCHEMA)


def marks(ledger: Ledger) -> list[Mark]:
    """Watermarks of successful runs, newest first."""
    _table(ledger)
    rows = ledger.db.execute(
        "SELECT run_id, mode, watermark, rulebook_hash, config_hash FROM watermarks ORDER BY run_id DESC"
    ).fetchall()
    return [Mark(r[0], r[1], dt.datetime.fromisoformat(r[2]), r[3], r[4]) for r in rows]


def save_mark(ledger: Ledger, mark: Mark, read_from: dt.datetime | None) -> None:
    """Remember a successful run's watermark."""
    _table(ledger)
    ledger.db.execute(
        "INSERT OR REPLACE INTO watermarks (run_id, mode, read_from, watermark, rulebook_hash, config_hash)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (mark.run_id, mark.mode, read_from.isoformat() if read_from else None, mark.watermark.isoformat(),
         mark.rulebook_hash, mark.config_hash),
    )
