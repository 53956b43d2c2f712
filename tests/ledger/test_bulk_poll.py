"""A Salesforce session that expires while a closed Bulk API 2.0 update job is polled.

Once a Bulk 2.0 ingest job is closed (`state: UploadComplete`) Salesforce processes it
whatever happens to the client: "After you close the job, Salesforce processes the data"
(Bulk API 2.0 Developer Guide, "Close a Job"). A 401 `INVALID_SESSION_ID` on the poll
(`GET /jobs/ingest/{id}`, REST API Developer Guide, "Status Codes and Error Responses")
says nothing about the records: they land all the same. The emulator's
`expire_session_on_call` answers that poll 401 and invalidates every issued token.

Each test asserts: every landed write is recorded written, nothing is written twice
(one upload per job), `history`, the exit code and `rollback` agree with the CRM, and
the plan is empty afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import pytest

from revrules.testing.harness import Cli
from revrules.testing.projects import SESSION
from revrules.testing.salesforce import SalesforceEmulator
from tests.ledger.projects import CLIENT_CREDENTIALS, Crm, changed, results, written

BULK = {"bulk_write_threshold": 5}
"""Every apply of the 20-account project takes the Bulk path."""
POLLS_BEFORE_COMPLETE = 2
_JOB_POLL = re.compile(r"/jobs/ingest/[^/]+$")


def job_polls(crm: Crm) -> list[int]:
    """The call numbers of the polls of Bulk ingest jobs, oldest first."""
    return [e.call for e in crm.emulator.requests("GET", "jobs/ingest/") if _JOB_POLL.search(e.path)]


def second_poll(two_field_crm: Callable[..., Crm], cli: Cli, auth: Mapping[str, object]) -> int:
    """The call number of the apply's second job poll, found by rehearsing it on a twin org."""
    twin = two_field_crm("salesforce", "rehearsal", auth=auth, **BULK)
    twin.emulator.faults.bulk_polls_before_complete = POLLS_BEFORE_COMPLETE
    assert cli("apply", "-c", twin.config, "--yes").code == 0
    polls = job_polls(twin)
    assert len(polls) == POLLS_BEFORE_COMPLETE + 1
    return polls[1]


def test_a_401_while_polling_a_bulk_job_logs_in_again_and_records_every_landed_write(
    two_field_crm: Callable[..., Crm], cli: Cli
) -> None:
    poll = second_poll(two_field_crm, cli, CLIENT_CREDENTIALS)
    crm = two_field_crm("salesforce", auth=CLIENT_CREDENTIALS, **BULK)
    assert isinstance(crm.emulator, SalesforceEmulator)
    crm.emulator.faults.bulk_polls_before_complete = POLLS_BEFORE_COMPLETE
    crm.emulator.faults.expire_session_on_call = poll
    before = crm.values()

    applied = cli("apply", "-c", crm.config, "--yes", "--json")
    after = crm.values()
    expired = [e.status for e in crm.emulator.requests("GET", "jobs/ingest/") if e.call == poll]
    uploads = crm.write_requests()
    logins = crm.emulator.calls("/services/oauth2/token", "POST")
    run = cli("history", "-c", crm.config, "--json").json()["runs"][0]
    replan = cli("plan", "-c", crm.config, "--json").json()["changes"]
    rolled = cli("rollback", "1", "-c", crm.config, "--yes", "--json")

    landed = changed(before, after)
    assert expired == [401]
    assert len(landed) == 30  # a size for each of 20 accounts, Mid-Market for 10
    assert applied.code == 0, applied.err
    assert applied.json()["written"] == len(landed) and applied.json()["failed"] == []
    assert written(crm.state, 1) == landed and results(crm.state, 1) == {"written": len(landed)}
    assert uploads == 1  # the job was resumed after the new login, never uploaded again
    assert logins == 2  # the first login and the one after the 401
    assert (run["status"], run["written"], run["failed"]) == ("succeeded", len(landed), 0)
    assert replan == []
    assert rolled.code == 0, rolled.err
    assert rolled.json()["written"] == len(landed)
    assert crm.values() == before


def test_a_401_while_polling_a_bulk_job_that_cannot_log_in_again_is_settled_by_the_next_run(
    two_field_crm: Callable[..., Crm], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    poll = second_poll(two_field_crm, cli, SESSION)
    crm = two_field_crm("salesforce", **BULK)
    assert isinstance(crm.emulator, SalesforceEmulator)
    crm.emulator.faults.bulk_polls_before_complete = POLLS_BEFORE_COMPLETE
    crm.emulator.faults.expire_session_on_call = poll
    before = crm.values()

    # `auth: session` cannot log in again: the job's end is not seen and the records cannot be read back.
    applied = cli("apply", "-c", crm.config, "--yes", "--json")
    after = crm.values()
    unsettled = results(crm.state, 1)
    stuck = cli("history", "-c", crm.config, "--json").json()["runs"][0]
    # The operator provides a fresh session; the next run settles run 1 from what the CRM holds.
    monkeypatch.setenv("SF_SESSION", crm.emulator.issue_token())
    settled = cli("apply", "-c", crm.config, "--yes", "--json")
    runs = {r["id"]: r for r in cli("history", "-c", crm.config, "--json").json()["runs"]}
    replan = cli("plan", "-c", crm.config, "--json").json()["changes"]
    rolled = cli("rollback", "1", "-c", crm.config, "--yes", "--json")

    landed = changed(before, after)
    assert len(landed) == 30  # the job ran to its end although its poll was refused
    assert applied.code == 1
    assert "unknown outcome" in applied.err
    assert unsettled == {"unknown": len(landed)}
    assert (stuck["status"], stuck["written"]) == ("error", 0)
    assert settled.code == 0, settled.err
    assert written(crm.state, 1) == landed and results(crm.state, 1) == {"written": len(landed)}
    assert (runs[1]["written"], runs[1]["failed"]) == (len(landed), 0)
    assert crm.write_requests() == 1 + 1  # the job of run 1 and the rollback's: nothing was sent again
    assert replan == []
    assert rolled.code == 0, rolled.err
    assert crm.values() == before
