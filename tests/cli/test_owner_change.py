"""Owner changes that carry their records: contacts and open opportunities follow the account's new owner."""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from revrules.run import cascade
from revrules.testing import projects
from revrules.testing.harness import Result
from revrules.testing.hubspot import HubSpotEmulator
from revrules.testing.hubspot.scopes import ALL_SCOPES
from revrules.testing.salesforce import SalesforceEmulator

Cli = Callable[..., Result]

OLD, NEW, OTHER = "005Dn000000OLDAAAA", "005Dn000000NEWAAAA", "005Dn000000OTHAAAA"
A1, A2 = "001Dn0000000001AAA", "001Dn0000000002AAA"
C1, C2, C3 = "003Dn0000000001AAA", "003Dn0000000002AAA", "003Dn0000000003AAA"
O1, O2, O3 = "006Dn0000000001AAA", "006Dn0000000002AAA", "006Dn0000000003AAA"

ROUTING = f"""\
version: 1
territories:
  output: territory
  owner_output: owner
  tree:
    - {{id: ALL, when: "true", owners: [{{id: "{NEW}"}}]}}
"""

SALESFORCE = projects.salesforce_config(
    fields={"name": "Name"}, rules="rules/", outputs={"territory": "Territory__c", "owner": "OwnerId"},
    extra="owner_change: {contacts: true, open_opportunities: true}\n", retry_backoff_seconds=0.001)
HUBSPOT = projects.hubspot_config(
    fields={"name": "name"}, rules="rules/", outputs={"owner": "hubspot_owner_id"},
    extra="owner_change: {contacts: true, open_deals: true}\n", retry_backoff_seconds=0.001)
HS_OLD, HS_NEW, HS_OTHER = "101", "202", "303"


def write_project(folder: Path, config: str) -> Path:
    return projects.write_project(folder, config, ROUTING, at="rules/routing.yaml")


@pytest.fixture
def org(monkeypatch: pytest.MonkeyPatch) -> Iterator[SalesforceEmulator]:
    accounts = [{"Id": a, "Name": a, "OwnerId": OLD, "Territory__c": "ALL"} for a in (A1, A2)]
    fields = [{"name": "Id", "type": "id"}, {"name": "Name", "type": "string"},
              {"name": "OwnerId", "type": "reference"}, {"name": "Territory__c", "type": "string"}]
    contacts = [{"Id": C1, "AccountId": A1, "OwnerId": OLD, "LastName": "One"},
                {"Id": C2, "AccountId": A1, "OwnerId": OTHER, "LastName": "Two"},
                {"Id": C3, "AccountId": A2, "OwnerId": OLD, "LastName": "Three"}]
    deal = {"StageName": "Prospecting", "CloseDate": "2027-01-31", "IsClosed": False}
    opportunities = [{"Id": O1, "AccountId": A1, "OwnerId": OLD, "Name": "open", **deal},
                     {"Id": O2, "AccountId": A1, "OwnerId": OLD, "Name": "won", **deal,
                      "StageName": "Closed Won", "IsClosed": True},
                     {"Id": O3, "AccountId": A2, "OwnerId": OTHER, "Name": "theirs", **deal}]
    emulator = SalesforceEmulator(accounts, fields=fields, contacts=contacts, opportunities=opportunities,
                                  users=[{"Id": OLD}, {"Id": NEW}, {"Id": OTHER}]).start()
    monkeypatch.setenv("SF_URL", emulator.url)
    monkeypatch.setenv("SF_SESSION", emulator.session_id)
    yield emulator
    emulator.stop()


def owners(org: SalesforceEmulator) -> dict[str, str]:
    tables = {**org.records, **org.contacts, **org.opportunities}
    return {record_id: str(row["OwnerId"]) for record_id, row in tables.items()}


def test_plan_shows_the_contacts_and_open_opportunities_that_follow_the_owner(
    cli: Cli, tmp_path: Path, org: SalesforceEmulator
) -> None:
    """The previous owner's contacts and open opportunities on the account move; closed ones and others' stay.

    What a user moving an account in Salesforce expects: "Contacts owned by the previous account
    owner and related to the account transfer to the new owner", and "the account owner's open
    opportunities transfer" (Salesforce Help, "Considerations for Changing a Record's Owner",
    help.salesforce.com xcloud.account_owner_transfer.htm), which an API update does not do itself.
    """
    config = write_project(tmp_path, SALESFORCE)
    result = cli("plan", "-c", config)
    assert result.code == 0, result.err
    assert "Related records following their account's new owner" in result.out
    assert f"{C1} OwnerId: {OLD} -> {NEW} (account {A1})" in result.out
    assert "2 related record(s) follow" not in result.out and "3 related record(s) follow" in result.out
    assert "| `Contact` | 2 |" in cli("plan", "--format", "markdown", "-c", config).out
    document = json.loads(cli("plan", "--json", "-c", config).out)
    moved = {(c["object"], c["id"], c["field"], c["before"], c["after"], c["account"])
             for c in document["related_changes"]}
    assert moved == {("Contact", C1, "OwnerId", OLD, NEW, A1), ("Contact", C3, "OwnerId", OLD, NEW, A2),
                     ("Opportunity", O1, "OwnerId", OLD, NEW, A1)}


