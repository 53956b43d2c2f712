"""Salesforce campaigns kept in sync by `revrules plan/apply/rollback`, against the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import revrules.testing.salesforce as salesforce_emulator
from revrules.connectors.salesforce import MEMBER_MARKER, _soql_string
from revrules.testing.harness import Cli, ledger_rows
from revrules.testing.projects import list_rules, salesforce_config, write_project
from revrules.testing.salesforce import SalesforceEmulator

NAME = "Big Accounts"
COUNT = 20
NO_CONTACTS = 19
"""The one account without contacts."""


def account_id(n: int) -> str:
    return f"001Dn0000{n:06d}AAA"


def contact_id(n: int, k: int) -> str:
    return f"003Dn000{n:06d}{k}AAA"


def big(threshold: int) -> set[str]:
    return {account_id(i) for i in range(COUNT) if i * 100 >= threshold}


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[SalesforceEmulator]:
    accounts = [{"Id": account_id(i), "Name": f"Account {i}", "NumberOfEmployees": i * 100} for i in range(COUNT)]
    # Account i has i % 3 + 1 contacts (account 1 has two), except one account with none.
    contacts = [{"Id": contact_id(i, k), "AccountId": account_id(i), "LastName": f"Person {i}-{k}"}
                for i in range(COUNT) if i != NO_CONTACTS for k in range(i % 3 + 1)]
    with SalesforceEmulator(accounts, contacts=contacts) as emulator:
        monkeypatch.setenv("SF_SESSION", emulator.session_id)
        yield emulator


@pytest.fixture
def config(tmp_path: Path, emu: SalesforceEmulator) -> Path:
    config = salesforce_config(emu.url, outputs={}, retry_backoff_seconds=0.001, max_retries=1)
    return write_project(tmp_path, config, list_rules(1500, name=NAME))


def rulebook(config: Path, *, threshold: int, name: str = NAME) -> None:
    (config.parent / "rules.yaml").write_text(list_rules(threshold, name=name))


def campaign(emu: SalesforceEmulator, name: str = NAME) -> dict[str, object]:
    found = [c for c in emu.campaigns.values() if c["Name"] == name]
    assert len(found) == 1, f"{len(found)} campaigns named {name!r}"
    return found[0]


def members(emu: SalesforceEmulator, name: str = NAME) -> set[str]:
    """The contact ids that are members of the campaign, whoever added them."""
    wanted = campaign(emu, name)["Id"]
    return {str(m["ContactId"]) for m in emu.campaign_members.values() if m["CampaignId"] == wanted}


def contacts_of(accounts: set[str]) -> set[str]:
    return {contact_id(i, k) for i in range(COUNT) if account_id(i) in accounts and i != NO_CONTACTS
            for k in range(i % 3 + 1)}


def member_writes(emu: SalesforceEmulator) -> int:
    return emu.calls("composite/sobjects", "POST") + emu.calls("composite/sobjects", "DELETE")


def test_create_grow_shrink_rerun_and_rollback(config: Path, emu: SalesforceEmulator, cli: Cli) -> None:
    plan = cli("plan", "-c", config, "--json")
    assert plan.code == 0, plan.err
    assert {(c["id"], c["action"]) for c in plan.json()["list_changes"]} == {(a, "add") for a in big(1500)}
    assert emu.campaigns == {}, "plan writes nothing, not even the campaign"

    created = cli("apply", "-c", config, "--yes", "--json")
    assert created.code == 0, created.err
    assert created.json()["list_changes_written"] == len(big(1500))
    found = campaign(emu)
    assert (found["Type"], found["Status"], found["IsActive"]) == ("Other", "Planned", True)
    assert members(emu) == contacts_of(big(1500))
    assert {m["Revrules_List__c"] for m in emu.campaign_members.values()} == {MEMBER_MARKER + "big"}
    assert {m["Status"] for m in emu.campaign_members.values()} == {"Sent"}

    emu.reset_log()
    assert cli("plan", "-c", config, "--json").json()["list_changes"] == [], "the account without contacts too"
    again = cli("apply", "-c", config, "--yes", "--json")
    assert again.code == 0 and again.json()["written"] == 0
    assert member_writes(emu) == 0 and emu.calls("composite/sobjects", "PATCH") == 0

    rulebook(config, threshold=1000)
    grown = cli("apply", "-c", config, "--yes", "--json")
    assert grown.code == 0, grown.err
    assert members(emu) == contacts_of(big(1000))

    # A person adds a contact of a member account by hand: revrules never removes it.
    hand = {"attributes": {"type": "CampaignMember"}, "CampaignId": found["Id"], "ContactId": contact_id(1, 1),
            "Status": "Responded"}
    sf_session = salesforce_emulator.loopback_session(emu.url)
    answer = sf_session.post(f"{emu.url}/services/data/v59.0/composite/sobjects",
                             json={"allOrNone": False, "records": [hand]},
                             headers={"Authorization": f"Bearer {emu.session_id}"})
    assert answer.json()[0]["success"], answer.text
    rulebook(config, threshold=0)
    assert cli("apply", "-c", config, "--yes").code == 0
    assert members(emu) == contacts_of(big(0))
    hand_added = [m for m in emu.campaign_members.values() if m["ContactId"] == contact_id(1, 1)]
    assert [m["Revrules_List__c"] for m in hand_added] == [None], "already a member: not added again"

    rulebook(config, threshold=1500)
    emu.reset_log()
    shrunk = cli("apply", "-c", config, "--yes", "--json")
    assert shrunk.code == 0, shrunk.err
    assert members(emu) == contacts_of(big(1500)) | {contact_id(1, 1)}
    assert emu.calls("composite/sobjects", "DELETE") == 1
    assert ledger_rows(
        config.parent / ".revrules", f"SELECT COUNT(*) FROM list_writes WHERE run_id = {shrunk.json()['run']} "
                          "AND action = 'remove' AND result = 'written'") == [(15,)]
    assert cli("plan", "-c", config, "--json").json()["list_changes"] == []

    undone = cli("rollback", "-c", config, shrunk.json()["run"], "--yes", "--json")
    assert undone.code == 0, undone.err
    assert members(emu) == contacts_of(big(0))


def test_a_failed_member_is_reported_and_the_rest_lands(config: Path, emu: SalesforceEmulator, cli: Cli) -> None:
    emu.faults.member_errors = {contact_id(15, 0): "contacts in EMEA need consent"}
    result = cli("apply", "-c", config, "--yes", "--json")
    assert result.code == 1
    report = result.json()
    assert report["status"] == "partial"
    assert [(f["id"], f["field"]) for f in report["failed"]] == [(account_id(15), "list:big")]
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION: contacts in EMEA need consent" in report["failed"][0]["error"]
    assert members(emu) == contacts_of(big(1500) - {account_id(15)})

    emu.faults.member_errors = {}
    assert cli("plan", "-c", config, "--json").json()["list_changes"] == [
        {"list": "big", "id": account_id(15), "action": "add"}
    ]


def test_renamed_list_is_a_new_campaign_and_the_old_one_is_left_alone(
    config: Path, emu: SalesforceEmulator, cli: Cli
) -> None:
    assert cli("apply", "-c", config, "--yes").code == 0
    rulebook(config, threshold=1500, name="Large Accounts")
    plan = cli("plan", "-c", config, "--json")
    assert plan.code == 0, plan.err
    assert {c["action"] for c in plan.json()["list_changes"]} == {"add"}
    assert cli("apply", "-c", config, "--yes").code == 0
    assert members(emu, "Large Accounts") == contacts_of(big(1500))
    assert members(emu, NAME) == contacts_of(big(1500))


def test_campaign_names_are_escaped_in_soql(config: Path, emu: SalesforceEmulator, cli: Cli) -> None:
    name = "O'Brien \\ Partners"
    assert _soql_string(name) == "'O\\'Brien \\\\ Partners'"
    rulebook(config, threshold=1500, name=name)
    assert cli("apply", "-c", config, "--yes").code == 0
    assert members(emu, name) == contacts_of(big(1500))
    assert cli("plan", "-c", config, "--json").json()["list_changes"] == []


def test_check_online_needs_the_member_marker_field(config: Path, cli: Cli) -> None:
    ok = cli("check", "--online", "-c", config)
    assert ok.code == 0, ok.err
    config.write_text(config.read_text().replace("  api_reserve: 0\n",
                                                 "  api_reserve: 0\n  campaign_member_marker_field: Missing__c\n"))
    missing = cli("check", "--online", "-c", config)
    assert missing.code == 2
    assert "CampaignMember needs a text field Missing__c" in missing.err


def test_campaign_picklists_are_restricted_as_in_an_org_and_check_online_names_bad_values(
    config: Path, emu: SalesforceEmulator, cli: Cli
) -> None:
    """Campaign.Type, Campaign.Status and CampaignMember.Status take the standard value sets
    CampaignType, CampaignStatus and CampaignMemberStatus (Metadata API Developer Guide,
    "StandardValueSet Names and Standard Picklist Fields"); a new campaign's member statuses are
    "Sent" and "Responded" (Object Reference, CampaignMemberStatus). A value the restricted picklist
    does not hold is refused with INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST (the emulator's shape for
    restricted picklists), and `check --online` names it before any write."""
    settings = "  campaign_type: Newsletter\n  campaign_status: Live\n  campaign_member_status: Attended\n"
    config.write_text(config.read_text().replace("  api_reserve: 0\n", "  api_reserve: 0\n" + settings))

    checked = cli("check", "--online", "-c", config)
    assert checked.code == 2
    assert "crm.campaign_type: 'Newsletter' is not a value of the restricted picklist Campaign.Type" in checked.err
    assert "crm.campaign_status: 'Live' is not a value of the restricted picklist Campaign.Status" in checked.err
    assert "crm.campaign_member_status: 'Attended' is not a value of the restricted picklist " \
           "CampaignMember.Status in this org (it has: Sent, Responded)" in checked.err
    assert "Traceback" not in checked.err

    refused = cli("apply", "-c", config, "--yes")
    assert refused.code == 1
    assert "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST: Type: bad value for restricted picklist field: Newsletter" \
        in refused.err
    assert emu.campaigns == {}

    # A valid campaign, but a member status the campaign does not have: every member fails.
    config.write_text(config.read_text().replace("Newsletter", "Webinar").replace("campaign_status: Live",
                                                                                 "campaign_status: In Progress"))
    members_refused = cli("apply", "-c", config, "--yes", "--json")
    assert members_refused.code == 1
    failed = members_refused.json()["failed"]
    assert failed and all("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST: Status: bad value" in f["error"]
                          for f in failed if f["id"] != account_id(NO_CONTACTS))
    assert emu.campaign_members == {}
    assert (campaign(emu)["Type"], campaign(emu)["Status"]) == ("Webinar", "In Progress")

    config.write_text(config.read_text().replace("Attended", "Responded"))
    assert cli("check", "--online", "-c", config).code == 0
    assert cli("apply", "-c", config, "--yes").code == 0
    assert {m["Status"] for m in emu.campaign_members.values()} == {"Responded"}
