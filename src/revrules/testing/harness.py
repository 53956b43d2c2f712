"""Driving the real `revrules` command from tests: in-process or as a process, and reading what it left.

Every test folder uses these (through the root `conftest.py`'s `cli` fixture), so a
command's result has one shape everywhere: `Result(code, out, err)`, which also
unpacks as a tuple.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple


class Result(NamedTuple):
    """What one command printed and returned."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """Standard output parsed as one JSON document."""
        return json.loads(self.out)

    @property
    def last_line(self) -> str:
        """The last line of standard output."""
        return self.out.rstrip("\n").splitlines()[-1]


Cli = Callable[..., Result]
"""Runs `revrules ARGS...` in-process (the `cli` fixture)."""


def _command(args: tuple[object, ...]) -> list[str]:
    return [sys.executable, "-m", "revrules", *map(str, args)]


def run_process(
    *args: object, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `python -m revrules ARGS...` to completion as a real process with stdin closed."""
    return subprocess.run(  # noqa: S603 - our own interpreter running our own module
        _command(args), cwd=cwd, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=timeout, check=False,
    )


def start_process(*args: object) -> subprocess.Popen[str]:
    """`python -m revrules ARGS...` as a background process; stderr captured, stdout discarded."""
    return subprocess.Popen(  # noqa: S603 - our own interpreter running our own module
        _command(args), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def ledger_rows(state_dir: Path, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of a read-only query against `state_dir/ledger.db` (which must exist)."""
    db = sqlite3.connect(f"file:{state_dir / 'ledger.db'}?mode=ro", uri=True, timeout=30)
    try:
        return db.execute(query, params).fetchall()
    finally:
        db.close()


def read_csv(path: Path) -> list[dict[str, str]]:
    """A CSV file as a list of rows of text."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def by_id(path: Path, id_column: str = "Id") -> dict[str, dict[str, str]]:
    """A CSV file's rows keyed by id."""
    return {row[id_column]: row for row in read_csv(path)}


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str] | None = None,
             timeout: float = 30) -> None:
    """Poll until `condition` holds; fail when the process ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process is not None and process.poll() is not None:
            stderr = process.communicate()[1][-2000:]
            raise AssertionError(f"the process ended (exit {process.returncode}): {stderr}")
        time.sleep(0.01)
    raise AssertionError("timed out waiting")
