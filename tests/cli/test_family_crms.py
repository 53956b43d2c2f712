"""Hierarchies and write policies against both CRM emulators, through their real client libraries (issue 21)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote_plus

import pytest
import requests

from revrules.testing.harness import Cli
from revrules.testing.hubspot import HubSpotEmulator
from revrules.testing.salesforce import SalesforceEmulator

HS_TOKEN = "test-token"

RULES = """\
version: 1
derive:
  family_employees: {family: sum, of: employees}
decisions:
  segment:
    rules:
      - {id: enterprise, when: "family_employees >= 1000", then: Enterprise}
    default: SMB
"""
CONFIG = """\
version: 1
crm: {kind: salesforce, auth: session, session_id: "${SF_SESSION}", instance_url: "${SF_URL}", api_reserve: 0}
fields:
  employees: {source: NumberOfEmployees, type: number}
rules: [rules/]
hierarchy: {parent: ParentId}
outputs:
  segment: {field: Segment__c, never_overwrite: [Strategic]}
state_dir: .revrules
"""
ACCOUNTS = [
    {"Id": "001Dn0000000001AAA", "NumberOfEmployees": 600, "ParentId": None, "Segment__c": "SMB"},
    {"Id": "001Dn0000000002AAA", "NumberOfEmployees": 500, "ParentId": "001Dn0000000001AAA", "Segment__c": "SMB"},
    {"Id": "001Dn0000000003AAA", "NumberOfEmployees": 10, "ParentId": "001Dn0000000001AAA",
     "Segment__c": "Strategic"},
    {"Id": "001Dn0000000004AAA", "NumberOfEmployees": 10, "ParentId": None, "Segment__c": "SMB"},
]


@pytest.fixture
def org(monkeypatch: pytest.MonkeyPatch) -> Iterator[SalesforceEmulator]:
    """An org of one three-account family, one loner; one child set to Strategic by hand."""
    emulator = SalesforceEmulator(ACCOUNTS, picklists={"Segment__c": ["SMB", "Enterprise", "Strategic"]}).start()
    monkeypatch.setenv("SF_URL", emulator.url)
    monkeypatch.setenv("SF_SESSION", emulator.session_id)
    yield emulator
    emulator.stop()


def test_family_values_and_policies_hold_on_salesforce(tmp_path: Path, org: SalesforceEmulator, cli: Cli) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "book.yaml").write_text(RULES, encoding="utf-8")
    config = tmp_path / "revrules.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    result = cli("apply", "-c", config, "--yes")
    assert result.code == 0, result.err
    segments = {rid: r["Segment__c"] for rid, r in org.records.items()}
    assert segments == {"001Dn0000000001AAA": "Enterprise", "001Dn0000000002AAA": "Enterprise",
                        "001Dn0000000003AAA": "Strategic", "001Dn0000000004AAA": "SMB"}


HS_CONFIG = """\
version: 1
crm: {kind: hubspot, access_token: "${HUBSPOT_TOKEN}", base_url: "URL", retry_backoff_seconds: 0.01}
fields:
  employees: {source: numberofemployees, type: number}
rules: [rules/]
hierarchy: {parent: hs_parent_company_id}
outputs:
  segment: {field: revrules_segment, write: if_blank}
"""


def test_family_values_and_policies_hold_on_hubspot(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    companies = [
        {"id": "1", "numberofemployees": "600", "hs_parent_company_id": ""},
        {"id": "2", "numberofemployees": "500", "hs_parent_company_id": "1"},
        {"id": "3", "numberofemployees": "10", "hs_parent_company_id": "1", "revrules_segment": "SMB"},
        {"id": "4", "numberofemployees": "10", "hs_parent_company_id": ""},
    ]
    with HubSpotEmulator(companies) as emulator:
        monkeypatch.setenv("HUBSPOT_TOKEN", HS_TOKEN)
        (tmp_path / "rules").mkdir()
        (tmp_path / "rules" / "book.yaml").write_text(RULES, encoding="utf-8")
        config = tmp_path / "revrules.yaml"
        config.write_text(HS_CONFIG.replace("URL", emulator.url), encoding="utf-8")
        result = cli("apply", "-c", config, "--yes")
        assert result.code == 0, result.err
        segments = {cid: c.get("revrules_segment") for cid, c in emulator.companies.items()}
    assert segments == {"1": "Enterprise", "2": "Enterprise", "3": "SMB", "4": "SMB"}


FILTERED_RULES = """\
version: 1
derive:
  hq_employees: {ultimate: employees}
