"""Writes whose answer is lost, through the `revrules` command and the real client libraries.

Each fault is injected by the emulators' `lose_response_on_call` switch: the CRM carries
out the write, then the answer is lost (connection reset, truncated body, a 200 whose body
is not JSON, no answer before the client's timeout). Real CRMs behave this way behind
proxies and load balancers: Salesforce documents that a timed-out request "may have
completed" (REST API Developer Guide, "Status Codes and Error Responses"), and HubSpot's
batch update is not idempotent by itself (CRM API "Batch update", objectWriteTraceId).

Every test asserts: every landed write is recorded written, nothing is written twice,
rollback restores every field, and the plan is empty after the apply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from revrules.testing.emulator import Emulator
from revrules.testing.harness import Cli, ledger_rows
from revrules.testing.hubspot import HubSpotEmulator
from revrules.testing.projects import hubspot_config, salesforce_config, write_project
from revrules.testing.salesforce import SalesforceEmulator
from tests.ledger.projects import connect

RULES = """\
version: 1
decisions:
  segment:
    hit: first
    rules:
      - {id: big, when: "employees >= 100", then: Mid-Market}
    default: SMB
"""
SEGMENTS = ["SMB", "Mid-Market", "Enterprise"]


def salesforce(count: int) -> SalesforceEmulator:
    records = [{"Id": f"001Dn0000{i:06d}AAA", "Name": f"A{i}", "NumberOfEmployees": 500 if i % 2 else 10,
                "Segment__c": "SMB"} for i in range(count)]
    return SalesforceEmulator([{**r, "Note__c": None} for r in records], picklists={"Segment__c": SEGMENTS})


def hubspot(count: int) -> HubSpotEmulator:
    return HubSpotEmulator([{"id": str(1000 + i), "name": f"C{i}", "numberofemployees": "500" if i % 2 else "10"}
                            for i in range(count)])


class Crm:
    """One emulated CRM under a project: its values, its write requests, its config."""

    def __init__(self, kind: str, folder: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli, count: int) -> None:
        self.kind = kind
        self.emulator: Emulator[Any, Any] = (salesforce if kind == "salesforce" else hubspot)(count).start()
        if kind == "salesforce":
            config = salesforce_config(self.emulator.url, retry_backoff_seconds=0.001, max_retries=2,
                                       timeout_seconds=0.5)
        else:
            config = hubspot_config(self.emulator.url, retry_backoff_seconds=0.01, timeout_seconds=0.5)
        self.config = write_project(folder, config, RULES)
        self.state = folder / ".revrules"
        connect(self.emulator, self.config, monkeypatch, cli)

    def segments(self) -> dict[str, str | None]:
        if isinstance(self.emulator, SalesforceEmulator):
            return {rid: r.get("Segment__c") for rid, r in self.emulator.records.items()}
        assert isinstance(self.emulator, HubSpotEmulator)
        return {cid: c.get("revrules_segment") for cid, c in self.emulator.companies.items()}

    def write_calls(self) -> list[int]:
        """The call numbers of the write requests, oldest first."""
        path = "composite/sobjects" if self.kind == "salesforce" else "/batch/update"
        verb = "PATCH" if self.kind == "salesforce" else "POST"
        return [e.call for e in self.emulator.requests(verb, path)]


@pytest.fixture
def make_crm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli) -> Iterator[Callable[..., Crm]]:
    made: list[Crm] = []

    def make(kind: str, name: str = "project", count: int = 40) -> Crm:
        crm = Crm(kind, tmp_path / name, monkeypatch, cli, count)
        made.append(crm)
        return crm

    yield make
    for crm in made:
        crm.emulator.stop()


def first_write_call(make_crm: Callable[..., Crm], kind: str, cli: Cli) -> int:
    """The call number of the first write of an apply, found by rehearsing it on a twin CRM."""
    twin = make_crm(kind, "rehearsal")
    assert cli("apply", "-c", twin.config, "--yes").code == 0
    return twin.write_calls()[0]


def results(state: Path, run: int) -> dict[str, int]:
    return dict(ledger_rows(state, "SELECT result, COUNT(*) FROM writes WHERE run_id = ? GROUP BY result", (run,)))


CRMS = ["salesforce", "hubspot"]
CHANGES = {"salesforce": 20, "hubspot": 40}
"""Fields the apply changes: half the Salesforce accounts become Mid-Market; every HubSpot company gets a segment."""
LOST = ["reset", "truncate", "not_json", "timeout"]


@pytest.mark.parametrize("how", LOST)
@pytest.mark.parametrize("kind", CRMS)
def test_a_write_whose_answer_was_lost_is_settled_by_reading_back_and_not_sent_again(
    make_crm: Callable[..., Crm], cli: Cli, kind: str, how: str
) -> None:
    call = first_write_call(make_crm, kind, cli)
    crm = make_crm(kind)
    before = crm.segments()
    crm.emulator.faults.lose_response_on_call = {call: how}

    applied = cli("apply", "-c", crm.config, "--yes", "--json")
    after = crm.segments()
    history = cli("history", "-c", crm.config, "--json").json()["runs"]
    replan = cli("plan", "-c", crm.config, "--json")
    rolled = cli("rollback", "1", "-c", crm.config, "--yes", "--json")

    changed = sum(before[i] != after[i] for i in before)
    assert changed == CHANGES[kind]
    assert applied.code == 0, applied.err
    assert applied.json()["written"] == changed and applied.json()["failed"] == []
    assert results(crm.state, 1) == {"written": changed}
    assert crm.write_calls()[0] == call and len(crm.write_calls()) == 1 + 1  # the apply's one write, the rollback's
    assert (history[0]["status"], history[0]["written"], history[0]["failed"]) == ("succeeded", changed, 0)
    assert replan.json()["changes"] == []
    assert rolled.code == 0, rolled.err
    assert rolled.json()["written"] == changed
    assert crm.segments() == before


@pytest.mark.parametrize("kind", CRMS)
def test_a_lost_answer_that_cannot_be_read_back_stays_unknown_until_the_next_run(
    make_crm: Callable[..., Crm], cli: Cli, kind: str
) -> None:
    call = first_write_call(make_crm, kind, cli)
    crm = make_crm(kind)
    before = crm.segments()
    # The write's answer is lost, and so is every read of the records back.
    crm.emulator.faults.lose_response_on_call = dict.fromkeys(range(call, call + 10), "reset")

    applied = cli("apply", "-c", crm.config, "--yes", "--json")
    run = cli("history", "-c", crm.config, "--json").json()["runs"][0]
    unsettled = results(crm.state, 1)
    crm.emulator.faults.lose_response_on_call = {}
    settled = cli("apply", "-c", crm.config, "--yes", "--json")
    runs = {r["id"]: r for r in cli("history", "-c", crm.config, "--json").json()["runs"]}
    replan = cli("plan", "-c", crm.config, "--json")
    rolled = cli("rollback", "1", "-c", crm.config, "--yes", "--json")

    assert applied.code == 1
    assert "unknown outcome" in applied.err
    assert run["status"] == "error" and run["written"] == 0 and unsettled == {"unknown": CHANGES[kind]}
    assert settled.code == 0, settled.err
    assert results(crm.state, 1) == {"written": CHANGES[kind]}
    assert runs[1]["written"] == CHANGES[kind] and runs[1]["failed"] == 0
    assert len(crm.write_calls()) == 1 + 1  # the lost write and the rollback: nothing was sent again
    assert replan.json()["changes"] == []
    assert rolled.code == 0, rolled.err
    assert crm.segments() == before


@pytest.mark.parametrize("kind", CRMS)
def test_a_lost_answer_for_a_write_that_did_not_land_sends_only_what_is_missing(
    make_crm: Callable[..., Crm], cli: Cli, kind: str
) -> None:
    call = first_write_call(make_crm, kind, cli)
    crm = make_crm(kind)
    before = crm.segments()
    # Refused before it is carried out (503 on Salesforce is retried; a reset on HubSpot is not):
    # the write never landed, so reading back finds every record still to send.
    crm.emulator.faults.status_on_call = {call: 400}
    crm.emulator.faults.lose_response_on_call = {call: "reset"}

    applied = cli("apply", "-c", crm.config, "--yes", "--json")
    replan = cli("plan", "-c", crm.config, "--json")
    rolled = cli("rollback", "1", "-c", crm.config, "--yes", "--json")

    assert applied.code == 0, applied.err
    assert results(crm.state, 1) == {"written": CHANGES[kind]}
    assert len(crm.write_calls()) == 2 + 1  # the lost one, the resend of what had not landed, the rollback
    assert replan.json()["changes"] == []
    assert rolled.code == 0
    assert crm.segments() == before
