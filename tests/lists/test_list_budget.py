"""The budget guard counts the API calls of list membership writes, not only of field writes.

HubSpot: a portal's daily limit is shared by all its integrations (API usage guidelines,
developers.hubspot.com/docs/guides/apps/api-usage/usage-details); list members change through
`PUT /crm/lists/{listId}/memberships/add-and-remove` and are read in pages of at most 250
(Lists API v3, "Update list membership" and "Fetch list memberships ordered by added to list
date"). Salesforce: every REST call counts against `DailyApiRequests` (REST API Developer
Guide, "Limits"); CampaignMembers are created and deleted through sObject Collections, 200 a
call. A plan that changes only lists used to skip the guard altogether.
"""

from __future__ import annotations

import re
from pathlib import Path

from revrules.testing.harness import Cli
from revrules.testing.hubspot import HubSpotEmulator
from revrules.testing.projects import hubspot_config, salesforce_config, write_project
from revrules.testing.salesforce import SalesforceEmulator

HUBSPOT_RULES = """\
version: 1
lists:
  - {id: big, name: Big Companies, when: "employees >= 300", include_contacts: true}
  - {id: small, name: Small Companies, when: "employees < 300"}
"""

SALESFORCE_RULES = """\
version: 1
lists:
  - {id: big, name: Big Accounts, when: "employees >= 300"}
"""


def needed(err: str) -> int:
    """The calls the budget guard said the write needs."""
    found = re.search(r"API budget: (\d+) call\(s\) needed|the write needs about ([\d,]+) API call", err)
    assert found, err
    return int((found.group(1) or found.group(2)).replace(",", ""))


def hubspot(url: str) -> str:
    """The config of the portal at `url`: lists only, no API reserve."""
    return hubspot_config(url, outputs={}, retry_backoff_seconds=0.01, api_reserve=0)


def test_hubspot_list_writes_and_the_contact_list_they_carry_fit_the_estimate(cli: Cli, tmp_path: Path) -> None:
    """Two new lists, one with a contact list: finding and creating each, the add-and-remove calls and the
    contact list's reads are all counted before anything is written; the estimate is never below what
    the write then spends, and a portal one call short refuses it (exit 3, no list created)."""
    companies = [{"id": str(1000 + i), "name": f"C{i}", "numberofemployees": str(i * 100)} for i in range(8)]
    people = [{"id": str(2000 + i), "email": f"p{i}@example.com", "associatedcompanyid": str(1000 + i)}
              for i in range(8)]
    with HubSpotEmulator(companies, contacts=people) as portal:
        config = write_project(tmp_path, hubspot(portal.url), HUBSPOT_RULES)
        portal.faults.daily_limit_after = 1_000
        first = cli("apply", "--yes", "-c", config)
        assert first.code == 0, first.err
        estimate = needed(first.err)
        budget_read = next(r.call for r in portal.request_log
                           if r.path.endswith("/companies") and r.query.get("limit") == ["1"])
        assert budget_read is not None
        spent = len([r for r in portal.request_log if r.call is not None and r.call > budget_read])
        assert 0 < spent <= estimate <= spent + 4, (spent, estimate)

    with HubSpotEmulator(companies, contacts=people) as portal:
        config.write_text(hubspot(portal.url))
        (tmp_path / ".revrules" / "ledger.db").unlink()
        portal.faults.daily_limit_after = budget_read + estimate - 1
        refused = cli("apply", "--yes", "-c", config)
        assert refused.code == 3, refused.err
        assert f"the write needs about {estimate} API call(s)" in refused.err
        assert portal.count("PUT") == 0
        assert portal.count("POST", "/crm/lists") == 0


def test_salesforce_campaign_writes_fit_the_estimate(cli: Cli, tmp_path: Path) -> None:
    """A new Campaign and its members (one contact per account here), then every member removed: the
    queries for the accounts' contacts and their CampaignMembers, the creates or deletes of 200 a call
    and the Campaign's own create and update are counted; the estimate is never below the calls the
    write then makes."""
    accounts = [{"Id": f"001Dn0000{i:06d}AAA", "Name": f"A{i}", "NumberOfEmployees": i * 100} for i in range(8)]
    contacts = [{"Id": f"003Dn000{i:06d}0AAA", "AccountId": f"001Dn0000{i:06d}AAA", "LastName": f"P{i}"}
                for i in range(8)]
    with SalesforceEmulator(accounts, contacts=contacts) as org:
        session = {"auth": "session", "session_id": org.session_id}
        settings = salesforce_config(org.url, auth=session, outputs={}, retry_backoff_seconds=0.001)
        config = write_project(tmp_path, settings, SALESFORCE_RULES)
        for threshold in (300, 1_000_000):
            (tmp_path / "rules.yaml").write_text(SALESFORCE_RULES.replace("300", str(threshold)))
            org.reset_log()
            applied = cli("apply", "--yes", "-c", config)
            assert applied.code == 0, applied.err
            budget_read = next(r.call for r in org.request_log if "/limits" in r.path)
            assert budget_read is not None
            spent = len([r for r in org.request_log if r.call is not None and r.call > budget_read])
            assert 0 < spent <= needed(applied.err) <= spent + 4, (threshold, spent, needed(applied.err))
        assert not org.campaign_members


def test_an_apply_reads_each_lists_members_once(cli: Cli, tmp_path: Path) -> None:
    """The plan an apply makes has just read every list's members; the `max_list_change` guard and the
    budget take their sizes from it rather than reading every page of every list again. A saved plan's
    lists are read again, as time has passed since it was made."""
    companies = [{"id": str(1000 + i), "name": f"C{i}", "numberofemployees": str(i * 100)} for i in range(8)]
    with HubSpotEmulator(companies) as portal:
        rules = HUBSPOT_RULES.replace(", include_contacts: true", "")
        config = write_project(tmp_path, hubspot(portal.url), rules)
        assert cli("apply", "--yes", "-c", config).code == 0
        (tmp_path / "rules.yaml").write_text(rules.replace("300", "500"))
        portal.reset_log()
        applied = cli("apply", "--yes", "-c", config)
        assert applied.code == 0, applied.err
        assert len(portal.requests("GET", "/memberships")) == 2  # one page of each list

        (tmp_path / "rules.yaml").write_text(rules)
        assert cli("plan", "-o", tmp_path / "plan.json", "-c", config).code == 0
        portal.reset_log()
        assert cli("apply", tmp_path / "plan.json", "--yes", "-c", config).code == 0
        assert len(portal.requests("GET", "/memberships")) == 2