def test_apply_moves_them_after_the_account_and_rollback_restores_them(
    cli: Cli, tmp_path: Path, org: SalesforceEmulator
) -> None:
    """Apply moves them through sObject Collections; rollback restores the previous `OwnerId`.

    Collections `PATCH composite/sobjects` with `allOrNone: false` (REST API Developer Guide,
    "Update Multiple Records"); the records stand on their own, so rollback restores each.
    """
    config = write_project(tmp_path, SALESFORCE)
    before = owners(org)
    applied = cli("apply", "--yes", "-c", config)
    assert applied.code == 0, applied.err
    after = owners(org)
    assert {k for k in after if after[k] != before[k]} == {A1, A2, C1, C3, O1}
    assert {after[k] for k in (A1, A2, C1, C3, O1)} == {NEW}
    assert (after[C2], after[O2], after[O3]) == (OTHER, OLD, OTHER)
    history = json.loads(cli("history", "--json", "-c", config).out)["runs"][0]
    assert history["written"] == 2 + 3  # the owners of two accounts, three related records
    assert cli("plan", "--detailed-exitcode", "-c", config).code == 0

    org.seed_rows("Contact", [{**org.contacts[C3], "OwnerId": OTHER}])  # someone moved it by hand since
    rolled = cli("rollback", str(history["id"]), "--yes", "-c", config)
    assert rolled.code == 0, rolled.err
    assert owners(org) == {**before, C3: OTHER}


def test_a_saved_plan_skips_related_records_whose_owner_changed_since(
    cli: Cli, tmp_path: Path, org: SalesforceEmulator
) -> None:
    """A saved plan's related lines are checked like its field changes: one moved by hand since is left alone."""
    config = write_project(tmp_path, SALESFORCE)
    assert cli("plan", "-o", tmp_path / "review.plan.json", "-c", config).code == 0
    org.seed_rows("Contact", [{**org.contacts[C1], "OwnerId": OTHER}])
    applied = cli("apply", tmp_path / "review.plan.json", "--yes", "-c", config)
    assert applied.code == 0, applied.err
    assert (owners(org)[C1], owners(org)[C3], owners(org)[O1]) == (OTHER, NEW, NEW)


def test_a_refused_related_record_is_ledgered_as_failed_and_the_account_change_stands(
    cli: Cli, tmp_path: Path, org: SalesforceEmulator
) -> None:
    """A validation rule refusing one contact fails that contact only; a refused account keeps its records.

    A Collections item fails on its own with `statusCode`, `message`, `fields` in an HTTP 200
    answer (recorded: /work/shared/realdata/salesforce/salesforce_error_and_job_bodies_from_public_sources.json).
    """
    org.faults.record_errors = {C3: "Contact is locked by a validation rule", A1: "Account is under review"}
    config = write_project(tmp_path, SALESFORCE)
    applied = cli("apply", "--yes", "-c", config)
    assert applied.code == 1
    assert "Contact.OwnerId" in applied.out + applied.err
    now = owners(org)
    assert now[A2] == NEW and now[C3] == OLD  # the account's change stands, its contact failed
    assert (now[A1], now[C1], now[O1]) == (OLD, OLD, OLD)  # the account was refused: its records stay
    with sqlite3.connect(tmp_path / ".revrules" / "ledger.db") as db:
        rows = dict(db.execute("SELECT record_id, result FROM writes WHERE object IS NOT NULL").fetchall())
    assert rows == {C3: "failed", C1: "skipped", O1: "skipped"}


