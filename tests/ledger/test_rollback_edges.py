"""Rollback's edges: its plan before the prompt, the safety guard, dry runs, nothing left to restore.

Issue 15, "Run status that means something": rollback shows what it would restore (and
what it leaves alone because it changed since) before it asks, obeys
`safety.max_changed_records` (exit 3 unless `--force`, SPEC §4's exit codes), prints
without writing under `--dry-run`, and a rollback with nothing left to restore says so,
exits 0 and records no run. A refused run records the records it read (SPEC §5: the
ledger keeps every run with its counts).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from typing import cast

import pytest
from simple_salesforce.api import Salesforce, SFType

from revrules.testing.harness import Cli
from revrules.testing.salesforce import SalesforceEmulator, loopback_session
from tests.ledger.projects import Crm, sf_id

GUARDED = "safety: {max_changed_records: 5}"
"""Fewer records than an apply of the 20-account project changes."""
PROMPT = "Only 'yes' will be accepted"


class Terminal(io.StringIO):
    """Standard input that is a terminal holding the user's answer."""

    def isatty(self) -> bool:
        """Answer as a terminal does."""
        return True


def run_ids(cli: Cli, crm: Crm) -> list[int]:
    """The ids of the runs in the ledger, newest first."""
    return [r["id"] for r in cli("history", "-c", crm.config, "--json").json()["runs"]]


@pytest.mark.parametrize("answer", ["no", "yes"])
def test_rollback_shows_what_it_restores_and_leaves_alone_before_it_asks(
    two_field_crm: Callable[..., Crm], cli: Cli, monkeypatch: pytest.MonkeyPatch, answer: str
) -> None:
    crm = two_field_crm("salesforce")
    assert isinstance(crm.emulator, SalesforceEmulator)
    before = crm.values()
    assert cli("apply", "-c", crm.config, "--yes").code == 0
    # Someone edits one field after the run, through the API: rollback leaves it alone.
    sf = Salesforce(instance_url=crm.emulator.url, session_id=crm.emulator.session_id,
                    session=loopback_session(crm.emulator.url))
    cast(SFType, sf.Account).update(sf_id(1), {"Size__c": "Hand-Edited"})
    applied = crm.values()
    crm.emulator.reset_log()
    monkeypatch.setattr(sys, "stdin", Terminal(answer + "\n"))

    rolled = cli("rollback", "1", "-c", crm.config)

    preview = rolled.out.index("Changes by field:")
    assert preview < rolled.out.index(PROMPT)
    assert "Segment__c: 10 record(s)" in rolled.out[preview:] and "Size__c: 19 record(s)" in rolled.out[preview:]
    assert "Rollback 29 field change(s) to 20 record(s)?" in rolled.out
    assert "1 field(s) changed since run 1 and are left alone" in rolled.err
    if answer == "no":
        assert rolled.code == 3
        assert crm.values() == applied and crm.write_requests() == 0
    else:
        assert rolled.code == 0, rolled.err
        assert crm.values() == {**before, (sf_id(1), "Size__c"): "Hand-Edited"}


def test_rollback_obeys_max_changed_records_unless_forced(two_field_crm: Callable[..., Crm], cli: Cli) -> None:
    crm = two_field_crm("salesforce", safety=GUARDED)
    before = crm.values()
    assert cli("apply", "-c", crm.config, "--yes", "--force").code == 0
    applied = crm.values()

    refused = cli("rollback", "1", "-c", crm.config, "--yes")
    after_refusal = crm.values()
    forced = cli("rollback", "1", "-c", crm.config, "--yes", "--force")
    runs = {r["id"]: r for r in cli("history", "-c", crm.config, "--json").json()["runs"]}

    assert refused.code == 3
    assert "max_changed_records" in refused.err and "--force" in refused.err
    assert after_refusal == applied
    assert (runs[2]["command"], runs[2]["status"], runs[2]["written"]) == ("rollback", "refused", 0)
    assert runs[2]["records_read"] == 20  # the records the rolled-back run read
    assert forced.code == 0, forced.err
    assert (runs[3]["status"], runs[3]["written"]) == ("succeeded", 30)
    assert crm.values() == before


def test_rollback_dry_run_prints_the_restore_plan_and_writes_nothing(
    two_field_crm: Callable[..., Crm], cli: Cli
) -> None:
    crm = two_field_crm("salesforce")
    assert cli("apply", "-c", crm.config, "--yes").code == 0
    applied = crm.values()
    crm.emulator.reset_log()

    text = cli("rollback", "1", "-c", crm.config, "--dry-run")
    as_json = cli("rollback", "1", "-c", crm.config, "--dry-run", "--json")

    assert text.code == 0 and as_json.code == 0, as_json.err
    assert "Changes by field:" in text.out and PROMPT not in text.out
    changes = as_json.json()["changes"]
    assert len(changes) == 30 and {c["rule"] for c in changes} == {"rollback:1"}
    assert crm.values() == applied and crm.write_requests() == 0
    assert run_ids(cli, crm) == [1]


def test_a_second_rollback_of_the_same_run_says_nothing_is_left_and_records_no_run(
    two_field_crm: Callable[..., Crm], cli: Cli
) -> None:
    crm = two_field_crm("salesforce")
    before = crm.values()
    assert cli("apply", "-c", crm.config, "--yes").code == 0
    assert cli("rollback", "1", "-c", crm.config, "--yes").code == 0
    crm.emulator.reset_log()

    again = cli("rollback", "1", "-c", crm.config)  # no --yes: nothing is asked either

    assert again.code == 0, again.err
    assert "run 1 left nothing to restore" in again.err
    assert PROMPT not in again.out
    assert crm.write_requests() == 0 and crm.values() == before
    assert run_ids(cli, crm) == [2, 1]


def test_a_refused_run_records_what_it_read_and_rolling_it_back_restores_nothing(
    two_field_crm: Callable[..., Crm], cli: Cli
) -> None:
    crm = two_field_crm("salesforce", safety=GUARDED)
    before = crm.values()

    refused = cli("apply", "-c", crm.config, "--yes")
    run = cli("history", "-c", crm.config, "--json").json()["runs"][0]
    rolled = cli("rollback", "1", "-c", crm.config, "--yes", "--json")

    assert refused.code == 3
    assert (run["status"], run["records_read"], run["planned"], run["written"]) == ("refused", 20, 30, 0)
    assert rolled.code == 0, rolled.err
    assert rolled.json()["written"] == 0
    assert "run 1 left nothing to restore" in rolled.err
    assert crm.values() == before and crm.write_requests() == 0
    assert run_ids(cli, crm) == [1]
