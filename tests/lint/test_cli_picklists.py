"""RR108 through `revrules lint --online` and `check --online`, against the Salesforce and HubSpot emulators."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest

from revrules.engine.lint.witness import reproduces
from revrules.testing.harness import Cli
from revrules.testing.hubspot import HubSpotEmulator, default_company_properties
from revrules.testing.projects import hubspot_config, salesforce_config, write_project
from revrules.testing.salesforce import ACCOUNT_FIELDS, SalesforceEmulator

SEGMENT_RULES = """\
version: 1
decisions:
  segment:
    hit: first
    rules:
      - {id: enterprise, when: "employees >= 2000", then: Enterprise}
      - {id: mid-market, when: "employees >= 200", then: Mid-Market}
    default: Unclassified
"""

CSV = """\
version: 1
crm: {{kind: csv, path: accounts.csv, id_column: Id}}
fields:
  employees: {{source: Employees, type: number}}
rules: [rules.yaml]
outputs: {outputs}
"""


def entry(value: str, *, active: bool = True) -> dict[str, Any]:
    """A `picklistValues` entry with the keys of a recorded describe."""
    return {"active": active, "defaultValue": False, "label": value, "validFor": None, "value": value}


@pytest.fixture
def org(monkeypatch: pytest.MonkeyPatch) -> Iterator[SalesforceEmulator]:
    """An org whose Segment__c is an unrestricted picklist with an inactive value, Enterprise."""
    segment = {"name": "Segment__c", "type": "picklist", "length": 255, "restrictedPicklist": False,
               "picklistValues": [entry("SMB"), entry("Mid-Market"), entry("Enterprise", active=False)]}
    records = [{"Id": f"001Dn0000{i:06d}AAA", "Name": f"Account {i}", "NumberOfEmployees": 50 * i}
               for i in range(3)]
    emulator = SalesforceEmulator(records, fields=[*ACCOUNT_FIELDS, segment]).start()
    monkeypatch.setenv("SF_SESSION", emulator.session_id)
    yield emulator
    emulator.stop()


def enumeration(name: str, *values: str) -> dict[str, Any]:
    """A select property with these options (CRM Properties API `Property` JSON; the emulator completes it)."""
    return {"name": name, "type": "enumeration", "fieldType": "select", "groupName": "revrules",
            "options": [{"label": v, "value": v, "displayOrder": i, "hidden": False} for i, v in enumerate(values)]}


def assert_witnesses_reproduce(cli: Cli, config: Path, findings: list[dict[str, Any]]) -> None:
    for finding in findings:
        explained = cli("explain", "-c", config, "--account", json.dumps(finding["witness"]), "--json")
        assert reproduces(finding["claim"], explained.json()), (finding, explained.out)


def test_salesforce_values_outside_the_active_picklist_values_are_rr108(
    cli: Cli, org: SalesforceEmulator, tmp_path: Path
) -> None:
    """The describe's `picklistValues` carry `active` for restricted and unrestricted picklists alike
    (sObject Describe, PicklistEntry; recorded in realdata/salesforce/cumulusci_account_describe_v48.json,
    where Account.Type is `restrictedPicklist: false`). An inactive value and one not listed are both RR108,
    on the rule's line and on the `default:` line; `check --online` passes its field checks (the picklist is
    unrestricted, so the org would take the value) and fails on the findings."""
    config = write_project(tmp_path, salesforce_config(org.url), SEGMENT_RULES)

    result = cli("lint", "-c", config, "--online", "--format", "json")

    assert result.code == 1, result.err
    found = [f for f in result.json()["findings"] if f["code"] == "RR108"]
    assert [(f["target"], f["line"]) for f in found] == [("enterprise", 6), ("default", 8)]
    assert "'Enterprise' to Segment__c" in found[0]["message"]
    assert "options: 'Mid-Market', 'SMB'" in found[0]["message"]
    assert_witnesses_reproduce(cli, config, found)
    never = {f["target"] for f in result.json()["findings"] if f["code"] == "RR201"}
    assert never == {"enterprise", "mid-market"}  # the org's accounts have 0, 50 and 100 employees
    checked = cli("check", "-c", config, "--online")
    assert checked.code == 1, checked.err
    assert "online: every mapped field exists" in checked.out
    assert "RR108 invalid-picklist-value: the default of segment writes 'Unclassified'" in checked.out
    offline = cli("lint", "-c", config, "--format", "json")
    assert offline.code == 0 and offline.json()["findings"] == []


def test_salesforce_values_among_the_active_options_are_not_rr108(
    cli: Cli, org: SalesforceEmulator, tmp_path: Path
) -> None:
    """Only active `picklistValues` count (sObject Describe, PicklistEntry.active)."""
    rules = SEGMENT_RULES.replace("then: Enterprise", "then: Mid-Market").replace("Unclassified", "SMB")
    config = write_project(tmp_path, salesforce_config(org.url), rules)

    result = cli("lint", "-c", config, "--online", "--format", "json")

    assert [f for f in result.json()["findings"] if f["code"] == "RR108"] == []


def test_hubspot_enumeration_options_bound_then_values_and_territory_leaves(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A HubSpot enumeration property's `options` are the values it takes (CRM Properties API, property
    `options`; realdata/hubspot/hubspot_company_industry_enum_sources.json); a hidden option is still one
    (HubSpot accepts it in a write and only leaves it out of forms)."""
    monkeypatch.setenv("HUBSPOT_TOKEN", "test-token")
    companies = [{"id": str(1000 + i), "name": f"Company {i}", "numberofemployees": str(150 * i),
                  "country": "Japan"} for i in range(3)]
    rules = SEGMENT_RULES + """\
territories:
  output: territory
  tree:
    - {id: NA, when: "country == 'United States'"}
    - {id: APAC, when: "country == 'Japan'"}
"""
    properties = [*default_company_properties(), enumeration("revrules_segment", "Enterprise", "Mid-Market"),
                  enumeration("revrules_territory", "NA", "EMEA")]
    properties[-2]["options"][0]["hidden"] = True
    with HubSpotEmulator(companies, properties=properties, access_token="test-token") as emulator:
        settings = hubspot_config(
            emulator.url, token="${HUBSPOT_TOKEN}", retry_backoff_seconds=0.01,
            fields={"employees": "{source: numberofemployees, type: number}", "country": "country"},
            outputs={"segment": "revrules_segment", "territory": "revrules_territory"})
        config = write_project(tmp_path, settings, rules)
        result = cli("lint", "-c", config, "--online", "--format", "json")

    found = [f for f in result.json()["findings"] if f["code"] == "RR108"]
    assert result.code == 1
    assert [(f["target"], f["subject"]) for f in found] == [
        ("default", "decision segment"), ("APAC", "territory APAC")]
    assert "writes 'APAC' to revrules_territory" in found[1]["message"]
    assert_witnesses_reproduce(cli, config, found)