decisions:
  segment:
    rules:
      - {id: enterprise, when: "hq_employees >= 600", then: Enterprise}
    default: SMB
"""


def test_a_parent_outside_a_filtered_read_is_read_by_id_and_never_written(
    tmp_path: Path, org: SalesforceEmulator, cli: Cli
) -> None:
    """`where:` leaves the parents out; one `SELECT ... WHERE Id IN (...)` query reads them (the REST query
    resource, https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_comparisonoperators.htm)."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "book.yaml").write_text(FILTERED_RULES, encoding="utf-8")
    config = tmp_path / "revrules.yaml"
    filtered = CONFIG.replace("api_reserve: 0}", "api_reserve: 0, where: \"ParentId != null\"}")
    config.write_text(filtered.replace("{field: Segment__c, never_overwrite: [Strategic]}", "Segment__c"),
                      encoding="utf-8")
    result = cli("plan", "-c", config, "--json")
    assert result.code == 0, result.err
    plan = result.json()
    assert plan["meta"]["records_read"] == 2
    assert {(c["id"], c["after"]) for c in plan["changes"]} == {("001Dn0000000002AAA", "Enterprise"),
                                                                ("001Dn0000000003AAA", "Enterprise")}
    assert "read 1 parent record(s) outside the records read" in result.err
    by_id = [r for r in org.requests("GET", "/query") if "WHERE Id IN (" in unquote_plus(r.query)]
    assert len(by_id) == 1


HS_INCREMENTAL = """\
version: 1
crm: {kind: hubspot, access_token: "${HUBSPOT_TOKEN}", base_url: "URL", retry_backoff_seconds: 0.01,
      incremental_lag_seconds: 0}
fields:
  employees: {source: numberofemployees, type: number}
rules: [rules/]
hierarchy: {parent: hs_parent_company_id}
outputs:
  segment: revrules_segment
schedule: {incremental_lag_seconds: 0}
"""
OLD_STAMP = "2024-01-01T00:00:00.000Z"


def test_an_incremental_read_on_hubspot_still_sees_the_parent(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the modified child is searched; its parent comes from one batch read of companies
    (https://developers.hubspot.com/docs/api-reference/crm-companies-v3/batch/post-crm-v3-objects-companies-batch-read)."""
    companies = [
        {"id": "1", "numberofemployees": "1500", "hs_parent_company_id": "", "hs_lastmodifieddate": OLD_STAMP,
         "revrules_segment": "Enterprise"},
        {"id": "2", "numberofemployees": "20", "hs_parent_company_id": "1", "hs_lastmodifieddate": OLD_STAMP},
        {"id": "3", "numberofemployees": "20", "hs_parent_company_id": "", "hs_lastmodifieddate": OLD_STAMP,
         "revrules_segment": "SMB"},
    ]
    with HubSpotEmulator(companies) as emulator:
        monkeypatch.setenv("HUBSPOT_TOKEN", HS_TOKEN)
        (tmp_path / "rules").mkdir()
        (tmp_path / "rules" / "book.yaml").write_text(FILTERED_RULES, encoding="utf-8")
        config = tmp_path / "revrules.yaml"
        config.write_text(HS_INCREMENTAL.replace("URL", emulator.url), encoding="utf-8")
        first = cli("apply", "-c", config, "--yes", "--incremental")
        assert first.code == 0, first.err
        edit = requests.patch(f"{emulator.url}/crm/v3/objects/companies/2",
                              json={"properties": {"revrules_segment": "SMB"}},
                              headers={"Authorization": f"Bearer {HS_TOKEN}"}, timeout=10)
        assert edit.status_code == 200, edit.text
        batch_reads = emulator.count("POST", "^/crm/.*companies/batch/read")
        second = cli("apply", "-c", config, "--yes", "--incremental")
        assert second.code == 0, second.err
        assert "incremental run" in second.err, second.err
        assert "read 1 records" in second.err  # the child a person edited; its parent is read by id
        assert emulator.count("POST", "^/crm/.*companies/batch/read") > batch_reads
        segments = {cid: c.get("revrules_segment") for cid, c in emulator.companies.items()}
    assert segments == {"1": "Enterprise", "2": "Enterprise", "3": "SMB"}
