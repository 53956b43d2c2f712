"""`revrules snapshot` then `revrules rehearse` against a HubSpot emulator standing in for the portal."""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from revrules.cli.render_rehearsal import rehearsal_text
from revrules.project import load_project
from revrules.rehearsal.emulator import SnapshotEmulator, call_kind
from revrules.rehearsal.rehearse import rehearse
from revrules.testing.harness import Cli
from revrules.testing.hubspot import HubSpotEmulator
from revrules.testing.hubspot.cli import owners_for
from revrules.testing.hubspot.state import _List
from tests.rehearsal.projects import with_owner_change, write_project, written_values

OWNERS = {"a": "7001", "b": "7002", "c": "7003", "inactive": "7004"}


@pytest.fixture
def portal(monkeypatch: pytest.MonkeyPatch) -> Iterator[HubSpotEmulator]:
    held = [OWNERS["a"], OWNERS["c"], OWNERS["inactive"]]
    companies = [{"id": str(1000 + i), "name": f"Company {i}", "numberofemployees": str((i * 397) % 7000),
                  "country": "US" if i % 2 else "DE", "hubspot_owner_id": held[i % 3]} for i in range(30)]
    emulator = HubSpotEmulator(companies, owners=owners_for([OWNERS["a"], OWNERS["b"], OWNERS["c"]]),
                               burst_limit=None, search_limit=None).start()
    monkeypatch.setenv("HS_URL", emulator.url)
    monkeypatch.setenv("HS_TOKEN", str(emulator.access_token))
    yield emulator
    emulator.stop()


def test_hubspot_rehearsal_matches_the_portal_and_reports_the_inactive_owner(
        portal: HubSpotEmulator, cli: Cli, tmp_path: Path) -> None:
    config = write_project(tmp_path, "hubspot", OWNERS)
    cli("check", "-c", config, "--online", "--create-properties")  # exit 2: it names the inactive owner too
    portal.reset_log()
    snapped = cli("snapshot", "-c", config, "-o", tmp_path / "snap")
    assert snapped.code == 0, snapped.err
    served = Counter(call_kind("hubspot", r.method, r.path) for r in portal.requests())
    manifest = json.loads((tmp_path / "snap" / "manifest.json").read_text())
    assert manifest["api_calls"] == {**served, "total": served.total()}
    assert manifest["account_id"] == str(portal.portal_id)  # GET /account-info/{version}/details
    assert str(portal.access_token) not in "".join(p.read_text() for p in (tmp_path / "snap").iterdir())
    before = portal.companies
    rehearsal = rehearse(load_project(config), tmp_path / "snap")
    assert portal.companies == before
    direct = json.loads(cli("plan", "-c", config, "--json").out)
    keys = ("id", "field", "before", "after")
    assert sorted(tuple(c[k] for k in keys) for c in direct["changes"]) == sorted(
        tuple(r[k] for k in keys) for r in rehearsal.plan.changes.frame().to_dicts())
    assert rehearsal.unavailable_owners == (OWNERS["inactive"],)
    assert rehearsal.replan_changes == 0
    result = cli("rehearse", "-c", config, "--snapshot", tmp_path / "snap")
    assert result.code == 1
    assert result.out.splitlines()[0].startswith("Rehearsal: nothing is written to your hubspot CRM")
    assert "Refused by the CRM: none" in result.out.splitlines()
    applied = cli("apply", "-c", config, "--yes", "--force", "--json")
    assert json.loads(applied.out)["failed"] == rehearsal.refused.to_dicts()
    # The values the rehearsal's apply left are those the direct apply left in the portal.
    assert rehearsal.applied.height == 30 and rehearsal.applied["segment"].null_count() == 0
    assert rehearsal.applied.equals(written_values(config))


def test_the_rehearsal_emulator_does_not_throttle_a_client_that_runs_without_its_limiter(
        portal: HubSpotEmulator, cli: Cli, tmp_path: Path) -> None:
    """A rehearsal runs five reads and two writes with its client limiter off; an emulator keeping
    HubSpot's 190 requests per 10 s would refuse the 191st with a 429 (found on the 5,000-company
    sample), so the rehearsal starts it without that limit."""
    config = write_project(tmp_path, "hubspot", OWNERS)
    cli("check", "-c", config, "--online", "--create-properties")
    assert cli("snapshot", "-c", config, "-o", tmp_path / "snap").code == 0
    with SnapshotEmulator("hubspot", tmp_path / "snap") as emulator:
        request = urllib.request.Request(f"{emulator.url}/crm/v3/objects/companies?limit=1",
                                         headers={"Authorization": f"Bearer {emulator.token}"})
        statuses = set()
        for _ in range(200):
            with urllib.request.urlopen(request, timeout=30) as answer:  # loopback
                statuses.add(answer.status)
    assert statuses == {200}