def test_a_csv_source_has_no_picklists_so_no_rr108(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "accounts.csv").write_text("Id,Employees,Segment\n1,10,SMB\n2,300,Mid-Market\n3,3000,Other\n")
    config = write_project(tmp_path, CSV.format(outputs="{segment: Segment}"), SEGMENT_RULES)

    result = cli("lint", "-c", config, "--online", "--format", "json")

    assert result.code == 0, result.out
    assert [f["code"] for f in result.json()["findings"]] == []


def test_check_online_shows_population_findings_as_notes_and_lint_online_fails_on_them(
    cli: Cli, tmp_path: Path
) -> None:
    (tmp_path / "accounts.csv").write_text("Id,Employees\n1,10\n2,300\n")
    config = write_project(tmp_path, CSV.format(outputs="{}"), SEGMENT_RULES)

    checked = cli("check", "-c", config, "--online")
    linted = cli("lint", "-c", config, "--online")
    document = cli("check", "-c", config, "--online", "--format", "json").json()

    assert checked.code == 0, checked.out
    assert "  note: " in checked.out and "RR201 never-holds: rule 'enterprise' held for none of the 2" in checked.out
    assert linted.code == 1 and "RR201 never-holds" in linted.out
    assert document["findings"] == [] and [n["code"] for n in document["notes"]] == ["RR201"]


def test_check_online_reads_the_orgs_records_once(cli: Cli, org: SalesforceEmulator, tmp_path: Path) -> None:
    """`check --online` notes lookup rows no record matched and lints the records read (RR201-RR203):
    both from one read of the org, since each full read of a large org is a Bulk API 2.0 query job
    and counts against the daily API requests (Salesforce's REST API limits: `DailyApiRequests`)."""
    (tmp_path / "named.csv").write_text("name,tier\nAccount 1,Strategic\nGone Inc,Strategic\n")
    rules = SEGMENT_RULES.replace("decisions:", "lookups:\n  named: {file: named.csv, key: name}\n"
                                  "derive:\n  tier: {lookup: named, key: name, column: tier}\ndecisions:")
    settings = salesforce_config(org.url).replace("fields:\n", "fields:\n  name: Name\n")
    config = write_project(tmp_path, settings, rules)
    org.reset_log()

    checked = cli("check", "-c", config, "--online")

    assert "named.csv): 1 of 2 row(s) match no record (lines 3)" in checked.out, checked.out
    assert "RR201 never-holds" in checked.out, checked.out
    reads = [r for r in org.requests("GET", "/query") if "FROM Account" in unquote_plus(r.query)
             and "NumberOfEmployees" in unquote_plus(r.query)]
    assert len(reads) == 1, [unquote_plus(r.query) for r in reads]
