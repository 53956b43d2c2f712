"""Incremental runs read only modified records, and read everything when they cannot be trusted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from revrules.testing import projects
from revrules.testing.harness import Cli
from revrules.testing.salesforce import SalesforceEmulator
from tests.schedule.projects import rows, write_project

RULES = """\
version: 1
decisions:
  segment:
    hit: first
    rules:
      - {id: enterprise, when: "employees >= THRESHOLD", then: Enterprise}
    default: SMB
"""
CONFIG = projects.salesforce_config(rules="rules/", extra="schedule:\n  incremental_lag_seconds: 1\n")
OLD = "2024-01-01T00:00:00.000+0000"
COUNT = 30


@pytest.fixture
def org(monkeypatch: pytest.MonkeyPatch) -> Iterator[SalesforceEmulator]:
    records = [{"Id": f"001Dn0000{i:06d}AAA", "Name": f"A{i}", "NumberOfEmployees": 10, "Segment__c": "SMB",
                "SystemModstamp": OLD, "LastModifiedDate": OLD} for i in range(COUNT)]
    emulator = SalesforceEmulator(records, picklists={"Segment__c": ["SMB", "Enterprise"]}).start()
    monkeypatch.setenv("SF_URL", emulator.url)
    monkeypatch.setenv("SF_SESSION", emulator.session_id)
    yield emulator
    emulator.stop()


def _project(folder: Path, threshold: int) -> Path:
    return projects.write_project(folder, CONFIG, RULES.replace("THRESHOLD", str(threshold)), at="rules/book.yaml")


def _edit(emulator: SalesforceEmulator, record_id: str, employees: int) -> None:
    response = requests.patch(
        f"{emulator.url}/services/data/v59.0/sobjects/Account/{record_id}",
        json={"NumberOfEmployees": employees},
        headers={"Authorization": f"Bearer {emulator.session_id}"}, timeout=10,
    )
    assert response.status_code == 204, response.text


def _last_read(state: Path) -> int:
    return int(rows(state, "SELECT records_read FROM runs ORDER BY id DESC LIMIT 1")[0][0])


def test_incremental_reads_only_modified_records_then_full_when_the_rulebook_changes(
    cli: Cli, org: SalesforceEmulator, tmp_path: Path
) -> None:
    config = _project(tmp_path, 1000)
    state = tmp_path / ".revrules"
    code, _, err = cli("apply", "--yes", "--incremental", "-c", config)
    assert code == 0, err
    assert "full run: no earlier successful run" in err
    assert _last_read(state) == COUNT

    changed = ["001Dn0000000003AAA", "001Dn0000000007AAA"]
    for record in changed:
        _edit(org, record, 5000)
    code, _, err = cli("apply", "--yes", "--incremental", "-c", config)
    assert code == 0, err
    assert "incremental run: records modified since" in err
    assert _last_read(state) == len(changed)
    assert {rid for rid, r in org.records.items() if r["Segment__c"] == "Enterprise"} == set(changed)

    _project(tmp_path, 100)  # the rulebook changes: every record must be decided again
    code, _, err = cli("apply", "--yes", "--incremental", "-c", config)
    assert code == 0, err
    assert "full run: the rulebook changed since the last full run" in err
    assert _last_read(state) == COUNT


def test_every_nth_incremental_run_is_full(cli: Cli, org: SalesforceEmulator, tmp_path: Path) -> None:
    config = _project(tmp_path, 1000)
    config.write_text(CONFIG.replace("schedule:\n", "schedule:\n  full_every: 2\n"), encoding="utf-8")
    modes = []
    for _ in range(3):
        code, _, err = cli("apply", "--yes", "--incremental", "-c", config)
        assert code == 0, err
        modes.append("incremental run:" in err)
    assert modes == [False, True, False]


def test_incremental_on_csv_is_a_full_run(cli: Cli, tmp_path: Path) -> None:
    config = write_project(tmp_path, rows=20)
    for _ in range(2):
        code, _, err = cli("apply", "--yes", "--incremental", "-c", config)
        assert code == 0, err
        assert "the csv connector has no modification stamps" in err
    assert rows(tmp_path / ".revrules", "SELECT records_read FROM runs") == [(20,), (20,)]
