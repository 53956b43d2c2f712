"""`revrules snapshot` then `revrules rehearse` against a strict Salesforce emulator standing in for the org."""

from __future__ import annotations

import csv
import json
import stat
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from revrules.project import load_project
from revrules.rehearsal.emulator import call_kind
from revrules.rehearsal.rehearse import rehearse
from revrules.testing.harness import Cli
from revrules.testing.salesforce import SalesforceEmulator
from revrules.testing.salesforce.snapshot import emulator_from_snapshot
from tests.rehearsal.projects import with_owner_change, write_project, written_values

OWNERS = {"a": "005EM000000AAAA", "b": "005EM000000BBBB", "c": "005EM000000CCCC", "inactive": "005EM000000DDDD"}
SEGMENTS = ["SMB", "Mid-Market", "Enterprise"]
FIELDS = [{"name": "Territory__c", "type": "string", "length": 80}, {"name": "Tier__c", "type": "string", "length": 5},
          {"name": "Reason__c", "type": "string", "length": 255}]


def account_id(n: int) -> str:
    return f"001EM0000{n:06d}AAA"


def make_org(count: int = 30) -> SalesforceEmulator:
    """A strict org: restricted segments, a 255-character provenance field, three active users."""
    owners = [OWNERS["a"], OWNERS["c"], OWNERS["inactive"]]
    records = [{"Id": account_id(i), "Name": f"Account {i}", "NumberOfEmployees": (i * 397) % 7000,
                "BillingCountry": "US" if i % 2 else "DE", "OwnerId": owners[i % 3], "Segment__c": "SMB"}
               for i in range(count)]
    contacts = [{"Id": f"003EM0000{i:06d}AAA", "AccountId": account_id(i), "LastName": f"C{i}"} for i in range(count)]
    users = [{"Id": OWNERS[key]} for key in ("a", "b", "c")]
    return SalesforceEmulator(records, fields=[*_account_fields(), *FIELDS], picklists={"Segment__c": SEGMENTS},
                              users=users, contacts=contacts).start()


def _account_fields() -> list[dict[str, object]]:
    from revrules.testing.salesforce.describe import ACCOUNT_FIELDS

    return [dict(f) for f in ACCOUNT_FIELDS]


@pytest.fixture
def org(monkeypatch: pytest.MonkeyPatch) -> Iterator[SalesforceEmulator]:
    emulator = make_org()
    monkeypatch.setenv("SF_URL", emulator.url)
    monkeypatch.setenv("SF_SESSION", emulator.session_id)
    yield emulator
    emulator.stop()


def test_snapshot_holds_what_a_rehearsal_needs_and_no_secret(org: SalesforceEmulator, cli: Cli,
                                                            tmp_path: Path) -> None:
    config = write_project(tmp_path, "salesforce", OWNERS)
    org.reset_log()
    result = cli("snapshot", "-c", config, "-o", tmp_path / "snap", "--redact")
    assert result.code == 0, result.err
    served = Counter(call_kind("salesforce", r.method, r.path) for r in org.requests())
    folder = tmp_path / "snap"
    manifest = json.loads((folder / "manifest.json").read_text())
    metadata = json.loads((folder / "metadata.json").read_text())
    everything = "".join(p.read_text() for p in folder.iterdir())
    assert org.session_id not in everything
    assert manifest["crm"] == "salesforce" and manifest["records"] == 30
    assert manifest["account_id"] == org.session_id.split("!")[0]  # the org id a token starts with
    assert manifest["redacted"] == ["Name"]
    # The calls the snapshot cost, as the client counted them, are the requests the org answered.
    assert manifest["api_calls"] == {**served, "total": served.total()}
    assert manifest["api_calls"]["read"] >= 1 and manifest["api_calls"]["describe"] >= 1
    assert f"  API calls it cost: {served.total()} (" in result.out
    assert {u["Id"][:15] for u in metadata["users"]} == {OWNERS["a"], OWNERS["b"], OWNERS["c"]}
    lengths = {f["name"]: f["length"] for f in metadata["describe"]["fields"]}
    assert lengths["Reason__c"] == 255
    assert "Website" not in lengths
    assert "Account 1," not in (folder / "records.csv").read_text()
    # The copy holds CRM values: private like the ledger and saved plans.
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {
        p.name: 0o600 for p in folder.iterdir()}


def test_sample_keeps_every_territory_and_segment(org: SalesforceEmulator, cli: Cli, tmp_path: Path) -> None:
    config = write_project(tmp_path, "salesforce", OWNERS)
    assert cli("snapshot", "-c", config, "-o", tmp_path / "snap", "--sample", "6").code == 0
    with (tmp_path / "snap" / "records.csv").open(newline="") as handle:
        records = list(csv.DictReader(handle))
    assert 6 <= len(records) < 30
    assert {r["BillingCountry"] for r in records} == {"US", "DE"}
    sizes = {"Enterprise" if int(r["NumberOfEmployees"]) >= 1000 else "Mid-Market"
             if int(r["NumberOfEmployees"]) >= 100 else "SMB" for r in records}
    assert sizes == {"Enterprise", "Mid-Market", "SMB"}


