"""HubSpot company lists kept in sync by `revrules plan/apply/rollback`, against the emulator."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from revrules.connectors.hubspot import HubspotConnector
from revrules.testing.harness import Cli, ledger_rows
from revrules.testing.hubspot import HubSpotEmulator
from revrules.testing.projects import hubspot_config, list_rules, write_project

TOKEN = "test-token"
CHANGE = "add-and-remove"


def companies(count: int) -> list[dict[str, str]]:
    return [{"id": str(1000 + i), "name": f"Company {i}", "numberofemployees": str(i * 100)} for i in range(count)]


def big(threshold: int, count: int = 30) -> set[str]:
    return {str(1000 + i) for i in range(count) if i * 100 >= threshold}


@pytest.fixture
def emu() -> Iterator[HubSpotEmulator]:
    with HubSpotEmulator(companies(30)) as emulator:
        yield emulator


@pytest.fixture
def config(tmp_path: Path, emu: HubSpotEmulator, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HUBSPOT_TOKEN", TOKEN)
    config = hubspot_config(emu.url, token="${HUBSPOT_TOKEN}", outputs={}, retry_backoff_seconds=0.01, max_retries=0)
    return write_project(tmp_path, config, list_rules(2000, name="Big Companies"))


def rulebook(config: Path, *, threshold: int, name: str = "Big Companies") -> None:
    (config.parent / "rules.yaml").write_text(list_rules(threshold, name=name))


def synced(emu: HubSpotEmulator, name: str = "Big Companies") -> set[str]:
    found = [entry for entry in emu.lists.values() if entry["name"] == name]
    assert len(found) == 1, f"{len(found)} lists named {name!r}"
    assert found[0]["processingType"] == "MANUAL" and found[0]["objectTypeId"] == "0-2"
    return set(found[0]["members"])


def changes(emu: HubSpotEmulator) -> int:
    return sum(1 for entry in emu.request_log if entry.method == "PUT" and entry.path.endswith(CHANGE))


def test_create_grow_shrink_in_one_call_each_then_rollback(config: Path, emu: HubSpotEmulator, cli: Cli) -> None:
    plan = cli("plan", "-c", config, "--json")
    assert plan.code == 0, plan.err
    assert {(c["list"], c["id"], c["action"]) for c in plan.json()["list_changes"]} == {
        ("big", i, "add") for i in big(2000)
    }
    assert emu.lists == {}, "plan writes nothing, not even the list"

    created = cli("apply", "-c", config, "--yes", "--json")
    assert created.code == 0, created.err
    assert created.json()["list_changes_written"] == len(big(2000))
    assert synced(emu) == big(2000)
    assert changes(emu) == 1

    assert cli("plan", "-c", config, "--json").json()["list_changes"] == []
    emu.reset_log()
    again = cli("apply", "-c", config, "--yes", "--json")
    assert again.code == 0 and again.json()["written"] == 0
    assert changes(emu) == 0

    rulebook(config, threshold=1000)
    grown = cli("apply", "-c", config, "--yes", "--json")
    assert grown.code == 0, grown.err
    assert synced(emu) == big(1000)

    rulebook(config, threshold=2500)
    emu.reset_log()
    plan = cli("plan", "-c", config)
    assert "big: +0 -15" in plan.out
    shrunk = cli("apply", "-c", config, "--yes", "--json")
    assert shrunk.code == 0, shrunk.err
    assert synced(emu) == big(2500)
    assert changes(emu) == 1
    assert ledger_rows(
        config.parent / ".revrules", f"SELECT COUNT(*) FROM list_writes WHERE run_id = {shrunk.json()['run']} "
                          "AND action = 'remove' AND result = 'written'") == [(15,)]

    undone = cli("rollback", "-c", config, shrunk.json()["run"], "--yes", "--json")
    assert undone.code == 0, undone.err
    assert synced(emu) == big(1000)


def test_renamed_list_is_a_new_list_and_the_old_one_is_left_alone(
    config: Path, emu: HubSpotEmulator, cli: Cli
) -> None:
    assert cli("apply", "-c", config, "--yes").code == 0
    rulebook(config, threshold=2000, name="Large Companies")
    plan = cli("plan", "-c", config, "--json")
    assert plan.code == 0, plan.err
    assert {c["action"] for c in plan.json()["list_changes"]} == {"add"}
    assert "now named 'Large Companies'" in plan.err and "'Big Companies'" in plan.err
    assert cli("apply", "-c", config, "--yes").code == 0
    assert synced(emu, "Large Companies") == big(2000)
    assert synced(emu, "Big Companies") == big(2000)
    assert "now named" not in cli("plan", "-c", config).err


def test_a_dynamic_list_of_the_same_name_is_an_error(config: Path, emu: HubSpotEmulator, cli: Cli) -> None:
    request = urllib.request.Request(
        f"{emu.url}/crm/v3/lists",
        data=json.dumps({"name": "Big Companies", "objectTypeId": "0-2", "processingType": "DYNAMIC"}).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request).close()
    result = cli("plan", "-c", config)
    assert result.code == 2
    assert "DYNAMIC" in result.err and "Big Companies" in result.err
    check = cli("check", "--online", "-c", config)
    assert check.code == 2
    assert "DYNAMIC" in check.err and "Big Companies" in check.err


def test_records_hubspot_reports_missing_fail_and_the_rest_lands(
    config: Path, emu: HubSpotEmulator, cli: Cli
) -> None:
    emu.faults.missing_list_record_ids = {"1025"}
    result = cli("apply", "-c", config, "--yes", "--json")
    assert result.code == 1
    report = result.json()
    assert report["status"] == "partial"
    assert [(f["id"], f["field"]) for f in report["failed"]] == [("1025", "list:big")]
    assert synced(emu) == big(2000) - {"1025"}
    failed = ledger_rows(config.parent / ".revrules",
                         "SELECT record_id, result FROM list_writes WHERE result = 'failed'")
    assert failed == [("1025", "failed")]

    emu.faults.missing_list_record_ids = set()
    replan = cli("plan", "-c", config, "--json").json()["list_changes"]
    assert replan == [{"list": "big", "id": "1025", "action": "add"}]


@pytest.mark.parametrize(("limit", "threshold"), [("5", 1000), ("'50%'", 500)])
def test_max_list_change_refuses_unless_forced(
    config: Path, emu: HubSpotEmulator, cli: Cli, limit: str, threshold: int
) -> None:
    assert cli("apply", "-c", config, "--yes").code == 0  # creating the list: 10 members
    config.write_text(config.read_text() + f"safety:\n  max_list_change: {limit}\n")
    rulebook(config, threshold=threshold)
    refused = cli("apply", "-c", config, "--yes")
    assert refused.code == 3, refused.err
    assert "safety.max_list_change" in refused.err
    assert synced(emu) == big(2000)
    history = cli("history", "-c", config, "--json").json()["runs"]
    assert history[0]["status"] == "refused"

    forced = cli("apply", "-c", config, "--yes", "--force")
    assert forced.code == 0, forced.err
    assert synced(emu) == big(threshold)


def test_membership_changes_are_chunked_at_the_api_limit(emu: HubSpotEmulator) -> None:
    emu.max_membership_ids = 10
    connector = HubspotConnector(TOKEN, base_url=emu.url, burst_limit=None, search_limit=None)
    connector.membership_chunk = 10
    adds = sorted(big(0))[:25]
    results = connector.write_list_changes("big", "Big Companies", adds, [])
    assert all(r.ok for r in results) and len(results) == 25
    assert changes(emu) == 3
    results = connector.write_list_changes("big", "Big Companies", adds[20:], adds[:5])
    assert all(r.ok for r in results)
    assert synced(emu) == set(adds[5:])
    assert connector.list_members("big", "Big Companies") == set(adds[5:])
