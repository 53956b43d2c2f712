"""The scheduler tests' CSV project, big enough to stop mid-apply, and ledger reads while a run writes."""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path
from typing import Any

from revrules.testing import projects


def write_project(folder: Path, *, rows: int = 200, batch: int = 10_000, extra: str = "") -> Path:
    """A CSV project of `rows` accounts (`segment` Big from 100 employees, else Small); returns its config path."""
    config = projects.write_project(folder, projects.csv_config(extra=extra, batch_size=batch),
                                    projects.SEGMENT_RULES, at="rules/book.yaml")
    rng = random.Random(3)
    lines = "".join(f"A{i:06d},{rng.randint(0, 500)}\n" for i in range(rows))
    (folder / "accounts.csv").write_text("Id,Emp\n" + lines, encoding="utf-8")
    return config


def rows(state_dir: Path, query: str, params: tuple[Any, ...] = (), *, patience: float = 5.0) -> list[tuple[Any, ...]]:
    """Rows of a query against the ledger; [] while it does not exist yet.

    Any other error (a process closing the ledger holds it for its last checkpoint, and a
    read-only reader cannot open it then) is tried again for up to `patience` seconds, so
    that a busy machine does not read a finished run's ledger as empty.
    """
    path = state_dir / "ledger.db"
    deadline = time.monotonic() + patience
    while path.exists():
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            return db.execute(query, params).fetchall()
        except sqlite3.OperationalError as error:
            if "no such table" in str(error) or time.monotonic() > deadline:
                return []
        finally:
            db.close()
        time.sleep(0.05)
    return []


def written(state_dir: Path) -> int:
    """How many writes the ledger records as written."""
    found = rows(state_dir, "SELECT COUNT(*) FROM writes WHERE result = 'written'")
    return int(found[0][0]) if found else 0


def ledgered(state_dir: Path) -> int:
    """How many writes the ledger records, pending or settled: a run is writing once this is above 0.

    The CSV connector lands its batches at the end of a run, so "written" appears only then.
    """
    found = rows(state_dir, "SELECT COUNT(*) FROM writes")
    return int(found[0][0]) if found else 0
