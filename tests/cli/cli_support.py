"""Helpers for the CLI tests: results, subprocess runs, ledger and CSV reading, small projects."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
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

    @property
    def last_line(self) -> str:
        return self.out.rstrip("\n").splitlines()[-1]


def run_process(
    *args: object, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `python -m revrules ARGS...` as a real process with stdin closed."""
    return subprocess.run(
        [sys.executable, "-m", "revrules", *map(str, args)],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ledger_rows(state_dir: Path, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of a query against `state_dir/ledger.db`."""
    db = sqlite3.connect(state_dir / "ledger.db", timeout=30)
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


FORMAT_RULES = """\
version: 1
derive:
  arr: "mrr * 12"
decisions:
  segment:
    hit: first
    rules:
      - {id: big, when: "employees >= 100", then: Big}
    default: Small
  anti_icp:
    hit: collect
    rules:
      - {id: zeta, when: "employees < 5", then: Zeta}
      - {id: alpha, when: "domain =~~ r'\\\\.edu$'", then: Alpha}
  disqualified:
    hit: any
    rules:
      - {id: has-anti, when: "not anti_icp.is_empty"}
  score:
    hit: sum
    rules:
      - {id: ten, when: "employees >= 1", then: 10}
      - {id: half, when: "employees >= 1000", then: 2.5}
tests:
  - name: 200 employees is Big
    account: {employees: 200}
    expect: {segment: Big}
"""

FORMAT_CONFIG = """\
version: 1
crm: {{kind: csv, path: accounts.csv, id_column: Id, output: out.csv{extra_crm}}}
fields:
  employees: {{source: Emp, type: number}}
  mrr: {{source: Mrr, type: number}}
  domain: Domain
rules: [rules/]
outputs:
  segment: Segment__c
  arr: Arr__c
  anti_icp: Anti__c
  disqualified: Dq__c
  score: Score__c
{extra}"""


def write_project(
    folder: Path, accounts: str, *, rules: str = FORMAT_RULES, extra: str = "", extra_crm: str = ""
) -> Path:
    """A small hand-written CSV project (fields Emp, Mrr, Domain); returns its config path."""
    (folder / "rules").mkdir(parents=True, exist_ok=True)
    (folder / "rules" / "book.yaml").write_text(rules, encoding="utf-8")
    (folder / "accounts.csv").write_text(accounts, encoding="utf-8")
    config = folder / "revrules.yaml"
    config.write_text(FORMAT_CONFIG.format(extra=extra, extra_crm=extra_crm), encoding="utf-8")
    return config


Cli = Callable[..., Result]
"""Runs `revrules ARGS...` in-process (the `cli` fixture)."""
