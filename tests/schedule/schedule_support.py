"""Helpers for the scheduler tests: a CSV project big enough to stop mid-apply, processes, the ledger."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RULES = """\
version: 1
decisions:
  segment:
    hit: first
    rules:
      - {id: big, when: "employees >= 100", then: Big}
    default: Small
"""

CONFIG = """\
version: 1
crm: {{kind: csv, path: accounts.csv, id_column: Id, output: out.csv, batch_size: {batch}}}
fields:
  employees: {{source: Emp, type: number}}
rules: [rules/]
outputs:
  segment: Segment__c
{extra}"""


def write_project(folder: Path, *, rows: int = 200, batch: int = 10_000, extra: str = "") -> Path:
    """A CSV project of `rows` accounts; returns its config path."""
    (folder / "rules").mkdir(parents=True, exist_ok=True)
    (folder / "rules" / "book.yaml").write_text(RULES, encoding="utf-8")
    rng = random.Random(3)
    lines = "".join(f"A{i:06d},{rng.randint(0, 500)}\n" for i in range(rows))
    (folder / "accounts.csv").write_text("Id,Emp\n" + lines, encoding="utf-8")
    config = folder / "revrules.yaml"
    config.write_text(CONFIG.format(batch=batch, extra=extra), encoding="utf-8")
    return config


def start(*args: object) -> subprocess.Popen[str]:
    """`python -m revrules ARGS...` as a background process, stderr captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "revrules", *map(str, args)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def run(*args: object, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`python -m revrules ARGS...` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "revrules", *map(str, args)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ},
    )


def rows(state_dir: Path, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of a query against the ledger; [] while it does not exist yet."""
    path = state_dir / "ledger.db"
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute(query, params).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str] | None = None,
             timeout: float = 30) -> None:
    """Poll until `condition` holds; fail when the process ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the process ended (exit {process.returncode}): {process.communicate()[1][-2000:]}")
        time.sleep(0.01)
    raise AssertionError("timed out waiting")


def written(state_dir: Path) -> int:
    """How many writes the ledger records as written."""
    found = rows(state_dir, "SELECT COUNT(*) FROM writes WHERE result = 'written'")
    return int(found[0][0]) if found else 0


Cli = Callable[..., tuple[int, str, str]]
"""Runs `revrules ARGS...` in-process and returns (exit code, stdout, stderr)."""