def test_rehearsal_matches_a_direct_apply_on_the_org(org: SalesforceEmulator, cli: Cli, tmp_path: Path) -> None:
    config = write_project(tmp_path, "salesforce", OWNERS)
    assert cli("snapshot", "-c", config, "-o", tmp_path / "snap").code == 0
    before = org.records
    rehearsal = rehearse(load_project(config), tmp_path / "snap")
    assert org.records == before  # nothing written to the org
    direct_plan = json.loads(cli("plan", "-c", config, "--json").out)
    keys = ("id", "field", "before", "after")
    assert sorted(tuple(c[k] for k in keys) for c in direct_plan["changes"]) == sorted(
        tuple(r[k] for k in keys) for r in rehearsal.plan.changes.frame().to_dicts())
    # The same apply against the snapshot served by itself, and against the org: same failures, same values.
    copy = emulator_from_snapshot(tmp_path / "snap").start()
    try:
        applied = cli("apply", "-c", config, "--yes", "--force", "--json")
        copy_config = write_project(tmp_path / "copy", "salesforce", OWNERS)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SF_URL", copy.url)
            patch.setenv("SF_SESSION", copy.session_id)
            copied = cli("apply", "-c", copy_config, "--yes", "--force", "--json")
        assert applied.code == copied.code
        # The values the rehearsal's apply left are those the direct apply left in the org.
        assert rehearsal.applied.height == 30 and rehearsal.applied["Segment__c"].null_count() == 0
        assert rehearsal.applied.equals(written_values(config))
        assert json.loads(applied.out)["failed"] == json.loads(copied.out)["failed"]
        fields = ["Segment__c", "Tier__c", "Territory__c", "OwnerId", "Reason__c"]
        assert {i: {f: r[f] for f in fields} for i, r in org.records.items()} == {
            i: {f: r[f] for f in fields} for i, r in copy.records.items()}
        assert {m["ContactId"] for m in org.campaign_members.values()} == {
            m["ContactId"] for m in copy.campaign_members.values()}
    finally:
        copy.stop()


def test_rehearse_reports_exactly_the_long_provenance_and_the_inactive_pool_owner(
        org: SalesforceEmulator, cli: Cli, tmp_path: Path) -> None:
    config = write_project(tmp_path, "salesforce", OWNERS)
    assert cli("snapshot", "-c", config, "-o", tmp_path / "snap").code == 0
    result = cli("rehearse", "-c", config, "--snapshot", tmp_path / "snap")
    assert result.code == 1, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("Rehearsal: nothing is written to your salesforce CRM")
    assert "Refused by the CRM: none" in lines, result.err
    assert f"Pool owners the CRM does not know or has deactivated (they get no accounts): {OWNERS['inactive']}" in lines
    assert any(line.startswith("Provenance: ") and "255 characters" in line for line in lines)
    assert "Re-plan after apply: empty" in lines
    assert "Rollback then plan: equals the first plan" in lines
    # Accounts taken from the deactivated owner cannot be handed back to them by a rollback.
    assert "Rollback could not restore 10 value(s):" in lines
    assert any(line.startswith("  OwnerId: 10 x INVALID_CROSS_REFERENCE_KEY") for line in lines)
    assert any(line.startswith("API calls the real apply would make:") for line in lines)
    assert any(line.startswith("Estimated duration") for line in lines)
    assert "List changes:" in lines and any("enterprise: add" in line for line in lines)


def test_rehearse_refuses_a_missing_snapshot_or_one_of_another_crm(org: SalesforceEmulator, cli: Cli,
                                                                  tmp_path: Path) -> None:
    config = write_project(tmp_path, "salesforce", OWNERS)
    assert cli("rehearse", "-c", config, "--snapshot", tmp_path / "nowhere").code == 2
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "manifest.json").write_text(json.dumps({"format": 1, "crm": "hubspot"}))
    result = cli("rehearse", "-c", config, "--snapshot", tmp_path / "other")
    assert result.code == 2
    assert "hubspot" in result.err