def test_records_left_behind_by_an_interrupted_apply_move_on_the_next_one(
    cli: Cli, tmp_path: Path, org: SalesforceEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run stopped after its account writes landed leaves their records to the next apply, which moves them.

    The next plan no longer changes those owners; the ledger says which changes the stopped run wrote.
    """
    config = write_project(tmp_path, SALESFORCE)

    def killed(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(cascade, "write_related", killed)
        assert cli("apply", "--yes", "-c", config).code != 0
    assert json.loads(cli("history", "--json", "-c", config).out)["runs"][0]["status"] == "interrupted"
    assert (owners(org)[A1], owners(org)[C1]) == (NEW, OLD)
    resumed = cli("apply", "--yes", "-c", config)
    assert resumed.code == 0, resumed.err
    assert {owners(org)[k] for k in (A1, A2, C1, C3, O1)} == {NEW}
    assert (owners(org)[C2], owners(org)[O2]) == (OTHER, OLD)


@pytest.mark.parametrize(("config", "message"), [
    (SALESFORCE.replace("open_opportunities", "open_deals"), "salesforce calls them open_opportunities"),
    (HUBSPOT.replace("open_deals", "open_opportunities"), "hubspot calls them open_deals"),
    ("version: 1\ncrm: {kind: csv, path: a.csv}\nfields: {name: Name}\nrules: [rules/]\n"
     "outputs: {owner: Owner}\nowner_change: {contacts: true}\n", "a CSV has no contacts or opportunities"),
    (SALESFORCE.replace("state_dir", "notify: {url: 'https://hooks.slack.com/services/T0/B0/x'}\nstate_dir"),
     "the webhook URL is a secret: write it as ${VAR}"),
])
def test_config_refuses_what_it_cannot_honour(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              config: str, message: str) -> None:
    """One `file:line:col` line each: the other CRM's spelling, a CSV, a webhook URL written in the file."""
    monkeypatch.setenv("SF_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SF_SESSION", "token")
    monkeypatch.setenv("HS_URL", "http://127.0.0.1:9")
    path = write_project(tmp_path, config)
    result = cli("check", "-c", path)
    assert result.code == 2
    assert message in result.err
    assert len([line for line in result.err.splitlines() if "revrules.yaml:" in line]) == 1



def test_hubspot_contacts_and_open_deals_follow_and_rollback_restores_them(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Associated contacts' and open deals' `hubspot_owner_id` follow the company's new owner.

    Found through associations v4 batch reads (`POST /crm/v4/associations/companies/{contacts|deals}/batch/read`),
    read and written with `POST /crm/v3/objects/{contacts|deals}/batch/read|update` (CRM API guides for
    contacts and deals; batch shapes as recorded in
    /work/shared/realdata/hubspot/hubspot_error_and_batch_bodies_from_public_sources.json); a closed deal
    (`hs_is_closed`, calculated from `dealstage`) and a contact held by someone else stay.
    """
    owners = [{"id": i, "email": f"{i}@example.com", "archived": False} for i in (HS_OLD, HS_NEW, HS_OTHER)]
    companies = [{"Id": "500", "name": "C", "hubspot_owner_id": HS_OLD}]
    contacts = [{"id": "900", "hubspot_owner_id": HS_OLD, "associatedcompanyid": "500"},
                {"id": "901", "hubspot_owner_id": HS_OTHER, "associatedcompanyid": "500"}]
    deal = {"hubspot_owner_id": HS_OLD, "associatedcompanyid": "500"}
    deals = [{"id": "700", "dealstage": "appointmentscheduled", **deal},
             {"id": "701", "dealstage": "closedwon", **deal}]
    with HubSpotEmulator(companies, owners=owners, contacts=contacts, deals=deals) as portal:
        monkeypatch.setenv("HS_URL", portal.url)
        config = write_project(tmp_path, HUBSPOT)
        (tmp_path / "rules" / "routing.yaml").write_text(ROUTING.replace(NEW, HS_NEW))
        plan = json.loads(cli("plan", "--json", "-c", config).out)
        assert {(c["object"], c["id"]) for c in plan["related_changes"]} == {("contacts", "900"), ("deals", "700")}
        applied = cli("apply", "--yes", "-c", config)
        assert applied.code == 0, applied.err

        def held() -> tuple[str | None, ...]:
            return (portal.companies["500"]["hubspot_owner_id"], portal.contacts["900"]["hubspot_owner_id"],
                    portal.contacts["901"]["hubspot_owner_id"], portal.deals["700"]["hubspot_owner_id"],
                    portal.deals["701"]["hubspot_owner_id"])

        assert held() == (HS_NEW, HS_NEW, HS_OTHER, HS_NEW, HS_OLD)
        run = json.loads(cli("history", "--json", "-c", config).out)["runs"][0]["id"]
        assert cli("rollback", str(run), "--yes", "-c", config).code == 0
        assert held() == (HS_OLD, HS_OLD, HS_OTHER, HS_OLD, HS_OLD)


def test_check_online_names_the_scopes_owner_change_needs_on_hubspot(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writing deals needs `crm.objects.deals.write` (HubSpot API reference, "Scope requirements" of the deals
    batch update); a token without it is named by `check --online` before an apply fails on it."""
    lacking = {"crm.objects.deals.write"}
    with HubSpotEmulator([{"Id": "500", "name": "C", "hubspot_owner_id": HS_OLD}],
                         scopes=[s for s in ALL_SCOPES if s not in lacking]) as portal:
        monkeypatch.setenv("HS_URL", portal.url)
        config = write_project(tmp_path, HUBSPOT)
        (tmp_path / "rules" / "routing.yaml").write_text(ROUTING.replace(NEW, HS_NEW))
        result = cli("check", "--online", "-c", config)
        assert result.code == 2
        assert "lacks the scope crm.objects.deals.write (write deals: owner_change)" in result.err
        assert "crm.objects.contacts.write" not in result.err


def test_the_api_budget_counts_the_related_records_writes_and_reads(
    cli: Cli, tmp_path: Path, org: SalesforceEmulator
) -> None:
    """Two account owners need one Collections call; the three records that follow need four more.

    Per object: one call reading its fields and one Collections call of up to 200 records
    (REST API Developer Guide, "Update Multiple Records"); the lookups were made with the plan.
    """
    config = write_project(tmp_path, SALESFORCE.replace("api_reserve: 0", "api_reserve: 100"))
    org.reset_log()
    result = cli("apply", "--yes", "-c", config)
    assert "API budget: 5 call(s) needed" in result.err, result.err
    paths = [r.path for r in org.requests()]
    before = next(n for n, path in enumerate(paths) if "/limits" in path)  # calls made with the plan
    run = json.loads(cli("history", "--json", "-c", config).out)["runs"][0]["id"]
    assert cli("rollback", str(run), "--yes", "-c", config).code == 0
    # 104 left when the limits are read: enough for the accounts' one call, not for their records' four more.
    org.faults.daily_api_remaining = 100 + 4 + before + 1
    refused = cli("apply", "--yes", "-c", config)
    assert refused.code == 3, refused.err
    assert "the write needs about 5 API call(s)" in refused.err
    assert owners(org)[A1] == OLD and owners(org)[C1] == OLD


def test_the_confirmation_names_the_related_records_that_move(tmp_path: Path, org: SalesforceEmulator) -> None:
    """The question asked before writing counts the contacts and opportunities, not only the accounts."""
    from revrules.errors import RefusedError
    from revrules.project import load_project
    from revrules.run.operations import WriteOptions, apply

    asked: list[str] = []

    def decline(question: str) -> None:
        asked.append(question)
        raise RefusedError("cancelled; nothing was written")

    with pytest.raises(RefusedError):
        apply(load_project(write_project(tmp_path, SALESFORCE)), WriteOptions(confirm=decline))
    assert asked == ["Apply 2 field change(s) to 2 record(s), and the owner of 3 related record(s) "
                     "(2 Contact, 1 Opportunity)?"]
    assert owners(org)[A1] == OLD


def test_handoff_digests_count_the_contacts_and_open_opportunities_moving_with_each_account(
    cli: Cli, tmp_path: Path, org: SalesforceEmulator
) -> None:
    """A plan's digests count its related lines; a run's count the related writes that landed."""
    config = write_project(tmp_path, SALESFORCE)
    assert cli("plan", "-o", tmp_path / "review.plan.json", "-c", config).code == 0
    assert cli("handoff", tmp_path / "review.plan.json", "-c", config, "-o", tmp_path / "planned").code == 0
    with (tmp_path / "planned" / f"{OLD}.csv").open(encoding="utf-8") as handle:
        lost = [(r["id"], r["contacts"], r["open_opportunities"]) for r in csv.DictReader(handle)]
    assert lost == [(A1, "1", "1"), (A2, "1", "0")]
    digest = (tmp_path / "planned" / f"{NEW}.md").read_text(encoding="utf-8")
    assert f"- {A1}: 1 contact(s), 1 open opportunity(ies) move with it" in digest
    assert f"- {A2}: 1 contact(s) move with it" in digest

    org.faults.record_errors = {C3: "Contact is locked by a validation rule"}
    assert cli("apply", "--yes", "-c", config, "--handoff", tmp_path / "applied").code == 1
    assert cli("handoff", "--run", "1", "-c", config, "-o", tmp_path / "run").code == 0
    for folder in ("applied", "run"):
        with (tmp_path / folder / f"{NEW}.csv").open(encoding="utf-8") as handle:
            gained = [(r["id"], r["contacts"], r["open_opportunities"]) for r in csv.DictReader(handle)]
        assert gained == [(A1, "1", "1"), (A2, "0", "0")]  # the refused contact did not move
