"""A 12-account project small enough to compute every report number by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from revrules.testing.harness import Cli

CONFIG = """\
version: 1
crm: {kind: csv, path: accounts.csv, id_column: Id, output: out/accounts.csv}
fields:
  employees: {source: Employees, type: number}
  industry: Industry
  mrr: {source: MRR, type: number}
  ltv: {source: LTV, type: number}
  nps: {source: NPS, type: number}
  tickets_90d: {source: Tickets, type: number}
  churned: {source: Churned, type: boolean}
  start_arr: {source: StartARR, type: number}
  won: {source: Won, type: number}
  lost: {source: Lost, type: number}
  cac: {source: CAC, type: number}
rules: [rules/]
outputs: {segment: Segment__c, vertical: Vertical__c}
safety: {max_changed_records: 100%}
report:
  kpis: {ltv: ltv, churned: churned, nrr_start_arr: start_arr, won: won, lost: lost, cac: cac}
"""

RULEBOOK = """\
version: 1
derive:
  arr: "mrr * 12"
decisions:
  segment:
    hit: first
    rules:
      - {id: mega, when: "employees >= 1000000", then: Mega}
      - {id: enterprise, when: "employees >= 1000", then: Enterprise}
      - {id: large, when: "employees >= 5000", then: Enterprise}
      - {id: smb, when: "employees >= 1", then: SMB}
    default: Unclassified
  vertical:
    hit: first
    rules:
      - {id: healthcare, when: "industry == 'Healthcare'", then: Healthcare}
      - {id: tech, when: "industry == 'Software'", then: Technology}
    default: Other
  health:
    hit: first
    rules:
      - {id: lost, when: "churned", then: Lost}
    default: Active
  tier:
    hit: unique
    rules:
      - {id: big-arr, when: "arr >= 12000", then: High}
      - {id: many-tickets, when: "tickets_90d >= 5", then: Busy}
    default: Standard
"""

# Id, Employees, Industry, MRR, LTV, NPS, Tickets, Churned, StartARR, Won, Lost, CAC
ROWS = [
    ("A01", "5000", "Healthcare", "2000", "100000", "10", "1", "false", "12000", "3", "1", "20000"),
    ("A02", "3000", "Software", "1500", "90000", "9", "6", "false", "20000", "2", "2", "30000"),
    ("A03", "2000", "Healthcare", "1000", "80000", "8", "2", "true", "12000", "0", "0", ""),
    ("A04", "1500", "Retail", "1200", "70000", "6", "0", "false", "", "1", "3", "10000"),
    ("A05", "500", "Software", "100", "5000", "9", "1", "false", "100", "1", "0", "1000"),
    ("A06", "300", "Retail", "50", "4000", "3", "7", "true", "1200", "0", "2", "2000"),
    ("A07", "200", "Construction", "80", "6000", "7", "0", "false", "1000", "1", "1", ""),
    ("A08", "100", "Construction", "20", "3000", "10", "2", "true", "", "", "", ""),
    ("A09", "50", "Software", "10", "2000", "5", "1", "false", "", "", "", ""),
    ("A10", "20", "", "5", "1000", "2", "0", "true", "", "", "", ""),
    ("A11", "", "Retail", "0", "", "", "", "", "", "", "", ""),
    ("A12", "10", "Healthcare", "30", "2500", "8", "3", "false", "", "", "", ""),
]
HEADER = "Id,Employees,Industry,MRR,LTV,NPS,Tickets,Churned,StartARR,Won,Lost,CAC"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Writes the project; returns its config path."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "book.yaml").write_text(RULEBOOK)
    lines = [HEADER] + [",".join(row) for row in ROWS]
    (tmp_path / "accounts.csv").write_text("\n".join(lines) + "\n")
    config = tmp_path / "revrules.yaml"
    config.write_text(CONFIG)
    return config


@pytest.fixture
def report(project: Path, cli: Cli) -> dict[str, Any]:
    """The JSON report of the fixture project."""
    code, out, err = cli("report", "-c", project, "--format", "json")
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    return data