def test_a_list_that_includes_contacts_is_copied_and_rehearsed_with_its_contacts(
        portal: HubSpotEmulator, cli: Cli, tmp_path: Path) -> None:
    """With `include_contacts`, HubSpot keeps the contact list `<name> (contacts)` of the member
    companies' contacts (README "Marketing lists"), found through associations v4 batch reads.
    The snapshot copies the contacts of the copied companies and that list, so the rehearsal's
    apply makes the very list and association calls the direct apply makes."""
    for number in range(30):
        portal.put_contact({"id": str(5000 + number), "associatedcompanyid": str(1000 + number)})
    stamp = "2026-01-01T00:00:00.000Z"
    record = {"listVersion": 1, "processingType": "MANUAL", "processingStatus": "COMPLETE", "createdAt": stamp,
              "updatedAt": stamp, "filtersUpdatedAt": stamp, "createdById": "2000001", "updatedById": "2000001"}
    portal.seed_list(_List({**record, "listId": "41", "name": "Enterprise ABM", "objectTypeId": "0-2"},
                           {"1000": stamp, "1001": stamp}))
    portal.seed_list(_List({**record, "listId": "42", "name": "Enterprise ABM (contacts)", "objectTypeId": "0-1"},
                           {"5000": stamp, "5001": stamp, "9999": stamp}))
    config = write_project(tmp_path, "hubspot", OWNERS, include_contacts=True)
    cli("check", "-c", config, "--online", "--create-properties")
    assert cli("snapshot", "-c", config, "-o", tmp_path / "snap").code == 0

    metadata = json.loads((tmp_path / "snap" / "metadata.json").read_text())
    rehearsal = rehearse(load_project(config), tmp_path / "snap")
    portal.reset_log()
    applied = cli("apply", "-c", config, "--yes", "--force", "--json")

    assert {"id": "5003", "companies": ["1003"]} in metadata["contacts"]
    assert {"id": "enterprise", "name": "Enterprise ABM (contacts)", "object": "contacts",
            "members": ["5000", "5001"]} in metadata["lists"]  # 9999 is no copied company's contact
    direct = Counter(call_kind("hubspot", r.method, r.path) for r in portal.requests())
    assert rehearsal.calls.get("associations", 0) >= 1 and rehearsal.calls.get("lists", 0) >= 1, rehearsal.calls
    assert rehearsal.calls == dict(direct)
    assert json.loads(applied.out)["failed"] == rehearsal.refused.to_dicts() == []
    contacts = next(item for item in portal.lists.values() if item["name"] == "Enterprise ABM (contacts)")
    members = next(item for item in portal.lists.values() if item["name"] == "Enterprise ABM")["members"]
    report = rehearsal_text(rehearsal, "hubspot_owner_id").splitlines()
    assert any(line.startswith("  enterprise: add") and line.endswith("(their contacts follow in the contact list)")
               for line in report)
    assert set(contacts["members"]) == {str(int(m) + 4000) for m in members} | {"9999"}


def test_owner_change_is_copied_and_rehearsed_with_the_contacts_and_open_deals(
        portal: HubSpotEmulator, cli: Cli, tmp_path: Path) -> None:
    """The snapshot copies the contacts and open deals associated with the copied companies that
    their owner holds (associations v4 batch reads, `hubspot_owner_id`; a deal with `hs_is_closed`
    stays out), and the rehearsal moves them as the direct apply does: same plan lines, same
    calls, same failures, same final owners. A contact of two companies is copied with both."""
    held = {str(1000 + i): portal.companies[str(1000 + i)]["hubspot_owner_id"] for i in range(30)}
    other = {company: OWNERS["b"] if owner != OWNERS["b"] else OWNERS["a"] for company, owner in held.items()}
    for company, owner in held.items():
        portal.put_contact({"id": "5" + company, "associatedcompanyid": company, "hubspot_owner_id": owner})
        portal.put_contact({"id": "6" + company, "associatedcompanyid": company, "hubspot_owner_id": other[company]})
        portal.put_deal({"id": "8" + company, "associatedcompanyid": company, "hubspot_owner_id": owner,
                         "dealstage": "appointmentscheduled"})
        portal.put_deal({"id": "9" + company, "associatedcompanyid": company, "hubspot_owner_id": owner,
                         "dealstage": "closedwon"})
    portal.put_contact({"id": "7000", "associatedcompanyid": ["1000", "1003"], "hubspot_owner_id": held["1000"]})
    config = with_owner_change(write_project(tmp_path, "hubspot", OWNERS), "hubspot")
    cli("check", "-c", config, "--online", "--create-properties")
    snapped = cli("snapshot", "-c", config, "-o", tmp_path / "snap")
    assert snapped.code == 0, snapped.err
    manifest = json.loads((tmp_path / "snap" / "manifest.json").read_text())
    assert manifest["related"] == {"contacts": 31, "deals": 30}
    copied = (tmp_path / "snap" / "related.csv").read_text()
    assert "contacts,7000,1000," in copied and "contacts,7000,1003," in copied
    assert ",61000," not in copied and ",91000," not in copied

    rehearsal = rehearse(load_project(config), tmp_path / "snap")
    direct_plan = json.loads(cli("plan", "-c", config, "--json").out)
    portal.reset_log()
    applied = json.loads(cli("apply", "-c", config, "--yes", "--force", "--json").out)
    direct = Counter(call_kind("hubspot", r.method, r.path) for r in portal.requests())

    keys = ("object", "id", "before", "after", "account")
    moved = sorted(tuple(c[k] for k in keys) for c in direct_plan["related_changes"])
    assert moved and moved == sorted(tuple(r[k] for k in keys) for r in rehearsal.plan.related.to_dicts())
    assert rehearsal.calls == dict(direct)
    assert applied["failed"] == rehearsal.refused.to_dicts()
    assert rehearsal.replan_changes == 0
    report = rehearsal_text(rehearsal, "hubspot_owner_id").splitlines()
    following = Counter(row[0] for row in moved)
    assert f"  contacts: {following['contacts']}" in report and f"  deals: {following['deals']}" in report
    moved_to = {row[1]: row[3] for row in moved}
    assert {i: c["hubspot_owner_id"] for i, c in portal.contacts.items()} == {
        **{"5" + c: o for c, o in held.items()}, **{"6" + c: o for c, o in other.items()}, "7000": held["1000"],
        **{i: o for i, o in moved_to.items() if not i.startswith("8")}}
    assert {i: d["hubspot_owner_id"] for i, d in portal.deals.items() if i.startswith("8")} == {
        **{"8" + c: o for c, o in held.items()}, **{i: o for i, o in moved_to.items() if i.startswith("8")}}
