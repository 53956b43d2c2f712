"""Small hand-written CSV projects for the command tests."""

from __future__ import annotations

from pathlib import Path

FORMAT_RULES = """\
version: 1
derive:
  arr: "mrr * 12"
decisions:
  segment:
    hit: first
    rules:
      - {id: big, when: "employees >= 100", then: Big}
    default: Small
  anti_icp:
    hit: collect
    rules:
      - {id: zeta, when: "employees < 5", then: Zeta}
      - {id: alpha, when: "domain =~~ r'\\\\.edu$'", then: Alpha}
  disqualified:
    hit: any
    rules:
      - {id: has-anti, when: "not anti_icp.is_empty"}
  score:
    hit: sum
    rules:
      - {id: ten, when: "employees >= 1", then: 10}
      - {id: half, when: "employees >= 1000", then: 2.5}
tests:
  - name: 200 employees is Big
    account: {employees: 200}
    expect: {segment: Big}
"""

FORMAT_CONFIG = """\
version: 1
crm: {{kind: csv, path: accounts.csv, id_column: Id, output: out.csv{extra_crm}}}
fields:
  employees: {{source: Emp, type: number}}
  mrr: {{source: Mrr, type: number}}
  domain: Domain
rules: [rules/]
outputs:
  segment: Segment__c
  arr: Arr__c
  anti_icp: Anti__c
  disqualified: Dq__c
  score: Score__c
{extra}"""


def write_project(
    folder: Path, accounts: str, *, rules: str = FORMAT_RULES, extra: str = "", extra_crm: str = ""
) -> Path:
    """A small hand-written CSV project (fields Emp, Mrr, Domain); returns its config path."""
    (folder / "rules").mkdir(parents=True, exist_ok=True)
    (folder / "rules" / "book.yaml").write_text(rules, encoding="utf-8")
    (folder / "accounts.csv").write_text(accounts, encoding="utf-8")
    config = folder / "revrules.yaml"
    config.write_text(FORMAT_CONFIG.format(extra=extra, extra_crm=extra_crm), encoding="utf-8")
    return config
