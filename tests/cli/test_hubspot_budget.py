"""`revrules apply` on HubSpot refuses a write the portal's remaining daily API requests cannot afford.

HubSpot's daily limit is the portal's, shared by all its integrations, and resets at
midnight in the portal's time zone (API usage guidelines,
developers.hubspot.com/docs/guides/apps/api-usage/usage-details). What is left comes in
`X-HubSpot-RateLimit-Daily-Remaining` on every answer but a search's (changelog 2018-11-06
"Rate limit information headers will be included in HTTP responses").
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from revrules.testing.harness import Cli
from revrules.testing.hubspot import HubSpotEmulator
from revrules.testing.projects import hubspot_config, write_project

BATCH_UPDATE = "/crm/objects/2026-03/companies/batch/update"
COMPANIES = "/crm/objects/2026-03/companies"

RULES = """\
version: 1
decisions:
  segment:
    hit: first
    rules:
      - {id: mid-market, when: "employees >= 200", then: Mid-Market}
    default: SMB
"""

@pytest.fixture
def portal(monkeypatch: pytest.MonkeyPatch) -> Iterator[HubSpotEmulator]:
    """250 SMB companies of 500 employees: all become Mid-Market, three batch updates of 100."""
    rows = [{"id": str(1000 + i), "numberofemployees": "500", "revrules_segment": "SMB"} for i in range(250)]
    with HubSpotEmulator(rows) as emulator:
        monkeypatch.setenv("HS_URL", emulator.url)
        yield emulator


def project(folder: Path, *, reserve: int) -> Path:
    return write_project(folder, hubspot_config(retry_backoff_seconds=0.01, api_reserve=reserve), RULES)


def budget_read(portal: HubSpotEmulator) -> int:
    """The call number of the 1-record read whose headers the budget check read."""
    calls = [r.call for r in portal.request_log if r.path == COMPANIES and r.query.get("limit") == ["1"]]
    assert len(calls) == 1
    assert calls[0] is not None
    return calls[0]


def segments(portal: HubSpotEmulator) -> set[str | None]:
    return {company["revrules_segment"] for company in portal.companies.values()}


def last_run(cli: Cli, config: Path) -> str:
    return str(json.loads(cli("history", "--json", "-c", config).out)["runs"][0]["status"])


def test_an_apply_the_portal_cannot_afford_is_refused_and_fits_once_the_reserve_is_left(
    cli: Cli, tmp_path: Path, portal: HubSpotEmulator
) -> None:
    """Three batch updates (HubSpot batch update: at most 100 inputs) plus `api_reserve` must fit in
    what is left after the read that reports it; one request short is refused (exit 3, nothing
    written, the run recorded as refused), exactly enough goes through."""
    config = project(tmp_path, reserve=100)
    portal.faults.daily_limit_after = 50
    refused = cli("apply", "--yes", "-c", config)
    assert refused.code == 3, refused.err
    calls_before = budget_read(portal)  # the plan's reads and the budget read itself
    assert portal.count("POST", BATCH_UPDATE) == 0
    assert segments(portal) == {"SMB"}
    assert last_run(cli, config) == "refused"

    portal.reset_log()
    portal.faults.daily_limit_after = calls_before + 3 + 100 - 1
    refused = cli("apply", "--yes", "-c", config)
    assert refused.code == 3, refused.err
    assert (f"the write needs about 3 API call(s) and api_reserve keeps 100, but the portal has 102 of its "
            f"{calls_before + 102:,} daily API request(s) left; nothing was written") in refused.err
    assert len([line for line in refused.err.splitlines() if line.startswith("error:")]) == 1
    assert budget_read(portal) == calls_before
    assert segments(portal) == {"SMB"}

    portal.reset_log()
    portal.faults.daily_limit_after = calls_before + 3 + 100
    applied = cli("apply", "--yes", "-c", config)
    assert applied.code == 0, applied.err
    assert "API budget: 3 call(s) needed, 103 left today, 100 reserved" in applied.err
    assert portal.count("POST", BATCH_UPDATE) == 3
    assert segments(portal) == {"Mid-Market"}
    assert last_run(cli, config) == "succeeded"


def test_a_spent_daily_limit_refuses_the_apply_before_writing(
    cli: Cli, tmp_path: Path, portal: HubSpotEmulator
) -> None:
    """When the read that reports the allowance is itself answered 429 DAILY (HubSpot API usage
    guidelines, "Error responses": `policyName` DAILY), the apply is refused, not failed mid-way."""
    config = project(tmp_path, reserve=100)
    portal.faults.daily_limit_after = 50
    assert cli("apply", "--yes", "-c", config).code == 3
    calls_before = budget_read(portal)
    portal.reset_log()
    portal.faults.daily_limit_after = calls_before - 1
    refused = cli("apply", "--yes", "-c", config)
    assert refused.code == 3, refused.err
    assert "the portal's daily API limit is already spent (HubSpot answered 429 DAILY); nothing was written" \
        in refused.err
    assert portal.count("POST", BATCH_UPDATE) == 0
    assert last_run(cli, config) == "refused"


def test_a_portal_without_daily_headers_is_not_checked(
    cli: Cli, tmp_path: Path, portal: HubSpotEmulator
) -> None:
    """An OAuth app's calls carry no daily headers, having no daily limit (changelog "Rate limit headers
    will now appear for OAuth authenticated calls"): the apply goes through whatever the reserve, and
    says so at debug level only."""
    config = project(tmp_path, reserve=10_000_000)
    portal.faults.no_daily_headers = True
    applied = cli("apply", "--yes", "-c", config)
    assert applied.code == 0, applied.err
    assert "API budget" not in applied.err
    assert segments(portal) == {"Mid-Market"}

    run = json.loads(cli("history", "--json", "-c", config).out)["runs"][0]["id"]
    assert cli("rollback", str(run), "--yes", "-c", config).code == 0
    assert segments(portal) == {"SMB"}
    debug = cli("apply", "--yes", "--debug", "-c", config)
    assert debug.code == 0, debug.err
    assert "API budget: HubSpot sent no daily limit headers" in debug.err


OWNER_RULES = """\
version: 1
territories:
  output: territory
  owner_output: owner
  tree:
    - {id: ALL, when: "true", owners: [{id: "202"}]}
