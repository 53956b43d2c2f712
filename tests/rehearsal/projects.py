"""Small Salesforce and HubSpot projects with territories, owner pools, a list and provenance."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from revrules.connectors.base import ID
from revrules.project import load_project
from revrules.run.read import read_all

RULES = """\
version: 1
decisions:
  segment:
    hit: first
    rules:
      - id: enterprise-because-the-company-has-at-least-one-thousand-people-on-its-payroll-according-to-the-filing
        when: "employees >= 1000"
        then: Enterprise
      - {id: mid-market-because-the-company-has-at-least-one-hundred-people, when: "employees >= 100",
         then: Mid-Market}
    default: SMB
  tier:
    hit: first
    rules:
      - {id: platinum-tier-for-the-largest-north-american-companies-we-serve, when: "employees >= 5000", then: P}
      - id: gold-tier-for-companies-between-one-and-five-thousand-people-wherever-they-are-headquartered-on-earth
        when: "employees >= 1000"
        then: G
    default: S
territories:
  output: territory
  owner_output: owner
  tree:
    - id: NA
      when: "country in ['US', 'CA']"
      owners: [{id: "{a}"}, {id: "{b}"}]
    - id: ROW
      when: "true"
      owners: [{id: "{c}"}, {id: "{inactive}"}]
lists:
  - id: enterprise
    name: Enterprise ABM
    when: "segment == 'Enterprise'"
"""

CONFIG = """\
version: 1
crm:
{crm}
fields:
  name: {{source: {name}, type: string}}
  employees: {{source: {employees}, type: number}}
  country: {{source: {country}, type: string}}
rules: [rules/]
outputs:
  segment: {segment}
  tier: {tier}
  territory: {territory}
  owner: {owner}
provenance: {reason}
safety: {{max_changed_records: 100%}}
state_dir: .revrules
"""

SALESFORCE_CRM = """\
  kind: salesforce
  auth: session
  session_id: ${SF_SESSION}
  instance_url: ${SF_URL}
  retry_backoff_seconds: 0.01
  api_reserve: 0"""

HUBSPOT_CRM = """\
  kind: hubspot
  access_token: ${HS_TOKEN}
  base_url: ${HS_URL}
  burst_limit: 0
  search_limit: 0
  retry_backoff_seconds: 0.01"""

SF_NAMES = {"name": "Name", "employees": "NumberOfEmployees", "country": "BillingCountry", "segment": "Segment__c",
            "tier": "Tier__c", "territory": "Territory__c", "owner": "OwnerId", "reason": "Reason__c"}
HS_NAMES = {"name": "name", "employees": "numberofemployees", "country": "country", "segment": "segment",
            "tier": "tier", "territory": "territory", "owner": "hubspot_owner_id", "reason": "reason"}


def write_project(folder: Path, kind: str, owners: dict[str, str], *, include_contacts: bool = False) -> Path:
    """A project for `kind` (salesforce | hubspot) routing to `owners` (a, b, c, inactive); its config path.

    `include_contacts` makes the list keep a HubSpot contact list too.
    """
    (folder / "rules").mkdir(parents=True, exist_ok=True)
    rules = RULES
    if include_contacts:
        rules = rules.replace("    name: Enterprise ABM\n", "    name: Enterprise ABM\n    include_contacts: true\n")
    for key, value in owners.items():
        rules = rules.replace("{" + key + "}", value)
    (folder / "rules" / "book.yaml").write_text(rules, encoding="utf-8")
    names = SF_NAMES if kind == "salesforce" else HS_NAMES
    crm = SALESFORCE_CRM if kind == "salesforce" else HUBSPOT_CRM
    config = folder / "revrules.yaml"
    config.write_text(CONFIG.format(crm=crm, **names), encoding="utf-8")
    return config


def written_values(config: Path) -> pl.DataFrame:
    """id and each CRM field the config writes, as the CRM holds them now (the shape of `Rehearsal.applied`)."""
    project = load_project(config)
    raw = read_all(project, project.connector()).raw
    written = [f for f in project.write_fields() if f in raw.columns]
    return raw.select(pl.col(ID).cast(pl.String).alias("id"), *written).sort("id")


def with_owner_change(config: Path, kind: str) -> Path:
    """The project's config with `owner_change` moving contacts and open opportunities (deals)."""
    deals = "open_opportunities" if kind == "salesforce" else "open_deals"
    text = config.read_text(encoding="utf-8").replace("state_dir:", f"owner_change: {{contacts: true, {deals}: true}}"
                                                                     "\nstate_dir:")
    config.write_text(text, encoding="utf-8")
    return config