def test_owner_change_is_copied_and_rehearsed_with_the_contacts_and_open_opportunities(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The snapshot copies the contacts and open Opportunities the accounts' owners hold (SOQL on
    `Contact` and `Opportunity` by `AccountId` and `OwnerId`, `IsClosed = false`), and the
    rehearsal moves them as the direct apply does: same plan lines, same calls, same final owners.
    Contacts taken from the inactive owner cannot be given back by a rollback: the copy keeps
    that User inactive, so it answers `INACTIVE_OWNER_OR_USER` as the org does (Salesforce Help
    000205862)."""
    owners = [OWNERS["a"], OWNERS["c"], OWNERS["inactive"]]
    accounts = [{"Id": account_id(i), "Name": f"Account {i}", "NumberOfEmployees": (i * 397) % 7000,
                 "BillingCountry": "US" if i % 2 else "DE", "OwnerId": owners[i % 3], "Segment__c": "SMB"}
                for i in range(30)]
    contacts = [{"Id": f"003EM0000{i:06d}AA{suffix}", "AccountId": account_id(i), "LastName": f"C{i}",
                 "OwnerId": owners[(i + shift) % 3]} for i in range(30) for suffix, shift in (("A", 0), ("B", 1))]
    deal = {"StageName": "Prospecting", "CloseDate": "2027-01-31", "IsClosed": False, "Name": "deal"}
    opportunities = [{"Id": f"006EM0000{i:06d}AA{suffix}", "AccountId": account_id(i), "OwnerId": owners[i % 3],
                      **deal, **({"StageName": "Closed Won", "IsClosed": True} if suffix == "B" else {})}
                     for i in range(30) for suffix in "AB"]
    org = SalesforceEmulator(accounts, fields=[*_account_fields(), *FIELDS], picklists={"Segment__c": SEGMENTS},
                             users=[*({"Id": OWNERS[key]} for key in ("a", "b", "c")),
                                    {"Id": OWNERS["inactive"], "IsActive": False}], contacts=contacts,
                             opportunities=opportunities).start()
    monkeypatch.setenv("SF_URL", org.url)
    monkeypatch.setenv("SF_SESSION", org.session_id)
    try:
        config = with_owner_change(write_project(tmp_path, "salesforce", OWNERS), "salesforce")
        snapped = cli("snapshot", "-c", config, "-o", tmp_path / "snap")
        assert snapped.code == 0, snapped.err
        served = Counter(call_kind("salesforce", r.method, r.path) for r in org.requests())
        manifest = json.loads((tmp_path / "snap" / "manifest.json").read_text())
        # The lookups of contacts and opportunities (one query each) are in what the snapshot cost.
        assert manifest["api_calls"] == {**served, "total": served.total()}
        assert org.requests(path_contains="/query") and len([r for r in org.requests(path_contains="/query")
                                                              if "Opportunity" in r.query]) == 1
        # The owner's contact of each account and its open opportunity; not another's, not a closed one.
        assert manifest["related"] == {"Contact": 30, "Opportunity": 30}
        assert "related.csv" in manifest["files"] and "  related records (owner_change): Contact 30, " \
            "Opportunity 30" in snapped.out
        assert "AAB" not in (tmp_path / "snap" / "related.csv").read_text()
        rehearsal = rehearse(load_project(config), tmp_path / "snap")
        report = cli("rehearse", "-c", config, "--snapshot", tmp_path / "snap").out.splitlines()
        org.reset_log()
        direct_plan = json.loads(cli("plan", "-c", config, "--json").out)
        org.reset_log()
        applied = json.loads(cli("apply", "-c", config, "--yes", "--force", "--json").out)
        direct = Counter(call_kind("salesforce", r.method, r.path) for r in org.requests())
    finally:
        org.stop()
    keys = ("object", "id", "before", "after", "account")
    moved = sorted(tuple(c[k] for k in keys) for c in direct_plan["related_changes"])
    assert moved and moved == sorted(tuple(r[k] for k in keys) for r in rehearsal.plan.related.to_dicts())
    assert rehearsal.calls == dict(direct)
    assert applied["failed"] == rehearsal.refused.to_dicts() == []
    assert rehearsal.replan_changes == 0 and rehearsal.rollback_matches
    following = Counter(row[0] for row in moved)
    assert "Related records following their account's new owner (owner_change):" in report
    assert f"  Contact: {following['Contact']}" in report and f"  Opportunity: {following['Opportunity']}" in report
    unrestorable = sum(1 for row in moved if row[0] == "Contact" and row[2] == OWNERS["inactive"])
    assert any(line.startswith(f"  Contact.OwnerId: {unrestorable} x INACTIVE_OWNER_OR_USER")
               for line in report), report
    # The owners the direct apply left are those the rehearsal's apply moved to.
    assert {c["Id"]: c["OwnerId"] for c in org.contacts.values() if c["Id"].endswith("A")} == {
        **{c["Id"]: c["OwnerId"] for c in contacts if c["Id"].endswith("A")},
        **{row[1]: row[3] for row in moved if row[0] == "Contact"}}