"""

OWNER_CONFIG = hubspot_config(fields={"name": "name"}, outputs={"owner": "hubspot_owner_id"},
                              extra="owner_change: {contacts: true, open_deals: true}\n", retry_backoff_seconds=0.01,
                              api_reserve=0)


def test_the_records_that_follow_an_owner_change_count_in_the_budget(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One company's new owner is one batch update; its contact and open deal that follow cost, per
    object, a read of the object's fields and one batch update (CRM API guides for contacts and
    deals: `POST /crm/v3/objects/{contacts|deals}/batch/update`): 5 calls, 4 of them not the company's."""
    owners = [{"id": i, "email": f"{i}@example.com", "archived": False} for i in ("101", "202")]
    deal = {"hubspot_owner_id": "101", "associatedcompanyid": "500", "dealstage": "appointmentscheduled"}
    with HubSpotEmulator([{"Id": "500", "name": "C", "hubspot_owner_id": "101"}], owners=owners,
                         contacts=[{"id": "900", "hubspot_owner_id": "101", "associatedcompanyid": "500"}],
                         deals=[{"id": "700", **deal}]) as portal:
        monkeypatch.setenv("HS_URL", portal.url)
        (tmp_path / "rules.yaml").write_text(OWNER_RULES)
        config = tmp_path / "revrules.yaml"
        config.write_text(OWNER_CONFIG.replace("api_reserve: 0", "api_reserve: 5000"))
        portal.faults.daily_limit_after = 5000
        refused = cli("apply", "--yes", "-c", config)
        assert refused.code == 3, refused.err
        assert "the write needs about 5 API call(s)" in refused.err
        calls_before = budget_read(portal)

        config.write_text(OWNER_CONFIG)
        portal.reset_log()
        portal.faults.daily_limit_after = calls_before + 4  # enough for the company, not for what follows it
        refused = cli("apply", "--yes", "-c", config)
        assert refused.code == 3, refused.err
        assert "the write needs about 5 API call(s) and api_reserve keeps 0, but the portal has 4 " in refused.err
        assert portal.companies["500"]["hubspot_owner_id"] == "101"
        assert portal.contacts["900"]["hubspot_owner_id"] == "101"

        portal.reset_log()
        portal.faults.daily_limit_after = calls_before + 5
        applied = cli("apply", "--yes", "-c", config)
        assert applied.code == 0, applied.err
        assert "API budget: 5 call(s) needed, 5 left today, 0 reserved" in applied.err
        held = (portal.companies["500"], portal.contacts["900"], portal.deals["700"])
        assert [record["hubspot_owner_id"] for record in held] == ["202", "202", "202"]
