"""Owners are checked against the CRM: unknown or inactive owners are reported and never assigned."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from revrules.testing import projects
from revrules.testing.harness import Result
from revrules.testing.hubspot import HubSpotEmulator
from revrules.testing.salesforce import SalesforceEmulator

Cli = Callable[..., Result]

ROUTING = """\
version: 1
territories:
  output: territory
  owner_output: owner
  tree:
    - id: ALL
      when: "true"
      owners: [{{id: "{a}"}}, {{id: "{b}"}}, {{id: "{c}"}}]
"""

SALESFORCE = projects.salesforce_config(
    fields={"name": "Name"}, rules="rules/", outputs={"territory": "Territory__c", "owner": "OwnerId"},
    retry_backoff_seconds=0.001)
HUBSPOT = projects.hubspot_config(fields={"name": "name"}, rules="rules/", outputs={"owner": "hubspot_owner_id"})

ACTIVE, INACTIVE, UNKNOWN = "005Dn000000AAAAAAA", "005Dn000000BBBBAAA", "005Dn000000CCCCAAA"


def write_project(folder: Path, config: str, owners: tuple[str, str, str]) -> Path:
    routing = ROUTING.format(a=owners[0], b=owners[1], c=owners[2])
    return projects.write_project(folder, config, routing, at="rules/routing.yaml")


@pytest.fixture
def org(monkeypatch: pytest.MonkeyPatch) -> Iterator[SalesforceEmulator]:
    accounts = [{"Id": f"001Dn0000{i:06d}AAA", "Name": f"A{i}", "OwnerId": INACTIVE, "Territory__c": "ALL"}
                for i in range(4)]
    fields = [{"name": "Id", "type": "id"}, {"name": "Name", "type": "string"},
              {"name": "OwnerId", "type": "reference"}, {"name": "Territory__c", "type": "string"}]
    emulator = SalesforceEmulator(accounts, fields=fields,
                                  users=[{"Id": ACTIVE}, {"Id": INACTIVE, "IsActive": False}]).start()
    monkeypatch.setenv("SF_URL", emulator.url)
    monkeypatch.setenv("SF_SESSION", emulator.session_id)
    yield emulator
    emulator.stop()


def test_check_online_reports_inactive_and_unknown_salesforce_owners_by_territory(
    cli: Cli, tmp_path: Path, org: SalesforceEmulator
) -> None:
    config = write_project(tmp_path, SALESFORCE, (ACTIVE, INACTIVE, UNKNOWN))
    result = cli("check", "--online", "-c", str(config))
    assert result.code == 2
    assert f"territory ALL: owner {INACTIVE} is not an active salesforce user" in result.err
    assert f"territory ALL: owner {UNKNOWN} is not an active salesforce user" in result.err
    assert ACTIVE not in result.err


def test_routing_never_assigns_an_inactive_or_unknown_owner(cli: Cli, tmp_path: Path, org: SalesforceEmulator) -> None:
    config = write_project(tmp_path, SALESFORCE, (ACTIVE, INACTIVE, UNKNOWN))
    result = cli("apply", "--yes", "-c", str(config))
    assert result.code == 0, result.err
    assert {str(r["OwnerId"]) for r in org.records.values()} == {ACTIVE}


def test_hubspot_owners_come_from_the_owners_api(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    owners = [{"id": "101", "email": "a@example.com", "archived": False}]
    companies = [{"Id": str(500 + i), "name": f"C{i}", "hubspot_owner_id": "202"} for i in range(3)]
    with HubSpotEmulator(companies, owners=owners) as emulator:
        monkeypatch.setenv("HS_URL", emulator.url)
        config = write_project(tmp_path, HUBSPOT, ("101", "202", "303"))
        check = cli("check", "--online", "-c", str(config))
        assert "territory ALL: owner 202 is not an active hubspot user" in check.err
        assert "territory ALL: owner 303 is not an active hubspot user" in check.err
        applied = cli("apply", "--yes", "-c", str(config))
        assert applied.code == 0, applied.err
        assert {c["hubspot_owner_id"] for c in emulator.companies.values()} == {"101"}


def test_unknown_owners_are_reported_as_unknown_not_at_capacity(cli: Cli, tmp_path: Path,
                                                                  org: SalesforceEmulator) -> None:
    config = write_project(tmp_path, SALESFORCE, (INACTIVE, UNKNOWN, UNKNOWN + "X"))
    (tmp_path / "rules" / "routing.yaml").write_text(
        ROUTING.replace(', {{id: "{c}"}}', "").format(a=INACTIVE, b=UNKNOWN, c=""))
    result = cli("plan", "-c", str(config))
    assert result.code == 0, result.err
    assert "no pool member can receive accounts" in result.out and "at capacity" not in result.out
    assert f"{INACTIVE} [unknown or inactive in the CRM]" not in result.out  # nothing moves, so no book line
    trace = cli("explain", "001Dn0000000000AAA", "-c", str(config), "--json").json()["owner"]
    assert trace["previous_status"] == "unknown or inactive in the CRM" and trace["why"] == "no-available-owner"


def test_accounts_of_an_unknown_owner_move_with_that_reason(cli: Cli, tmp_path: Path, org: SalesforceEmulator) -> None:
    config = write_project(tmp_path, SALESFORCE, (ACTIVE, INACTIVE, UNKNOWN))
    result = cli("plan", "-c", str(config), "--json")
    rules = {c["rule"] for c in result.json()["changes"] if c["field"] == "OwnerId"}
    assert rules == {"owner-unavailable"}
    books = {b["owner"]: b["status"] for b in result.json()["owner_books"]}
    assert books[INACTIVE] == "unknown or inactive in the CRM"
    trace = cli("explain", "001Dn0000000000AAA", "-c", str(config), "--json").json()["owner"]
    assert trace["previous"] == INACTIVE and "unknown or inactive in the CRM" in trace["because"]
