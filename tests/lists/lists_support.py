"""Helpers for the marketing-list tests: command results and ledger reads."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Result:
    """What one command printed and returned."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


Cli = Callable[..., Result]


def ledger(config: Path, query: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(config.parent / ".revrules" / "ledger.db")
    try:
        return db.execute(query).fetchall()
    finally:
        db.close()
