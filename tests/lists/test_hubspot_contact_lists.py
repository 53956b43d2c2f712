"""`include_contacts: true`: a HubSpot contact list follows a company list, against the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from revrules.testing.harness import Cli
from revrules.testing.hubspot import HubSpotEmulator
from revrules.testing.projects import hubspot_config, list_rules, write_project

TOKEN = "test-token"
CHANGE = "add-and-remove"
CONTACT_LIST = "Big Companies (contacts)"


def companies(count: int) -> list[dict[str, str]]:
    return [{"id": str(1000 + i), "name": f"Company {i}", "numberofemployees": str(i * 100)} for i in range(count)]


def contacts(count: int) -> list[dict[str, object]]:
    """Two contacts per company (2000 + 2i, 2001 + 2i); contact 3000 works for companies 1001 and 1009."""
    people: list[dict[str, object]] = []
    for i in range(count):
        for j in range(2):
            people.append({"id": str(2000 + 2 * i + j), "email": f"p{i}.{j}@example.com",
                           "associatedcompanyid": str(1000 + i)})
    people.append({"id": "3000", "email": "shared@example.com", "associatedcompanyid": ["1001", "1009"]})
    return people


def contacts_of(members: set[str]) -> set[str]:
    found = {str(2000 + 2 * (int(c) - 1000) + j) for c in members for j in range(2)}
    return found | ({"3000"} if members & {"1001", "1009"} else set())


def big(threshold: int, count: int = 10) -> set[str]:
    return {str(1000 + i) for i in range(count) if i * 100 >= threshold}


@pytest.fixture
def emu() -> Iterator[HubSpotEmulator]:
    with HubSpotEmulator(companies(10), contacts=contacts(10)) as emulator:
        yield emulator


@pytest.fixture
def config(tmp_path: Path, emu: HubSpotEmulator, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HUBSPOT_TOKEN", TOKEN)
    config = hubspot_config(emu.url, token="${HUBSPOT_TOKEN}", outputs={}, retry_backoff_seconds=0.01, max_retries=0)
    return write_project(tmp_path, config, list_rules(500, name="Big Companies", include_contacts=True))


def rulebook(config: Path, *, threshold: int) -> None:
    (config.parent / "rules.yaml").write_text(list_rules(threshold, name="Big Companies", include_contacts=True))


def synced(emu: HubSpotEmulator, name: str, object_type: str) -> set[str]:
    found = [entry for entry in emu.lists.values() if entry["name"] == name]
    assert len(found) == 1, f"{len(found)} lists named {name!r}"
    assert found[0]["processingType"] == "MANUAL" and found[0]["objectTypeId"] == object_type
    return set(found[0]["members"])


def changes(emu: HubSpotEmulator) -> int:
    return sum(1 for entry in emu.request_log if entry.method == "PUT" and entry.path.endswith(CHANGE))


def test_contact_list_follows_the_company_list(config: Path, emu: HubSpotEmulator, cli: Cli) -> None:
    created = cli("apply", "-c", config, "--yes", "--json")
    assert created.code == 0, created.err
    assert created.json()["list_changes_written"] == len(big(500))
    assert synced(emu, "Big Companies", "0-2") == big(500)
    assert synced(emu, CONTACT_LIST, "0-1") == contacts_of(big(500))
    assert "3000" in synced(emu, CONTACT_LIST, "0-1")
    assert changes(emu) == 2
    assert emu.count("POST", "/crm/associations/2026-03/companies/contacts/batch/read") == 1

    emu.reset_log()
    again = cli("apply", "-c", config, "--yes", "--json")
    assert again.code == 0 and again.json()["written"] == 0
    assert changes(emu) == 0

    rulebook(config, threshold=800)
    emu.reset_log()
    shrunk = cli("apply", "-c", config, "--yes", "--json")
    assert shrunk.code == 0, shrunk.err
    assert synced(emu, "Big Companies", "0-2") == big(800)
    contact_members = synced(emu, CONTACT_LIST, "0-1")
    assert contact_members == contacts_of(big(800))
    assert "3000" in contact_members, "still associated with member company 1009"
    assert changes(emu) == 2

    # A company list change that moves no contact makes no contact-list call.
    emu.put_company({"id": "1010", "name": "No Contacts", "numberofemployees": "5000"})
    emu.reset_log()
    grown = cli("apply", "-c", config, "--yes", "--json")
    assert grown.code == 0, grown.err
    assert synced(emu, "Big Companies", "0-2") == big(800) | {"1010"}
    assert synced(emu, CONTACT_LIST, "0-1") == contacts_of(big(800))
    assert changes(emu) == 1


def test_shared_contact_of_a_member_and_a_non_member_company_stays(
    config: Path, emu: HubSpotEmulator, cli: Cli
) -> None:
    rulebook(config, threshold=900)  # only 1009: contact 3000 also works for non-member 1001
    assert cli("apply", "-c", config, "--yes").code == 0
    assert synced(emu, CONTACT_LIST, "0-1") == {"2018", "2019", "3000"}

    rulebook(config, threshold=100)  # adds 1001..1008; 3000 already in
    assert cli("apply", "-c", config, "--yes").code == 0
    assert synced(emu, CONTACT_LIST, "0-1") == contacts_of(big(100))

    rulebook(config, threshold=900)  # removes 1001: 3000 stays for 1009
    assert cli("apply", "-c", config, "--yes").code == 0
    assert synced(emu, CONTACT_LIST, "0-1") == {"2018", "2019", "3000"}


def test_contact_failures_are_reported_per_company(config: Path, emu: HubSpotEmulator, cli: Cli) -> None:
    emu.faults.missing_list_record_ids = {"2010"}  # a contact of company 1005
    result = cli("apply", "-c", config, "--yes", "--json")
    assert result.code == 1
    report = result.json()
    assert [(f["id"], f["field"]) for f in report["failed"]] == [("1005", "list:big")]
    assert report["failed"][0]["error"].startswith("contacts: OBJECT_NOT_FOUND")
    assert synced(emu, "Big Companies", "0-2") == big(500), "the company list is unaffected"
    assert synced(emu, CONTACT_LIST, "0-1") == contacts_of(big(500)) - {"2010"}


def test_csv_style_lists_without_include_contacts_make_no_contact_list(
    config: Path, emu: HubSpotEmulator, cli: Cli
) -> None:
    (config.parent / "rules.yaml").write_text(list_rules(500, name="Big Companies"))
    assert cli("apply", "-c", config, "--yes").code == 0
    assert [entry["name"] for entry in emu.lists.values()] == ["Big Companies"]
    assert emu.count("POST", "/crm/associations/2026-03/companies/contacts/batch/read") == 0
