"""Projects over an emulated CRM that write two fields per record, for the ledger tests.

Every account with 500 employees gets `segment: Mid-Market` and `size: Large`; the
others keep `SMB` and get `size: Small`. So every record's write holds two fields,
which lets a test refuse one of them and watch the other land.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from revrules.testing.emulator import Emulator
from revrules.testing.harness import Cli, ledger_rows
from revrules.testing.hubspot import HubSpotEmulator
from revrules.testing.projects import SESSION, hubspot_config, salesforce_config, write_project
from revrules.testing.salesforce import SalesforceEmulator

RULES = """\
version: 1
decisions:
  segment:
    hit: first
    rules:
      - {id: big, when: "employees >= 100", then: Mid-Market}
    default: SMB
  size:
    hit: first
    rules:
      - {id: large, when: "employees >= 100", then: Large}
    default: Small
"""
CLIENT_CREDENTIALS = {"auth": "client_credentials", "consumer_key": "3MVG9example", "consumer_secret": "s3cret",
                      "domain": "acme.my"}
SEGMENTS = ["SMB", "Mid-Market", "Enterprise"]
FIELDS = {"salesforce": ("Segment__c", "Size__c"), "hubspot": ("revrules_segment", "revrules_size")}


def sf_id(n: int) -> str:
    """The Salesforce id of account `n`."""
    return f"001Dn0000{n:06d}AAA"


def hs_id(n: int) -> str:
    """The HubSpot id of company `n`."""
    return str(1000 + n)


def connect(emulator: Emulator[Any, Any], config: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli) -> None:
    """Ready the CRM under a project: Salesforce's session id in SF_SESSION, or HubSpot's output
    properties created; then an empty request log."""
    if isinstance(emulator, SalesforceEmulator):
        monkeypatch.setenv("SF_SESSION", emulator.session_id)
    else:
        created = cli("check", "-c", config, "--online", "--create-properties")
        assert created.code == 0, created.err
    emulator.reset_log()


class Crm:
    """One emulated CRM under a project: what it holds, its write requests, its config."""

    def __init__(self, kind: str, folder: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli, count: int, *,
                 auth: Mapping[str, object] = SESSION, safety: str = "", **crm: Any) -> None:
        self.kind = kind
        self.ids = [sf_id(n) if kind == "salesforce" else hs_id(n) for n in range(count)]
        self.emulator: Emulator[Any, Any]
        if kind == "salesforce":
            self.emulator = SalesforceEmulator(
                [{"Id": sf_id(i), "Name": f"A{i}", "NumberOfEmployees": 500 if i % 2 else 10, "Segment__c": "SMB",
                  "Size__c": None} for i in range(count)], picklists={"Segment__c": SEGMENTS}).start()
            config = salesforce_config(
                self.emulator.url, auth=auth, outputs={"segment": "Segment__c", "size": "Size__c"}, extra=safety,
                retry_backoff_seconds=0.001, max_retries=2, timeout_seconds=0.5, **crm)
        else:
            self.emulator = HubSpotEmulator([{"id": hs_id(i), "name": f"C{i}",
                                              "numberofemployees": "500" if i % 2 else "10"} for i in range(count)]
                                            ).start()
            config = hubspot_config(
                self.emulator.url, outputs={"segment": "revrules_segment", "size": "revrules_size"}, extra=safety,
                retry_backoff_seconds=0.01, timeout_seconds=0.5, **crm)
        self.config = write_project(folder, config, RULES)
        self.state = folder / ".revrules"
        connect(self.emulator, self.config, monkeypatch, cli)

    def values(self) -> dict[tuple[str, str], str | None]:
        """What the CRM holds in the output fields: (record id, field) -> value."""
        fields = FIELDS[self.kind]
        if isinstance(self.emulator, SalesforceEmulator):
            return {(rid, f): r.get(f) for rid, r in self.emulator.records.items() for f in fields}
        assert isinstance(self.emulator, HubSpotEmulator)
        return {(cid, f): c.get(f) for cid, c in self.emulator.companies.items() for f in fields}

    def write_requests(self) -> int:
        """How many write requests the CRM received (sObject Collections, Bulk uploads, HubSpot batches)."""
        if self.kind == "salesforce":
            return len(self.emulator.requests("PATCH", "composite/sobjects")) + len(
                self.emulator.requests("PUT", "jobs/ingest/"))
        return len(self.emulator.requests("POST", "/batch/update"))


def changed(before: dict[tuple[str, str], str | None], after: dict[tuple[str, str], str | None]) -> set[
        tuple[str, str]]:
    """The (record, field) pairs whose value differs between two snapshots."""
    return {key for key in before if before[key] != after[key]}


def results(state: Path, run: int) -> dict[str, int]:
    """A run's ledger writes counted by result."""
    return dict(ledger_rows(state, "SELECT result, COUNT(*) FROM writes WHERE run_id = ? GROUP BY result", (run,)))


def written(state: Path, run: int) -> set[tuple[str, str]]:
    """The (record, field) pairs a run's ledger says were written."""
    rows = ledger_rows(state, "SELECT record_id, field FROM writes WHERE run_id = ? AND result = 'written'", (run,))
    return {(str(r), str(f)) for r, f in rows}
