"""A record refused over some of its fields is written again without them, in apply and in rollback.

Salesforce names the refused fields in each error's `fields` (REST API Developer Guide,
sObject Collections "Update Multiple Records": `errors[].fields`); a restricted picklist
refuses an inactive value with INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST naming the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from revrules.testing.harness import Cli, ledger_rows
from revrules.testing.projects import salesforce_config, write_project
from revrules.testing.salesforce import SalesforceEmulator
from tests.ledger.test_lost_answers import RULES, salesforce


@pytest.fixture
def org(monkeypatch: pytest.MonkeyPatch) -> Iterator[SalesforceEmulator]:
    with salesforce(10) as emulator:
        monkeypatch.setenv("SF_SESSION", emulator.session_id)
        yield emulator


def project(folder: Path, org: SalesforceEmulator) -> Path:
    config = salesforce_config(org.url, extra="provenance: Note__c\n", retry_backoff_seconds=0.001, max_retries=2,
                               timeout_seconds=0.5)
    return write_project(folder, config, RULES)


def deactivate(org: SalesforceEmulator, value: str) -> None:
    for option in org._fields["Segment__c"]["picklistValues"]:
        if option["value"] == value:
            option["active"] = False


def test_rollback_restores_every_field_it_can_when_one_is_refused(
    tmp_path: Path, org: SalesforceEmulator, cli: Cli
) -> None:
    config = project(tmp_path, org)
    before = {rid: (r.get("Segment__c"), r.get("Note__c")) for rid, r in org.records.items()}
    applied = cli("apply", "-c", config, "--yes", "--json")
    assert applied.code == 0, applied.err
    written = applied.json()["written"]
    deactivate(org, "SMB")  # the value rollback must restore is no longer allowed

    rolled = cli("rollback", "1", "-c", config, "--yes", "--json")
    runs = {r["id"]: r for r in cli("history", "-c", config, "--json").json()["runs"]}
    rows = dict(ledger_rows(tmp_path / ".revrules", "SELECT field, result FROM writes WHERE run_id = 2"
                                                     " GROUP BY field, result"))

    report = rolled.json()
    refused = {f["field"] for f in report["failed"]}
    assert rolled.code == 1
    assert refused == {"Segment__c"}
    assert all(f["error"].startswith("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST") for f in report["failed"])
    assert report["written"] == written // 2  # every Note__c restored
    assert report["status"] == "partial" and runs[2]["status"] == "partial"
    assert rows == {"Segment__c": "failed", "Note__c": "written"}
    assert all(org.records[rid].get("Note__c") == desc for rid, (_, desc) in before.items())
    assert {r.get("Segment__c") for r in org.records.values()} == {"Mid-Market", "SMB"}
