"""Apply isolates a refused field, and a run's status says what happened (SPEC §5).

A record refused because of some of its fields is written again without them, so only
those fields fail (SPEC §5, "Per-record write failures"). Salesforce names the refused
fields in each error's `fields` (REST API Developer Guide, sObject Collections "Update
Multiple Records": `errors[].fields`); HubSpot names the property in a 207's
`errors[].errors[].in` / `context.propertyName` (CRM API "Batch update"). The emulators'
`field_errors` switch refuses exactly one (record, field) pair, as a validation rule on
that field does.

A run that wrote nothing and failed something is `failed`; `partial` only when it both
wrote and failed (issue 15, "Run status that means something").
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from revrules.testing.harness import Cli
from tests.ledger.projects import FIELDS, Crm, changed, results, written

CRMS = ["salesforce", "hubspot"]


@pytest.mark.parametrize("kind", CRMS)
def test_a_record_refused_over_one_field_is_sent_again_without_it_and_its_other_field_lands(
    two_field_crm: Callable[..., Crm], cli: Cli, kind: str
) -> None:
    crm = two_field_crm(kind)
    segment, size = FIELDS[kind]
    refused = crm.ids[1]  # an account that becomes Mid-Market and Large
    crm.emulator.faults.field_errors = {refused: {segment: "Mid-Market needs an owner"}}
    before = crm.values()

    applied = cli("apply", "-c", crm.config, "--yes", "--json")
    after = crm.values()
    run = cli("history", "-c", crm.config, "--json").json()["runs"][0]
    replan = cli("plan", "-c", crm.config, "--json").json()["changes"]
    rolled = cli("rollback", "1", "-c", crm.config, "--yes", "--json")

    report = applied.json()
    landed = changed(before, after)
    assert applied.code == 1
    assert [(f["id"], f["field"]) for f in report["failed"]] == [(refused, segment)]
    assert "Mid-Market needs an owner" in report["failed"][0]["error"]
    assert after[(refused, size)] == "Large" and after[(refused, segment)] == before[(refused, segment)]
    assert written(crm.state, 1) == landed  # every landed field is recorded written, nothing else
    assert results(crm.state, 1) == {"written": len(landed), "failed": 1}
    assert report["written"] == len(landed)
    # A record is sent twice at most: once whole, once without the refused field.
    assert crm.write_requests() == 2 + 1
    assert (run["status"], run["written"], run["failed"]) == ("partial", len(landed), 1)
    assert [(c["id"], c["field"]) for c in replan] == [(refused, segment)]  # only the refused field is left
    assert rolled.code == 0, rolled.err
    assert rolled.json()["written"] == len(landed)
    assert crm.values() == before


@pytest.mark.parametrize("kind", CRMS)
def test_a_run_that_wrote_nothing_and_failed_something_is_failed_not_partial(
    two_field_crm: Callable[..., Crm], cli: Cli, kind: str
) -> None:
    crm = two_field_crm(kind, count=4)
    before = crm.values()
    planned = len(cli("plan", "-c", crm.config, "--json").json()["changes"])
    crm.emulator.faults.record_errors = set(crm.ids)  # every record is refused whatever is sent

    applied = cli("apply", "-c", crm.config, "--yes", "--json")
    run = cli("history", "-c", crm.config, "--json").json()["runs"][0]
    rolled = cli("rollback", "1", "-c", crm.config, "--yes", "--json")
    runs = cli("history", "-c", crm.config, "--json").json()["runs"]

    assert applied.code == 1
    assert applied.json()["status"] == "failed" and applied.json()["written"] == 0
    assert (run["status"], run["written"], run["failed"]) == ("failed", 0, planned)
    assert crm.values() == before
    # Nothing landed, so there is nothing to restore: no rollback run is recorded.
    assert rolled.code == 0, rolled.err
    assert [r["id"] for r in runs] == [1]


@pytest.mark.parametrize("kind", CRMS)
def test_a_run_that_wrote_everything_is_succeeded_and_one_that_wrote_some_is_partial(
    two_field_crm: Callable[..., Crm], cli: Cli, kind: str
) -> None:
    crm = two_field_crm(kind, count=4)
    fields = [c["id"] for c in cli("plan", "-c", crm.config, "--json").json()["changes"]]
    refused = fields.count(crm.ids[0])
    crm.emulator.faults.record_errors = {crm.ids[0]}  # refused whatever is sent
    partly = cli("apply", "-c", crm.config, "--yes", "--json")
    crm.emulator.faults.record_errors = set()
    fully = cli("apply", "-c", crm.config, "--yes", "--json")
    runs = {r["id"]: r for r in cli("history", "-c", crm.config, "--json").json()["runs"]}

    assert partly.code == 1 and fully.code == 0, fully.err
    assert refused >= 1
    assert (runs[1]["status"], runs[1]["written"], runs[1]["failed"]) == ("partial", len(fields) - refused, refused)
    assert (runs[2]["status"], runs[2]["written"], runs[2]["failed"]) == ("succeeded", refused, 0)


@pytest.mark.parametrize("kind", CRMS)
def test_rollback_restores_the_other_fields_of_a_record_refused_over_one(
    two_field_crm: Callable[..., Crm], cli: Cli, kind: str
) -> None:
    crm = two_field_crm(kind)
    segment, size = FIELDS[kind]
    before = crm.values()
    assert cli("apply", "-c", crm.config, "--yes").code == 0
    applied = crm.values()
    refused = crm.ids[1]
    crm.emulator.faults.field_errors = {refused: {segment: "the segment is locked this quarter"}}

    rolled = cli("rollback", "1", "-c", crm.config, "--yes", "--json")
    run = cli("history", "-c", crm.config, "--json").json()["runs"][0]

    report = rolled.json()
    restored = changed(applied, crm.values())
    assert rolled.code == 1
    assert [(f["id"], f["field"]) for f in report["failed"]] == [(refused, segment)]
    assert (refused, size) in restored and crm.values()[(refused, size)] == before[(refused, size)]
    assert restored == changed(before, applied) - {(refused, segment)}  # every other field is restored
    assert written(crm.state, 2) == restored and results(crm.state, 2) == {"written": len(restored), "failed": 1}
    assert (run["status"], run["written"], run["failed"]) == ("partial", len(restored), 1)
