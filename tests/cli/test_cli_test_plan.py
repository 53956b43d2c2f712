"""`revrules test` and `revrules plan`: output, JSON shape, saved plans, and writing nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path

from revrules.testing.harness import Cli, by_id
from tests.cli.projects import write_project

FAILING_TEST = """\
  - name: 150 employees is Mid-Market (wrong on purpose)
    account: {employees: 150, country: US}
    expect: {segment: Mid-Market}
"""


def _add_failing_test(starter: Path) -> None:
    tests = starter.parent / "rules" / "tests" / "segments.yaml"
    tests.write_text(tests.read_text() + FAILING_TEST)


def test_test_ends_with_passed_and_failed_counts(starter: Path, cli: Cli) -> None:
    result = cli("test", "-c", starter)
    assert result.code == 0
    assert result.last_line == "3 passed, 0 failed"


def test_a_failing_test_exits_1_and_shows_expected_and_actual(starter: Path, cli: Cli) -> None:
    _add_failing_test(starter)
    result = cli("test", "-c", starter)
    assert result.code == 1
    assert result.last_line == "3 passed, 1 failed"
    assert "150 employees is Mid-Market (wrong on purpose)" in result.out
    assert "segment: expected Mid-Market, got SMB" in result.out
    # The trace shows why: the deciding rule and the values it read.
    assert re.search(r"true\s+smb: employees >= 1\s+reads employees=150", result.out), result.out


def test_test_json_is_one_document_with_counts_and_mismatches(starter: Path, cli: Cli) -> None:
    _add_failing_test(starter)
    result = cli("test", "-c", starter, "--json")
    assert result.code == 1
    data = result.json()
    assert (data["passed"], data["failed"]) == (3, 1)
    failed = [t for t in data["tests"] if not t["passed"]]
    assert failed[0]["mismatches"] == [
        {"key": "segment", "expected": "Mid-Market", "actual": "SMB"}
    ]


def test_plan_summary_counts_fields_and_transitions(starter: Path, cli: Cli) -> None:
    result = cli("plan", "-c", starter)
    assert result.code == 0
    out = result.out
    assert "Read 8 records" in out
    assert "  Segment__c: 8 record(s)" in out
    assert re.search(r"^\s+Segment__c: \(empty\) -> SMB  3$", out, re.M), out
    assert re.search(r"^\s+Territory__c: \(empty\) -> NA-COMM  4$", out, re.M), out
    assert "enterprise-abm: +1 -0" in out
    assert out.rstrip().endswith(
        "Plan: 8 record(s) to change, 29 field change(s), 1 list membership change(s)."
    )
    assert "read 8 records" in result.err  # logs go to stderr


def test_plan_transitions_show_before_and_after(tmp_path: Path, cli: Cli) -> None:
    accounts = "Id,Emp,Mrr,Domain,Segment__c\n" + "".join(
        f"A{i},{500 if i < 3 else 5},1,x.com,{'Small'}\n" for i in range(5)
    )
    config = write_project(tmp_path, accounts)
    out = cli("plan", "-c", config).out
    assert re.search(r"^\s+Segment__c: Small -> Big  3$", out, re.M), out


def test_plan_data_quality_names_field_count_and_example_id_but_no_value(
    starter: Path, cli: Cli
) -> None:
    accounts = starter.parent / "accounts.csv"
    accounts.write_text(
        accounts.read_text().replace(
            "0015e000001A004,Umbrella,45", "0015e000001A004,Umbrella,n/a-xyz"
        )
    )
    result = cli("plan", "-c", starter)
    out = result.out
    assert "Data quality" in out
    assert "employees (NumberOfEmployees): 2 value(s), e.g. record 0015e000001A00" in out
    assert "unknown" not in out
    assert "n/a-xyz" not in out + result.err
    data = cli("plan", "-c", starter, "--json").json()
    assert data["data_quality"][0]["field"] == "employees"
    assert data["data_quality"][0]["count"] == 2
    assert "n/a-xyz" not in json.dumps(data["data_quality"])


def test_plan_json_is_one_document_with_meta_changes_and_list_changes(
    starter: Path, cli: Cli
) -> None:
    result = cli("plan", "-c", starter, "--json")
    assert result.code == 0
    data = result.json()
    assert set(data["meta"]) >= {
        "created_at",
        "crm",
        "config_hash",
        "rulebook_hash",
        "records_read",
    }
    assert data["meta"]["crm"] == "csv"
    assert data["meta"]["records_read"] == 8
    assert len(data["changes"]) == 29
    assert all(set(c) == {"id", "field", "before", "after", "rule"} for c in data["changes"])
    acme = {c["field"]: c for c in data["changes"] if c["id"] == "0015e000001A001"}
    assert acme["Segment__c"] == {
        "id": "0015e000001A001",
        "field": "Segment__c",
        "before": None,
        "after": "Enterprise",
        "rule": "enterprise",
    }
    assert acme["Territory__c"]["after"] == "NA-ENT"
    assert "OwnerId" not in acme  # its owner is in the NA-ENT pool: kept
    hooli = {c["field"]: c for c in data["changes"] if c["id"] == "0015e000001A005"}
    assert hooli["Segment__c"]["after"] == "Strategic"
    assert hooli["Segment__c"]["rule"] == "override"
    assert data["list_changes"] == [
        {"list": "enterprise-abm", "id": "0015e000001A001", "action": "add"}
    ]


def test_plan_writes_nothing_to_the_crm(starter: Path, cli: Cli) -> None:
    folder = starter.parent
    before = {p: p.read_bytes() for p in folder.rglob("*.csv")}
    assert cli("plan", "-c", starter).code == 0
    assert cli("plan", "-c", starter, "--json").code == 0
    after = {p: p.read_bytes() for p in folder.rglob("*.csv")}
    assert after == before
    assert not (folder / "out").exists()


def test_plan_out_saves_the_same_document_as_plan_json(starter: Path, cli: Cli) -> None:
    saved = starter.parent / "plans" / "p.json"
    result = cli("plan", "-c", starter, "-o", saved)
    assert result.code == 0
    assert "Plan: 8 record(s)" in result.out
    document = json.loads(saved.read_text())
    printed = cli("plan", "-c", starter, "--json").json()
    for doc in (document, printed):
        doc["meta"].pop("created_at")
    assert document == printed


def test_plan_after_apply_is_empty_and_says_so(starter: Path, cli: Cli) -> None:
    assert cli("apply", "-c", starter, "--yes").code == 0
    result = cli("plan", "-c", starter)
    assert "No changes. The CRM matches the rulebook." in result.out
    data = cli("plan", "-c", starter, "--json").json()
    assert data["changes"] == []
    assert data["list_changes"] == []


def test_plan_removes_list_members_that_no_longer_match(starter: Path, cli: Cli) -> None:
    assert cli("apply", "-c", starter, "--yes").code == 0
    accounts = starter.parent / "accounts.csv"
    accounts.write_text(accounts.read_text().replace("Acme Corp,12000", "Acme Corp,12"))
    data = cli("plan", "-c", starter, "--json").json()
    assert {"list": "enterprise-abm", "id": "0015e000001A001", "action": "remove"} in data[
        "list_changes"
    ]
    assert cli("apply", "-c", starter, "--yes").code == 0
    assert by_id(starter.parent / "out" / "lists" / "enterprise-abm.csv") == {}
